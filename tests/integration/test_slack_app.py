"""The Slack connector in the whole helpdesk (``create_app``, a real threaded server, the outbox
worker in the web process, the loopback Slack API, SQLite and PostgreSQL): the acceptance items
of the Slack issue, each with a test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from helpdesk.conversations.attachments import Attachment
from helpdesk.conversations.db import Database
from helpdesk.conversations.models import Conversation, Message, Outbox
from helpdesk.conversations.store import get_conversation
from tests.e2e.conftest import LiveServer
from tests.e2e.widget_helpers import serve
from tests.fakes.anthropic_server import FakeAnthropic, slow, tool_use
from tests.fakes.slack_events import event_body, fixture, interaction_body, signed
from tests.fakes.slack_server import FakeSlack
from tests.integration.test_handoff_support import PASSWORD, add_agent
from tests.integration.test_slack_client import PNG
from tests.integration.test_slack_events import workspace

SECRET = "app-signing-secret"
REPO = Path(__file__).resolve().parents[2]
ROOT = "C_SUPPORT:1700000001.000100"


@dataclass
class Helpdesk:
    server: LiveServer
    slack: FakeSlack

    def post(self, data: dict[str, Any], *, retry: int | None = None, path: str = "/slack/events") -> httpx.Response:
        body = event_body(data) if path.endswith("events") else interaction_body(data)
        kind = "application/json" if path.endswith("events") else "application/x-www-form-urlencoded"
        return httpx.post(self.server.url + path, content=body, timeout=30,
                          headers=signed(SECRET, body, retry=retry, content_type=kind))

    def message(self, text: str, ts: str, *, event_id: str | None = None, thread_ts: str | None = None,
                channel: str = "C_SUPPORT", user: str = "U_CUST", team: str = "T_CUST") -> dict[str, Any]:
        data = fixture("message")
        data["event_id"] = event_id or f"Ev_{ts}"
        data["event"].update(text=text, ts=ts, channel=channel, user=user, team=team, user_team=team)
        if thread_ts:
            data["event"]["thread_ts"] = thread_ts
        return data

    def rows(self, model: Any, *where: Any) -> list[Any]:
        with self.server.app.extensions["helpdesk"].db.read_session() as session:
            return list(session.scalars(select(model).where(*where).order_by(model.id)))

    def conversation(self, key: str = ROOT) -> Conversation:
        found = get_conversation(self.server.app.extensions["helpdesk"].db, "slack", key)
        assert found is not None
        return found

    def bot_replies(self, key: str = ROOT) -> list[Message]:
        cid = self.conversation(key).id
        return self.rows(Message, Message.conversation_id == cid, Message.role != "customer")

    def api(self, method: str, path: str, email: str, **kwargs: Any) -> httpx.Response:
        token = httpx.post(f"{self.server.url}/api/v1/auth/login", json={"email": email, "password": PASSWORD},
                           timeout=30).json()["token"]
        return httpx.request(method, f"{self.server.url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"},
                             timeout=30, **kwargs)


def eventually(condition: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def helpdesk_for(db_url: str, tmp_path: Path, slack: FakeSlack, **overrides: Any) -> Iterator[Helpdesk]:
    settings: dict[str, Any] = {
        "slack_bot_token": slack.token, "slack_signing_secret": SECRET, "slack_api_url": slack.api_url,
        "slack_support_channels": "C_SUPPORT", "slack_agent_channel": "C_AGENTS", "slack_pace_seconds": 0,
        "timers_in_web": False, "handoff_assignment": "manual", "outbox_interval": 0.2, **overrides}
    with serve(db_url, tmp_path, **settings) as server:
        add_agent(server.app, "grace@ours.example", name="Grace Agent", presence="online")
        yield Helpdesk(server, slack)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        workspace(server)
        yield server


@pytest.fixture
def helpdesk(sqlite_url: str, tmp_path: Path, slack: FakeSlack) -> Iterator[Helpdesk]:
    yield from helpdesk_for(sqlite_url, tmp_path, slack)


@pytest.fixture
def helpdesk_any(db_url: str, tmp_path: Path, slack: FakeSlack) -> Iterator[Helpdesk]:
    """On SQLite and on PostgreSQL."""
    yield from helpdesk_for(db_url, tmp_path, slack)


def test_a_message_is_answered_in_its_thread_and_acknowledged_at_once_while_understanding_is_slow(
        db_url: str, tmp_path: Path, slack: FakeSlack) -> None:
    with FakeAnthropic(lambda _request: slow(3.0, tool_use({"commands": [
            {"command": "start flow", "flow": "order_status"}]}))) as llm:
        for desk in helpdesk_for(db_url, tmp_path, slack, anthropic_api_key="test-key",
                                 anthropic_base_url=llm.url, llm_timeout=20):
            started = time.monotonic()
            response = desk.post(fixture("message"))
            acked = time.monotonic() - started
            assert response.status_code == 200 and acked < 1.0, acked
            assert desk.rows(Message, Message.role == "customer")  # stored before the answer
            [call] = slack.wait_for("chat.postMessage", timeout=30)
            assert call.at - started >= 3.0  # the reply waited for understanding, the ack did not
            [reply] = desk.bot_replies()
            assert call.params["channel"] == "C_SUPPORT" and call.params["thread_ts"] == "1700000001.000100"
            assert call.params["text"] == reply.text and "order" in reply.text.lower()


def test_three_deliveries_of_one_event_store_one_message_and_send_one_reply(helpdesk_any: Helpdesk) -> None:
    data = helpdesk_any.message("where is my order", "1700000001.000100", event_id="Ev_ONCE")
    for retry in (None, 1, 2):
        assert helpdesk_any.post(data, retry=retry).status_code == 200
    replies = eventually(helpdesk_any.bot_replies)
    helpdesk_any.slack.wait_for("chat.postMessage", len(replies))
    time.sleep(0.5)
    customer = [m for m in helpdesk_any.rows(Message) if m.role == "customer"]
    assert len(customer) == 1
    assert [c.params["text"] for c in helpdesk_any.slack.calls_of("chat.postMessage")] == [r.text for r in replies]


@pytest.mark.parametrize("headers", [
    {"X-Slack-Signature": "v0=" + "0" * 64}, {"X-Slack-Request-Timestamp": None}, "stale"])
def test_bad_signature_missing_headers_or_a_stale_timestamp_get_401_and_nothing_is_stored(
        helpdesk: Helpdesk, headers: Any) -> None:
    body = event_body(fixture("message"))
    sent = signed(SECRET, body, timestamp=time.time() - 600 if headers == "stale" else None)
    if isinstance(headers, dict):
        for key, value in headers.items():
            sent.pop(key) if value is None else sent.__setitem__(key, value)
    response = httpx.post(helpdesk.server.url + "/slack/events", content=body, headers=sent, timeout=30)
    assert response.status_code == 401 and "error" in response.json()
    assert helpdesk.rows(Message) == [] and helpdesk.rows(Conversation) == []


@pytest.mark.parametrize(("database", "max_inline_wait"), [
    ("sqlite", 5.0), ("sqlite", 0.0), pytest.param("postgres", 0.0, marks=pytest.mark.postgres)])
def test_after_a_429_with_retry_after_2_the_message_is_delivered_once_not_before_2s(
        request: pytest.FixtureRequest, tmp_path: Path, slack: FakeSlack, database: str, max_inline_wait: float
) -> None:
    """Waited out by the SDK's handler (up to HELPDESK_SLACK_MAX_INLINE_WAIT), or handed back to the
    outbox, which retries at the time Slack asked for."""
    url = str(request.getfixturevalue(f"{database}_url"))
    for desk in helpdesk_for(url, tmp_path, slack, slack_max_inline_wait=max_inline_wait):
        slack.fail("chat.postMessage", 429, retry_after=2)
        desk.post(desk.message("where is my order", "1700000001.000100"))
        replies = eventually(desk.bot_replies)
        delivered = slack.wait_for("chat.postMessage", len(replies), timeout=30)
        calls = slack.calls_of("chat.postMessage")
        assert calls[0].status == 429 and delivered[0].at - calls[0].at >= 2.0
        assert [m["text"] for m in slack.posted("C_SUPPORT")] == [r.text for r in replies]  # once each
        rows = eventually(lambda desk=desk: [r for r in desk.rows(Outbox) if r.status == "sent"] or None)
        assert len(rows) == len(replies)


def _hand_over(helpdesk: Helpdesk) -> tuple[int, dict[str, Any]]:
    helpdesk.post(helpdesk.message("I want to talk to a human", "1700000001.000100"))
    cid = eventually(lambda: helpdesk.conversation().status == "queued" and helpdesk.conversation().id)
    card = eventually(lambda: helpdesk.slack.posted("C_AGENTS"))[0]
    return cid, card


def test_handoff_posts_to_the_agents_channel_and_a_claim_click_assigns(helpdesk_any: Helpdesk) -> None:
    cid, card = _hand_over(helpdesk_any)
    assert f"Handoff #{cid}" in card["text"] and "Ada Customer" in card["text"]
    assert [e["action_id"] for e in card["blocks"][-1]["elements"]] == ["helpdesk_claim", "helpdesk_resolve"]
    click = fixture("claim_click")
    click["actions"][0]["value"] = str(cid)
    click["container"]["message_ts"] = card["ts"]
    assert helpdesk_any.post(click, path="/slack/interactions").status_code == 200
    eventually(lambda: helpdesk_any.conversation().status == "assigned")
    eventually(lambda: "claimed by Grace Agent" in helpdesk_any.slack.posted("C_AGENTS")[0]["text"])


def test_a_customer_directed_thread_reply_reaches_the_customer_and_a_plain_one_stays_internal(
        helpdesk_any: Helpdesk) -> None:
    cid, card = _hand_over(helpdesk_any)
    before = len(helpdesk_any.slack.posted("C_SUPPORT"))
    note = helpdesk_any.message("checking the carrier", "1700000800.000100", channel="C_AGENTS", user="U_AGENT",
                            team="T_OURS", thread_ts=card["ts"])
    helpdesk_any.post(note)
    reply = helpdesk_any.message("!reply Your parcel arrives tomorrow", "1700000801.000100", channel="C_AGENTS",
                             user="U_AGENT", team="T_OURS", thread_ts=card["ts"])
    helpdesk_any.post(reply)
    sent = eventually(lambda: [m for m in helpdesk_any.slack.posted("C_SUPPORT")[before:]
                               if m.get("username") == "Grace Agent"])
    assert [(m["text"], m["thread_ts"]) for m in sent] == [("Your parcel arrives tomorrow", "1700000001.000100")]
    texts = [m["text"] for m in helpdesk_any.slack.posted("C_SUPPORT")]
    assert not any("checking the carrier" in t for t in texts)
    agent_messages = [m for m in helpdesk_any.bot_replies() if m.role == "agent"]
    assert [m.text for m in agent_messages] == ["Your parcel arrives tomorrow"]


@pytest.mark.parametrize(("database", "max_inline_wait"), [
    ("sqlite", 5.0), ("sqlite", 0.0), pytest.param("postgres", 0.0, marks=pytest.mark.postgres)])
def test_a_handoff_card_goes_through_the_outbox_once_and_waits_out_a_429(
        request: pytest.FixtureRequest, tmp_path: Path, slack: FakeSlack, database: str, max_inline_wait: float
) -> None:
    """Any channel's handoff (here the widget's): the card is an outbox row of the handoff's
    transaction, posted by the outbox worker once, after Slack's Retry-After."""
    from tests.e2e.widget_helpers import WidgetClient

    url = str(request.getfixturevalue(f"{database}_url"))
    for desk in helpdesk_for(url, tmp_path, slack, slack_max_inline_wait=max_inline_wait):
        slack.fail("chat.postMessage", 429, retry_after=2)
        visitor = WidgetClient(desk.server.url)
        visitor.connect()
        try:
            visitor.send("I want to talk to a human")
            # the card, then the customer's message of the handed-off turn mirrored into its thread
            card, mirrored = eventually(lambda desk=desk: desk.slack.posted("C_AGENTS")[1:] and
                                        desk.slack.posted("C_AGENTS"), timeout=30)
        finally:
            visitor.disconnect()
        calls = slack.calls_of("chat.postMessage")
        assert [c.status for c in calls] == [429, 200, 200] and calls[1].at - calls[0].at >= 2.0
        assert "widget" in card["text"]
        assert (mirrored["thread_ts"], mirrored["text"]) == (card["ts"], "I want to talk to a human")
        rows = eventually(lambda desk=desk: [r for r in desk.rows(Outbox) if r.status == "sent"][1:] and
                          [r for r in desk.rows(Outbox) if r.status == "sent"])
        assert [(r.channel, r.destination, r.payload["notice"]) for r in rows] == [
            ("slack", "C_AGENTS", "slack_card"), ("slack", "C_AGENTS", "slack_mirror")]
        time.sleep(0.5)  # nothing else comes
        assert len(slack.calls_of("chat.postMessage")) == 3 and len(slack.posted("C_AGENTS")) == 2


