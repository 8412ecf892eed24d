"""Inbound mail, the same way for the webhook and the IMAP poller.

``EmailInbound.receive(raw)`` parses the message, drops one already stored (by Message-ID, across
webhook and IMAP), records bounces against the customer, finds the conversation (reply token,
then References, else a new one; strangers never join) and hands the message to the one inbound
entry point, which stores it before this returns. Auto-replies, bulk mail and mailer daemons are
stored too, but their turn is marked done, so the assistant never answers them.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from helpdesk.connectors.email import records
from helpdesk.connectors.email.loops import no_reply_reason
from helpdesk.connectors.email.parsing import ParsedEmail, ParseLimits, parse_email
from helpdesk.connectors.email.threads import resolve_thread
from helpdesk.connectors.email.tokens import ReplyTokens
from helpdesk.conversations.attachments import Attachment, clean_name, sniff_content_type
from helpdesk.conversations.models import Conversation
from helpdesk.conversations.types import Inbound

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from helpdesk.conversations.db import Database
    from helpdesk.conversations.inbound import Inbox, Receipt

log = logging.getLogger(__name__)
CHANNEL = "email"
#: how much sanitised HTML a message keeps in its payload (the raw message is kept whole)
MAX_HTML_CHARS = 200_000


class MessageTooLarge(ValueError):
    """A raw message over ``HELPDESK_EMAIL_MAX_BYTES``."""


@dataclass(frozen=True)
class Received:
    """What happened to one inbound message."""

    status: str
    """``stored``, ``duplicate``, ``bounce`` or ``ignored`` (our own mail coming back)."""
    message_id: str
    conversation_id: int | None = None
    seq: int | None = None
    no_reply: str | None = None
    """Why it gets no automatic reply (``auto_submitted``, ``bulk``…), or ``None``."""
    refused: str | None = None
    """Why a conversation it pointed to was not joined (``stranger``, ``forged_token``)."""

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "message_id": self.message_id, "conversation_id": self.conversation_id,
                "seq": self.seq, "duplicate": self.status == "duplicate", "no_reply": self.no_reply,
                "refused": self.refused}


class _Lookup:
    def __init__(self, session: Session) -> None:
        self.session = session

    def conversation_of(self, message_ids: Any) -> int | None:
        return records.conversation_of(self.session, list(message_ids))

    def participants(self, conversation_id: int) -> set[str]:
        return records.participants(self.session, conversation_id)


class EmailInbound:
    """Receives raw messages (see the module docstring).

    Args:
        db: the database.
        inbox: the one inbound entry point.
        tokens: reply tokens (the support address and the app's secret).
        limits: attachment limits.
        max_bytes: the largest raw message accepted.
        max_chars: the longest text handed to the assistant (the full text stays in the payload).
    """

    def __init__(self, db: Database, inbox: Inbox, tokens: ReplyTokens, *, limits: ParseLimits,
                 max_bytes: int, max_chars: int) -> None:
        self.db, self.inbox, self.tokens = db, inbox, tokens
        self.limits, self.max_bytes, self.max_chars = limits, max_bytes, max_chars

    def receive(self, raw: bytes) -> Received:
        """Store one raw message (committed when this returns).

        Raises:
            MessageTooLarge: over the size limit.
            connectors.email.parsing.NotAnEmail: not a message at all.
        """
        if len(raw) > self.max_bytes:
            raise MessageTooLarge(f"the message is larger than {self.max_bytes} bytes")
        mail = parse_email(raw, self.limits)
        with self.db.read_session() as session:
            seen = records.known(session, mail.message_id)
            if seen is not None:
                status = "duplicate" if seen.direction == "in" else "ignored"
                return Received(status, mail.message_id, seen.conversation_id)
        if mail.bounce is not None:
            return self._bounce(mail)
        reason = no_reply_reason(mail, self.tokens.support)
        if reason == "own_address":
            log.warning("email.inbound.own_address", extra={"message_id": mail.message_id})
            return Received("ignored", mail.message_id, no_reply=reason)
        with self.db.read_session() as session:
            match = resolve_thread(mail, self.tokens, _Lookup(session))
            target = session.get(Conversation, match.conversation_id) if match.conversation_id else None
            channel, thread_key = (target.channel, target.thread_key) if target else (CHANNEL, _thread_key(mail))
        attachments = self._save_attachments(mail, channel, thread_key)
        inbound = self._inbound(mail, channel, thread_key, attachments, reason)
        receipt = self.inbox.receive(inbound, on_stored=lambda r: self._stored(r, mail, raw))
        if receipt.duplicate:  # a concurrent delivery of the same message stored it first
            self._forget_attachments([a["id"] for a in attachments])
            self._record(receipt.conversation_id, receipt.message_id, mail, raw)
        status = "duplicate" if receipt.duplicate else "stored"
        return Received(status, mail.message_id, receipt.conversation_id, receipt.seq, reason, match.refused)

    def _bounce(self, mail: ParsedEmail) -> Received:
        assert mail.bounce is not None
        with self.db.session() as session, session.begin():
            rows = records.record_bounce(session, mail.bounce, mail.message_id)
            conversation_id = next((r.conversation_id for r in rows if r.conversation_id), None)
        log.info("email.inbound.bounce", extra={"recipients": list(mail.bounce.recipients),
                                                "status": mail.bounce.status})
        return Received("bounce", mail.message_id, conversation_id, no_reply="bounce")

    def _inbound(self, mail: ParsedEmail, channel: str, thread_key: str, attachments: list[dict[str, Any]],
                 reason: str | None) -> Inbound:
        sender = mail.sender
        text = mail.reply or mail.text
        if len(text) > self.max_chars:
            text = text[: self.max_chars - 1] + "…"
        payload: dict[str, Any] = {"email": _email_json(mail, reason)}
        if attachments:
            payload["attachments"] = attachments
        # a customer row of the email channel only for email conversations: in a widget conversation
        # continued by email the customer is the widget's
        customer = sender if channel == CHANNEL else None
        return Inbound(
            channel=channel, thread_key=thread_key, text=text or None, payload=payload,
            external_id=records.id_key(mail.message_id), author=(sender.name or sender.address) if sender else None,
            customer_external_id=customer.key if customer else None,
            customer_name=(customer.name or None) if customer else None,
            customer_email=customer.key if customer else None,
            attachment_ids=tuple(a["id"] for a in attachments),
            # no turn for an auto-reply: marked handled when every earlier message is (else the
            # delivery-time guard in the channel still keeps the assistant's answer from going out)
            handled=reason is not None,
        )

    def _stored(self, receipt: Receipt, mail: ParsedEmail, raw: bytes) -> None:
        self._record(receipt.conversation_id, receipt.message_id, mail, raw)

    def _record(self, conversation_id: int, message_row_id: int, mail: ParsedEmail, raw: bytes) -> None:
        with self.db.session() as session, session.begin():
            records.record(session, message_id=mail.message_id, direction="in", conversation_id=conversation_id,
                           address=mail.sender.key if mail.sender else "", message_row_id=message_row_id,
                           raw=raw, subject=mail.subject)

    def _forget_attachments(self, ids: list[str]) -> None:
        if ids:
            with self.db.session() as session, session.begin():
                session.execute(delete(Attachment).where(Attachment.id.in_(ids), Attachment.message_id.is_(None)))

    def _save_attachments(self, mail: ParsedEmail, channel: str, thread_key: str) -> list[dict[str, Any]]:
        if not mail.attachments:
            return []
        saved = []
        with self.db.session() as session, session.begin():
            for file in mail.attachments:
                sniffed = sniff_content_type(file.data)
                # only sniffed images and PDFs are served as such; everything else downloads as bytes
                content_type = sniffed or "application/octet-stream"
                name = clean_name(file.name, sniffed) if sniffed else _plain_name(file.name)
                row = Attachment(id=_attachment_id(), channel=channel, thread_key=thread_key, name=name,
                                 content_type=content_type, size=file.size,
                                 sha256=hashlib.sha256(file.data).hexdigest(), data=file.data)
                session.add(row)
                saved.append({"id": row.id, "name": name, "content_type": content_type, "size": file.size,
                              "declared_type": file.content_type, "inline": file.inline})
        return saved


def _email_json(mail: ParsedEmail, reason: str | None) -> dict[str, Any]:
    sender = mail.sender
    return {
        "message_id": mail.message_id, "subject": mail.subject,
        "from": {"name": sender.name, "address": sender.address} if sender else None,
        "to": [str(a) for a in mail.to], "cc": [str(a) for a in mail.cc],
        "date": mail.date.isoformat() if mail.date else None,
        "full_text": mail.text, "html": (mail.html or "")[:MAX_HTML_CHARS] or None,
        "quoted": mail.text.strip() != (mail.reply or "").strip(),
        "skipped_attachments": [{"name": s.name, "size": s.size, "reason": s.reason} for s in mail.skipped],
        "no_reply": reason,
    }


def _thread_key(mail: ParsedEmail) -> str:
    """A new conversation's key, derived from its first Message-ID (a re-delivery finds it again)."""
    return "mail:" + hashlib.sha256(mail.message_id.encode()).hexdigest()[:40]


def _attachment_id() -> str:
    import secrets

    return secrets.token_urlsafe(18)


def _plain_name(name: str) -> str:
    return "".join(c for c in name if c.isprintable()).strip(" .")[:200] or "attachment"


def answered_noise(session: Session, message_row_id: int | None) -> str | None:
    """The no-reply reason of the customer message a reply answers, if it was one."""
    if message_row_id is None:
        return None
    from helpdesk.conversations.models import Message

    payload = session.scalar(select(Message.payload).where(Message.id == message_row_id)) or {}
    email = payload.get("email") if isinstance(payload, dict) else None
    return email.get("no_reply") if isinstance(email, dict) else None
