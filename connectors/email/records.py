"""The email tables as a repository: Message-IDs, participants, the reply cap, bounces.

Functions take a SQLAlchemy ``Session`` so that callers can join them to the transaction that
stores the message they belong to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from helpdesk.connectors.email.bounces import Bounce
from helpdesk.connectors.email.models import EmailBounce, EmailRecord
from helpdesk.conversations.models import Conversation, Customer

_MAX_ID = 255


def id_key(message_id: str) -> str:
    """A Message-ID as stored: itself, or a digest when it is longer than the column."""
    if len(message_id) <= _MAX_ID:
        return message_id
    return f"<sha256.{hashlib.sha256(message_id.encode()).hexdigest()}@long>"


def known(session: Session, message_id: str) -> EmailRecord | None:
    """The record of a Message-ID we have (either direction), or ``None``."""
    return session.scalars(select(EmailRecord).where(EmailRecord.message_id == id_key(message_id))).one_or_none()


def conversation_of(session: Session, message_ids: Sequence[str]) -> int | None:
    """The conversation of the first of ``message_ids`` that we know."""
    if not message_ids:
        return None
    keys = [id_key(m) for m in message_ids]
    rows = dict(session.execute(select(EmailRecord.message_id, EmailRecord.conversation_id)
                                .where(EmailRecord.message_id.in_(keys))).all())
    return next((rows[k] for k in keys if k in rows), None)


def participants(session: Session, conversation_id: int) -> set[str]:
    """Addresses that belong to a conversation: its customer's, every sender of its inbound mail and
    every address we mailed in it (lower-cased)."""
    found = set(session.scalars(select(EmailRecord.address).where(EmailRecord.conversation_id == conversation_id)))
    email = session.scalar(select(Customer.email).join(Conversation, Conversation.customer_id == Customer.id)
                           .where(Conversation.id == conversation_id))
    if email:
        found.add(email)
    return {a.strip().lower() for a in found if a}


def record(session: Session, *, message_id: str, direction: str, conversation_id: int, address: str,
           message_row_id: int | None = None, automatic: bool = False, raw: bytes | None = None,
           subject: str | None = None, at: datetime | None = None) -> bool:
    """Record one Message-ID; ``False`` when it was already recorded (nothing changes then)."""
    row = EmailRecord(message_id=id_key(message_id), direction=direction, conversation_id=conversation_id,
                      address=address.strip().lower(), message_row_id=message_row_id, automatic=automatic, raw=raw,
                      subject=(subject or "")[:255] or None)
    if at is not None:
        row.created_at = at
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def thread_of(session: Session, conversation_id: int) -> list[EmailRecord]:
    """The Message-IDs of a conversation, oldest first (References, In-Reply-To, the subject)."""
    return list(session.scalars(select(EmailRecord).where(EmailRecord.conversation_id == conversation_id)
                                .order_by(EmailRecord.id)))


def automatic_replies_since(session: Session, address: str, since: datetime) -> int:
    """How many automatic replies went to ``address`` since ``since``."""
    return int(session.scalar(select(func.count()).select_from(EmailRecord).where(
        EmailRecord.address == address.strip().lower(), EmailRecord.direction == "out",
        EmailRecord.automatic.is_(True), EmailRecord.created_at >= since)) or 0)


def hour_before(now: datetime) -> datetime:
    return now - timedelta(hours=1)


def raw_original(session: Session, message_row_id: int) -> bytes | None:
    """The raw inbound message stored for a ``messages`` row."""
    return session.scalar(select(EmailRecord.raw).where(EmailRecord.message_row_id == message_row_id,
                                                        EmailRecord.direction == "in"))


def record_bounce(session: Session, bounce: Bounce, bounce_message_id: str) -> list[EmailBounce]:
    """Record a bounce once per failed address, against the customer (by the bounced Message-ID's
    conversation, else by the address). A bounce seen before records nothing."""
    original = known(session, bounce.original_message_id) if bounce.original_message_id else None
    rows = []
    for index, address in enumerate(bounce.recipients or ("",)):
        key = id_key(bounce_message_id if index == 0 else f"{bounce_message_id}#{index}")
        if session.scalar(select(EmailBounce.id).where(EmailBounce.message_id == key)) is not None:
            continue
        conversation_id = original.conversation_id if original else None
        row = EmailBounce(message_id=key, address=address, conversation_id=conversation_id,
                          customer_id=_customer_for(session, address, conversation_id), status=bounce.status,
                          action=bounce.action, diagnostic=bounce.diagnostic, permanent=bounce.permanent,
                          original_message_id=bounce.original_message_id)
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def _customer_for(session: Session, address: str, conversation_id: int | None) -> int | None:
    if conversation_id is not None:
        customer_id = session.scalar(select(Conversation.customer_id).where(Conversation.id == conversation_id))
        if customer_id is not None:
            return int(customer_id)
    if not address:
        return None
    return session.scalar(select(Customer.id).where(func.lower(Customer.email) == address).order_by(Customer.id)
                          .limit(1))


def bounces_of(session: Session, customer_id: int) -> list[EmailBounce]:
    """A customer's bounces, newest first."""
    return list(session.scalars(select(EmailBounce).where(EmailBounce.customer_id == customer_id)
                                .order_by(EmailBounce.id.desc())))
