"""One handler for everything Slack sends, whichever way it comes (Events API HTTP requests or
Socket Mode envelopes): parse, drop retries, route to the customer or agent side.

A request is acknowledged when :meth:`Dispatcher.event` returns: by then a customer's message is
stored and its turn scheduled, an agent's reply or note written, a click carried out. Work that
needs Slack calls of its own (reactions, files, card updates) is handed to ``background`` so the
acknowledgement never waits for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from helpdesk.connectors.slack import blocks
from helpdesk.connectors.slack.agents import AgentSide
from helpdesk.connectors.slack.dedupe import RecentIds
from helpdesk.connectors.slack.events import (
    Clicked,
    Deleted,
    Edited,
    Identity,
    Ignored,
    Posted,
    Reacted,
    SlackEvent,
    UrlVerification,
    parse_event,
    parse_interaction,
)
from helpdesk.connectors.slack.inbound import CustomerSide
from helpdesk.connectors.slack.threads import thread_key

log = logging.getLogger(__name__)
Background = Callable[[Callable[[], object]], object]


def _inline(job: Callable[[], object]) -> object:
    return job()


@dataclass
class Dispatcher:
    """Routes parsed Slack events (see the module docstring).

    Args:
        customers: the customer side.
        agents: the agents' side (None without an agents' channel and desk).
        client: the bot's WebClient (reading the message a reaction points at).
        identity: who we are (``auth.test``), or None while unknown.
        find_thread: the thread key of the conversation holding a stored Slack message key.
        ticket_emoji: the reaction that hands a message's conversation to a person.
        background: runs a job off the request thread.
    """

    customers: CustomerSide
    agents: AgentSide | None
    client: WebClient
    identity: Callable[[], Identity | None]
    find_thread: Callable[[str], str | None]
    ticket_emoji: str = "ticket"
    background: Background = _inline
    recent: RecentIds = field(default_factory=RecentIds)
    counts: dict[str, int] = field(default_factory=dict)

    def event(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Handle one Events API body; the response body to send (url_verification), else None.

        Raises whatever storing raised (the caller answers 5xx, so Slack retries)."""
        parsed = parse_event(body, self.identity())
        if isinstance(parsed, UrlVerification):
            return {"challenge": parsed.challenge}
        event_id = getattr(parsed, "event_id", None) or str(body.get("event_id") or "")
        if self.recent.seen(event_id):
            self._count("retry")
            return None
        try:
            self._route(parsed)
        except Exception:
            self.recent.forget(event_id)  # not handled: Slack's retry must be
            raise
        return None

    def interaction(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Handle one interactivity payload (button click, message shortcut)."""
        parsed = parse_interaction(payload)
        if isinstance(parsed, Clicked) and self.recent.seen(parsed.click_key):
            self._count("retry")
            return None
        self._route(parsed)
        return None

    def _route(self, parsed: SlackEvent) -> None:
        self._count(type(parsed).__name__.lower())
        if isinstance(parsed, Posted):
            if self.agents is not None and parsed.channel == self.agents.agent_channel:
                self.agents.posted(parsed)  # an agent's reply is inbound too: done before the ack
            else:
                self.customers.posted(parsed)
        elif isinstance(parsed, Edited):
            self.customers.edited(parsed, self.find_thread)
        elif isinstance(parsed, Reacted):
            if parsed.reaction == self.ticket_emoji:
                self.background(lambda: self.ticket(parsed))
        elif isinstance(parsed, Clicked):
            self._clicked(parsed)
        elif isinstance(parsed, Deleted):
            # the helpdesk keeps the record (agents may have read and answered it); log only
            log.info("slack.message.deleted", extra={"channel": parsed.channel, "ts": parsed.ts})
        elif isinstance(parsed, Ignored):
            log.debug("slack.event.ignored", extra={"reason": parsed.reason})

    def _clicked(self, click: Clicked) -> None:
        if click.action_id.startswith(blocks.BOT_BUTTON):
            self.customers.clicked(click, thread_key(click.channel, click.root_ts))
        elif self.agents is not None:
            self.agents.clicked(click)

    def ticket(self, reacted: Reacted) -> int | None:
        """The ticket reaction: the message's conversation (created when needed) goes to a person."""
        scope = self.customers.scope
        if reacted.channel not in scope.support_channels or self.agents is None:
            return None
        key = self.find_thread(f"slack:{reacted.channel}:{reacted.ts}")
        if key is None:
            message = self._fetch(reacted.channel, reacted.ts)
            if message is None:
                return None
            key = thread_key(reacted.channel, message.root_ts)
            self.customers.store(message, key)
        conversation_id = self.agents.desk.conversation_for(key)
        if conversation_id is not None:
            self.agents.desk.hand_over(conversation_id, "slack_reaction")
        return conversation_id

    def _fetch(self, channel: str, ts: str) -> Posted | None:
        """The message a reaction points at (``conversations.replies`` finds replies too)."""
        try:
            response = self.client.conversations_replies(channel=channel, ts=ts, limit=1, inclusive=True)
        except SlackApiError as exc:
            log.warning("slack.reaction.fetch_failed", extra={"channel": channel, "ts": ts, "error": str(exc)})
            return None
        message = next((m for m in response.get("messages") or [] if m.get("ts") == ts), None)
        if not message or not message.get("user"):
            return None
        thread_ts = message.get("thread_ts")
        return Posted(event_id="", channel=channel, user=str(message["user"]), ts=ts,
                      text=str(message.get("text") or ""), thread_ts=thread_ts if thread_ts != ts else None,
                      team=message.get("user_team") or message.get("team"),
                      files=tuple(message.get("files") or ()))

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1
