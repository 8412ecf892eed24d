"""Tables of the knowledge index: documents and their passages (on ``conversations``' ``Base``).

The full-text index itself is not a model: an FTS5 virtual table (+ triggers) on SQLite and a GIN
expression index on PostgreSQL, both created by migration 0004. :func:`include_name` keeps
them out of Alembic's model comparison (``migrations/env.py`` and the migration test use it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.conversations.models import Base, UTCDateTime, utcnow

FTS_TABLE = "knowledge_passages_fts"
FTS_INDEX = "ix_knowledge_passages_fts"
TABLES = frozenset({"knowledge_documents", "knowledge_passages"})


class KnowledgeDocument(Base):
    """One file of the assistant's ``knowledge/`` folder, as last indexed."""

    __tablename__ = "knowledge_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: relative to the knowledge folder, POSIX separators
    path: Mapped[str] = mapped_column(String(512), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    #: SHA-256 of the file: unchanged files are not indexed again
    checksum: Mapped[str] = mapped_column(String(64))
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class KnowledgePassage(Base):
    """A section of a document: what search finds and what answers quote."""

    __tablename__ = "knowledge_passages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("knowledge_documents.id", ondelete="CASCADE"),
                                             index=True)
    position: Mapped[int] = mapped_column(Integer)
    heading: Mapped[str] = mapped_column(String(512))
    text: Mapped[str] = mapped_column(Text)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic ``include_name`` hook: the full-text objects are managed by hand (migration 0004)."""
    if type_ == "table" and name is not None and name.startswith(FTS_TABLE):
        return False
    return not (type_ == "index" and name == FTS_INDEX)
