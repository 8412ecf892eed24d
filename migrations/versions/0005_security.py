"""Security: failed sign-ins per account and address (``login_throttle``); APScheduler's job table
goes (the scheduler keeps its jobs in memory; the timers are rows of ``handoff_timers``).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = True) -> sa.Column[sa.DateTime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        _ts("last_failure_at", nullable=False),
        _ts("blocked_until"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.drop_index(op.f("ix_handoff_scheduler_jobs_next_run_time"), table_name="handoff_scheduler_jobs")
    op.drop_table("handoff_scheduler_jobs")


def downgrade() -> None:
    op.create_table(
        "handoff_scheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_scheduler_jobs")),
    )
    op.create_index(op.f("ix_handoff_scheduler_jobs_next_run_time"), "handoff_scheduler_jobs", ["next_run_time"])
    op.drop_table("login_throttle")
