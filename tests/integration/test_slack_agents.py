"""Agents in Slack with the real handoff service: handoff cards, Claim / Resolve, thread replies
that stay internal unless sent to the customer, staff taking over, the ticket reaction."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from helpdesk.connectors.slack.agents import card_blocks
from helpdesk.connectors.slack.assemble import SlackParts, assemble
from helpdesk.connectors.slack.blocks import HandoffCard
from helpdesk.connectors.slack.cards import MIRROR_NOTICE, queue_card, queue_mirror
from helpdesk.connectors.slack.dedupe import RecentIds
from helpdesk.conversations.models import Conversation, Message, Outbox, utcnow
from helpdesk.conversations.outbox import OutboxWorker
from helpdesk.conversations.store import get_conversation, store_inbound
from helpdesk.conversations.types import Inbound
from helpdesk.handoff import auth
from helpdesk.handoff.desk import ChatDesk
from helpdesk.handoff.models import Agent, Handoff, Note
from helpdesk.services import Services, build_services
from tests.e2e.conftest import make_settings
from tests.fakes.slack_events import fixture
from tests.fakes.slack_server import FakeSlack
from tests.integration.test_slack_events import receive_into, workspace


@dataclass
class Desk:
    services: Services
    slack: FakeSlack
    parts: SlackParts
    events: list[tuple[str, dict[str, object]]]
    outbox: OutboxWorker

    def card_rows(self) -> list[Outbox]:
        with self.services.db.read_session() as session:
            return [r for r in session.scalars(select(Outbox).order_by(Outbox.id)) if "notice" in r.payload]

    def conversation(self, key: str = "C_SUPPORT:1700000001.000100", text: str = "I need a human") -> int:
        return store_inbound(self.services.db, Inbound(channel="slack", thread_key=key, text=text,
                                                       external_id=f"slack:{key}", customer_external_id="U_CUST",
                                                       customer_name="Ada Customer")).conversation_id

    def status(self, conversation_id: int) -> str:
        with self.services.db.read_session() as session:
            return session.get(Conversation, conversation_id).status  # type: ignore[union-attr]

    def handoff(self, conversation_id: int) -> Handoff:
        with self.services.db.read_session() as session:
            return session.scalars(select(Handoff).where(Handoff.conversation_id == conversation_id)).one()

    def notes(self, conversation_id: int) -> list[str]:
        with self.services.db.read_session() as session:
            return [n.text for n in session.scalars(select(Note).where(Note.conversation_id == conversation_id,
                                                                       Note.kind == "note"))]

    def messages(self, conversation_id: int) -> list[Message]:
        with self.services.db.read_session() as session:
            return list(session.scalars(select(Message).where(Message.conversation_id == conversation_id)
                                        .order_by(Message.seq)))


def wait(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def desk_on(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    with FakeSlack() as slack:
        workspace(slack)
        settings = make_settings(db_url, tmp_path, slack_bot_token=slack.token, slack_signing_secret="s",
                                 slack_api_url=slack.api_url, slack_support_channels="C_SUPPORT",
                                 slack_agent_channel="C_AGENTS", slack_pace_seconds=0, timers_in_web=False,
                                 handoff_assignment="manual", log_level="WARNING")
        services = build_services(settings)
        events: list[tuple[str, dict[str, object]]] = []
        services.bus.subscribe(lambda event, data: events.append((event, data)))
        with services.db.session() as session, session.begin():
            grace = auth.create_agent(session, "grace@ours.example", "Grace Agent", "password123", teams=[])
            grace.presence = "online"  # claiming needs an agent who is not offline (the dashboard's rule)
        parts = assemble(settings, services.db, receive_into(services.db), ChatDesk(services.handoff, "slack"))
        # what SlackConnector.notice does in the app: handoff cards are outbox rows of the handoff's turn
        services.delivery.notices.append(lambda turn, event, data: queue_card(turn, event, data,
                                                                               agent_channel="C_AGENTS"))
        # …and so are the copies of a handed-off conversation's messages for the card's thread
        services.delivery.notices.append(lambda turn, event, data: event == "message" and queue_mirror(
            turn, data, agent_channel="C_AGENTS"))
        try:
            yield Desk(services, slack, parts, events, OutboxWorker(services.db, {"slack": parts.channel}))
        finally:
            parts.close()
            services.close()


@pytest.fixture
def desk(sqlite_url: str, tmp_path: Path) -> Iterator[Desk]:
    yield from desk_on(sqlite_url, tmp_path)


@pytest.fixture
def desk_any(db_url: str, tmp_path: Path) -> Iterator[Desk]:
    """On SQLite and on PostgreSQL."""
    yield from desk_on(db_url, tmp_path)


def test_slack_users_map_to_agents_by_email_then_by_name(desk: Desk) -> None:
    chat_desk = desk.parts.agents.desk  # type: ignore[union-attr]
    grace = desk.parts.directory.user("U_AGENT")
    assert chat_desk.agent_for(grace).email == "grace@ours.example"
    renamed = type(grace)("U_X", "grace agent", email="other@ours.example")
    assert chat_desk.agent_for(renamed).email == "grace@ours.example"  # by name, case-insensitive
    assert chat_desk.agent_for(desk.parts.directory.user("U_STAFF")) is None


def test_the_handoff_card_claim_and_resolve(desk_any: Desk) -> None:
    cid = desk_any.conversation()
    desk_any.parts.agents.desk.hand_over(cid, "customer_request")  # type: ignore[union-attr]
    assert desk_any.status(cid) == "queued"
    assert desk_any.slack.posted("C_AGENTS") == []  # nothing is posted from the handoff's thread
    [row] = desk_any.card_rows()  # …the card is an outbox row of the handoff's transaction
    assert (row.conversation_id, row.channel, row.destination, row.status) == (cid, "slack", "C_AGENTS", "pending")
    desk_any.outbox.run_once()
    desk_any.outbox.run_once()
    [card] = desk_any.slack.posted("C_AGENTS")  # delivered once by the worker
    assert "Ada Customer" in card["text"] and card["blocks"][-1]["elements"][0]["action_id"] == "helpdesk_claim"
    assert [r.status for r in desk_any.card_rows()] == ["sent"]

    click = fixture("claim_click")
    click["actions"][0]["value"] = str(cid)
    click["container"]["message_ts"] = card["ts"]
    desk_any.parts.dispatcher.interaction(click)
    wait(lambda: desk_any.status(cid) == "assigned")
    assert desk_any.handoff(cid).assignee_id is not None
    desk_any.parts.agents.cards._by_conversation.clear()  # noqa: SLF001 - another process: the card is found in the log
    desk_any.outbox.run_once()
    [card] = desk_any.slack.posted("C_AGENTS")  # the same card, updated
    assert "claimed by Grace Agent" in card["text"]
    assert [e["action_id"] for e in card["blocks"][-1]["elements"]] == ["helpdesk_resolve"]

    click["actions"][0].update(action_id="helpdesk_resolve", action_ts="1700000702.000000")
    desk_any.parts.dispatcher.interaction(click)
    wait(lambda: desk_any.status(cid) == "resolved")
    desk_any.outbox.run_once()
    [card] = desk_any.slack.posted("C_AGENTS")
    assert "resolved by Grace Agent" in card["text"] and card["blocks"][-1]["type"] != "actions"
    assert len(desk_any.slack.calls_of("chat.postMessage")) == 1  # one card, updated in place
    assert {r.status for r in desk_any.card_rows()} == {"sent"}


def test_a_card_slack_refuses_is_retried_and_holds_back_no_reply_to_the_customer(desk: Desk) -> None:
    cid = desk.conversation()
    desk.slack.fail("chat.postMessage", 200, error="not_in_channel")  # the agents' channel refuses once
    desk.parts.agents.desk.hand_over(cid, "customer_request")  # type: ignore[union-attr]
    desk.outbox.run_once()
    [row] = desk.card_rows()
    assert (row.status, row.attempts) == ("pending", 1) and "not_in_channel" in (row.last_error or "")
    thread = "C_SUPPORT:1700000001.000100"
    with desk.services.db.session() as session, session.begin():  # a reply to the customer, queued after the card
        session.add(Outbox(conversation_id=cid, channel="slack", destination=thread, payload={
            "conversation_id": cid, "message_id": 10**6, "seq": 9, "channel": "slack", "thread_key": thread,
            "author": {"role": "agent", "name": "Grace Agent"}, "text": "still here"}))
    desk.outbox.run_once()  # the card backs off; the customer's thread is another queue
    assert [m["text"] for m in desk.slack.posted("C_SUPPORT")] == ["still here"]
    assert desk.slack.posted("C_AGENTS") == []


def _customer_says(desk: Desk, cid: int, *texts: str) -> None:
    """Customer messages in the Slack thread, answered by a turn of the real pipeline."""
    for n, text in enumerate(texts):
        store_inbound(desk.services.db, Inbound(
            channel="slack", thread_key="C_SUPPORT:1700000001.000100", text=text, customer_external_id="U_CUST",
            external_id=f"slack:C_SUPPORT:1700000002.{len(text):03d}{n:03d}", customer_name="Ada Customer"))
    desk.services.pipeline.run_pending(cid)


def _mirror_rows(desk: Desk) -> list[Outbox]:
    return [r for r in desk.card_rows() if r.payload["notice"] == MIRROR_NOTICE]


def _drain(desk: Desk) -> None:
    wait(lambda: desk.outbox.run_once() == 0 and all(r.status == "sent" for r in desk.card_rows()), timeout=30)


def test_a_handed_off_conversation_is_mirrored_into_its_card_thread_through_the_outbox(desk_any: Desk) -> None:
    cid = desk_any.conversation(text="hello")
    _customer_says(desk_any, cid, "hello bot")  # talking to the bot: not mirrored
    assert desk_any.status(cid) == "bot"
    chat_desk = desk_any.parts.agents.desk  # type: ignore[union-attr]
    chat_desk.hand_over(cid, "customer_request")
    _customer_says(desk_any, cid, "are you there?", "it is urgent")
    grace = chat_desk.agent_for(desk_any.parts.directory.user("U_AGENT"))
    assert chat_desk.claim(cid, grace) is None
    assert chat_desk.reply(cid, grace, "Grace here, on it", internal=False) is None
    assert chat_desk.reply(cid, grace, "internal only", internal=True) is None  # a note: no copy
    assert desk_any.slack.posted("C_AGENTS") == []  # nothing is posted from the turns' threads
    rows = _mirror_rows(desk_any)  # …the copies are outbox rows, queued behind the card
    assert [(r.payload["role"], r.payload["text"]) for r in rows] == [
        ("customer", "are you there?"), ("customer", "it is urgent"), ("agent", "Grace here, on it")]
    assert {(r.channel, r.destination) for r in rows} == {("slack", "C_AGENTS")}
    assert min(r.id for r in rows) > min(r.id for r in desk_any.card_rows())

    _drain(desk_any)
    desk_any.outbox.run_once()
    card, *thread = desk_any.slack.posted("C_AGENTS")
    assert "helpdesk_claim" not in str(card["blocks"]) and "claimed by Grace Agent" in card["text"]
    assert [(m["thread_ts"], m["text"], m["username"]) for m in thread] == [  # once each, in order
        (card["ts"], "are you there?", "Ada Customer"), (card["ts"], "it is urgent", "Ada Customer"),
        (card["ts"], ":outbox_tray: Grace here, on it", "Grace Agent")]

    desk_any.parts.channel._delivered = RecentIds()  # noqa: SLF001 - a row delivered again by another process…
    desk_any.parts.channel.deliver_notice(dict(rows[0].payload))  # …at least once: one more copy at most
    assert len(desk_any.slack.posted("C_AGENTS")) == 5


def test_the_mirror_honours_429_and_keeps_its_order(desk: Desk) -> None:
    cid = desk.conversation()
    chat_desk = desk.parts.agents.desk  # type: ignore[union-attr]
    chat_desk.hand_over(cid, "customer_request")
    desk.outbox.run_once()
    [card] = desk.slack.posted("C_AGENTS")
    _customer_says(desk, cid, "one", "two")  # with the first message, stored before the handoff
    desk.slack.fail("chat.postMessage", 429, retry_after=2)  # a short wait: the client waits, then posts once
    _drain(desk)
    posts = desk.slack.calls_of("chat.postMessage")[1:]
    assert [c.status for c in posts] == [429, 200, 200, 200]
    assert posts[1].at - posts[0].at >= 2  # not before Retry-After
    assert [m["text"] for m in desk.slack.posted("C_AGENTS")[1:]] == ["I need a human", "one", "two"]

    desk.slack.fail("chat.postMessage", 429, retry_after=120)  # a long one goes back to the outbox
    _customer_says(desk, cid, "three", "four")
    desk.outbox.run_once()
    three, four = _mirror_rows(desk)[-2:]
    assert (three.status, three.attempts) == ("pending", 1) and four.status == "pending"
    assert three.next_attempt_at - utcnow() > timedelta(seconds=100)  # type: ignore[operator]
    desk.outbox.run_once()  # "four" waits behind "three"
    assert [m["text"] for m in desk.slack.posted("C_AGENTS")[1:]] == ["I need a human", "one", "two"]
    with desk.services.db.session() as session, session.begin():  # time passes
        session.execute(update(Outbox).where(Outbox.id == three.id).values(next_attempt_at=utcnow()))
    _drain(desk)
    assert [m["text"] for m in desk.slack.posted("C_AGENTS")[1:]] == ["I need a human", "one", "two", "three", "four"]
    assert card["ts"] == desk.slack.posted("C_AGENTS")[0]["ts"]


def test_a_resolve_of_a_conversation_without_a_card_posts_none(desk: Desk) -> None:
    cid = desk.conversation()
    with desk.services.handoff.conversation(cid) as (turn, pending):
        desk.services.handoff.ctx.changed(turn, None, pending, "resolved")
    [row] = desk.card_rows()
    desk.outbox.run_once()
    assert desk.slack.calls_of("chat.postMessage") == [] and desk.card_rows()[0].status == "sent"
    assert row.payload["closing"] is True


def test_someone_without_an_agent_account_is_told_privately(desk: Desk) -> None:
    cid = desk.conversation()
    desk.parts.agents.desk.hand_over(cid, "customer_request")  # type: ignore[union-attr]
    click = fixture("claim_click")
    click["actions"][0]["value"] = str(cid)
    click["user"]["id"] = "U_STAFF"
    desk.parts.dispatcher.interaction(click)
    wait(lambda: bool(desk.slack.calls_of("chat.postEphemeral")))
    told = desk.slack.calls_of("chat.postEphemeral")[0].params
    assert told["user"] == "U_STAFF" and "No helpdesk agent matches" in told["text"]
    assert desk.status(cid) == "queued"


def test_thread_replies_are_notes_unless_sent_to_the_customer(desk_any: Desk) -> None:
    cid = desk_any.conversation()
    desk_any.parts.agents.desk.hand_over(cid, "customer_request")  # type: ignore[union-attr]
    ts = desk_any.parts.agents.post_card(HandoffCard(cid, "Ada", "slack", "wants a human")).ts  # type: ignore[union-attr]
    desk_any.parts.agents.cards._cards.clear()  # noqa: SLF001 - a restarted process: read the card back from Slack
    desk_any.parts.agents.cards._by_conversation.clear()  # noqa: SLF001
    note = fixture("message")
    note["event_id"] = "Ev_NOTE"
    note["event"].update(channel="C_AGENTS", user="U_AGENT", team="T_OURS", user_team="T_OURS", thread_ts=ts,
                         ts="1700000900.000100", text="looks like a carrier issue <@U_CUST>")
    desk_any.parts.dispatcher.event(note)
    wait(lambda: desk_any.notes(cid) == ["looks like a carrier issue @Ada Customer"])
    reply = fixture("message")
    reply["event_id"] = "Ev_REPLY"
    reply["event"].update(channel="C_AGENTS", user="U_AGENT", team="T_OURS", user_team="T_OURS", thread_ts=ts,
                          ts="1700000901.000100", text="!reply Your parcel arrives tomorrow &amp; is insured")
    desk_any.parts.dispatcher.event(reply)
    wait(lambda: any(m.role == "agent" for m in desk_any.messages(cid)))
    agent = [m for m in desk_any.messages(cid) if m.role == "agent"]
    assert [(m.text, m.author) for m in agent] == [("Your parcel arrives tomorrow & is insured", "Grace Agent")]
    assert desk_any.status(cid) == "assigned"  # replying claimed it
    assert desk_any.slack.calls_of("conversations.replies")  # the card was read back


def test_send_to_customer_shortcut(desk: Desk) -> None:
    cid = desk.conversation()
    desk.parts.agents.desk.hand_over(cid, "customer_request")  # type: ignore[union-attr]
    card = desk.parts.agents.post_card(HandoffCard(cid, "Ada", "slack", ""))  # type: ignore[union-attr]
    shortcut = fixture("message_action")
    shortcut["message"]["thread_ts"] = card.ts  # type: ignore[union-attr]
    desk.parts.dispatcher.interaction(shortcut)
    wait(lambda: any(m.role == "agent" for m in desk.messages(cid)))
    assert [m.text for m in desk.messages(cid) if m.role == "agent"] == ["Your refund is on its way"]


def test_staff_writing_in_the_customers_thread_take_over(desk: Desk) -> None:
    desk.parts.dispatcher.event(fixture("message"))
    cid = get_conversation(desk.services.db, "slack", "C_SUPPORT:1700000001.000100").id  # type: ignore[union-attr]
    desk.parts.dispatcher.event(fixture("staff_thread_reply"))  # Sam has no helpdesk account
    assert desk.status(cid) == "queued"
    assert desk.notes(cid) == ["Sam Staff (no helpdesk account) in the chat: I'm on it, @Ada Customer"]
    assert [m.role for m in desk.messages(cid)].count("customer") == 1
    desk.slack.workspace.users["U_AGENT"]["team_id"] = "T_OURS"
    by_agent = fixture("staff_thread_reply")
    by_agent["event_id"] = "Ev_GRACE"
    by_agent["event"].update(user="U_AGENT", ts="1700000070.000100", text="Grace here, taking this")
    desk.parts.dispatcher.event(by_agent)
    assert desk.status(cid) == "assigned"


def test_the_ticket_reaction_hands_a_message_to_a_person(desk: Desk) -> None:
    # a message the helpdesk never stored (posted before the app was there)
    desk.slack.workspace.messages.append({"channel": "C_SUPPORT", "ts": "1700000500.000100", "user": "U_CUST",
                                          "text": "the invoice is wrong", "team": "T_CUST"})
    desk.parts.dispatcher.event(fixture("reaction_added"))  # the work runs in the background
    wait(lambda: get_conversation(desk.services.db, "slack", "C_SUPPORT:1700000500.000100") is not None)
    conversation = get_conversation(desk.services.db, "slack", "C_SUPPORT:1700000500.000100")
    assert conversation is not None
    wait(lambda: desk.status(conversation.id) == "queued")
    assert [m.text for m in desk.messages(conversation.id) if m.role == "customer"] == ["the invoice is wrong"]
    counted = desk.services.metrics.registry.get_sample_value(
        "helpdesk_handoffs_total", {"reason": "slack_reaction", "channel": "slack"})
    assert counted == 1  # /metrics counts Slack's own handoffs, by channel
    other = fixture("reaction_added")
    other["event_id"] = "Ev_THUMBS"
    other["event"]["reaction"] = "thumbsup"
    desk.parts.dispatcher.event(other)  # any other emoji: nothing
    desk.parts.executor.submit(lambda: None).result()
    assert len(desk.slack.calls_of("conversations.replies")) == 1


def test_card_blocks_carry_the_conversation() -> None:
    from helpdesk.connectors.slack.agents import card_conversation

    assert card_conversation(card_blocks(HandoffCard(42, "Ada", "widget", ""))) == 42
    assert card_conversation([{"type": "section", "block_id": "x"}]) is None


def _agent(desk: Desk) -> Agent:
    with desk.services.db.read_session() as session:
        return session.scalars(select(Agent).where(Agent.email == "grace@ours.example")).one()


def _set_agent(desk: Desk, **values: object) -> None:
    with desk.services.db.session() as session, session.begin():
        session.execute(update(Agent).where(Agent.email == "grace@ours.example").values(**values))


def test_an_agent_working_from_slack_is_online_while_slack_shows_them_active(desk_any: Desk) -> None:
    """A Slack action is a heartbeat (offline → online, so the claim works); users.getPresence keeps
    an active agent online; away in Slack → offline at the heartbeat timeout, conversations requeued."""
    _set_agent(desk_any, presence="offline", last_seen_at=None)
    cid = desk_any.conversation()
    desk_any.parts.agents.desk.hand_over(cid, "customer_request")  # type: ignore[union-attr]
    click = fixture("claim_click")
    click["actions"][0]["value"] = str(cid)
    desk_any.parts.dispatcher.interaction(click)
    wait(lambda: desk_any.status(cid) == "assigned")
    assert _agent(desk_any).presence == "online" and desk_any.slack.calls_of("chat.postEphemeral") == []

    presence, handoff = desk_any.parts.presence, desk_any.services.handoff
    assert presence is not None
    long_ago = utcnow() - timedelta(seconds=desk_any.services.settings.agent_heartbeat_timeout + 60)
    _set_agent(desk_any, last_seen_at=long_ago)
    assert presence.poll_once() == 1  # Slack: active → a heartbeat
    assert handoff.presence.expire(utcnow()) == [] and _agent(desk_any).presence == "online"
    assert [c.params["user"] for c in desk_any.slack.calls_of("users.getPresence")] == ["U_AGENT"]

    desk_any.slack.workspace.users["U_AGENT"]["presence"] = "away"
    _set_agent(desk_any, last_seen_at=long_ago)
    assert presence.poll_once() == 0
    assert handoff.presence.expire(utcnow()) == [_agent(desk_any).id]
    assert _agent(desk_any).presence == "offline" and desk_any.status(cid) == "queued"  # back in the queue


def test_slack_activity_leaves_an_agent_who_chose_away_away(desk: Desk) -> None:
    _set_agent(desk, presence="away", last_seen_at=None)
    cid = desk.conversation()
    desk.parts.agents.desk.hand_over(cid, "customer_request")  # type: ignore[union-attr]
    ts = desk.parts.agents.post_card(HandoffCard(cid, "Ada", "slack", "")).ts  # type: ignore[union-attr]
    note = fixture("message")
    note["event"].update(channel="C_AGENTS", user="U_AGENT", team="T_OURS", user_team="T_OURS", thread_ts=ts,
                         ts="1700000900.000100", text="looking")
    desk.parts.dispatcher.event(note)
    wait(lambda: desk.notes(cid) == ["looking"])
    agent = _agent(desk)
    assert agent.presence == "away" and agent.last_seen_at is not None  # a heartbeat, not a presence change
