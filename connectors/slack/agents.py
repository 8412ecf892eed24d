"""The agents' side of Slack: handoff cards in the agents' channel, Claim / Resolve buttons,
thread replies (internal notes unless explicitly sent to the customer), staff taking over a
customer's thread, and the reaction that turns a message into a ticket.

The helpdesk's rules (who may claim, what resolving does) stay in ``handoff/``: this module
talks to them through the :class:`AgentDesk` port, which the composition root implements.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from helpdesk.connectors.slack import blocks
from helpdesk.connectors.slack.cards import record_card, recorded_card
from helpdesk.connectors.slack.events import Clicked, Posted
from helpdesk.connectors.slack.mrkdwn import escape, to_plain
from helpdesk.connectors.slack.people import Directory, SlackUser
from helpdesk.connectors.slack.sender import SlackPost, SlackSender
from helpdesk.conversations.db import Database

log = logging.getLogger(__name__)
_CARD_BLOCK = "helpdesk_card_"


class AgentDesk(Protocol):
    """What Slack may ask of the agent inbox (``handoff.desk.ChatDesk``). Actions return None when
    done, else why not (someone else has the conversation…), which the Slack user is told."""

    def agent_for(self, user: SlackUser) -> Any:
        """The helpdesk agent of a Slack user: by email, else by name; None when none matches."""

    def claim(self, conversation_id: int, agent: Any) -> str | None:
        """Assign the conversation to the agent."""

    def resolve(self, conversation_id: int, agent: Any) -> str | None:
        """Resolve the conversation."""

    def reply(self, conversation_id: int, agent: Any, text: str, *, internal: bool) -> str | None:
        """An agent's message: to the customer, or an internal note."""

    def take_over(self, conversation_id: int, agent: Any, name: str, text: str, external_id: str) -> str | None:
        """Staff wrote in the customer's own Slack thread: record it (it is already visible there)
        and hand the conversation to that person; the bot goes quiet."""

    def hand_over(self, conversation_id: int, reason: str) -> str | None:
        """Hand the conversation to people (the ticket reaction)."""

    def conversation_for(self, thread_key: str) -> int | None:
        """The id of the Slack conversation with this thread key, if any."""

    def seen(self, agent: Any) -> None:
        """The agent acted in Slack: a heartbeat; offline → online."""

    def still_there(self, agent: Any) -> None:
        """Slack shows the agent active: a heartbeat."""


@dataclass(frozen=True)
class Card:
    """A handoff card we posted: where it is."""

    conversation_id: int
    channel: str
    ts: str


def card_conversation(message_blocks: list[dict[str, object]] | None) -> int | None:
    """The conversation id a card's blocks carry (its first block's id), or None."""
    for block in message_blocks or []:
        block_id = str(block.get("block_id") or "")
        if block_id.startswith(_CARD_BLOCK) and block_id[len(_CARD_BLOCK):].isdigit():
            return int(block_id[len(_CARD_BLOCK):])
    return None


class CardIndex:
    """Handoff cards: thread ts → conversation id (remembered when posted, else read back from the
    card itself, ``conversations.replies``) and conversation id → card (remembered, else read from
    the conversation's event log, where :meth:`record` writes it: other processes and restarts)."""

    def __init__(self, client: WebClient, db: Database | None = None) -> None:
        self._client = client
        self._db = db
        self._cards: dict[tuple[str, str], int] = {}
        self._by_conversation: dict[int, Card] = {}
        self._lock = threading.Lock()

    def remember(self, card: Card) -> None:
        with self._lock:
            self._cards[(card.channel, card.ts)] = card.conversation_id
            self._by_conversation[card.conversation_id] = card

    def record(self, card: Card) -> None:
        """Remember a card just posted, also for other processes (the event log)."""
        self.remember(card)
        if self._db is not None:
            record_card(self._db, card.conversation_id, card.channel, card.ts)

    def card_of(self, conversation_id: int) -> Card | None:
        with self._lock:
            known = self._by_conversation.get(conversation_id)
        if known is not None or self._db is None:
            return known
        found = recorded_card(self._db, conversation_id)
        if found is None:
            return None
        card = Card(conversation_id, *found)
        self.remember(card)
        return card

    def conversation(self, channel: str, thread_ts: str) -> int | None:
        with self._lock:
            known = self._cards.get((channel, thread_ts))
        if known is not None:
            return known
        try:
            response = self._client.conversations_replies(channel=channel, ts=thread_ts, limit=1)
        except SlackApiError as exc:
            log.warning("slack.card.lookup_failed", extra={"channel": channel, "ts": thread_ts, "error": str(exc)})
            return None
        messages = response.get("messages") or []
        root = next((m for m in messages if m.get("ts") == thread_ts), None)
        conversation_id = card_conversation(root.get("blocks") if root else None)
        if conversation_id is not None:
            self.remember(Card(conversation_id, channel, thread_ts))
        return conversation_id


def card_blocks(card: blocks.HandoffCard) -> list[dict[str, object]]:
    """The card's blocks, the first one tagged with the conversation id."""
    rendered = card.blocks()
    rendered[0] = {**rendered[0], "block_id": f"{_CARD_BLOCK}{card.conversation_id}"}
    return rendered


