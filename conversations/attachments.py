"""Files customers send (images and PDFs): the model, content sniffing and storage.

An attachment is uploaded first, owned by the channel thread that uploaded it (a widget
visitor), and then claimed by the message that carries it. The bytes live in the database so
that every process and every backup has them; listing queries never load them (``deferred``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, delete, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.conversations.models import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from helpdesk.conversations.db import Database

#: What each accepted type starts with; everything else (SVG, HTML, executables…) is refused.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)
ACCEPTED_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")
_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp",
               "application/pdf": ".pdf"}
MAX_NAME_CHARS = 200
#: the tables this module adds (migration 0002)
TABLES = frozenset({"attachments"})


class AttachmentRejected(ValueError):
    """A file that cannot be stored; ``code`` is the error code shown to the sender."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class Attachment(Base):
    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_channel_thread_key", "channel", "thread_key"),)

    #: random and unguessable: knowing an id is still not enough to fetch the file
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    #: the thread (widget visitor) that uploaded it: the only customer allowed to see it
    thread_key: Mapped[str] = mapped_column(String(255))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(255))
    #: sniffed from the bytes, never taken from the file name or the upload's headers
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


@dataclass(frozen=True)
class AttachmentInfo:
    """What a message carries about a file (its payload's ``attachments`` entries)."""

    id: str
    name: str
    content_type: str
    size: int

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "content_type": self.content_type, "size": self.size}


def _info(row: Attachment) -> AttachmentInfo:
    return AttachmentInfo(row.id, row.name, row.content_type, row.size)


def sniff_content_type(data: bytes) -> str | None:
    """The type of an image or PDF from its first bytes, or ``None`` for anything else."""
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def clean_name(name: str | None, content_type: str) -> str:
    """A display name without paths or control characters, ending with the real type's extension."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C")
    base = base.strip(" .")[:MAX_NAME_CHARS] or "file"
    extension = _EXTENSIONS[content_type]
    stem, dot, ext = base.rpartition(".")
    if dot and "." + ext.lower() in (extension, ".jpeg"):
        return base
    return base + extension


def save_attachment(db: Database, *, channel: str, thread_key: str, name: str | None, data: bytes,
                    max_bytes: int, max_pending: int | None = None) -> AttachmentInfo:
    """Check and store one uploaded file for a thread; it is not part of any message yet.

    Raises:
        AttachmentRejected: empty, over ``max_bytes``, not an image or PDF, or the thread holds
            ``max_pending`` uploads no message carries yet.
    """
    if not data:
        raise AttachmentRejected("the file is empty", code="empty_attachment")
    if len(data) > max_bytes:
        raise AttachmentRejected(f"the file is larger than {max_bytes} bytes", code="attachment_too_large")
    content_type = sniff_content_type(data)
    if content_type is None:
        raise AttachmentRejected("only images (PNG, JPEG, GIF, WebP) and PDF files can be sent",
                                 code="unsupported_attachment")
    row = Attachment(id=secrets.token_urlsafe(18), channel=channel, thread_key=thread_key,
                     name=clean_name(name, content_type), content_type=content_type, size=len(data),
                     sha256=hashlib.sha256(data).hexdigest(), data=data)
    with db.session() as session, session.begin():
        if max_pending is not None and _pending(session, channel, thread_key) >= max_pending:
            raise AttachmentRejected(f"at most {max_pending} files may wait to be sent; send or wait for them "
                                     "to expire first", code="too_many_pending_uploads")
        session.add(row)
    return _info(row)


def _pending(session: Any, channel: str, thread_key: str) -> int:
    query = select(func.count()).select_from(Attachment).where(
        Attachment.channel == channel, Attachment.thread_key == thread_key, Attachment.message_id.is_(None),
        Attachment.conversation_id.is_(None))
    return int(session.scalar(query) or 0)


def expire_unsent(db: Database, *, older_than_seconds: float, now: datetime | None = None) -> int:
    """Delete uploads that no message carried within ``older_than_seconds``; how many went."""
    cutoff = (now or utcnow()) - timedelta(seconds=older_than_seconds)
    with db.session() as session, session.begin():
        result = session.execute(delete(Attachment).where(
            Attachment.message_id.is_(None), Attachment.conversation_id.is_(None), Attachment.created_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def owned_attachments(db: Database, ids: Sequence[str], *, channel: str, thread_key: str) -> list[AttachmentInfo]:
    """The attachments ``ids`` (in that order) if the thread uploaded every one of them.

    Raises:
        AttachmentRejected: an id is unknown or belongs to another thread.
    """
    with db.read_session() as session:
        rows = session.scalars(select(Attachment).where(
            Attachment.id.in_(list(ids)), Attachment.channel == channel, Attachment.thread_key == thread_key))
        by_id = {row.id: row for row in rows}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise AttachmentRejected("unknown attachment", code="unknown_attachment")
    return [_info(by_id[i]) for i in ids]


def link_attachments(db: Database, ids: Sequence[str], *, conversation_id: int, message_id: int) -> None:
    """Record the message that carries the attachments (first message wins)."""
    if not ids:
        return
    with db.session() as session, session.begin():
        session.execute(update(Attachment)
                        .where(Attachment.id.in_(list(ids)), Attachment.message_id.is_(None))
                        .values(conversation_id=conversation_id, message_id=message_id))


def load_attachment(db: Database, attachment_id: str) -> Attachment | None:
    """One attachment with its bytes, or ``None``."""
    with db.read_session() as session:
        query = select(Attachment).where(Attachment.id == attachment_id)
        row = session.scalars(query).one_or_none()
        if row is not None:
            _ = row.data  # load the deferred bytes while the session is open
        return row


__all__ = [
    "ACCEPTED_TYPES",
    "TABLES",
    "Attachment",
    "AttachmentInfo",
    "AttachmentRejected",
    "clean_name",
    "expire_unsent",
    "link_attachments",
    "load_attachment",
    "owned_attachments",
    "save_attachment",
    "sniff_content_type",
]
