"""The email connector: mounts the webhook, runs the IMAP poller, delivers replies by SMTP.

Registered in ``connectors/registry.py`` and enabled by HELPDESK_EMAIL_ADDRESS.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from helpdesk.connectors.base import BaseConnector, ConnectorContext
from helpdesk.connectors.email.channel import CHANNEL, EmailChannel, Identity
from helpdesk.connectors.email.forward import forward_by_email
from helpdesk.connectors.email.imap import ImapConfig, ImapPoller
from helpdesk.connectors.email.inbound import EmailInbound, Received
from helpdesk.connectors.email.parsing import NotAnEmail, ParseLimits
from helpdesk.connectors.email.smtp import SmtpConfig, SmtpSender
from helpdesk.connectors.email.tokens import ReplyTokens, SupportAddress
from helpdesk.connectors.email.views import blueprint

if TYPE_CHECKING:
    from flask import Flask

    from helpdesk.conversations.models import Message
    from helpdesk.conversations.turn import Turn
    from helpdesk.conversations.types import Channel

log = logging.getLogger(__name__)


class EmailConnector(BaseConnector):
    """Mounts ``POST /email/inbound``, runs the IMAP poller, delivers replies by SMTP."""

    name = CHANNEL

    def __init__(self) -> None:
        self.inbound: EmailInbound | None = None
        self.poller: ImapPoller | None = None
        self._channel: EmailChannel | None = None
        self._interval = 60.0

    def mount(self, app: Flask, ctx: ConnectorContext) -> None:
        settings = ctx.settings
        if not settings.email_address:
            raise ValueError("HELPDESK_EMAIL_ADDRESS is required for the email channel")
        tokens = ReplyTokens(ctx.secret_key, SupportAddress.parse(settings.email_address))
        limits = ParseLimits(settings.email_max_attachment_bytes, settings.email_max_attachments)
        self.inbound = EmailInbound(ctx.db, ctx.inbox, tokens, limits=limits, max_bytes=settings.email_max_bytes,
                                    max_chars=settings.max_message_chars)
        sender = None
        if settings.smtp_url:
            sender = SmtpSender(SmtpConfig.from_url(settings.smtp_url, timeout=settings.email_timeout))
        else:
            log.warning("email.smtp.not_configured")
        identity = Identity(settings.email_from_name, settings.email_auto_reply_limit)
        self._channel = EmailChannel(ctx.db, sender, tokens, identity, ctx.secret_key)
        if settings.imap_url:
            config = ImapConfig.from_url(settings.imap_url, timeout=settings.email_timeout)
            self.poller = ImapPoller(config, ctx.db, self.receive_from_mailbox, max_bytes=settings.email_max_bytes,
                                     idle=settings.imap_idle, import_existing=settings.imap_import_existing)
            self._interval = settings.imap_interval
        app.register_blueprint(blueprint(ctx, self.inbound))
        app.extensions["helpdesk.email"] = self

    def channel(self) -> Channel | None:
        return self._channel

    def forward(self, turn: Turn, messages: Sequence[Message]) -> bool:
        """Email for other channels' conversations (``connectors.email.forward``)."""
        return forward_by_email(turn, messages)

    def start(self) -> None:
        if self.poller is not None:
            self.poller.start(self._interval)

    def stop(self) -> None:
        if self.poller is not None:
            self.poller.stop()

    def receive_from_mailbox(self, raw: bytes) -> None:
        """The IMAP poller's handler: store, or skip what can never be stored."""
        assert self.inbound is not None
        try:
            self.inbound.receive(raw)
        except NotAnEmail:
            log.warning("email.imap.not_an_email", extra={"bytes": len(raw)})


__all__ = ["CHANNEL", "EmailChannel", "EmailConnector", "EmailInbound", "Received"]
