"""The Slack delivery channel: an outbox row's message → ``chat.postMessage`` in its thread.

The outbox worker calls :meth:`SlackChannel.deliver` (at least once per message, in order per
conversation, never inside a transaction). A bot reply appears under the app's name; an agent's
reply under the agent's name and, when the agent is in the agents' channel under that name, their
Slack avatar (``username``/``icon_url``, scope ``chat:write.customize``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from helpdesk.connectors.slack.blocks import message_blocks
from helpdesk.connectors.slack.cards import CARD_NOTICE, MIRROR_NOTICE, card_of_notice
from helpdesk.connectors.slack.dedupe import RecentIds
from helpdesk.connectors.slack.mrkdwn import escape
from helpdesk.connectors.slack.sender import SlackPost, SlackSender
from helpdesk.connectors.slack.threads import CHANNEL, split_thread_key

log = logging.getLogger(__name__)


class _Author(Protocol):
    role: str
    name: str | None


class _Button(Protocol):
    title: str
    payload: str


class _File(Protocol):
    name: str


class Outbound(Protocol):
    """The fields of ``conversations.outbound.OutboundMessage`` this channel reads."""

    thread_key: str
    author: Any
    text: str | None
    buttons: Any
    attachments: Any
    image: str | None


def render(message: Outbound, *, agent_icon: Callable[[str], str | None] | None = None) -> SlackPost:
    """The Slack post for one outbound message.

    Raises:
        ValueError: the conversation's thread key is not a Slack one.
    """
    channel, root_ts = split_thread_key(message.thread_key)
    text = message.text or ""
    files = [f.name for f in message.attachments or ()]
    if files:
        text = "\n".join([text, *(f"[attachment: {name}]" for name in files)]).strip()
    buttons = [{"title": b.title, "payload": b.payload} for b in message.buttons or ()]
    mrkdwn = escape(text) or (" " if buttons or message.image else "…")
    username = icon = None
    if message.author.role == "agent" and message.author.name:
        username = message.author.name
        icon = agent_icon(username) if agent_icon else None
    return SlackPost(channel, mrkdwn, thread_ts=root_ts, blocks=message_blocks(text, buttons, message.image),
                     username=username, icon_url=icon)


class SlackChannel:
    """Delivers outbox rows of Slack conversations.

    The outbox delivers at least once and ``chat.postMessage`` has no idempotency key: the message
    ids this process has posted are remembered, so a row retried after its post went through but
    its recording failed is not posted twice (each post also carries the helpdesk message id as
    Slack message metadata)."""

    name = CHANNEL

    def __init__(self, sender: SlackSender, *, agent_icon: Callable[[str], str | None] | None = None,
                 post_card: Callable[..., object] | None = None, mirror: Callable[..., str | None] | None = None,
                 ) -> None:
        self._sender = sender
        self._agent_icon = agent_icon
        #: ``AgentSide.post_card`` (None without an agents' channel)
        self.post_card = post_card
        #: ``AgentSide.mirror`` (None without an agents' channel)
        self.mirror = mirror
        #: what this process delivered (``message:<id>``, ``mirror:<id>``): the outbox delivers at
        #: least once, a redelivery in this process is skipped
        self._delivered = RecentIds(20_000)

    def deliver_notice(self, payload: dict[str, Any]) -> None:
        """An outbox notice: post or update a handoff card, or copy a message into its card's thread
        (``connectors.slack.cards``); raises ``SlackDeliveryError`` for the outbox to retry."""
        if payload.get("notice") == MIRROR_NOTICE:
            self._mirror(payload)
            return
        if payload.get("notice") != CARD_NOTICE:
            raise LookupError(f"unknown Slack notice {payload.get('notice')!r}")
        if self.post_card is None:
            log.info("slack.card.no_agents_channel", extra={"conversation_id": payload.get("conversation_id")})
            return
        card, update_only = card_of_notice(payload)
        self.post_card(card, update_only=update_only)

    def _mirror(self, payload: dict[str, Any]) -> None:
        """A message copied into its card's thread, once per message id in this process (the outbox
        delivers at least once)."""
        message_id = payload.get("message_id")
        key = f"mirror:{message_id}" if isinstance(message_id, int) else ""
        if key in self._delivered:
            log.info("slack.mirror.already_posted", extra={"message_id": message_id})
            return
        if self.mirror is None:
            log.info("slack.mirror.no_agents_channel", extra={"conversation_id": payload.get("conversation_id")})
            return
        ts = self.mirror(int(payload["conversation_id"]), str(payload.get("text") or ""),
                         author=str(payload.get("author") or ""), from_agent=payload.get("role") == "agent")
        if ts is not None:
            self._delivered.add(key)

    def deliver(self, message: Outbound) -> None:
        """Post the message in its Slack thread; raises ``SlackDeliveryError`` for the outbox to retry."""
        message_id = getattr(message, "message_id", None)
        key = f"message:{message_id}" if message_id is not None else ""
        if key in self._delivered:
            log.info("slack.message.already_posted", extra={"message_id": message_id})
            return
        post = render(message, agent_icon=self._agent_icon)
        if message_id is not None:
            post = replace(post, metadata={"event_type": "helpdesk_message", "event_payload": {
                "message_id": message_id, "conversation_id": getattr(message, "conversation_id", None)}})
        ts = self._sender.send(post)
        self._delivered.add(key)
        log.info("slack.message.delivered", extra={"channel": post.channel, "ts": ts})
