"""``GET /healthz`` (liveness: no dependency asked) and ``GET /readyz`` (readiness: the database
answers, its schema is at the newest migration, Redis answers PING when configured). A failing
dependency is a 503 naming it, never a 500, and never a hang: each check has a short deadline."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from helpdesk.app import READY_TIMEOUT, create_app
from tests.e2e.conftest import make_settings, serve_app

REDIS = "redis://127.0.0.1:6379/0"


@contextmanager
def helpdesk(db_url: str, tmp_path: Path, **overrides: Any) -> Iterator[Flask]:
    app = create_app(make_settings(db_url, tmp_path, knowledge_reload_seconds=0, timers_in_web=False, **overrides))
    try:
        yield app
    finally:
        app.extensions["helpdesk"].close()


def readyz(app: Flask) -> tuple[int, dict[str, Any]]:
    """GET /readyz over real HTTP; a check that hung would make this raise (the client's deadline)."""
    with serve_app(app) as server:
        response = httpx.get(server.url + "/readyz", timeout=READY_TIMEOUT + 10)
        assert response.headers["content-type"].startswith("application/json")
        return response.status_code, response.json()


def test_sqlite_is_ready_and_alive(sqlite_url: str, tmp_path: Path) -> None:
    with helpdesk(sqlite_url, tmp_path) as app:
        status, body = readyz(app)
        assert status == 200, body
        assert body["status"] == "ready"
        assert body["checks"]["database"] == {"status": "ok"}
        assert body["checks"]["schema"]["status"] == "ok" and body["checks"]["schema"]["revision"]
        assert "redis" not in body["checks"]  # not configured: not asked
        alive = app.test_client().get("/healthz")
        assert alive.status_code == 200 and alive.get_json() == {"status": "ok"}


@pytest.mark.postgres
def test_postgresql_schema_not_at_head_is_not_ready(postgres_url: str, tmp_path: Path) -> None:
    with helpdesk(postgres_url, tmp_path) as app:
        assert readyz(app)[0] == 200
        engine = create_engine(postgres_url)
        try:  # what a restore of an old backup, or new code before `helpdesk db upgrade`, looks like
            with engine.begin() as connection:
                connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
            status, body = readyz(app)
            assert status == 503, body
            assert body["status"] == "not_ready" and body["failed"] == ["schema"]
            assert "0001" in body["checks"]["schema"]["error"] and "helpdesk db upgrade" in body["checks"]["schema"]["error"]
            assert body["checks"]["database"] == {"status": "ok"}
            with engine.begin() as connection:  # never migrated at all
                connection.execute(text("DROP TABLE alembic_version"))
            status, body = readyz(app)
            assert status == 503 and "at nothing" in body["checks"]["schema"]["error"]
        finally:
            engine.dispose()
        assert app.test_client().get("/healthz").status_code == 200  # alive all along


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once it is closed


def test_redis_refusing_connections_is_not_ready(sqlite_url: str, tmp_path: Path) -> None:
    with helpdesk(sqlite_url, tmp_path, redis_url=f"redis://127.0.0.1:{_closed_port()}/0") as app:
        status, body = readyz(app)
    assert status == 503, body
    assert body["failed"] == ["redis"]
    assert body["checks"]["redis"]["status"] == "failed" and body["checks"]["redis"]["error"]
    assert body["checks"]["database"]["status"] == "ok"


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers (a hung Redis)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for connection in accepted:
            connection.close()
        listener.close()


def test_redis_that_never_answers_is_not_ready_within_the_deadline(sqlite_url: str, tmp_path: Path) -> None:
    with silent_server() as port, helpdesk(sqlite_url, tmp_path, redis_url=f"redis://127.0.0.1:{port}/0") as app:
        status, body = readyz(app)
    assert status == 503, body
    assert body["failed"] == ["redis"]


def test_redis_answering_is_ready(sqlite_url: str, tmp_path: Path) -> None:
    try:
        import redis

        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - the reason is the skip message
        pytest.skip(f"Redis not reachable at {REDIS}: {exc}")
    with helpdesk(sqlite_url, tmp_path, redis_url=REDIS) as app:
        status, body = readyz(app)
    assert status == 200, body
    assert body["checks"]["redis"] == {"status": "ok"}
