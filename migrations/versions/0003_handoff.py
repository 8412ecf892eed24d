"""Handoff: agents, teams, tokens, the queue (handoffs), notes, canned responses, business
hours, persisted timers and the APScheduler job store.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _ts(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(table: str) -> tuple[sa.Column[Any], sa.PrimaryKeyConstraint]:
    return sa.Column("id", sa.Integer(), nullable=False), sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}"))


def _fk(table: str, column: str, referred: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}"),
                                   ondelete=ondelete)


def _check(table: str, name: str, column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=op.f(f"ck_{table}_{name}"))


def _index(table: str, *columns: str) -> None:
    op.create_index(op.f(f"ix_{table}_{columns[0]}"), table, list(columns))


def upgrade() -> None:
    _people()
    _handoffs()
    _settings_tables()


def _people() -> None:
    op.create_table(
        "teams", *_id("teams"),
        sa.Column("name", sa.String(length=64), nullable=False),
        _ts("created_at", nullable=False),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "agents", *_id("agents"),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), server_default="agent", nullable=False),
        sa.Column("capacity", sa.Integer(), server_default="3", nullable=False),
        sa.Column("presence", sa.String(length=16), server_default="offline", nullable=False),
        _ts("last_seen_at"), _ts("last_assigned_at"),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        _ts("created_at", nullable=False),
        _check("agents", "presence", "presence", ("online", "away", "offline")),
        _check("agents", "role", "role", ("admin", "agent")),
        sa.UniqueConstraint("email", name=op.f("uq_agents_email")),
    )
    op.create_table(
        "team_memberships",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        _fk("team_memberships", "agent_id", "agents", "CASCADE"),
        _fk("team_memberships", "team_id", "teams", "CASCADE"),
        sa.PrimaryKeyConstraint("agent_id", "team_id", name=op.f("pk_team_memberships")),
    )
    _index("team_memberships", "team_id")
    op.create_table(
        "agent_tokens", *_id("agent_tokens"),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _ts("created_at", nullable=False), _ts("expires_at", nullable=False),
        _fk("agent_tokens", "agent_id", "agents", "CASCADE"),
        sa.UniqueConstraint("token_hash", name=op.f("uq_agent_tokens_token_hash")),
    )
    _index("agent_tokens", "agent_id")


def _handoffs() -> None:
    op.create_table(
        "handoffs", *_id("handoffs"),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("open_key", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("priority", sa.Integer(), server_default="1", nullable=False),
        sa.Column("flow", sa.String(length=255), nullable=True),
        sa.Column("slots", _json(), nullable=False),
        _ts("requested_at", nullable=False), _ts("assigned_at"), _ts("first_assigned_at"),
        _ts("first_response_at"), _ts("last_customer_at"), _ts("escalated_at"), _ts("closed_at"),
        sa.Column("close_reason", sa.String(length=32), nullable=True),
        sa.Column("offline", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("awaiting_email", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("notified_position", sa.Integer(), nullable=True),
        _check("handoffs", "status", "status", ("queued", "assigned", "closed")),
        _fk("handoffs", "assignee_id", "agents", "SET NULL"),
        _fk("handoffs", "conversation_id", "conversations", "CASCADE"),
        _fk("handoffs", "team_id", "teams", "SET NULL"),
        sa.UniqueConstraint("open_key", name=op.f("uq_handoffs_open_key")),
    )
    for column in ("assignee_id", "conversation_id", "team_id"):
        _index("handoffs", column)
    op.create_index("ix_handoffs_status_priority_requested_at", "handoffs", ["status", "priority", "requested_at"])
    op.create_table(
        "handoff_notes", *_id("handoff_notes"),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), server_default="note", nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=True),
        _ts("created_at", nullable=False),
        _check("handoff_notes", "kind", "kind", ("note", "summary", "event")),
        _fk("handoff_notes", "author_id", "agents", "SET NULL"),
        _fk("handoff_notes", "conversation_id", "conversations", "CASCADE"),
        _fk("handoff_notes", "handoff_id", "handoffs", "CASCADE"),
    )
    _index("handoff_notes", "conversation_id")
    _index("handoff_notes", "handoff_id")
    op.create_table(
        "handoff_timers", *_id("handoff_timers"),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        _ts("due_at", nullable=False),
        _check("handoff_timers", "kind", "kind", ("sla", "inactivity", "agent_response")),
        _fk("handoff_timers", "conversation_id", "conversations", "CASCADE"),
        _fk("handoff_timers", "handoff_id", "handoffs", "CASCADE"),
        sa.UniqueConstraint("handoff_id", "kind", name=op.f("uq_handoff_timers_handoff_id_kind")),
    )
    _index("handoff_timers", "due_at")


def _settings_tables() -> None:
    op.create_table(
        "canned_responses", *_id("canned_responses"),
        sa.Column("shortcut", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _ts("created_at", nullable=False),
        sa.UniqueConstraint("shortcut", name=op.f("uq_canned_responses_shortcut")),
    )
    op.create_table(
        "business_hours", *_id("business_hours"),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("schedule", _json(), nullable=False),
        _fk("business_hours", "team_id", "teams", "CASCADE"),
        sa.UniqueConstraint("team_id", name=op.f("uq_business_hours_team_id")),
    )
    op.create_table(
        "handoff_scheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_scheduler_jobs")),
    )
    _index("handoff_scheduler_jobs", "next_run_time")


def downgrade() -> None:
    for table in ("handoff_scheduler_jobs", "business_hours", "canned_responses", "handoff_timers",
                  "handoff_notes", "handoffs", "agent_tokens", "team_memberships", "agents", "teams"):
        op.drop_table(table)
