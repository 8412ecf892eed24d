"""Outbound mail: the email channel's ``deliver`` for the outbox worker.

For each bot or agent message the outbox hands over, it finds the customer's address, the thread's
subject and Message-IDs, records our Message-ID (so the customer's answer threads back, and a
retry reuses it), applies the loop rules, composes the message and hands it to SMTP. A failure
raises, and the outbox retries with backoff; the Message-ID is derived from the message (keyed
with the app's secret), so a retry after an unclear failure carries the same one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.connectors.email import records
from helpdesk.connectors.email.compose import OutgoingEmail, compose, reply_subject
from helpdesk.connectors.email.inbound import answered_noise
from helpdesk.connectors.email.loops import over_hourly_cap
from helpdesk.connectors.email.models import EmailFollowUp, EmailRecord
from helpdesk.connectors.email.smtp import SmtpSender
from helpdesk.connectors.email.tokens import ReplyTokens
from helpdesk.connectors.email.transcript import transcript_text
from helpdesk.conversations.attachments import load_attachment
from helpdesk.conversations.models import Conversation, Customer, Message, utcnow
from helpdesk.conversations.outbound import OutboundMessage

if TYPE_CHECKING:
    from helpdesk.conversations.db import Database

log = logging.getLogger(__name__)
CHANNEL = "email"
#: ``OutboundMessage.custom`` key of a transcript request (the address to send it to)
TRANSCRIPT = "email_transcript"


@dataclass(frozen=True)
class Identity:
    """Who we are in mail."""

    from_name: str
    auto_reply_limit: int
    """Automatic replies per recipient per hour (0: no cap)."""


class EmailChannel:
    """Delivers outbox rows by SMTP (see the module docstring)."""

    name = CHANNEL

    def __init__(self, db: Database, sender: SmtpSender | None, tokens: ReplyTokens, identity: Identity,
                 secret: str) -> None:
        self.db, self.sender, self.tokens, self.identity = db, sender, tokens, identity
        self._key = hmac.new(secret.encode(), b"helpdesk.email.message-id.v1", hashlib.sha256).digest()

    def message_id(self, message_row_id: int) -> str:
        """Our Message-ID for a message: unguessable, and the same on every retry."""
        digest = hmac.new(self._key, f"message:{message_row_id}".encode(), hashlib.sha256).hexdigest()[:40]
        return f"<{digest}@{self.tokens.support.domain}>"

    def deliver(self, message: OutboundMessage) -> None:
        """Send one message (or decide not to); raise to have the outbox retry."""
        if self.sender is None:
            raise RuntimeError("HELPDESK_SMTP_URL is not set: email replies wait in the outbox")
        with self.db.session() as session, session.begin():
            mail = self._prepare(session, message)
        if mail is None:
            return
        self.sender.send(compose(mail))
        log.info("email.outbound.sent", extra={"conversation_id": message.conversation_id,
                                               "message_id": mail.message_id, "automatic": mail.automatic})

    def _prepare(self, session: Session, message: OutboundMessage) -> OutgoingEmail | None:
        transcript_to = (message.custom or {}).get(TRANSCRIPT) if isinstance(message.custom, dict) else None
        if message.author.role == "system" and not transcript_to:
            return None  # queue notices and the like belong to live chat, not to the mailbox
        conversation = session.get(Conversation, message.conversation_id)
        if conversation is None:
            return None
        to, to_name = self._recipient(session, conversation, transcript_to)
        if not to:
            log.warning("email.outbound.no_address", extra={"conversation_id": conversation.id})
            return None
        automatic = message.author.role == "bot"
        noise = answered_noise(session, message.in_reply_to) if automatic else None
        if noise is not None:
            log.info("email.outbound.not_answering", extra={"conversation_id": conversation.id, "reason": noise})
            return None
        body = self._body(session, message, transcript_to)
        if body is None:
            return None  # it went out with the first reply of its turn
        our_id = self.message_id(message.message_id)
        first_attempt = records.known(session, our_id) is None
        if automatic and first_attempt and over_hourly_cap(
                records.automatic_replies_since(session, to, records.hour_before(utcnow())),
                self.identity.auto_reply_limit):
            log.warning("email.outbound.capped", extra={"conversation_id": conversation.id, "to": to})
            return None
        thread = records.thread_of(session, conversation.id)
        subject = self._subject(thread, transcript_to is not None)
        if first_attempt:
            records.record(session, message_id=our_id, direction="out", conversation_id=conversation.id,
                           address=to, message_row_id=message.message_id, automatic=automatic, subject=subject)
        return self._email(message, conversation, (to, to_name), subject, thread, body,
                           transcript=transcript_to is not None)

    def _body(self, session: Session, message: OutboundMessage,
              transcript_to: str | None) -> tuple[str, tuple[str, ...]] | None:
        """(text, button titles) of the mail, or ``None`` for a bot reply that is not the first of its
        turn: the assistant's replies to one customer message go out together, as one mail."""
        if transcript_to:
            return transcript_text(session, message.conversation_id, self.identity.from_name), ()
        buttons = tuple(b.title for b in message.buttons)
        if message.author.role != "bot" or message.in_reply_to is None:
            return message.text or "", buttons
        rows = session.execute(select(Message.id, Message.text, Message.payload).where(
            Message.conversation_id == message.conversation_id, Message.in_reply_to == message.in_reply_to,
            Message.role == "bot").order_by(Message.seq)).all()
        if rows and rows[0].id != message.message_id:
            return None
        texts = [row.text for row in rows if row.text] or [message.text or ""]
        for row in reversed(rows):
            titles = tuple(str(b["title"]) for b in (row.payload or {}).get("buttons") or []
                           if isinstance(b, dict) and b.get("title"))
            if titles:
                buttons = titles
                break
        return "\n\n".join(texts), buttons

    def _email(self, message: OutboundMessage, conversation: Conversation, recipient: tuple[str, str],
               subject: str, thread: list[EmailRecord], body: tuple[str, tuple[str, ...]], *,
               transcript: bool) -> OutgoingEmail:
        ids = [r.message_id for r in thread if r.message_id != self.message_id(message.message_id)]
        inbound = [r.message_id for r in thread if r.direction == "in"]
        answered = message.reply_to_external_id if message.reply_to_external_id in ids else None
        in_reply_to = answered or (inbound[-1] if inbound else (ids[-1] if ids else None))
        author = message.author
        from_name = self.identity.from_name
        if author.role == "agent" and author.name:
            from_name = f"{author.name} from {self.identity.from_name}"
        text, buttons = body
        return OutgoingEmail(
            to=recipient[0], to_name=recipient[1], subject=subject, text=text,
            message_id=self.message_id(message.message_id), from_address=self.tokens.support.address,
            from_name=from_name, reply_to=self.tokens.reply_address(conversation.id),
            automatic=author.role != "agent", in_reply_to=None if transcript else in_reply_to,
            references=() if transcript else tuple(ids), buttons=buttons, attachments=self._files(message))

    def _recipient(self, session: Session, conversation: Conversation,
                   transcript_to: str | None) -> tuple[str | None, str]:
        customer = session.get(Customer, conversation.customer_id) if conversation.customer_id else None
        name = (customer.name or "") if customer else ""
        if transcript_to:
            return str(transcript_to), name
        if conversation.channel != CHANNEL:
            follow_up = session.get(EmailFollowUp, conversation.id)
            if follow_up is not None:
                return follow_up.address, name
        return (customer.email if customer else None), name

    def _subject(self, thread: list[EmailRecord], transcript: bool) -> str:
        if transcript:
            return f"Transcript of your conversation with {self.identity.from_name}"
        subjects = [r.subject for r in thread if r.direction == "in" and r.subject]
        if subjects:
            return reply_subject(subjects[-1])
        earlier = [r.subject for r in thread if r.subject]
        return earlier[-1] if earlier else f"Your conversation with {self.identity.from_name}"

    def _files(self, message: OutboundMessage) -> tuple[tuple[str, str, bytes], ...]:
        files = []
        for ref in message.attachments:
            row = load_attachment(self.db, ref.id)
            if row is not None:
                files.append((row.name, row.content_type, row.data))
        return tuple(files)


def follow_up_address(session: Session, conversation_id: int) -> str | None:
    """The address a conversation of another channel is continued at, if any."""
    return session.scalar(select(EmailFollowUp.address).where(EmailFollowUp.conversation_id == conversation_id))
