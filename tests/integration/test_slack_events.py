"""The Events API and interactivity endpoints with the real parts: signed requests built from
Slack's documented payloads, the loopback Slack API, SQLite and PostgreSQL. Turns are not run
here (the full app is tested in ``test_slack_app.py``): this is what gets stored, and when."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from helpdesk.connectors.slack.assemble import SlackParts, assemble
from helpdesk.connectors.slack.views import EXTENSION, SlackHttp, blueprint
from helpdesk.conversations.db import Database
from helpdesk.conversations.models import Message
from helpdesk.conversations.store import get_conversation, list_messages, store_inbound
from helpdesk.conversations.types import Inbound
from helpdesk.settings import Settings
from tests.fakes.slack_events import event_body, fixture, interaction_body, signed
from tests.fakes.slack_server import FakeSlack

SECRET = "test-signing-secret"


@dataclass
class Rig:
    client: FlaskClient
    slack: FakeSlack
    db: Database
    parts: SlackParts

    def post(self, body: bytes, *, path: str = "/slack/events", retry: int | None = None,
             headers: dict[str, str] | None = None, **sign: float) -> tuple[int, object]:
        kind = "application/json" if path.endswith("events") else "application/x-www-form-urlencoded"
        sent = headers if headers is not None else signed(SECRET, body, retry=retry, content_type=kind, **sign)
        response = self.client.post(path, data=body, headers=sent)
        return response.status_code, response.get_json(silent=True)

    def event(self, name: str, **changes: object) -> tuple[int, object]:
        data = fixture(name)
        data["event"].update(changes)
        return self.post(event_body(data))

    def messages(self, key: str) -> list[Message]:
        conversation = get_conversation(self.db, "slack", key)
        return [] if conversation is None else list_messages(self.db, conversation.id)

    def all_messages(self) -> int:
        with self.db.read_session() as session:
            return session.query(Message).count()


def settings_for(slack: FakeSlack, db: Database, **extra: object) -> Settings:
    values: dict[str, object] = {
        "database_url": db.engine.url.render_as_string(hide_password=False), "slack_bot_token": slack.token,
        "slack_signing_secret": SECRET, "slack_api_url": slack.api_url, "slack_pace_seconds": 0,
        "slack_support_channels": "C_SUPPORT,C_IT=internal", "slack_agent_channel": "C_AGENTS"}
    return Settings(**{**values, **extra})


def workspace(slack: FakeSlack) -> None:
    slack.add_user("U_CUST", "Ada Customer", team="T_CUST", email="ada@acme.example")
    slack.add_user("U_STAFF", "Sam Staff", email="sam@ours.example")
    slack.add_user("U_EMP", "Eve Employee", email="eve@ours.example")
    slack.add_user("U_AGENT", "Grace Agent", email="grace@ours.example")
    slack.add_channel("C_SUPPORT", name="support-acme", shared=True)
    slack.add_channel("C_IT", name="it-help")
    slack.add_channel("C_AGENTS", name="helpdesk-agents", members=["U_AGENT"])
    slack.workspace.team_id = "T_OURS"


def receive_into(db: Database):  # type: ignore[no-untyped-def]
    def receive(inbound: Inbound) -> tuple[int, bool]:
        stored = store_inbound(db, inbound)
        return stored.conversation_id, stored.duplicate
    return receive


def rig_on(db: Database) -> Iterator[Rig]:
    with FakeSlack() as slack:
        workspace(slack)
        parts = assemble(settings_for(slack, db), db, receive_into(db))
        app = Flask(__name__)
        app.extensions[EXTENSION] = SlackHttp(parts.verifier, parts.dispatcher)  # type: ignore[arg-type]
        app.register_blueprint(blueprint())
        try:
            yield Rig(app.test_client(), slack, db, parts)
        finally:
            parts.close()


@pytest.fixture
def rig(sqlite_db: Database) -> Iterator[Rig]:
    """On SQLite (the parsing and routing don't depend on the database)."""
    yield from rig_on(sqlite_db)


@pytest.fixture
def rig_any(db: Database) -> Iterator[Rig]:
    """On SQLite and on PostgreSQL (what storage guarantees)."""
    yield from rig_on(db)


def test_url_verification_echoes_the_challenge(rig: Rig) -> None:
    status, body = rig.post(event_body(fixture("url_verification")))
    assert (status, body) == (200, {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})


def test_a_customer_message_is_stored_as_plain_text_with_its_author(rig_any: Rig) -> None:
    status, _ = rig_any.event("message")
    assert status == 200
    [message] = rig_any.messages("C_SUPPORT:1700000001.000100")
    assert message.role == "customer" and message.author == "Ada Customer"
    assert message.text == "Hi, where is my order A1002 (https://shop.example/o/A1002)? <urgent>"
    assert message.external_id == "slack:C_SUPPORT:1700000001.000100"
    # the fake's pictures are http://127.0.0.1/…, not on Slack's image hosts: never stored
    assert message.payload["metadata"]["slack"]["avatar"] is None
    assert message.payload["metadata"]["profile"] == {"real_name": "Ada Customer", "avatar": None}


def test_retries_store_once(rig_any: Rig) -> None:
    body = event_body(fixture("message"))
    for retry in (None, 1, 2):
        assert rig_any.post(body, retry=retry)[0] == 200
    assert len(rig_any.messages("C_SUPPORT:1700000001.000100")) == 1
    assert rig_any.parts.dispatcher.counts.get("retry") == 2


def test_a_retry_after_a_restart_still_stores_once(rig_any: Rig) -> None:
    body = event_body(fixture("message"))
    rig_any.post(body)
    rig_any.parts.dispatcher.recent.forget("Ev_MESSAGE")  # a new process remembers nothing
    assert rig_any.post(body, retry=1)[0] == 200
    assert len(rig_any.messages("C_SUPPORT:1700000001.000100")) == 1


def test_a_retry_in_another_process_stores_once_when_the_customers_open_conversation_changed(
        rig_any: Rig) -> None:
    """Grouping: the first delivery started conversation A; meanwhile the customer wrote in another
    thread (conversation B, now their latest). Slack's retry reaching a process that never saw the
    first delivery must land in A's duplicate check, not become a new message of B."""
    first = fixture("message")
    first["event"].update(ts="1700000200.000100", event_ts="1700000200.000100")
    assert rig_any.post(event_body(first))[0] == 200
    other = fixture("message")
    other["event_id"] = "Ev_OTHER"
    other["event"].update(ts="1700000201.000100", thread_ts="1700000150.000100", text="and about my invoice")
    assert rig_any.post(event_body(other))[0] == 200
    rig_any.parts.dispatcher.recent.forget("Ev_MESSAGE")  # another process: it has seen nothing
    assert rig_any.post(event_body(first), retry=1)[0] == 200
    assert len(rig_any.messages("C_SUPPORT:1700000200.000100")) == 1
    assert [m.text for m in rig_any.messages("C_SUPPORT:1700000150.000100")] == ["and about my invoice"]
    assert rig_any.all_messages() == 2


@pytest.mark.parametrize("tamper", ["signature", "missing", "stale", "future", "secret"])
def test_unauthentic_requests_get_401_and_store_nothing(rig: Rig, tamper: str) -> None:
    body = event_body(fixture("message"))
    headers = signed(SECRET, body)
    if tamper == "signature":
        headers["X-Slack-Signature"] = headers["X-Slack-Signature"][:-2] + "00"
    elif tamper == "missing":
        headers = {"Content-Type": "application/json"}
    elif tamper in ("stale", "future"):
        headers = signed(SECRET, body, timestamp=time.time() + (-301 if tamper == "stale" else 301))
    else:
        headers = signed("not-the-secret", body)
    status, error = rig.post(body, headers=headers)
    assert status == 401 and error["error"]["code"] in ("bad_signature", "missing_headers", "stale_timestamp")
    assert rig.all_messages() == 0


def test_interactions_are_verified_too(rig: Rig) -> None:
    body = interaction_body(fixture("block_actions"))
    status, _ = rig.post(body, path="/slack/interactions", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401 and rig.all_messages() == 0


@pytest.mark.parametrize(("body", "code"), [(b"{not json", "invalid_json"), (b"[1, 2]", "invalid_body")])
def test_malformed_bodies_are_400(rig: Rig, body: bytes, code: str) -> None:
    status, error = rig.post(body)
    assert status == 400 and error["error"]["code"] == code


@pytest.mark.parametrize(("body", "code"), [(b"x=1", "missing_payload"), (b"payload=%7Bnope", "invalid_json")])
def test_malformed_interactions_are_400(rig: Rig, body: bytes, code: str) -> None:
    status, error = rig.post(body, path="/slack/interactions")
    assert status == 400 and error["error"]["code"] == code


@pytest.mark.parametrize("name", ["bot_echo", "own_message", "other_bot", "channel_join", "message_deleted"])
def test_bots_our_own_messages_and_housekeeping_store_nothing(rig: Rig, name: str) -> None:
    assert rig.post(event_body(fixture(name)))[0] == 200
    assert rig.all_messages() == 0


def test_a_thread_reply_joins_its_thread(rig: Rig) -> None:
    rig.event("message")
    rig.event("thread_reply")
    assert [m.text for m in rig.messages("C_SUPPORT:1700000001.000100")] == [
        "Hi, where is my order A1002 (https://shop.example/o/A1002)? <urgent>", "It is A1002"]


def test_top_level_messages_in_a_row_are_one_conversation(rig_any: Rig) -> None:
    rig_any.event("message")
    data = fixture("message")
    data["event_id"] = "Ev_SECOND"
    data["event"].update(ts="1700000030.000100", text="also, the box was damaged")
    rig_any.post(event_body(data))
    assert len(rig_any.messages("C_SUPPORT:1700000001.000100")) == 2
    assert get_conversation(rig_any.db, "slack", "C_SUPPORT:1700000030.000100") is None


def test_staff_in_a_shared_channel_are_not_customers(rig: Rig) -> None:
    rig.event("message")
    rig.post(event_body(fixture("staff_thread_reply")))
    data = fixture("message")
    data["event_id"] = "Ev_STAFF_TOP"
    data["event"].update(user="U_STAFF", team="T_OURS", user_team="T_OURS", ts="1700000090.000100")
    rig.post(event_body(data))
    assert [m.role for m in rig.messages("C_SUPPORT:1700000001.000100")] == ["customer"]
    assert get_conversation(rig.db, "slack", "C_SUPPORT:1700000090.000100") is None


def test_internal_channel_everyone_but_agents_is_a_customer(rig: Rig) -> None:
    data = fixture("message")
    data["event"].update(channel="C_IT", user="U_EMP", team="T_OURS", user_team="T_OURS", text="VPN is down")
    rig.post(event_body(data))
    assert [m.text for m in rig.messages("C_IT:1700000001.000100")] == ["VPN is down"]
    data["event_id"] = "Ev_AGENT"
    data["event"].update(user="U_AGENT", ts="1700000002.000100", text="agent chatter")
    rig.post(event_body(data))
    assert get_conversation(rig.db, "slack", "C_IT:1700000002.000100") is None


def test_dm_to_the_app(rig: Rig) -> None:
    rig.post(event_body(fixture("dm")))
    [message] = rig.messages("D_CUST:1700000100.000100")
    assert message.text == "my laptop won't start" and message.author == "Eve Employee"


def test_a_mention_and_its_message_event_store_once(rig: Rig) -> None:
    rig.post(event_body(fixture("app_mention")))
    data = fixture("app_mention")
    data["event"]["type"] = "message"
    data["event_id"] = "Ev_MENTION_MESSAGE"
    rig.post(event_body(data))
    [message] = rig.messages("C_SUPPORT:1700000200.000100")
    assert message.text == "can you help me?"


def test_messages_outside_support_channels_are_ignored(rig: Rig) -> None:
    data = fixture("message")
    data["event"]["channel"] = "C_RANDOM"
    rig.post(event_body(data))
    assert rig.all_messages() == 0


def test_an_edit_is_stored_as_the_customers_next_message(rig: Rig) -> None:
    rig.event("message")
    rig.event("thread_reply")
    rig.post(event_body(fixture("message_changed")))
    rig.post(event_body(fixture("message_changed")), retry=1)
    messages = rig.messages("C_SUPPORT:1700000001.000100")
    assert [m.text for m in messages][-1] == "Actually it is A1003" and len(messages) == 3
    assert messages[-1].payload["metadata"]["slack"]["edited"] is True


def test_an_edit_of_an_unknown_message_is_ignored(rig: Rig) -> None:
    rig.post(event_body(fixture("message_changed")))
    assert rig.all_messages() == 0


def test_a_button_click_is_the_customers_next_message(rig: Rig) -> None:
    rig.event("message")
    status, _ = rig.post(interaction_body(fixture("block_actions")), path="/slack/interactions")
    assert status == 200
    messages = rig.messages("C_SUPPORT:1700000001.000100")
    assert messages[-1].text is None
    assert messages[-1].payload["payload"] == "/order_status" and messages[-1].payload["title"] == "Track order"


def test_a_message_that_cannot_be_stored_is_503_and_retried(rig_any: Rig) -> None:
    calls = []
    original = rig_any.parts.customers.receive

    def failing(inbound: Inbound) -> tuple[int, bool]:
        calls.append(inbound)
        if len(calls) == 1:
            raise RuntimeError("database is down")
        return original(inbound)

    rig_any.parts.customers.receive = failing
    body = event_body(fixture("message"))
    status, error = rig_any.post(body)
    assert status == 503 and error["error"]["code"] == "not_stored"
    assert rig_any.post(body, retry=1)[0] == 200  # Slack's retry is processed, not dropped as seen
    assert len(rig_any.messages("C_SUPPORT:1700000001.000100")) == 1
