"""Issue 8.7 and the smaller holes of 8.8 that concern processes: a server never starts on an
unmigrated database (and creates no table), timers fire once with several schedulers, stored
but unanswered turns are answered on start, and /metrics can be closed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect, select

from helpdesk.conversations.db import Database
from helpdesk.conversations.models import Conversation, Message
from helpdesk.conversations.store import store_inbound
from helpdesk.conversations.types import Inbound
from helpdesk.handoff.models import Handoff
from helpdesk.maintenance import answer_unanswered, unanswered_conversations
from tests.e2e.conftest import REPO
from tests.integration.test_handoff_support import handoff_of
from tests.security.helpers import app_only, rest, running

HELPDESK = str(Path(sys.executable).parent / "helpdesk")


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def helpdesk(args: list[str], url: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HELPDESK_DATABASE_URL": url, "HELPDESK_INSTANCE_PATH": str(tmp_path / "i"),
                   "HELPDESK_ASSISTANT": str(REPO / "flows"), "HELPDESK_PORT": "0", "HELPDESK_SECRET_KEY": "k",
                   "HELPDESK_KNOWLEDGE_RELOAD_SECONDS": "0", **env}
    return subprocess.run([HELPDESK, *args], env=environment, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_server_refuses_an_unmigrated_database_and_creates_no_table(db_url: str, tmp_path: Path) -> None:
    for command in (["run"], ["serve"], ["worker"]):
        result = helpdesk(command, db_url, tmp_path, HELPDESK_AUTO_MIGRATE="false")
        assert result.returncode == 1, (result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "run `helpdesk db upgrade`" in lines[0], result.stderr
        assert tables(db_url) == set(), "nothing was created outside the migrations"
    upgraded = helpdesk(["db", "upgrade"], db_url, tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "handoff_scheduler_jobs" not in tables(db_url) and "login_throttle" in tables(db_url)


def test_the_scheduler_keeps_no_table_and_timers_fire_once_with_two_schedulers(db_url: str, tmp_path: Path) -> None:
    with app_only(db_url, tmp_path, timers_in_web=True, handoff_sla_seconds=1) as one, \
            app_only(db_url, tmp_path, timers_in_web=True, handoff_sla_seconds=1) as two:
        assert "helpdesk.scheduler" in one.extensions and "helpdesk.scheduler" in two.extensions
        for scheduler in (one.extensions["helpdesk.scheduler"], two.extensions["helpdesk.scheduler"]):
            scheduler.scheduler.pause()  # the test fires the sweeps itself, at the same moment
        assert one.test_client().post("/webhooks/rest/webhook", json={
            "sender": "c", "message": "I want to talk to a human"}).status_code == 200
        later = handoff_of(one).now().replace(year=2100)
        counts: list[int] = []
        start = threading.Barrier(2)

        def sweep(app: object) -> None:
            start.wait()
            counts.append(handoff_of(app).sweeper.run(later)["sla"])  # type: ignore[arg-type]

        threads = [threading.Thread(target=sweep, args=(app,)) for app in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(counts) == [0, 1], counts
        with handoff_of(one).db.read_session() as session:
            assert session.scalars(select(Handoff.priority)).one() == 2, "escalated once"
    assert "handoff_scheduler_jobs" not in tables(db_url)


def test_a_stored_but_unanswered_message_is_answered_on_start(db_url: str, tmp_path: Path) -> None:
    with app_only(db_url, tmp_path):
        pass  # migrated
    db = Database(db_url)
    try:
        # the process died between storing the message and running its turn
        store_inbound(db, Inbound(channel="rest", thread_key="lost", text="where is my order",
                                  customer_external_id="lost"))
    finally:
        db.dispose()
    with app_only(db_url, tmp_path) as app:
        services = app.extensions["helpdesk"]
        assert unanswered_conversations(services) != [] or _answered(app), "found or already answered"
        answer_unanswered(services)
        assert _answered(app)
        assert unanswered_conversations(services) == []


def _answered(app: object) -> bool:
    services = app.extensions["helpdesk"]  # type: ignore[attr-defined]
    with services.db.read_session() as session:
        roles = list(session.scalars(select(Message.role).order_by(Message.seq)))
        processed = session.scalar(select(Conversation.processed_seq))
    return roles[:1] == ["customer"] and "bot" in roles and processed == 1


def test_the_web_process_answers_unanswered_turns_when_it_starts(db_url: str, tmp_path: Path) -> None:
    with app_only(db_url, tmp_path):
        pass
    db = Database(db_url)
    try:
        store_inbound(db, Inbound(channel="rest", thread_key="lost", text="where is my order",
                                  customer_external_id="lost"))
    finally:
        db.dispose()
    with running(db_url, tmp_path, timers_in_web=True) as server:
        import time

        deadline = time.monotonic() + 30
        while not _answered(server.app) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _answered(server.app)


@pytest.mark.parametrize("token", [None, "metrics-token"])
def test_metrics_can_need_a_bearer_token(sqlite_url: str, tmp_path: Path, token: str | None) -> None:
    with running(sqlite_url, tmp_path, metrics_token=token) as server:
        rest(server.url, "m", "hello")
        anonymous = httpx.get(f"{server.url}/metrics", timeout=30)
        wrong = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=30)
        right = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if token is None:
            assert anonymous.status_code == 200
        else:
            assert (anonymous.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
            assert "helpdesk" in right.text and anonymous.headers["WWW-Authenticate"] == "Bearer"
        assert httpx.get(f"{server.url}/api/v1/openapi.json", timeout=30).status_code == 200
