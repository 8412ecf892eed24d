"""The customer side of Slack: messages, edits and button clicks → stored ``Inbound`` messages.

Everything here runs inside the Events API request (or the Socket Mode handler) and must stay
fast: it decides who wrote (cached lookups), which conversation the message joins, and stores
it through the one entry point (``receive``), which also schedules the turn. Slow follow-ups
(file downloads, reactions that need a Slack call) go to the background executor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from helpdesk.connectors.slack.events import Clicked, Edited, Posted
from helpdesk.connectors.slack.mrkdwn import to_plain
from helpdesk.connectors.slack.people import Directory, RoleRules, safe_avatar
from helpdesk.connectors.slack.threads import CHANNEL, Grouping, thread_key
from helpdesk.conversations.types import Inbound

log = logging.getLogger(__name__)

#: stores an inbound message (committed on return), schedules its turn; returns (conversation id, duplicate)
Receive = Callable[[Inbound], tuple[int, bool]]


@dataclass(frozen=True)
class Scope:
    """Where the app listens for customers."""

    support_channels: frozenset[str]
    agent_channel: str | None = None

    def listens_in(self, posted: Posted) -> bool:
        """Support channels, DMs to the app, and any channel where someone mentions it."""
        return posted.channel in self.support_channels or posted.is_dm or posted.mention


@dataclass
class CustomerSide:
    """Turns customers' Slack messages into stored inbound messages.

    Args:
        receive: the one way in (``Inbox.receive``), adapted to return (conversation id, duplicate).
        scope: the support channels and the agents' channel.
        rules: customer or staff.
        directory: user names, emails and avatars.
        grouping: the conversation a top-level message joins.
    """

    receive: Receive
    scope: Scope
    rules: RoleRules
    directory: Directory
    grouping: Grouping
    #: called with (posted, conversation thread key) when staff write in a customer's thread
    on_staff_reply: Callable[[Posted, str], object] | None = None
    #: our bot user's id (a leading mention of the app is dropped from the text), when known
    bot_user: Callable[[], str | None] = lambda: None
    #: called with (posted, thread key, conversation id) after a message with files was stored
    on_files: Callable[[Posted, str, int], object] | None = None
    stats: dict[str, int] = field(default_factory=dict)

    def posted(self, posted: Posted) -> int | None:
        """Store a customer's message; return its conversation id (None when not a customer's)."""
        if not self.scope.listens_in(posted) or posted.channel == self.scope.agent_channel:
            return self._count("not_listening")
        role = self.rules.role(posted.channel, posted.user, posted.team, dm=posted.is_dm)
        if role == "staff":
            if posted.thread_ts and self.on_staff_reply is not None:
                self.on_staff_reply(posted, thread_key(posted.channel, posted.thread_ts))
            return self._count("staff")
        if posted.thread_ts or not self.grouping.groups:
            return self.store(posted, self.grouping.key_for(posted.channel, posted.user, posted.ts, posted.thread_ts))
        with self.grouping.lock(posted.channel, posted.user):
            return self.store(posted, self.grouping.key_for(posted.channel, posted.user, posted.ts, None))

    def store(self, posted: Posted, key: str) -> int:
        """Store ``posted`` as a customer message of the conversation ``key``; its conversation id."""
        user = self.directory.user(posted.user)
        text = to_plain(_without_mention(posted.text, self.bot_user()), self.directory.name) or None
        avatar = safe_avatar(user.image)
        meta = {"slack": {"channel": posted.channel, "ts": posted.ts, "thread_ts": posted.thread_ts,
                          "user": posted.user, "team": posted.team, "avatar": avatar},
                # what the dashboard shows of the customer (users.info, cached): real name, picture
                "profile": {"real_name": user.real_name, "avatar": avatar}}
        payload: dict[str, Any] | None = None
        if posted.files:
            payload = {"slack_files": [f.get("id") for f in posted.files]}
            text = text or None
        conversation_id, duplicate = self.receive(Inbound(
            channel=CHANNEL, thread_key=key, text=text, payload=payload, external_id=posted.message_key,
            author=user.name, customer_external_id=posted.user, customer_name=user.name,
            customer_email=user.email, metadata=meta))
        if not duplicate and posted.files and self.on_files is not None:
            self.on_files(posted, key, conversation_id)
        self._count("duplicate" if duplicate else "stored")
        return conversation_id

    def edited(self, edited: Edited, find_thread: Callable[[str], str | None]) -> int | None:
        """An edit of a stored customer message is stored as their next message (the assistant
        reads the corrected text); edits of messages we never stored are ignored."""
        original = f"slack:{edited.channel}:{edited.ts}"
        key = find_thread(original)
        if key is None:
            return self._count("edit_unknown")
        user = self.directory.user(edited.user)
        meta = {"slack": {"channel": edited.channel, "ts": edited.ts, "edited_ts": edited.edited_ts,
                          "user": edited.user, "edited": True}}
        conversation_id, _ = self.receive(Inbound(
            channel=CHANNEL, thread_key=key, text=to_plain(edited.text, self.directory.name) or None,
            external_id=f"{original}:edit:{edited.edited_ts}", author=user.name,
            customer_external_id=edited.user, metadata=meta))
        return conversation_id

    def clicked(self, click: Clicked, key: str) -> int:
        """A customer clicked one of the bot's buttons: the button's payload is their message."""
        user = self.directory.user(click.user)
        meta = {"slack": {"channel": click.channel, "ts": click.message_ts, "user": click.user}}
        conversation_id, _ = self.receive(Inbound(
            channel=CHANNEL, thread_key=key, text=None, payload={"payload": click.value, "title": click.title or click.value},
            external_id=click.click_key, author=user.name, customer_external_id=click.user,
            customer_name=user.name, metadata=meta))
        return conversation_id

    def _count(self, what: str) -> int | None:
        """Count a message that is not stored; its conversation id is None."""
        self.stats[what] = self.stats.get(what, 0) + 1
        return None


def _without_mention(text: str, bot_user: str | None) -> str:
    """``"<@UBOT> help"`` → ``"help"``: addressing the app is not part of the question."""
    prefix = f"<@{bot_user}>"
    return text.strip()[len(prefix):].lstrip(" ,:") if bot_user and text.strip().startswith(prefix) else text