def test_a_widget_customers_handoff_is_answered_from_slack(helpdesk: Helpdesk) -> None:
    from tests.e2e.widget_helpers import WidgetClient

    visitor = WidgetClient(helpdesk.server.url)
    visitor.connect()
    try:
        visitor.send("I want to talk to a human")
        card = eventually(lambda: helpdesk.slack.posted("C_AGENTS"))[0]
        assert "widget" in card["text"]
        note = helpdesk.message("first let me check the order", "1700000800.000100", channel="C_AGENTS",
                                user="U_AGENT", team="T_OURS", thread_ts=card["ts"])
        helpdesk.post(note)
        reply = helpdesk.message("!reply Hello from Slack", "1700000801.000100", channel="C_AGENTS",
                                 user="U_AGENT", team="T_OURS", thread_ts=card["ts"])
        helpdesk.post(reply)
        got = visitor.wait_for("message", lambda m: m["role"] == "agent")
        assert got["text"] == "Hello from Slack" and got["author"]["name"] == "Grace Agent"
        time.sleep(0.3)
        assert not [m for m in visitor.messages() if "check the order" in (m.get("text") or "")]
        assert not [m for m in helpdesk.slack.posted("C_SUPPORT") if m.get("text") == "Hello from Slack"]
    finally:
        visitor.disconnect()


