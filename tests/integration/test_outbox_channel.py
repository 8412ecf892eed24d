"""A store-and-forward channel gets every bot, agent and system reply once, in order — across a kill -9.

The test-only connector ``tests.fakes.recorder`` (enabled with HELPDESK_EXTRA_CONNECTORS, as any
connector from outside the registry) stores customer messages through the one way in; every reply
to its conversations gets an outbox row in the transaction that writes the reply. A real
``helpdesk worker`` process delivers them; it is killed with SIGKILL in the middle of delivering,
more bot and agent replies are written while no worker runs, and a second worker finishes.

The outbox delivers at least once: a worker killed between a delivery and recording it leaves
that one row to be delivered again after its lease. The recorder, like a mail server deduping by
``Message-ID``, keeps the first copy of each message id; what it keeps must be every reply
exactly once and in ``seq`` order per conversation, and the raw log may hold at most one
redelivery (the row in flight at the kill).
"""

from __future__ import annotations

import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from helpdesk.conversations.models import Conversation, Message, Outbox
from tests.fakes.recorder import received
from tests.integration.test_handoff_support import add_agent
from tests.integration.test_handoff_timers import agent_headers
from tests.integration.test_worker_cli import REPO, eventually, running_worker, web_app

CONNECTOR = "tests.fakes.recorder:RecorderConnector"
THREADS = ("t1", "t2", "t3")
SCRIPT = ("hi", "where is my order?", "A-1042", "thanks")


def post(client: FlaskClient, thread: str, text: str, message_id: str) -> dict[str, Any]:
    response = client.post("/recorder/messages", json={"thread": thread, "text": text, "id": message_id})
    assert response.status_code == 202, response.json
    return response.json  # type: ignore[no-any-return]


def conversation_id(app: Flask, thread: str) -> int:
    with app.extensions["helpdesk"].db.read_session() as session:
        return session.scalars(select(Conversation.id).where(
            Conversation.channel == "recorder", Conversation.thread_key == thread)).one()


def outgoing(app: Flask) -> dict[int, list[tuple[int, str, str | None, str | None]]]:
    """Every bot, agent and system message of recorder conversations: (seq, role, author, text) by conversation."""
    query = (select(Message).join(Conversation, Conversation.id == Message.conversation_id)
             .where(Conversation.channel == "recorder", Message.role != "customer").order_by(Message.seq))
    out: dict[int, list[tuple[int, str, str | None, str | None]]] = defaultdict(list)
    with app.extensions["helpdesk"].db.read_session() as session:
        for m in session.scalars(query):
            out[m.conversation_id].append((m.seq, m.role, m.author, m.text))
    return dict(out)


def pending_rows(app: Flask) -> int:
    with app.extensions["helpdesk"].db.read_session() as session:
        return len(session.scalars(select(Outbox.id).where(Outbox.status != "sent")).all())


def customers_write(app: Flask, client: FlaskClient, round_: int) -> None:
    for thread in THREADS:
        for i, text in enumerate(SCRIPT):
            post(client, thread, text, f"{thread}-{round_}-{i}")
            post(client, thread, text, f"{thread}-{round_}-{i}")  # a webhook retry: stored once
    assert app.extensions["helpdesk"].turns.wait_idle(30)


def test_every_reply_reaches_the_channel_once_in_order_across_a_killed_worker(db_url: str, tmp_path: Path) -> None:
    record = tmp_path / "recorder.jsonl"
    env = {"HELPDESK_EXTRA_CONNECTORS": CONNECTOR, "RECORDER_FILE": str(record), "RECORDER_DELAY": "0.1",
           "HELPDESK_OUTBOX_LEASE": "2", "HELPDESK_OUTBOX_IN_WEB": "false", "PYTHONPATH": str(REPO)}
    with web_app(db_url, tmp_path, extra_connectors=CONNECTOR, outbox_in_web=False) as app:
        client = app.test_client()
        customers_write(app, client, 1)
        # a person takes over one conversation and answers in it
        add_agent(app, "ann@example.com", name="Ann", presence="away")  # present: may claim (an offline agent may not)
        post(client, "human", "talk to a human", "h-1")
        assert app.extensions["helpdesk"].turns.wait_idle(30)
        headers = agent_headers(client, "ann@example.com")
        human = conversation_id(app, "human")
        assert client.post(f"/api/v1/conversations/{human}/claim", headers=headers).status_code == 200
        for text in ("Hi, Ann here.", "Let me look."):
            response = client.post(f"/api/v1/conversations/{human}/messages", json={"text": text}, headers=headers)
            assert response.status_code == 201, response.json
        first_round = sum(len(v) for v in outgoing(app).values())
        assert pending_rows(app) == first_round >= len(THREADS) * len(SCRIPT) + 2

        with running_worker(db_url, tmp_path, **env) as worker:
            eventually(lambda: len(received(record)) >= 3, "the first deliveries", worker)
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait()
        killed_at = len(received(record))
        assert 0 < killed_at < first_round, "the worker was killed in the middle of delivering"

        # more replies while no worker runs: bot turns and an agent's message
        customers_write(app, client, 2)
        response = client.post(f"/api/v1/conversations/{human}/messages", json={"text": "Found it."},
                               headers=headers)
        assert response.status_code == 201, response.json
        expected = outgoing(app)

        with running_worker(db_url, tmp_path, **env) as worker:
            eventually(lambda: pending_rows(app) == 0, "every outbox row delivered", worker, timeout=60)
            worker.stops_cleanly(signal.SIGTERM)

    deliveries = received(record)
    first_copies: dict[int, dict[str, Any]] = {}
    for delivery in deliveries:
        first_copies.setdefault(delivery["message_id"], delivery)
    assert len(deliveries) - len(first_copies) <= 1, "at most the row in flight at the kill comes again"
    got: dict[int, list[tuple[int, str, str | None, str | None]]] = defaultdict(list)
    for d in first_copies.values():
        got[d["conversation_id"]].append((d["seq"], d["author"]["role"], d["author"]["name"], d["text"]))
    assert dict(got) == expected, "every reply once, in seq order per conversation"
    raw_order: dict[int, list[int]] = defaultdict(list)
    for d in deliveries:
        raw_order[d["conversation_id"]].append(d["seq"])
    assert all(seqs == sorted(seqs) for seqs in raw_order.values()), "never out of order, even when retried"
    assert len({d["pid"] for d in deliveries}) == 2, "both workers delivered"
    agent = [row for row in got[human] if row[1] == "agent"]
    assert [(name, text) for _seq, _role, name, text in agent] == [
        ("Ann", "Hi, Ann here."), ("Ann", "Let me look."), ("Ann", "Found it.")]
    assert all(d["thread_key"] in (*THREADS, "human") for d in deliveries)
