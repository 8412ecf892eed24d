"""Knowledge base: documents, passages and their full-text index.

SQLite gets an external-content FTS5 table over the passages (kept in step by triggers);
PostgreSQL a GIN index over the weighted tsvector of heading and text. Neither is in the models'
metadata (``knowledge.models.include_name`` hides them from autogenerate).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_FTS = (
    "CREATE VIRTUAL TABLE knowledge_passages_fts USING fts5(heading, text, content='knowledge_passages', "
    "content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER knowledge_passages_ai AFTER INSERT ON knowledge_passages BEGIN "
    "INSERT INTO knowledge_passages_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text); END",
    "CREATE TRIGGER knowledge_passages_ad AFTER DELETE ON knowledge_passages BEGIN "
    "INSERT INTO knowledge_passages_fts(knowledge_passages_fts, rowid, heading, text) "
    "VALUES ('delete', old.id, old.heading, old.text); END",
    "CREATE TRIGGER knowledge_passages_au AFTER UPDATE ON knowledge_passages BEGIN "
    "INSERT INTO knowledge_passages_fts(knowledge_passages_fts, rowid, heading, text) "
    "VALUES ('delete', old.id, old.heading, old.text); "
    "INSERT INTO knowledge_passages_fts(rowid, heading, text) VALUES (new.id, new.heading, new.text); END",
)
SQLITE_FTS_DROP = (
    "DROP TRIGGER IF EXISTS knowledge_passages_au",
    "DROP TRIGGER IF EXISTS knowledge_passages_ad",
    "DROP TRIGGER IF EXISTS knowledge_passages_ai",
    "DROP TABLE IF EXISTS knowledge_passages_fts",
)
#: the expression knowledge/index.py queries with (PG_VECTOR); keep the two identical
PG_INDEX = (
    "CREATE INDEX ix_knowledge_passages_fts ON knowledge_passages USING gin ("
    "(setweight(to_tsvector('english', coalesce(heading, '')), 'A') || "
    "setweight(to_tsvector('english', text), 'B')))"
)


def upgrade() -> None:
    op.create_table(
        "knowledge_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_documents")),
        sa.UniqueConstraint("path", name=op.f("uq_knowledge_documents_path")),
    )
    op.create_table(
        "knowledge_passages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("heading", sa.String(length=512), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["knowledge_documents.id"],
                                name=op.f("fk_knowledge_passages_document_id_knowledge_documents"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_passages")),
    )
    op.create_index(op.f("ix_knowledge_passages_document_id"), "knowledge_passages", ["document_id"])
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(PG_INDEX)


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for statement in SQLITE_FTS_DROP:
            op.execute(statement)
    op.drop_index(op.f("ix_knowledge_passages_document_id"), table_name="knowledge_passages")
    op.drop_table("knowledge_passages")
    op.drop_table("knowledge_documents")
