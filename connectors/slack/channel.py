"""The Slack delivery channel: an outbox row's message → ``chat.postMessage`` in its thread.

The outbox worker calls :meth:`SlackChannel.deliver` (at least once per message, in order per
conversation, never inside a transaction). A bot reply appears under the app's name; an agent's
reply under the agent's name and, when the agent is in the agents' channel under that name, their
Slack avatar (``username``/``icon_url``, scope ``chat:write.customize``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from connectors.slack.blocks import message_blocks
from connectors.slack.mrkdwn import escape
from connectors.slack.sender import SlackPost, SlackSender
from connectors.slack.threads import CHANNEL, split_thread_key

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
    """Delivers outbox rows of Slack conversations."""

    name = CHANNEL

    def __init__(self, sender: SlackSender, *, agent_icon: Callable[[str], str | None] | None = None) -> None:
        self._sender = sender
        self._agent_icon = agent_icon

    def deliver(self, message: Outbound) -> None:
        """Post the message in its Slack thread; raises ``SlackDeliveryError`` for the outbox to retry."""
        post = render(message, agent_icon=self._agent_icon)
        ts = self._sender.send(post)
        log.info("slack.message.delivered", extra={"channel": post.channel, "ts": ts})
