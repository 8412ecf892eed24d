"""`helpdesk worker` as its own process, the way a multi-process deployment runs it.

A web app in this process (``timers_in_web=False``, as the web processes of such a deployment run)
creates handoffs whose timers are due within a second; the real ``helpdesk worker`` console script,
started as a subprocess on the same database, must fire them: SLA escalation, inactivity
auto-resolve, agent-response re-queue. Before the worker starts, each timer is shown overdue and
unfired, so what happens afterwards is the worker's doing. SIGINT and SIGTERM must stop it cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from helpdesk.app import create_app
from helpdesk.conversations import Inbound, TurnLocks, open_turn, store_inbound
from helpdesk.conversations.models import Conversation, Message, Outbox, utcnow
from helpdesk.handoff import timers
from helpdesk.handoff.models import Handoff, Note
from tests.e2e.conftest import make_settings
from tests.integration.test_handoff_support import add_agent, handoff_of
from tests.integration.test_handoff_timers import agent_headers, handoff_row, say

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")

START_TIMEOUT = 60.0  # the worker builds the whole app: migrations checked, assistant loaded, knowledge indexed
FIRE_TIMEOUT = 30.0  # a timer due now fires within HELPDESK_TIMER_INTERVAL; generous for a loaded machine
STOP_TIMEOUT = 20.0
#: how long past a timer's due time the web app is watched not firing it: ~10 of its sweep intervals
WEB_SILENCE = timedelta(seconds=1)
WEB_TIMER_INTERVAL = 0.1


def _worker_command() -> list[str]:
    """The ``helpdesk`` console script next to this interpreter (pyproject: ``helpdesk = "cli:main"``)."""
    script = Path(sys.executable).with_name("helpdesk")
    if script.exists():
        return [str(script), "worker"]
    return [sys.executable, "-c", "from helpdesk.cli import main; main()", "worker"]


class Worker:
    """A running ``helpdesk worker`` process, its output in files."""

    def __init__(self, process: subprocess.Popen[bytes], out: Path, err: Path) -> None:
        self.process, self.out, self.err = process, out, err

    def output(self) -> tuple[str, str]:
        return self.out.read_text(errors="replace"), self.err.read_text(errors="replace")

    def log_tail(self) -> str:
        out, err = self.output()
        return f"--- stdout ---\n{out[-2000:]}\n--- stderr ---\n{err[-4000:]}"

    def assert_alive(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"the worker exited with {self.process.returncode}:\n{self.log_tail()}")

    def wait_until_running(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while "worker running" not in self.output()[0]:
            self.assert_alive()
            if time.monotonic() > deadline:
                pytest.fail(f"the worker did not start within {START_TIMEOUT:g}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str, str]:
        """Send ``signum``; the exit code and output once it has exited."""
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker did not stop within {STOP_TIMEOUT:g}s of {signal.Signals(signum).name}:\n"
                        f"{self.log_tail()}")
        return (code, *self.output())

    def stops_cleanly(self, signum: int = signal.SIGTERM) -> str:
        """Stop it with ``signum``: exit code 0, no traceback, shut down in order; its stderr."""
        code, out, err = self.stop(signum)
        assert code == 0, f"exit code {code} on {signal.Signals(signum).name}:\n{self.log_tail()}"
        assert "Traceback" not in err and "Traceback" not in out, self.log_tail()
        assert "worker stopped" in out, self.log_tail()
        assert "Scheduler has been shut down" in err, "the timer scheduler was shut down\n" + self.log_tail()
        return err


def worker_env(db_url: str, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The environment of a worker: this one without any helpdesk or LLM settings, plus short timers."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HELPDESK_", "ANTHROPIC_", "SLACK_"))}
    env.update({
        "HELPDESK_DATABASE_URL": db_url,
        "HELPDESK_AUTO_MIGRATE": "false",  # the web app migrated it, as `helpdesk db upgrade` would
        "HELPDESK_INSTANCE_PATH": str(tmp_path / "worker-instance"),
        "HELPDESK_ASSISTANT": str(REPO / "flows"),
        "HELPDESK_SECRET_KEY": "test-secret",
        "HELPDESK_TIMERS_IN_WEB": "false",
        "HELPDESK_TIMER_INTERVAL": "0.2",
        "HELPDESK_HANDOFF_SLA_SECONDS": "1",
        "HELPDESK_HANDOFF_INACTIVITY_SECONDS": "1",
        "HELPDESK_HANDOFF_AGENT_RESPONSE_SECONDS": "1",
        "HELPDESK_KNOWLEDGE_RELOAD_SECONDS": "0",
        "HELPDESK_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        **overrides,
    })
    return env


@contextmanager
def running_worker(db_url: str, tmp_path: Path, **env: str) -> Iterator[Worker]:
    """Start ``helpdesk worker`` (in a temporary folder, so no ``.env`` is read) and wait until it runs;
    killed afterwards if a test left it running."""
    folder = tmp_path / "worker"
    folder.mkdir(exist_ok=True)
    out, err = folder / "stdout.txt", folder / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - fixed command line
            [*_worker_command(), "--interval", "0.1"], cwd=folder, env=worker_env(db_url, tmp_path, **env),
            stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True)
    worker = Worker(process, out, err)
    try:
        worker.wait_until_running()
        yield worker
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: only what we started
            process.wait()


@contextmanager
def web_app(db_url: str, tmp_path: Path, **overrides: Any) -> Iterator[Flask]:
    """A web process of a multi-process deployment: the timers are the worker's."""
    settings: dict[str, Any] = dict(timers_in_web=False, timer_interval=WEB_TIMER_INTERVAL, log_level="WARNING",
                                    handoff_sla_seconds=300, handoff_inactivity_seconds=1800,
                                    handoff_agent_response_seconds=600, knowledge_reload_seconds=0)
    app = create_app(make_settings(db_url, tmp_path, **{**settings, **overrides}))
    try:
        yield app
    finally:
        app.extensions["helpdesk"].close()


