"""Queue queries: order (priority, then longest waiting), positions, estimated waits, loads.

Every function takes the caller's session, so that it reads inside the caller's transaction.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from helpdesk.handoff.models import Agent, Handoff, TeamMembership

#: first key of PostgreSQL advisory locks that serialise assignment decisions (capacity checks)
ASSIGN_LOCK = (0x4844, -1)
RECENT_WAIT_WINDOW = timedelta(hours=24)


def order_by() -> tuple[Any, ...]:
    """Queue order: higher priority first, then longest waiting, then first come."""
    return (Handoff.priority.desc(), Handoff.requested_at.asc(), Handoff.id.asc())


def same_team(team_id: int | None) -> ColumnElement[bool]:
    return Handoff.team_id.is_(None) if team_id is None else Handoff.team_id == team_id


def open_handoff(session: Session, conversation_id: int) -> Handoff | None:
    """The conversation's open handoff (queued or assigned), reloaded from the database."""
    query = (select(Handoff).where(Handoff.open_key == conversation_id)
             .execution_options(populate_existing=True))
    return session.scalars(query).one_or_none()


def latest_handoff(session: Session, conversation_id: int) -> Handoff | None:
    query = select(Handoff).where(Handoff.conversation_id == conversation_id).order_by(Handoff.id.desc()).limit(1)
    return session.scalars(query).first()


def queued(session: Session, *, limit: int = 500) -> list[Handoff]:
    """Queued handoffs in queue order."""
    return list(session.scalars(select(Handoff).where(Handoff.status == "queued").order_by(*order_by())
                                .limit(limit)))


def position(session: Session, handoff: Handoff) -> int:
    """1-based place of a queued handoff in its team's queue."""
    ahead = or_(Handoff.priority > handoff.priority,
                and_(Handoff.priority == handoff.priority,
                     or_(Handoff.requested_at < handoff.requested_at,
                         and_(Handoff.requested_at == handoff.requested_at, Handoff.id < handoff.id))))
    query = select(func.count()).select_from(Handoff).where(
        Handoff.status == "queued", same_team(handoff.team_id), ahead)
    return int(session.scalar(query) or 0) + 1


def queue_length(session: Session, team_id: int | None) -> int:
    query = select(func.count()).select_from(Handoff).where(Handoff.status == "queued", same_team(team_id))
    return int(session.scalar(query) or 0)


def team_queue(session: Session, team_id: int | None) -> list[Handoff]:
    query = select(Handoff).where(Handoff.status == "queued", same_team(team_id)).order_by(*order_by())
    return list(session.scalars(query))


def recent_wait(session: Session, team_id: int | None, now: datetime, samples: int) -> float | None:
    """Median seconds from request to first assignment over the team's last ``samples`` handoffs."""
    query = (select(Handoff.requested_at, Handoff.first_assigned_at)
             .where(Handoff.first_assigned_at.is_not(None), same_team(team_id),
                    Handoff.first_assigned_at >= now - RECENT_WAIT_WINDOW)
             .order_by(Handoff.first_assigned_at.desc()).limit(samples))
    waits = [max(0.0, (assigned - requested).total_seconds()) for requested, assigned in session.execute(query)
             if assigned is not None]
    return statistics.median(waits) if waits else None


def estimate(session: Session, handoff: Handoff, place: int, now: datetime, samples: int) -> float | None:
    """Estimated seconds until someone joins: the recent median wait times the rounds of agents
    needed to reach ``place`` (one round per online agent of the team)."""
    median = recent_wait(session, handoff.team_id, now, samples)
    if median is None:
        return None
    agents = max(1, len(candidates(session, handoff.team_id)))
    rounds = -(-place // agents)
    return max(30.0, median * rounds)


def loads(session: Session, agent_ids: list[int] | None = None) -> dict[int, int]:
    """Open conversations assigned to each agent."""
    query = (select(Handoff.assignee_id, func.count()).where(Handoff.status == "assigned")
             .group_by(Handoff.assignee_id))
    if agent_ids is not None:
        query = query.where(Handoff.assignee_id.in_(agent_ids))
    counts = {int(a): int(n) for a, n in session.execute(query) if a is not None}
    return {a: counts.get(a, 0) for a in agent_ids} if agent_ids is not None else counts


def candidates(session: Session, team_id: int | None) -> list[Agent]:
    """Active, online agents who may take a conversation of ``team_id`` (any agent when None)."""
    query = select(Agent).where(Agent.active.is_(True), Agent.presence == "online")
    if team_id is not None:
        members = select(TeamMembership.agent_id).where(TeamMembership.team_id == team_id)
        query = query.where(Agent.id.in_(members))
    return list(session.scalars(query.order_by(Agent.id)))


def least_loaded(session: Session, team_id: int | None) -> Agent | None:
    """The online agent of the team with free capacity and the fewest open conversations;
    ties go to whoever waited longest since their last assignment."""
    agents = candidates(session, team_id)
    current = loads(session, [a.id for a in agents])
    free = [a for a in agents if current[a.id] < a.capacity]
    if not free:
        return None
    never = datetime.min.replace(tzinfo=None)
    return min(free, key=lambda a: (current[a.id], (a.last_assigned_at.replace(tzinfo=None)
                                                    if a.last_assigned_at else never), a.id))


def lock_assignment(session: Session) -> None:
    """Serialise capacity decisions across processes (PostgreSQL); SQLite's write lock already does."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(*ASSIGN_LOCK)))
