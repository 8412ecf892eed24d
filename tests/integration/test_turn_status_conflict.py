"""Two processes on one PostgreSQL database (two apps: each its own in-process turn locks): a status
change made by the other process while a bot turn computes — an agent claims the conversation — is a
``TurnConflict`` for that turn, which runs again and leaves the message to the agent, instead of
answering over the claim."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from helpdesk.app import create_app
from helpdesk.conversations.models import Conversation, Message
from tests.e2e.conftest import make_settings
from tests.integration.test_handoff_support import add_agent, conversation_id, services_of
from tests.integration.test_handoff_timers import agent_headers, say

pytestmark = pytest.mark.postgres


@contextmanager
def process(db_url: str, folder: Path) -> Iterator[Flask]:
    app = create_app(make_settings(db_url, folder, timers_in_web=False, log_level="WARNING"))
    try:
        yield app
    finally:
        app.extensions["helpdesk"].close()


def test_a_claim_by_another_process_during_a_bot_turn_wins_over_the_bot(postgres_url: str, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with process(postgres_url, tmp_path / "a") as web_a, process(postgres_url, tmp_path / "b") as web_b:
        add_agent(web_b, "ann@example.com", name="Ann", presence="away")
        customer = web_a.test_client()
        assert "order number" in " ".join(say(customer, "where is my order")).lower()
        cid = conversation_id(web_a, "cust")
        engine = services_of(web_a).pipeline.engine
        handle = engine.handle
        claims: list[int] = []

        def claimed_meanwhile(*args: Any, **kwargs: Any) -> Any:
            """The bot understands and acts (no lock held) while Ann claims on process B."""
            if not claims:
                response = web_b.test_client().post(f"/api/v1/conversations/{cid}/claim",
                                                    headers=agent_headers(web_b.test_client(), "ann@example.com"))
                claims.append(response.status_code)
            return handle(*args, **kwargs)

        monkeypatch.setattr(engine, "handle", claimed_meanwhile)
        assert say(customer, "A1002") == [], "the bot stays silent: Ann has the conversation"
        assert claims == [200]
        with services_of(web_a).db.read_session() as session:
            conversation = session.get(Conversation, cid)
            assert conversation is not None and conversation.status == "assigned"
            rows = list(session.scalars(select(Message).where(Message.conversation_id == cid).order_by(Message.seq)))
        answer = next(m for m in rows if m.text == "A1002")
        assert conversation.processed_seq >= answer.seq
        assert [m.role for m in rows if m.in_reply_to == answer.id and m.role == "bot"] == []