def test_a_dashboard_reply_lands_in_the_slack_thread_under_the_agents_name(helpdesk: Helpdesk) -> None:
    cid, _card = _hand_over(helpdesk)
    response = helpdesk.api("POST", f"/conversations/{cid}/messages", "grace@ours.example",
                            json={"text": "Hi Ada, <b>Grace</b> here & on it"})
    assert response.status_code == 201, response.text
    [sent] = eventually(lambda: [m for m in helpdesk.slack.posted("C_SUPPORT") if m.get("username") == "Grace Agent"])
    assert sent["text"] == "Hi Ada, &lt;b&gt;Grace&lt;/b&gt; here &amp; on it"
    assert sent["thread_ts"] == "1700000001.000100"
    assert sent["icon_url"].endswith("/avatars/U_AGENT.png")  # Grace's Slack avatar (agents' channel member)


@pytest.mark.parametrize(("image", "shown"), [
    ("https://avatars.slack-edge.com/2026-01-01/1_ada_192.png", True),
    ("javascript:alert(1)", False), ("http://evil.example/a.png", False)])
def test_the_dashboard_api_gives_the_slack_users_real_name_and_only_a_safe_picture(
        helpdesk: Helpdesk, image: str, shown: bool) -> None:
    helpdesk.slack.workspace.users["U_CUST"]["profile"].update(display_name="ada", image_192=image)
    cid, _card = _hand_over(helpdesk)
    detail = helpdesk.api("GET", f"/conversations/{cid}", "grace@ours.example").json()
    assert detail["channel"] == "slack" and detail["customer"]["name"] == "ada"
    assert detail["customer_profile"] == {"real_name": "Ada Customer", "avatar": image if shown else None}
    stored = helpdesk.rows(Message, Message.conversation_id == cid, Message.role == "customer")[0]
    assert stored.payload["metadata"]["slack"]["avatar"] == (image if shown else None)  # never stored either