def eventually(check: Callable[[], T], what: str, worker: Worker | None = None,
               timeout: float = FIRE_TIMEOUT) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if worker is not None:
            worker.assert_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g}s" + (f"\n{worker.log_tail()}" if worker else ""))
        time.sleep(0.05)


def assert_overdue_and_not_fired_by_the_web_app(app: Flask, handoff_id: int, kind: str) -> None:
    """The handoff's ``kind`` timer is past due (by ``WEB_SILENCE``) and still there: the web app,
    with ``timers_in_web=False``, runs no scheduler and fires nothing."""
    with handoff_of(app).db.read_session() as session:
        due = timers.pending(session, handoff_id).get(kind)
    assert due is not None, f"no {kind} timer armed"
    eventually(lambda: utcnow() >= due + WEB_SILENCE, f"the {kind} timer to be overdue",
               timeout=FIRE_TIMEOUT + WEB_SILENCE.total_seconds())
    with handoff_of(app).db.read_session() as session:
        assert kind in timers.pending(session, handoff_id), f"the web app fired the {kind} timer itself"
    assert "helpdesk.scheduler" not in app.extensions, "no scheduler in the web app"


def handoff_by_id(app: Flask, handoff_id: int) -> Handoff:
    with handoff_of(app).db.read_session() as session:
        row = session.get(Handoff, handoff_id)
        assert row is not None
        return row


def event_notes(app: Flask, handoff_id: int) -> list[str]:
    with handoff_of(app).db.read_session() as session:
        return list(session.scalars(select(Note.text).where(Note.handoff_id == handoff_id).order_by(Note.id)))


def claimed_by(app: Flask, client: FlaskClient, email: str, name: str) -> tuple[int, dict[str, str]]:
    """A customer asks for a person and the (away, so not auto-assigned) agent claims them."""
    add_agent(app, email, name=name, presence="away")
    say(client, "talk to a human")
    handoff = handoff_row(app)
    assert handoff.status == "queued"
    headers = agent_headers(client, email)
    response = client.post(f"/api/v1/conversations/{handoff.conversation_id}/claim", headers=headers)
    assert response.status_code == 200, response.json
    assert handoff_by_id(app, handoff.id).status == "assigned"
    return handoff.id, headers


def test_the_worker_escalates_a_queued_handoff_past_its_sla(db_url: str, tmp_path: Path) -> None:
    with web_app(db_url, tmp_path, handoff_sla_seconds=1) as app:
        say(app.test_client(), "talk to a human")
        queued = handoff_row(app)
        assert (queued.status, queued.priority, queued.escalated_at) == ("queued", 1, None)
        assert_overdue_and_not_fired_by_the_web_app(app, queued.id, "sla")
        assert handoff_by_id(app, queued.id).priority == 1

        with running_worker(db_url, tmp_path) as worker:
            escalated = eventually(lambda: (row := handoff_by_id(app, queued.id)).escalated_at and row,
                                   "the SLA escalation", worker)
            assert escalated.status == "queued" and escalated.priority >= 2, "priority up from normal"
            assert any(n.startswith("Escalated to high priority") for n in event_notes(app, queued.id))
            err = worker.stops_cleanly(signal.SIGTERM)
        assert "handoff.timers.fired" in err, "the worker process logged the timer it fired"


