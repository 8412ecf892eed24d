"""Tables of the email channel (migration ``0006_email``), on the one metadata of ``conversations``.

* ``email_messages``: every Message-ID we received or sent, with its conversation (threading by
  In-Reply-To/References, dedupe across webhook and IMAP, the per-sender cap on automatic replies)
  and, for inbound mail, the raw message for "view original".
* ``email_mailboxes``: IMAP state per mailbox (UIDVALIDITY, last UID seen) and its lease lock.
* ``email_bounces``: delivery failures recorded against the customer.
* ``email_follow_ups``: conversations of other channels (the widget) whose customer left an address
  to be answered by email.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.conversations.models import Base, UTCDateTime, utcnow

#: the tables this module adds
TABLES = frozenset({"email_messages", "email_mailboxes", "email_bounces", "email_follow_ups"})
DIRECTIONS = ("in", "out")


class EmailRecord(Base):
    """One Message-ID, ours (``out``) or a sender's (``in``)."""

    __tablename__ = "email_messages"
    __table_args__ = (
        CheckConstraint("direction IN ('in', 'out')", name="direction"),
        Index("ix_email_messages_address_direction_created_at", "address", "direction", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: ``<id@host>`` as written (a longer one is stored as its digest, see ``records.id_key``)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    direction: Mapped[str] = mapped_column(String(3))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    #: the ``messages`` row this mail is (inbound) or carries (outbound)
    message_row_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    #: the customer's address: the sender of inbound mail, the recipient of outbound mail (lower-cased)
    address: Mapped[str] = mapped_column(String(255))
    #: the Subject (replies keep the thread's subject)
    subject: Mapped[str | None] = mapped_column(String(255))
    #: outbound: an automatic (bot) reply, counted by the per-sender cap
    automatic: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: inbound: the message as received, for "view original"
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Mailbox(Base):
    """What the IMAP poller has seen of one mailbox folder, and who polls it now."""

    __tablename__ = "email_mailboxes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: ``imap://user@host:port/FOLDER`` (never the password)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    #: the highest UID stored; messages above it are new
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EmailBounce(Base):
    """A delivery status notification about mail we sent."""

    __tablename__ = "email_bounces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the bounce's own Message-ID (a bounce delivered twice is recorded once)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    address: Mapped[str] = mapped_column(String(255), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="SET NULL"))
    status: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str | None] = mapped_column(String(32))
    diagnostic: Mapped[str | None] = mapped_column(Text)
    original_message_id: Mapped[str | None] = mapped_column(String(255))
    permanent: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EmailFollowUp(Base):
    """A conversation of another channel that is continued by email (the off-hours promise)."""

    __tablename__ = "email_follow_ups"

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"),
                                                 primary_key=True)
    address: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
