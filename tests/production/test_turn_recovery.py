"""The periodic recovery of turns a dead process left (maintenance.py), on SQLite: only messages
unanswered for a while count, so a turn in flight elsewhere is left alone."""

from __future__ import annotations

from pathlib import Path

from helpdesk.app import create_app
from helpdesk.conversations.store import store_inbound
from helpdesk.conversations.types import Inbound
from helpdesk.maintenance import RECOVER_AFTER_SECONDS, answer_unanswered, unanswered_conversations
from tests.e2e.conftest import make_settings


def test_only_messages_left_unanswered_for_a_while_are_recovered(sqlite_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(sqlite_url, tmp_path, timers_in_web=False, knowledge_reload_seconds=0))
    try:
        services = app.extensions["helpdesk"]
        stored = store_inbound(services.db, Inbound(channel="rest", thread_key="t", text="where is my order",
                                                    customer_external_id="t"))
        assert unanswered_conversations(services, older_than=RECOVER_AFTER_SECONDS) == []
        assert answer_unanswered(services, older_than=RECOVER_AFTER_SECONDS) == 0
        assert unanswered_conversations(services, older_than=-RECOVER_AFTER_SECONDS) == [stored.conversation_id]
        assert answer_unanswered(services, older_than=-RECOVER_AFTER_SECONDS) == 1
        assert unanswered_conversations(services) == []
    finally:
        app.extensions["helpdesk"].close()
