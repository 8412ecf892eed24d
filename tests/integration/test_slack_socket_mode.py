"""Socket Mode on loopback: the real ``slack_sdk`` SocketModeClient opens the WebSocket that the
loopback ``apps.connections.open`` hands out; envelopes go through the same dispatcher as the
Events API and are acknowledged only once stored."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from helpdesk.connectors.slack.assemble import assemble
from helpdesk.connectors.slack.socket_mode import SocketModeTransport
from helpdesk.conversations.db import Database
from helpdesk.conversations.store import get_conversation, list_messages
from helpdesk.conversations.types import Inbound
from tests.fakes.slack_events import fixture
from tests.fakes.slack_server import FakeSlack
from tests.fakes.slack_socket_mode import FakeSocketMode
from tests.integration.test_slack_events import receive_into, settings_for, workspace


@pytest.fixture
def socket_mode() -> Iterator[FakeSocketMode]:
    with FakeSocketMode() as server:
        yield server


def test_events_over_socket_mode_are_stored_then_acknowledged(sqlite_db: Database, socket_mode: FakeSocketMode
                                                               ) -> None:
    with FakeSlack(socket_url=socket_mode.url) as slack:
        workspace(slack)
        settings = settings_for(slack, sqlite_db, slack_app_token=slack.app_token, slack_signing_secret=None)
        failures = []
        receive = receive_into(sqlite_db)

        def flaky(inbound: Inbound) -> tuple[int, bool]:
            if inbound.text == "fail once" and not failures:
                failures.append(inbound)
                raise RuntimeError("database is down")
            return receive(inbound)

        parts = assemble(settings, sqlite_db, flaky)
        transport = SocketModeTransport(slack.app_token, slack.api_url, parts.dispatcher)
        transport.start()
        try:
            socket_mode.wait_connected()
            first = socket_mode.send(fixture("message"))
            socket_mode.send(fixture("message"), retry_attempt=1)
            assert socket_mode.wait_ack(first) == {"envelope_id": first}
            click = socket_mode.send(fixture("block_actions"), kind="interactive")
            socket_mode.wait_ack(click)
            failing = fixture("message")
            failing["event_id"] = "Ev_FAIL"
            failing["event"].update(text="fail once", ts="1700000010.000100", user="U_STAFF2", user_team="T_X")
            refused = socket_mode.send(failing)
            time.sleep(0.5)
            assert not socket_mode.acked(refused)  # not stored: no ack, Slack redelivers
            again = socket_mode.send(failing, retry_attempt=1)
            socket_mode.wait_ack(again)
        finally:
            transport.stop()
            parts.close()
        conversation = get_conversation(sqlite_db, "slack", "C_SUPPORT:1700000001.000100")
        assert conversation is not None
        texts = [m.text for m in list_messages(sqlite_db, conversation.id)]
        assert texts[0].startswith("Hi, where is my order") and texts[1] is None and len(texts) == 2
        assert get_conversation(sqlite_db, "slack", "C_SUPPORT:1700000010.000100") is not None
        assert [c.method for c in slack.calls_of("apps.connections.open")] == ["apps.connections.open"]
