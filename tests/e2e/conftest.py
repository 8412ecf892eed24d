"""A real helpdesk server (werkzeug, threaded) on a free loopback port, per test."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from helpdesk.app import create_app
from helpdesk.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@dataclass
class LiveServer:
    url: str
    app: Flask


def make_settings(db_url: str, tmp_path: Path, **overrides: object) -> Settings:
    # every client of a test comes from 127.0.0.1: the per-address limits are tested on their own
    # (tests/security); Redis keys get a prefix of their own, as parallel runs share the server
    defaults: dict[str, object] = dict(address_rate_per_minute=0, new_sessions_per_minute=0,
                                       redis_prefix=f"test-{uuid.uuid4().hex[:12]}")
    return Settings(database_url=db_url, instance_path=str(tmp_path / "instance"),
                    assistant=str(REPO / "flows"), secret_key="test-secret", auto_migrate=True,
                    **{**defaults, **overrides})


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = create_app(make_settings(db_url, tmp_path))
    yield application
    application.extensions["helpdesk"].close()


@contextlib.contextmanager
def serve_app(app: Flask) -> Iterator[LiveServer]:
    """Serve ``app`` on a free loopback port from a thread (a real threaded werkzeug server)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    with serve_app(app) as server:
        yield server
