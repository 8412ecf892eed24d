"""The connector seam: registry, the one way in, and where replies go per channel."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from helpdesk.app import create_app
from helpdesk.connectors.base import Connector
from helpdesk.connectors.registry import REGISTRY, ConnectorError, Entry, enabled_connectors
from helpdesk.conversations import Database, Inbound, TurnLocks, open_turn
from helpdesk.conversations.attachments import Attachment, save_attachment
from helpdesk.conversations.inbound import Inbox
from helpdesk.conversations.models import Message, Outbox
from helpdesk.conversations.outbound import Author, Button, Delivery, FileRef, OutboundMessage
from helpdesk.conversations.types import OutgoingMessage
from helpdesk.settings import Settings
from tests.e2e.conftest import make_settings
from tests.fakes.recorder import RecorderConnector, received

RECORDER = "tests.fakes.recorder:RecorderConnector"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def test_the_registry_mounts_the_built_in_connectors_and_extra_ones(tmp_path: Path) -> None:
    settings = Settings(extra_connectors=f" {RECORDER} ")
    connectors = enabled_connectors(settings)
    assert [c.name for c in connectors] == ["rest", "widget", "socketio", "recorder"]
    assert all(isinstance(c, Connector) for c in connectors)
    assert [c.name for c in connectors if c.channel() is not None] == ["recorder"]
    assert [e.name for e in REGISTRY] == ["rest", "widget", "socketio", "email", "slack"]  # off without settings


def test_a_disabled_entry_is_not_even_imported() -> None:
    entry = Entry("ghost", "no_such_module:Ghost", enabled=lambda settings: False)
    assert enabled_connectors(Settings(), (entry,)) == []


@pytest.mark.parametrize(("value", "message"), [
    ("tests.fakes.recorder", "must be given as 'module:Class'"),
    ("no_such_module:Thing", "cannot load connector 'no_such_module:Thing'"),
    ("tests.fakes.recorder:Missing", "cannot load connector"),
    (f"{RECORDER},{RECORDER}", "two connectors have the channel name 'recorder'"),
])
def test_a_bad_extra_connector_is_a_clear_error(value: str, message: str) -> None:
    with pytest.raises(ConnectorError, match=message):
        enabled_connectors(Settings(extra_connectors=value))


def _inbox(db: Database, scheduled: list[int], counted: list[str]) -> Inbox:
    return Inbox(db, lambda cid, snapshot: {}, lambda cid, job: scheduled.append(cid), counted.append)


def test_receive_stores_once_counts_once_and_links_attachments_in_the_same_transaction(db: Database) -> None:
    scheduled: list[int] = []
    counted: list[str] = []
    inbox = _inbox(db, scheduled, counted)
    info = save_attachment(db, channel="recorder", thread_key="t", name="a.png", data=PNG, max_bytes=1000)
    inbound = Inbound("recorder", "t", "see file", external_id="e-1", attachment_ids=(info.id,))
    first = inbox.receive(inbound)
    again = inbox.receive(inbound)
    assert (first.duplicate, again.duplicate, again.message_id) == (False, True, first.message_id)
    assert counted == ["recorder"], "counted once"
    assert scheduled == [first.conversation_id] * 2, "a duplicate schedules its (no-op) turn again"
    with db.read_session() as session:
        row = session.get(Attachment, info.id)
        assert row is not None
        assert (row.conversation_id, row.message_id) == (first.conversation_id, first.message_id)


def test_receive_with_answer_runs_the_turn_here_and_returns_its_replies(db: Database) -> None:
    def run_turn(cid: int, snapshot: object) -> dict[int, list[Message]]:
        with open_turn(db, TurnLocks(), cid) as turn:
            [pending] = turn.pending_customer_messages()
            reply = turn.append_message(OutgoingMessage("bot", "hello"), in_reply_to=pending.id)
            turn.mark_processed(pending.seq)
        return {pending.id: [reply]}

    inbox = Inbox(db, run_turn, lambda cid, job: pytest.fail("scheduled"), lambda channel: None)
    receipt = inbox.receive(Inbound("rest", "s", "hi"), answer=True)
    assert [m.text for m in receipt.replies] == ["hello"]


def test_outbound_message_round_trips_through_json() -> None:
    message = OutboundMessage(conversation_id=1, message_id=2, seq=3, channel="slack", thread_key="C1:1.0",
                              author=Author("agent", "Ann"), text="hi", buttons=(Button("Yes", "/yes"),),
                              attachments=(FileRef("f1", "a.png", "image/png", 9),), in_reply_to=1,
                              reply_to_external_id="<m1@example.org>")
    assert OutboundMessage.from_json(message.to_json()) == message


def _turn_with_replies(db: Database, delivery: Delivery, channel: str, *, fail: bool = False) -> int:
    inbox = _inbox(db, [], [])
    receipt = inbox.receive(Inbound(channel, "t", "hi", external_id="in-1"))
    with open_turn(db, TurnLocks(), receipt.conversation_id, delivery=delivery) as turn:
        turn.append_message(OutgoingMessage("bot", "one", {"buttons": [{"title": "Ok", "payload": "/ok"}]}),
                            in_reply_to=receipt.message_id, flush=False)
        turn.append_message(OutgoingMessage("agent", "two", None, "Ann"))
        if fail:
            raise RuntimeError("the turn fails")
    return receipt.conversation_id


def test_a_store_and_forward_channel_gets_outbox_rows_in_the_turns_transaction(db: Database) -> None:
    delivery = Delivery()
    delivery.use_outbox("recorder")
    woken: list[bool] = []
    delivery.wake.append(lambda: woken.append(True))
    cid = _turn_with_replies(db, delivery, "recorder")
    with db.read_session() as session:
        rows = list(session.scalars(select(Outbox).order_by(Outbox.id)))
    messages = [OutboundMessage.from_json(r.payload) for r in rows]
    assert [(m.seq, m.author, m.text, m.buttons) for m in messages] == [
        (2, Author("bot"), "one", (Button("Ok", "/ok"),)), (3, Author("agent", "Ann"), "two", ())]
    assert all(m.conversation_id == cid and m.reply_to_external_id == "in-1" for m in messages)
    assert [r.message_id for r in rows] == [m.message_id for m in messages]
    assert woken == [True]


def test_a_live_channel_gets_no_outbox_rows_and_a_failed_turn_leaves_none(db: Database) -> None:
    delivery = Delivery()
    delivery.use_outbox("recorder")
    _turn_with_replies(db, delivery, "widget")
    with pytest.raises(RuntimeError):
        _turn_with_replies(db, delivery, "recorder", fail=True)
    with db.read_session() as session:
        assert session.scalars(select(Outbox)).all() == []


def test_the_web_app_delivers_the_outbox_itself_by_default(sqlite_url: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """HELPDESK_OUTBOX_IN_WEB (default true): one process, no worker, replies still go out."""
    record = tmp_path / "out.jsonl"
    monkeypatch.setenv("RECORDER_FILE", str(record))
    app = create_app(make_settings(sqlite_url, tmp_path, extra_connectors=RECORDER))
    services = app.extensions["helpdesk"]
    try:
        response = app.test_client().post("/recorder/messages", json={"thread": "t", "text": "hi", "id": "1"})
        assert response.status_code == 202
        assert services.turns.wait_idle(20)
        deadline = time.monotonic() + 20
        while not received(record) and time.monotonic() < deadline:
            time.sleep(0.05)
        got = received(record)
        assert got and got[0]["thread_key"] == "t" and got[0]["author"]["role"] == "bot"
    finally:
        services.close()


def test_the_recorder_connector_refuses_bad_input(sqlite_url: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECORDER_FILE", str(tmp_path / "out.jsonl"))
    app = create_app(make_settings(sqlite_url, tmp_path, extra_connectors=RECORDER))
    try:
        response = app.test_client().post("/recorder/messages", json={"thread": "t"})
        assert response.status_code == 400
        assert response.json["error"]["code"] == "invalid_message"
    finally:
        app.extensions["helpdesk"].close()
    assert RecorderConnector().channel().name == "recorder"
