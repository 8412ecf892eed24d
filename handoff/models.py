"""SQLAlchemy models of the agent side: agents, teams, tokens, handoffs (queue entries and
assignments), internal notes, canned responses, business hours and persisted timers.

They live on :class:`conversations.models.Base` so that one metadata (and one Alembic history,
``migrations/versions/0003_handoff.py``) describes the whole schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.conversations.models import Base, JSONType, UTCDateTime, utcnow

ROLES = ("admin", "agent")
PRESENCES = ("online", "away", "offline")
HANDOFF_STATUSES = ("queued", "assigned", "closed")
NOTE_KINDS = ("note", "summary", "event")
TIMER_KINDS = ("sla", "inactivity", "agent_response")
#: priority levels, low to high; stored as their index
PRIORITIES = ("low", "normal", "high", "urgent")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (
        CheckConstraint(f"role IN ({_in(ROLES)})", name="role"),
        CheckConstraint(f"presence IN ({_in(PRESENCES)})", name="presence"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    #: argon2id hash (argon2-cffi's encoded form)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="agent", server_default="agent")
    #: the most conversations the agent handles at once
    capacity: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    presence: Mapped[str] = mapped_column(String(16), default="offline", server_default="offline")
    #: the last heartbeat (socket or API); an online agent silent for longer than the heartbeat
    #: timeout goes offline and their conversations are re-queued
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: when the agent was last given a conversation: breaks ties between equally loaded agents
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TeamMembership(Base):
    __tablename__ = "team_memberships"

    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True,
                                         index=True)


class AgentToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "agent_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Handoff(Base):
    """One stay of a conversation with people: queued, then assigned, then closed.

    A conversation has at most one open handoff (``open_key`` is its id while open, NULL once
    closed, and unique). Claims are conditional updates on this row.
    """

    __tablename__ = "handoffs"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(HANDOFF_STATUSES)})", name="status"),
        # the queue order: priority, then longest waiting
        Index("ix_handoffs_status_priority_requested_at", "status", "priority", "requested_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"),
                                                 index=True)
    open_key: Mapped[int | None] = mapped_column(Integer, unique=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"), index=True)
    reason: Mapped[str] = mapped_column(String(255))
    priority: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    flow: Mapped[str | None] = mapped_column(String(255))
    slots: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: since when the customer waits (kept when re-queued, so they keep their place)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_customer_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: resolved, released, auto_resolved
    close_reason: Mapped[str | None] = mapped_column(String(32))
    #: requested outside business hours: the customer was asked for an email address
    offline: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    awaiting_email: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: the queue position last told to the customer (sent again only when it changes)
    notified_position: Mapped[int | None] = mapped_column(Integer)


class Note(Base):
    """An internal note on a conversation: agents only, never sent to the customer."""

    __tablename__ = "handoff_notes"
    __table_args__ = (CheckConstraint(f"kind IN ({_in(NOTE_KINDS)})", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"),
                                                 index=True)
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16), default="note", server_default="note")
    text: Mapped[str] = mapped_column(Text)
    #: for summaries: "rules" or "claude"
    source: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CannedResponse(Base):
    __tablename__ = "canned_responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shortcut: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BusinessHours(Base):
    """A weekly schedule in a time zone; ``team_id`` NULL is the default for every team."""

    __tablename__ = "business_hours"
    __table_args__ = (UniqueConstraint("team_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    timezone: Mapped[str] = mapped_column(String(64))
    #: {"mon": [["09:00", "17:00"]], ...}; a missing day is closed
    schedule: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Timer(Base):
    """A persisted timer of a handoff; fired by the sweep job once ``due_at`` has passed."""

    __tablename__ = "handoff_timers"
    __table_args__ = (
        UniqueConstraint("handoff_id", "kind"),
        CheckConstraint(f"kind IN ({_in(TIMER_KINDS)})", name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class LoginThrottle(Base):
    """Failed sign-ins per account (``account:<email>``) and per client address (``address:<ip>``),
    kept in the database so every process sees them (:mod:`handoff.throttle`)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: no sign-in is checked for this key before then
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


#: every table of this module (the migrations test checks them)
TABLES = frozenset({"teams", "agents", "team_memberships", "agent_tokens", "handoffs", "handoff_notes",
                    "canned_responses", "business_hours", "handoff_timers", "login_throttle"})

__all__ = [
    "NOTE_KINDS",
    "PRESENCES",
    "PRIORITIES",
    "ROLES",
    "TABLES",
    "Agent",
    "AgentToken",
    "BusinessHours",
    "CannedResponse",
    "Handoff",
    "Note",
    "LoginThrottle",
    "Team",
    "TeamMembership",
    "Timer",
]
