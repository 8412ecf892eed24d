"""Timers with a controlled clock, surviving a restart of the app: SLA escalation, inactivity
auto-resolve, agent timeouts, heartbeat timeouts, off-hours; and the APScheduler job that runs them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from helpdesk.app import create_app
from helpdesk.conversations.models import Conversation, Customer, Message
from helpdesk.handoff.models import Handoff, Note, Timer
from tests.e2e.conftest import make_settings
from tests.integration.test_handoff_support import PASSWORD, Clock, add_agent, handoff_of

SLA, IDLE, ANSWER, HEARTBEAT = 300, 1800, 600, 90


@contextmanager
def running(db_url: str, tmp_path: Path, clock: Clock, **overrides: Any) -> Iterator[Flask]:
    """One life of the app (a restart is a second ``running``), on the given clock."""
    settings = dict(timers_in_web=False, log_level="WARNING", handoff_sla_seconds=SLA,
                    handoff_inactivity_seconds=IDLE, handoff_agent_response_seconds=ANSWER,
                    agent_heartbeat_timeout=HEARTBEAT)
    app = create_app(make_settings(db_url, tmp_path, **{**settings, **overrides}))
    handoff_of(app).clock = clock
    try:
        yield app
    finally:
        app.extensions["helpdesk"].close()


def say(client: FlaskClient, text: str, sender: str = "cust") -> list[str]:
    response = client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
    assert response.status_code == 200, response.json
    return [r["text"] for r in response.json]


def agent_headers(client: FlaskClient, email: str) -> dict[str, str]:
    token = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {token}"}


def handoff_row(app: Flask) -> Handoff:
    with handoff_of(app).db.read_session() as session:
        return session.scalars(select(Handoff).order_by(Handoff.id.desc())).first()  # type: ignore[return-value]


def last_message(app: Flask) -> Message:
    with handoff_of(app).db.read_session() as session:
        return session.scalars(select(Message).order_by(Message.id.desc())).first()  # type: ignore[return-value]


def test_sla_escalation_fires_after_a_restart(db_url: str, tmp_path: Path) -> None:
    clock = Clock()
    start = clock()
    with running(db_url, tmp_path, clock) as app:
        say(app.test_client(), "talk to a human")
        assert handoff_row(app).priority == 1
    clock.advance(seconds=SLA - 1)
    with running(db_url, tmp_path, clock) as app:
        seen: list[tuple[str, dict[str, Any]]] = []
        app.extensions["helpdesk"].bus.subscribe(lambda event, data: seen.append((event, data)))
        assert handoff_of(app).sweeper.run()["sla"] == 0
        clock.advance(seconds=2)
        assert handoff_of(app).sweeper.run()["sla"] == 1
        row = handoff_row(app)
        assert row.priority == 2 and row.escalated_at == clock()
        assert [d["item"]["priority"] for e, d in seen if e == "handoff" and d["alert"]] == ["high"]
        with handoff_of(app).db.read_session() as session:
            assert "Escalated to high priority" in session.scalars(select(Note.text).where(Note.kind == "event")).one()
            assert session.scalar(select(Timer.due_at)) == start + timedelta(seconds=2 * SLA + 1)
        assert handoff_of(app).sweeper.run()["sla"] == 0, "fired once"


def test_inactivity_auto_resolves_after_a_restart(db_url: str, tmp_path: Path) -> None:
    clock = Clock()
    with running(db_url, tmp_path, clock) as app:
        add_agent(app, "ann@example.com")
        client = app.test_client()
        say(client, "talk to a human")
        headers = agent_headers(client, "ann@example.com")
        cid = handoff_row(app).conversation_id
        assert client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "Hi!"}, headers=headers).status_code == 201
        clock.advance(seconds=IDLE - 10)
        assert say(client, "one moment please") == [], "the bot stays silent"
        clock.advance(seconds=5)
        client.post(f"/api/v1/conversations/{cid}/messages", json={"text": "Still there?"}, headers=headers)
        replied = clock()
    clock.now = replied + timedelta(seconds=IDLE - 1)
    with running(db_url, tmp_path, clock) as app:
        assert handoff_of(app).sweeper.run()["inactivity"] == 0
        clock.now = replied + timedelta(seconds=IDLE + 1)
        assert handoff_of(app).sweeper.run()["inactivity"] == 1
        row = handoff_row(app)
        assert row.status == "closed" and row.close_reason == "auto_resolved"
        assert "quiet for a while" in (last_message(app).text or "")
        with handoff_of(app).db.read_session() as session:
            assert session.scalar(select(Conversation.status)) == "resolved"
        assert say(app.test_client(), "where is my order"), "a new message goes to the assistant again"


def test_an_agent_who_does_not_answer_in_time_loses_the_conversation(db_url: str, tmp_path: Path) -> None:
    clock = Clock()
    with running(db_url, tmp_path, clock) as app:
        add_agent(app, "slow@example.com", name="Slow", presence="away")  # offline agents cannot claim
        client = app.test_client()
        say(client, "talk to a human")
        cid = handoff_row(app).conversation_id
        client.post(f"/api/v1/conversations/{cid}/claim", headers=agent_headers(client, "slow@example.com"))
    clock.advance(seconds=ANSWER + 1)
    with running(db_url, tmp_path, clock) as app:
        assert handoff_of(app).sweeper.run()["agent_response"] == 1
        row = handoff_row(app)
        assert row.status == "queued" and row.assignee_id is None
        assert last_message(app).text.startswith("Slow has left")  # type: ignore[union-attr]


def test_an_agent_silent_past_the_heartbeat_timeout_goes_offline_and_their_chats_requeue(
        db_url: str, tmp_path: Path) -> None:
    clock = Clock()
    with running(db_url, tmp_path, clock) as app:
        agent_id = add_agent(app, "gone@example.com", presence="online")
        say(app.test_client(), "talk to a human")
        assert handoff_row(app).assignee_id == agent_id, "auto-assigned to the online agent"
        clock.advance(seconds=HEARTBEAT - 1)
        handoff_of(app).presence.heartbeat(agent_id)
        clock.advance(seconds=HEARTBEAT - 1)
        assert handoff_of(app).sweeper.run()["agents_offline"] == 0
        clock.advance(seconds=2)
        assert handoff_of(app).sweeper.run()["agents_offline"] == 1
        row = handoff_row(app)
        assert row.status == "queued" and row.assignee_id is None


def test_off_hours_collects_an_email_and_the_sla_starts_at_opening_after_a_restart(db_url: str,
                                                                                    tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 3, 7, 12, 0, tzinfo=UTC))  # a Saturday
    hours = dict(business_hours="mon-fri 09:00-17:00", business_timezone="Europe/Berlin")
    with running(db_url, tmp_path, clock, **hours) as app:
        add_agent(app, "weekday@example.com", presence="online")
        client = app.test_client()
        replies = say(client, "talk to a human")
        assert "offline right now; we're back on Monday at 09:00 (Europe/Berlin)" in replies[-1]
        assert handoff_row(app).assignee_id is None, "nobody is assigned outside business hours"
        assert say(client, "no idea") == ["That doesn't look like an email address. Could you type it again "
                                          "(like name@example.com)?"]
        assert say(client, "sure: Jane.Doe@Example.com") == [
            "Thanks! We'll reply to jane.doe@example.com as soon as we're back."]
        assert say(client, "thanks") == [], "then the bot stays silent"
    opening = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
    clock.now = opening + timedelta(seconds=SLA - 1)
    with running(db_url, tmp_path, clock, **hours) as app:
        assert handoff_of(app).sweeper.run()["sla"] == 0
        clock.now = opening + timedelta(seconds=SLA + 1)
        assert handoff_of(app).sweeper.run()["sla"] == 1
        with handoff_of(app).db.read_session() as session:
            assert session.scalar(select(Customer.email)) == "jane.doe@example.com"
            assert any("reply by email" in n for n in session.scalars(select(Note.text)))


def test_the_scheduler_runs_the_sweep_job_and_fires_due_timers(db_url: str, tmp_path: Path) -> None:
    clock = Clock()
    with running(db_url, tmp_path, clock, timers_in_web=True, timer_interval=0.2) as app:
        say(app.test_client(), "talk to a human")
        # the job lives in memory (no table outside the migrations); the timers are the rows
        assert "handoff-sweep" in [job.id for job in app.extensions["helpdesk.scheduler"].scheduler.get_jobs()]
        clock.advance(seconds=SLA + 1)
        deadline = time.monotonic() + 20
        while handoff_row(app).escalated_at is None:
            assert time.monotonic() < deadline, "the background sweep never ran"
            time.sleep(0.05)