@dataclass
class AgentSide:
    """Handles what happens in the agents' channel and staff messages in customers' threads."""

    desk: AgentDesk
    directory: Directory
    sender: SlackSender
    cards: CardIndex
    agent_channel: str | None
    reply_prefix: str = "!reply"
    ticket_emoji: str = "ticket"
    notify: Callable[[str, str, str], object] | None = None
    """Tells one Slack user something only they see: (channel, user, text) → chat.postEphemeral."""
    on_seen: Callable[[str, Any], object] | None = None
    """Called with (Slack user id, agent) when a mapped agent acts in Slack (``SlackPresence.seen``)."""

    # --- cards -------------------------------------------------------------------------------
    def post_card(self, card: blocks.HandoffCard, *, update_only: bool = False) -> Card | None:
        """Post (or, when one was posted for the conversation, update) its handoff card; with
        ``update_only`` (resolved, released) nothing is posted when there is no card yet.

        Raises:
            SlackDeliveryError: Slack did not take it (the outbox retries).
        """
        if not self.agent_channel:
            return None
        known = self.cards.card_of(card.conversation_id)
        if known is None and update_only:
            log.info("slack.card.none_to_update", extra={"conversation_id": card.conversation_id})
            return None
        channel = known.channel if known else self.agent_channel
        ts = self.sender.send(SlackPost(channel, card.text(), blocks=card_blocks(card),
                                        update_ts=known.ts if known else None))
        posted = Card(card.conversation_id, channel, ts)
        if known is None:
            self.cards.record(posted)
        return posted

    def mirror(self, conversation_id: int, text: str, *, author: str, from_agent: bool) -> str | None:
        """Copy a customer's or agent's message into the conversation's card thread; the post's ts,
        or None when the conversation has no card (never posted: nothing to mirror into).

        Raises:
            SlackDeliveryError: Slack did not take it (the outbox retries).
        """
        known = self.cards.card_of(conversation_id)
        if known is None:
            log.info("slack.mirror.no_card", extra={"conversation_id": conversation_id})
            return None
        # an agent's reply is shown as sent (also when it was typed here with the reply prefix)
        prefix = ":outbox_tray: " if from_agent else ""
        return self.sender.send(SlackPost(known.channel, prefix + (escape(text) or "(attachment)"),
                                          thread_ts=known.ts, username=author[:80]))

    # --- the agents' channel ------------------------------------------------------------------
    def posted(self, posted: Posted) -> None:
        """A message in the agents' channel: a thread reply under a card is a note, or — with the
        prefix — a reply to the customer."""
        if not posted.thread_ts:
            return
        conversation_id = self.cards.conversation(posted.channel, posted.thread_ts)
        if conversation_id is None:
            return
        text = to_plain(posted.text, self.directory.name).strip()
        to_customer = text.lower().startswith(self.reply_prefix.lower())
        if to_customer:
            text = text[len(self.reply_prefix):].strip()
        if not text:
            return
        self._as_agent(posted.channel, posted.user, lambda agent: self.desk.reply(
            conversation_id, agent, text, internal=not to_customer))

    def clicked(self, click: Clicked) -> None:
        """Claim / Resolve buttons of a card, and the *Send to customer* message shortcut."""
        if click.action_id == blocks.SEND_TO_CUSTOMER:
            conversation_id = (self.cards.conversation(click.channel, click.thread_ts)
                               if click.thread_ts else None)
            if conversation_id is None:
                self._tell(click.channel, click.user, "Use *Send to customer* on a reply in a handoff thread.")
                return
            text = to_plain(click.message_text, self.directory.name).strip()
            if text.lower().startswith(self.reply_prefix.lower()):
                text = text[len(self.reply_prefix):].strip()
            cid = conversation_id
            self._as_agent(click.channel, click.user, lambda agent: self.desk.reply(cid, agent, text, internal=False))
            return
        if not click.value.isdigit():
            return
        conversation_id = int(click.value)
        if click.action_id == blocks.CLAIM:
            self._as_agent(click.channel, click.user, lambda agent: self.desk.claim(conversation_id, agent))
        elif click.action_id == blocks.RESOLVE:
            self._as_agent(click.channel, click.user, lambda agent: self.desk.resolve(conversation_id, agent))

    def _as_agent(self, channel: str, user_id: str, act: Callable[[Any], str | None]) -> None:
        user = self.directory.user(user_id)
        agent = self.desk.agent_for(user)
        if agent is None:
            self._tell(channel, user_id, f"No helpdesk agent matches your Slack account ({user.email or user.name}): "
                                         "ask an admin to add you with the same email.")
            return
        if self.on_seen is not None:
            self.on_seen(user_id, agent)  # online before acting: an offline agent cannot claim
        problem = act(agent)
        if problem:
            self._tell(channel, user_id, problem)

    def _tell(self, channel: str, user: str, text: str) -> None:
        log.info("slack.agent.told", extra={"channel": channel, "user": user, "text": text})
        if self.notify is not None:
            self.notify(channel, user, text)

    # --- customers' threads -------------------------------------------------------------------
    def staff_reply(self, posted: Posted, thread_key: str) -> None:
        """Staff wrote in a customer's thread: an agent taking over, never a customer."""
        conversation_id = self.desk.conversation_for(thread_key)
        if conversation_id is None:
            return
        user = self.directory.user(posted.user)
        agent = self.desk.agent_for(user)
        if agent is not None and self.on_seen is not None:
            self.on_seen(posted.user, agent)
        self.desk.take_over(conversation_id, agent, user.name, to_plain(posted.text, self.directory.name),
                            posted.message_key)