def test_files_shared_in_slack_are_fetched_and_stored_like_widget_attachments(helpdesk: Helpdesk) -> None:
    data = fixture("file_share")
    data["event"]["files"] = [helpdesk.slack.add_file("F_LABEL", "label.png", PNG, "image/png"),
                              helpdesk.slack.add_file("F_EXE", "tool.exe", b"MZ" * 20, "application/x-msdownload")]
    assert helpdesk.post(data).status_code == 200
    [attachment] = eventually(lambda: helpdesk.rows(Attachment, Attachment.message_id.is_not(None)))
    assert (attachment.name, attachment.content_type, attachment.channel) == ("label.png", "image/png", "slack")
    message = helpdesk.rows(Message, Message.id == attachment.message_id)[0]
    assert message.role == "customer" and message.payload["attachments"][0]["id"] == attachment.id
    told = eventually(lambda: helpdesk.slack.calls_of("chat.postEphemeral"))
    assert "tool.exe" in told[0].params["text"]


def test_socket_mode_runs_the_same_logic_without_a_public_url(sqlite_url: str, tmp_path: Path) -> None:
    from tests.fakes.slack_socket_mode import FakeSocketMode

    with FakeSocketMode() as socket_mode, FakeSlack(socket_url=socket_mode.url) as slack:
        workspace(slack)
        for desk in helpdesk_for(sqlite_url, tmp_path, slack, slack_app_token=slack.app_token,
                                 slack_signing_secret=None):
            socket_mode.wait_connected()
            envelope = socket_mode.send(desk.message("where is my order", "1700000001.000100"))
            socket_mode.wait_ack(envelope)
            replies = eventually(desk.bot_replies)
            calls = slack.wait_for("chat.postMessage", len(replies))
            assert [c.params["thread_ts"] for c in calls] == ["1700000001.000100"] * len(replies)
            assert httpx.post(desk.server.url + "/slack/events", content=b"{}", timeout=10).status_code == 404


