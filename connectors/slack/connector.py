"""The Slack connector as the registry mounts it (``connectors/registry.py``: ``slack``).

``mount`` builds the parts from settings (no Slack call yet), registers ``/slack/events`` and
``/slack/interactions`` (with a signing secret); ``notice`` queues handoff cards and the mirror of
handed-off conversations into their cards' threads as outbox rows of the turn's transaction; ``channel()`` is the
store-and-forward delivery the outbox worker uses (messages and cards); ``start`` opens Socket
Mode when ``SLACK_APP_TOKEN`` is set and polls Slack agents' presence. README: "Connect Slack".
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from helpdesk.connectors.base import BaseConnector
from helpdesk.connectors.slack.assemble import SlackParts, assemble
from helpdesk.connectors.slack.cards import queue_card, queue_mirror
from helpdesk.connectors.slack.events import Posted
from helpdesk.connectors.slack.socket_mode import SocketModeTransport
from helpdesk.connectors.slack.threads import CHANNEL
from helpdesk.connectors.slack.views import EXTENSION, SlackHttp, blueprint
from helpdesk.conversations.types import Inbound

if TYPE_CHECKING:
    from flask import Flask

    from helpdesk.connectors.base import ConnectorContext
    from helpdesk.conversations.turn import Turn
    from helpdesk.conversations.types import Channel

log = logging.getLogger(__name__)


class SlackConnector(BaseConnector):
    """Customers in Slack channels and DMs, agents in the agents' channel (see the package docs)."""

    name = CHANNEL

    def __init__(self) -> None:
        self.parts: SlackParts | None = None
        self.transport: SocketModeTransport | None = None
        self._ctx: ConnectorContext | None = None

    def mount(self, app: Flask, ctx: ConnectorContext) -> None:
        settings = ctx.settings
        self._ctx = ctx
        desk = ctx.desk(CHANNEL) if ctx.desk is not None else None
        parts = assemble(settings, ctx.db, self._receive, desk)
        parts.customers.on_files = self._files
        self.parts = parts
        if parts.verifier is not None:
            app.extensions[EXTENSION] = SlackHttp(parts.verifier, parts.dispatcher)
            app.register_blueprint(blueprint())
        if settings.slack_app_token:
            self.transport = SocketModeTransport(settings.slack_app_token, settings.slack_api_url,
                                                 parts.dispatcher)

    def notice(self, turn: Turn, event: str, data: dict[str, Any]) -> bool:
        """A handoff change (any channel's conversation): its card in the agents' channel becomes an
        outbox row of the turn's transaction, and so does the copy of a customer's or agent's message
        of a handed-off conversation for the card's thread (``connectors.slack.cards``); whether one
        was queued."""
        parts, ctx = self.parts, self._ctx
        if parts is None or parts.agents is None or ctx is None:
            return False
        if event == "message":
            return queue_mirror(turn, data, agent_channel=ctx.settings.slack_agent_channel)
        return queue_card(turn, event, data, agent_channel=ctx.settings.slack_agent_channel,
                          dashboard_url=ctx.settings.public_url)

    def channel(self) -> Channel | None:
        return self.parts.channel if self.parts else None  # type: ignore[return-value]

    def start(self) -> None:
        if self.transport is not None:
            self.transport.start()
        if self.parts is not None and self.parts.presence is not None and self.parts.agents is not None:
            self.parts.presence.start()  # agents working from Slack: users.getPresence every 30 s

    def stop(self) -> None:
        if self.transport is not None:
            self.transport.stop()
        if self.parts is not None:
            self.parts.close()

    # --- the one way in ------------------------------------------------------------------------
    def _receive(self, inbound: Inbound) -> tuple[int, bool]:
        assert self._ctx is not None
        receipt = self._ctx.inbox.receive(inbound)
        return receipt.conversation_id, receipt.duplicate

    def _files(self, posted: Posted, key: str, conversation_id: int) -> None:
        """Files of a stored message: fetched in the background (the acknowledgement doesn't wait),
        then stored as the customer's follow-up message carrying them."""
        parts = self.parts
        assert parts is not None
        parts.dispatcher.background(lambda: self._store_files(parts, posted, key))

    def _store_files(self, parts: SlackParts, posted: Posted, key: str) -> None:
        stored, problems = parts.files.store(posted.files, thread_key=key)
        if stored:
            user = parts.directory.user(posted.user)
            payload: dict[str, Any] = {"attachments": [info.as_json() for info in stored]}
            self._receive(Inbound(channel=CHANNEL, thread_key=key, text=None, payload=payload,
                                  external_id=f"{posted.message_key}:files", author=user.name,
                                  customer_external_id=posted.user, attachment_ids=tuple(i.id for i in stored),
                                  metadata={"slack": {"channel": posted.channel, "ts": posted.ts, "files": True}}))
        for problem in problems:
            log.info("slack.file.refused", extra={"file": problem.name, "code": problem.code})
            try:
                parts.client.chat_postEphemeral(channel=posted.channel, user=posted.user, thread_ts=posted.root_ts,
                                                text=f"I couldn't take {problem.name}: {problem.message}.")
            except Exception:  # noqa: BLE001 - telling is best effort
                log.warning("slack.file.tell_failed", extra={"file": problem.name})