def test_the_worker_auto_resolves_a_conversation_the_customer_left(db_url: str, tmp_path: Path) -> None:
    with web_app(db_url, tmp_path, handoff_inactivity_seconds=1, handoff_agent_response_seconds=0) as app:
        client = app.test_client()
        handoff_id, headers = claimed_by(app, client, "ann@example.com", "Ann")
        cid = handoff_by_id(app, handoff_id).conversation_id
        response = client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "Hi! How can I help?"},
                               headers=headers)
        assert response.status_code == 201, response.json
        assert_overdue_and_not_fired_by_the_web_app(app, handoff_id, "inactivity")
        assert handoff_by_id(app, handoff_id).status == "assigned"

        with running_worker(db_url, tmp_path) as worker:
            closed = eventually(lambda: (row := handoff_by_id(app, handoff_id)).status == "closed" and row,
                                "the inactivity auto-resolve", worker)
            assert closed.close_reason == "auto_resolved"
            assert "Resolved automatically: the customer was inactive." in event_notes(app, handoff_id)
            with handoff_of(app).db.read_session() as session:
                assert session.get(Conversation, cid).status == "resolved"  # type: ignore[union-attr]
                texts = list(session.scalars(select(Message.text).where(Message.conversation_id == cid)))
            assert any("quiet for a while" in (t or "") for t in texts), texts
            worker.stops_cleanly(signal.SIGTERM)


def test_the_worker_requeues_a_conversation_whose_agent_did_not_answer(db_url: str, tmp_path: Path) -> None:
    with web_app(db_url, tmp_path, handoff_agent_response_seconds=1) as app:
        handoff_id, _ = claimed_by(app, app.test_client(), "slow@example.com", "Slow")
        assert_overdue_and_not_fired_by_the_web_app(app, handoff_id, "agent_response")
        assert handoff_by_id(app, handoff_id).status == "assigned"

        with running_worker(db_url, tmp_path, HELPDESK_HANDOFF_SLA_SECONDS="300") as worker:
            requeued = eventually(lambda: (row := handoff_by_id(app, handoff_id)).status == "queued" and row,
                                  "the agent-response re-queue", worker)
            assert requeued.assignee_id is None
            with handoff_of(app).db.read_session() as session:
                texts = list(session.scalars(select(Message.text).where(
                    Message.conversation_id == requeued.conversation_id)))
            assert any((t or "").startswith("Slow has left") for t in texts), texts
            worker.stops_cleanly(signal.SIGTERM)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_worker_cleanly(sqlite_url: str, tmp_path: Path, signum: int) -> None:
    with web_app(sqlite_url, tmp_path):
        pass  # migrated
    with running_worker(sqlite_url, tmp_path) as worker:
        worker.stops_cleanly(signum)


def test_the_worker_leaves_outbox_rows_it_has_no_channel_for_pending(db_url: str, tmp_path: Path) -> None:
    """No channel delivers outbox rows in the worker yet: a row must wait, not burn its attempts
    (``no channel named 'email'``) until it is marked failed."""
    with web_app(db_url, tmp_path, handoff_sla_seconds=1) as app:
        db = handoff_of(app).db
        cid = store_inbound(db, Inbound("email", "ann@example.org", "hi")).conversation_id
        with open_turn(db, TurnLocks(), cid) as turn:
            turn.enqueue_outbox("email", "ann@example.org", {"text": "hello"})
        say(app.test_client(), "talk to a human")
        queued = handoff_row(app)

        with running_worker(db_url, tmp_path) as worker:
            # normal -> high at the first sweep, -> urgent an SLA (1 s) later: the outbox loop
            # (--interval 0.1) has come round many times by then
            eventually(lambda: handoff_by_id(app, queued.id).priority == 3, "two SLA escalations", worker)
            with db.read_session() as session:
                row = session.scalars(select(Outbox)).one()
                assert (row.status, row.attempts, row.last_error) == ("pending", 0, None)
            worker.stops_cleanly(signal.SIGTERM)
