"""HELPDESK_LOG_FORMAT=json: every record is one JSON object per line (time, level, logger, message,
the ``extra=`` fields), and a record written while a conversation is worked on carries its
``conversation_id`` and ``channel`` (``conversations/logcontext.py``)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select

from helpdesk.app import create_app
from helpdesk.conversations import Database, OutboxWorker, logcontext
from helpdesk.conversations.models import Conversation, Outbox
from helpdesk.observability import log_handler
from tests.e2e.conftest import make_settings
from tests.integration.test_store_outbox import FlakyChannel, _enqueue


@contextmanager
def captured(log_format: str) -> Iterator[io.StringIO]:
    """The handler ``configure_logging`` installs, writing into a buffer, on the root logger."""
    stream = io.StringIO()
    handler = log_handler(log_format, logcontext.current, stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_a_turn_logs_json_lines_with_its_conversation_id(db_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(db_url, tmp_path, knowledge_reload_seconds=0, timers_in_web=False,
                                   log_format="json", sender_rate_per_minute=0))
    try:
        with captured("json") as stream:
            response = app.test_client().post("/webhooks/rest/webhook", json={"sender": "ada", "message": "where is my order"})
            assert response.status_code == 200, response.get_data(as_text=True)
            outside = logging.getLogger("tests.json_logs")
            outside.warning("outside.any_conversation", extra={"answer": 42})
        with app.extensions["helpdesk"].db.read_session() as session:
            conversation_id = session.scalars(select(Conversation.id).where(Conversation.thread_key == "ada")).one()
    finally:
        app.extensions["helpdesk"].close()
    lines = [line for line in stream.getvalue().splitlines() if line]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    turn = [r for r in records if r["message"] == "routing.turn"]
    assert len(turn) == 1, records
    assert turn[0]["conversation_id"] == conversation_id and turn[0]["channel"] == "rest"
    assert turn[0]["level"] == "INFO" and turn[0]["logger"] == "helpdesk.routing" and turn[0]["replies"] >= 1
    assert turn[0]["time"].endswith("Z")
    last = records[-1]
    assert last["message"] == "outside.any_conversation" and last["answer"] == 42
    assert "conversation_id" not in last and "channel" not in last  # the context ended with the turn


def test_text_lines_carry_the_fields_and_json_the_exception() -> None:
    with captured("text") as text_stream, logcontext.conversation_context(7, "widget"):
        logging.getLogger("tests.text").info("something.happened", extra={"count": 3})
    line = text_stream.getvalue().strip()
    assert line.endswith("INFO tests.text something.happened count=3 conversation_id=7 channel=widget"), line
    with captured("json") as json_stream:
        try:
            raise ValueError("bad value")
        except ValueError:
            logging.getLogger("tests.json").exception("it.failed")
    record = json.loads(json_stream.getvalue())
    assert record["level"] == "ERROR" and "ValueError: bad value" in record["exception"]


def test_an_outbox_delivery_logs_its_conversation(db: Database) -> None:
    _enqueue(db, ["hello"], channel="slack")
    with db.read_session() as session:
        conversation_id = session.scalars(select(Outbox.conversation_id)).one()
    with captured("json") as stream:
        OutboxWorker(db, {"slack": FlakyChannel(failures=1)}).run_once()  # fails once: a retry is logged
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    retry = [r for r in records if r["message"] == "conversations.outbox.delivery_retry"]
    assert len(retry) == 1, records
    assert retry[0]["conversation_id"] == conversation_id and retry[0]["channel"] == "slack"
    assert retry[0]["level"] == "WARNING" and retry[0]["attempts"] == 1
