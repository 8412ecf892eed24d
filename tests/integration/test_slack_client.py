"""The real ``slack_sdk.WebClient`` against the loopback Slack Web API: retries, pacing, caches,
files, the grouping of top-level messages (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from helpdesk.connectors.slack.channel import SlackChannel, render
from helpdesk.connectors.slack.files import SlackFiles
from helpdesk.connectors.slack.people import Directory, RoleRules
from helpdesk.connectors.slack.sender import Pacer, SlackDeliveryError, SlackPost, SlackSender, build_client
from helpdesk.connectors.slack.threads import Grouping, thread_of_message
from helpdesk.conversations.attachments import load_attachment
from helpdesk.conversations.db import Database
from helpdesk.conversations.store import store_inbound
from helpdesk.conversations.types import Inbound
from tests.fakes.slack_server import FakeSlack

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        server.add_channel("C1")
        server.add_channel("C2")
        yield server


def sender_for(slack: FakeSlack, pace: float = 0.0) -> SlackSender:
    return SlackSender(build_client(slack.token, slack.api_url, backoff=0.01), Pacer(pace))


def test_429_retry_after_is_honoured_and_the_message_posted_once(slack: FakeSlack) -> None:
    slack.fail("chat.postMessage", 429, retry_after=2)
    started = time.monotonic()
    sender_for(slack).send(SlackPost("C1", "hello", thread_ts="1.1"))
    calls = slack.calls_of("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 2.0
    assert time.monotonic() - started >= 2.0
    assert [m["text"] for m in slack.posted("C1")] == ["hello"]


def test_a_long_retry_after_goes_back_to_the_outbox(slack: FakeSlack) -> None:
    slack.fail("chat.postMessage", 429, retry_after=120)
    with pytest.raises(SlackDeliveryError) as raised:
        sender_for(slack).send(SlackPost("C1", "hello"))
    assert raised.value.retry_after == 120.0 and not raised.value.permanent
    assert len(slack.calls_of("chat.postMessage")) == 1 and slack.posted() == []


def test_server_errors_are_retried_with_backoff(slack: FakeSlack) -> None:
    slack.fail("chat.postMessage", 500, times=2)
    sender_for(slack).send(SlackPost("C1", "hello"))
    assert [c.status for c in slack.calls_of("chat.postMessage")] == [500, 500, 200]
    assert len(slack.posted()) == 1


def test_persistent_server_errors_raise_for_the_outbox(slack: FakeSlack) -> None:
    slack.fail("chat.postMessage", 503, times=5, body=b"<html>upstream</html>")
    with pytest.raises(SlackDeliveryError) as raised:
        sender_for(slack).send(SlackPost("C1", "hello"))
    assert raised.value.retry_after is None
    assert len(slack.calls_of("chat.postMessage")) == 3  # the first try and two retries


def test_refusals_are_permanent_errors(slack: FakeSlack) -> None:
    with pytest.raises(SlackDeliveryError) as raised:
        sender_for(slack).send(SlackPost("C_GONE", "hello"))
    assert raised.value.error == "channel_not_found" and raised.value.permanent


def test_pacing_one_message_per_second_per_channel(slack: FakeSlack) -> None:
    sender = sender_for(slack, pace=0.5)
    for text in ("a", "b", "c"):
        sender.send(SlackPost("C1", text))
    sender.send(SlackPost("C2", "other"))
    times = {c.params["text"]: c.at for c in slack.calls_of("chat.postMessage")}
    assert times["b"] - times["a"] >= 0.45 and times["c"] - times["b"] >= 0.45
    assert times["other"] - times["c"] < 0.3  # another channel does not wait


def test_update_replaces_a_message(slack: FakeSlack) -> None:
    sender = sender_for(slack)
    ts = sender.send(SlackPost("C1", "v1"))
    assert sender.send(SlackPost("C1", "v2", update_ts=ts)) == ts
    assert [m["text"] for m in slack.posted("C1")] == ["v2"]


class _Author:
    def __init__(self, role: str, name: str | None) -> None:
        self.role, self.name = role, name


class _Button:
    def __init__(self, title: str, payload: str) -> None:
        self.title, self.payload = title, payload


class _Out:
    def __init__(self, text: str, *, role: str = "bot", name: str | None = None, buttons: tuple[_Button, ...] = (),
                 message_id: int | None = None) -> None:
        self.thread_key, self.text, self.buttons = "C1:1700000001.000100", text, buttons
        self.author, self.attachments, self.image = _Author(role, name), (), None
        self.message_id, self.conversation_id = message_id, 7


def test_agent_replies_show_the_agents_name_and_bot_buttons_are_block_kit(slack: FakeSlack) -> None:
    channel = SlackChannel(sender_for(slack), agent_icon={"Grace Hopper": "https://example.com/agent.png"}.get)
    channel.deliver(_Out("Hi, I'm Grace <3", role="agent", name="Grace Hopper"))
    channel.deliver(_Out("Pick one", buttons=(_Button("Track", "/order_status"),)))
    agent, bot = slack.posted("C1")
    assert (agent["thread_ts"], agent["text"], agent["username"], agent["icon_url"]) == (
        "1700000001.000100", "Hi, I'm Grace &lt;3", "Grace Hopper", "https://example.com/agent.png")
    assert "username" not in bot and bot["blocks"][-1]["elements"][0]["value"] == "/order_status"
    assert render(_Out("x")).thread_ts == "1700000001.000100"


def test_users_info_is_cached(slack: FakeSlack) -> None:
    slack.add_user("U1", "Ada Lovelace", email="ada@example.com", team="T_CUST")
    directory = Directory(build_client(slack.token, slack.api_url))
    for _ in range(3):
        user = directory.user("U1")
    assert (user.name, user.email, user.team_id) == ("Ada Lovelace", "ada@example.com", "T_CUST")
    assert user.image and user.image.endswith("/avatars/U1.png")
    assert len(slack.calls_of("users.info")) == 1
    assert directory.user("U404").name == "U404"  # unknown: the id, no exception


def test_cache_expires(slack: FakeSlack) -> None:
    slack.add_user("U1", "Ada")
    now = [0.0]
    directory = Directory(build_client(slack.token, slack.api_url), ttl=60, clock=lambda: now[0])
    directory.user("U1")
    now[0] = 61.0
    directory.user("U1")
    assert len(slack.calls_of("users.info")) == 2


def test_who_is_who_per_channel(slack: FakeSlack) -> None:
    slack.add_channel("C_SHARED", shared=True)
    slack.add_channel("C_IT")
    slack.add_channel("C_AGENTS", members=[f"U_AGENT{i}" for i in range(250)])  # two pages
    slack.add_user("U_CUST", "Customer", team="T_CUST")
    slack.add_user("U_STAFF", "Staff")
    directory = Directory(build_client(slack.token, slack.api_url))
    rules = RoleRules(lambda: "T_OURS", {"C_SHARED": "auto", "C_IT": "auto", "C_FORCED": "shared"}, "C_AGENTS", directory)
    assert rules.role("C_SHARED", "U_CUST", "T_CUST") == "customer"
    assert rules.role("C_SHARED", "U_STAFF", "T_OURS") == "staff"
    assert rules.role("C_SHARED", "U_CUST", None) == "customer"  # team looked up
    assert rules.role("C_IT", "U_STAFF", "T_OURS") == "customer"  # internal: not an agent
    assert rules.role("C_IT", "U_AGENT249", "T_OURS") == "staff"
    assert rules.role("C_IT", "U_AGENT1", "T_OURS", dm=True) == "customer"
    assert rules.mode("C_FORCED") == "shared"
    assert len(slack.calls_of("conversations.info")) == 2


def test_files_are_fetched_with_the_bot_token_and_stored(slack: FakeSlack, sqlite_db: Database) -> None:
    good = slack.add_file("F1", "label.png", PNG, "image/png")
    files = SlackFiles(sqlite_db, slack.token, max_bytes=1000)
    stored, problems = files.store((good,), thread_key="C1:1.1")
    assert problems == [] and stored[0].content_type == "image/png" and stored[0].size == len(PNG)
    row = load_attachment(sqlite_db, stored[0].id)
    assert row is not None and row.data == PNG and (row.channel, row.thread_key) == ("slack", "C1:1.1")
    assert slack.calls_of("files.download")[0].headers["authorization"] == f"Bearer {slack.token}"


def test_files_over_the_limit_or_of_other_types_are_refused(slack: FakeSlack, sqlite_db: Database) -> None:
    big = slack.add_file("F2", "big.png", PNG + b"\0" * 2000, "image/png")
    exe = slack.add_file("F3", "tool.exe", b"MZ\x90\x00" * 10, "application/octet-stream")
    wrong_token = SlackFiles(sqlite_db, "xoxb-wrong", max_bytes=1000)
    _, problems = SlackFiles(sqlite_db, slack.token, max_bytes=1000).store((big, exe), thread_key="C1:1.1")
    assert [p.code for p in problems] == ["attachment_too_large", "unsupported_attachment"]
    assert slack.calls_of("files.download") != []  # the exe was fetched, then refused by its content
    _, problems = wrong_token.store((slack.add_file("F4", "a.png", PNG, "image/png"),), thread_key="C1:1.1")
    assert [p.code for p in problems] == ["unsupported_attachment"]  # Slack's HTML sign-in page


def _customer_message(db: Database, key: str, user: str, ext: str) -> int:
    return store_inbound(db, Inbound(channel="slack", thread_key=key, text="hi", external_id=ext,
                                     customer_external_id=user)).conversation_id


def test_top_level_messages_within_the_window_join_the_open_conversation(db: Database) -> None:
    now = [datetime.now(UTC)]
    grouping = Grouping(db, window=600, clock=lambda: now[0])
    first = grouping.key_for("C1", "U1", "100.1", None)
    assert first == "C1:100.1"
    _customer_message(db, first, "U1", "slack:C1:100.1")
    assert grouping.key_for("C1", "U1", "200.1", None) == "C1:100.1"  # joins
    assert grouping.key_for("C1", "U2", "200.2", None) == "C1:200.2"  # someone else: new
    assert grouping.key_for("C2", "U1", "200.3", None) == "C2:200.3"  # another channel: new
    assert grouping.key_for("C1", "U1", "200.4", "150.0") == "C1:150.0"  # thread replies stay in their thread
    now[0] += timedelta(seconds=601)
    assert grouping.key_for("C1", "U1", "900.1", None) == "C1:900.1"  # window over: new
    assert Grouping(db, window=0).key_for("C1", "U1", "200.5", None) == "C1:200.5"
    assert thread_of_message(db, "slack:C1:100.1") == "C1:100.1"
    assert thread_of_message(db, "slack:C1:404") is None


def test_a_message_posted_once_is_not_posted_again_when_its_row_is_retried(slack: FakeSlack) -> None:
    channel = SlackChannel(sender_for(slack))
    channel.deliver(_Out("hello", message_id=41))
    channel.deliver(_Out("hello", message_id=41))  # the outbox retries: recording the first send failed
    [posted] = slack.posted("C1")
    assert posted["metadata"] == {"event_type": "helpdesk_message",
                                  "event_payload": {"message_id": 41, "conversation_id": 7}}