@contextmanager
def helpdesk_process(db_url: str, tmp_path: Path, slack: FakeSlack, llm_url: str) -> Iterator[tuple[str, Any]]:
    """``helpdesk run`` in a process of its own (killed with SIGKILL by the caller), understanding
    through a slow loopback Anthropic API: its turns are still waiting when it dies."""
    port = _free_port()
    env = {**os.environ, "HELPDESK_DATABASE_URL": db_url, "HELPDESK_AUTO_MIGRATE": "true",
           "HELPDESK_INSTANCE_PATH": str(tmp_path / "instance"), "HELPDESK_SECRET_KEY": "test-secret",
           "HELPDESK_PORT": str(port), "HELPDESK_LOG_LEVEL": "WARNING", "HELPDESK_TIMERS_IN_WEB": "false",
           "SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": SECRET, "HELPDESK_SLACK_API_URL": slack.api_url,
           "HELPDESK_SLACK_SUPPORT_CHANNELS": "C_SUPPORT", "HELPDESK_SLACK_AGENT_CHANNEL": "C_AGENTS",
           "HELPDESK_SLACK_PACE_SECONDS": "0",
           "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": llm_url, "HELPDESK_LLM_TIMEOUT": "120",
           "HELPDESK_LLM_MAX_RETRIES": "0", "HELPDESK_HANDOFF_LLM_SUMMARY": "false",
           "HELPDESK_ADDRESS_RATE_PER_MINUTE": "0", "HELPDESK_NEW_SESSIONS_PER_MINUTE": "0",
           "PYTHONPATH": str(REPO)}
    log = (tmp_path / "first-process.log").open("wb")
    process = subprocess.Popen([sys.executable, "-c", "from helpdesk.app import serve; from helpdesk.settings import Settings; "  # noqa: S603
                                "serve(Settings())"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            assert process.poll() is None, (tmp_path / "first-process.log").read_text()[-3000:]
            try:
                return httpx.get(url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        eventually(up, timeout=60)
        yield url, process
    finally:
        process.kill()
        process.wait()
        log.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answering(desk: Helpdesk, customer_ids: set[int]) -> list[Message] | None:
    """The bot's messages once every one of the customer messages has an answer."""
    bots = desk.rows(Message, Message.role == "bot")
    return bots if {b.in_reply_to for b in bots} >= customer_ids else None


def _posted_message_ids(slack: FakeSlack) -> list[int]:
    ids = []
    for call in slack.calls_of("chat.postMessage"):
        metadata = call.params.get("metadata")
        metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
        if call.status == 200 and metadata:
            ids.append(int(metadata["event_payload"]["message_id"]))
    return ids


def test_events_acknowledged_before_a_crash_are_answered_exactly_once_after_the_restart(
        db_url: str, tmp_path: Path, slack: FakeSlack) -> None:
    """Stored and acknowledged, then the process dies (SIGKILL) before any turn or delivery ran;
    the app started again answers every event once — nothing lost, nothing twice — and Slack's
    retries of the same events after the restart store and send nothing more."""
    events = [fixture("message") for _ in range(4)]
    for n, data in enumerate(events):  # four customers (one customer's messages would join one conversation)
        ts = f"170000010{n}.000100"
        slack.add_user(f"U_C{n}", f"Customer {n}", team="T_CUST")
        data["event_id"] = f"Ev_RESTART_{n}"
        data["event"].update(ts=ts, event_ts=ts, client_msg_id=f"restart-{n}", text="where is my order",
                             user=f"U_C{n}")
    with FakeAnthropic(lambda _request: slow(60.0, tool_use({"commands": []}))) as llm:
        with helpdesk_process(db_url, tmp_path, slack, llm.url) as (url, process):
            for data in events:
                body = event_body(data)
                response = httpx.post(url + "/slack/events", content=body, headers=signed(SECRET, body), timeout=30)
                assert response.status_code == 200, response.text
            eventually(lambda: len(llm.message_requests()) >= len(events), timeout=30)  # every turn is waiting for the LLM
            process.kill()
        llm.stop()
    assert slack.calls_of("chat.postMessage") == []
    left = Database(db_url)
    try:
        with left.read_session() as session:
            stored = list(session.scalars(select(Message).order_by(Message.id)))
    finally:
        left.dispose()
    assert sorted(m.external_id for m in stored) == sorted(
        f"slack:C_SUPPORT:{d['event']['ts']}" for d in events)  # stored before the ack: none lost
    assert {m.role for m in stored} == {"customer"}  # …and no turn ran before the crash

    for desk in helpdesk_for(db_url, tmp_path, slack, timers_in_web=True):  # offline understanding now
        customer = desk.rows(Message, Message.role == "customer")
        wanted = {m.id for m in customer}
        answered = eventually(lambda desk=desk, wanted=wanted: _answering(desk, wanted), timeout=60)
        eventually(lambda desk=desk: all(r.status == "sent" for r in desk.rows(Outbox)) or None, timeout=30)
        for data in events:  # Slack retries after the restart
            body = event_body(data)
            assert httpx.post(desk.server.url + "/slack/events", content=body, timeout=30,
                              headers=signed(SECRET, body, retry=1)).status_code == 200
        time.sleep(1.0)  # what the retries could have set off has had its time
        bots = desk.rows(Message, Message.role == "bot")
        assert [b.id for b in bots] == [b.id for b in answered]  # no second answer
        assert len(desk.rows(Message, Message.role == "customer")) == len(events)
        posted = _posted_message_ids(slack)
        assert sorted(posted) == sorted(b.id for b in bots)  # every reply posted, exactly once
        threads = {c.params["thread_ts"] for c in slack.calls_of("chat.postMessage")}
        assert threads == {d["event"]["ts"] for d in events}
