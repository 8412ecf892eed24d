"""Persisted timers: rows of ``handoff_timers`` written in the same transaction as the change that
needs them, so a timer can be lost neither by a crash nor by a restart. The sweep
(``HandoffService.sweep``, run by :mod:`handoff.scheduler`) fires those that are due.

Kinds: ``sla`` (a queued conversation waits past the SLA: escalate), ``inactivity`` (the agent
answered and the customer went quiet: auto-resolve), ``agent_response`` (an assigned agent did not
answer in time: re-queue).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from helpdesk.handoff.models import Handoff, Timer


def arm(session: Session, handoff: Handoff, kind: str, due: datetime, *, fresh: bool = False) -> None:
    """Set (or move) the handoff's timer of ``kind`` (``fresh``: the handoff has none yet)."""
    if not fresh:
        cancel(session, handoff.id, kind)
    session.add(Timer(handoff_id=handoff.id, conversation_id=handoff.conversation_id, kind=kind, due_at=due))
    session.flush()


def cancel(session: Session, handoff_id: int, *kinds: str) -> None:
    """Remove the handoff's timers of the given kinds (all kinds when none are given)."""
    query = delete(Timer).where(Timer.handoff_id == handoff_id)
    if kinds:
        query = query.where(Timer.kind.in_(kinds))
    session.execute(query)


def due(session: Session, now: datetime, *, limit: int = 100) -> list[tuple[int, int, str]]:
    """(timer id, conversation id, kind) of timers due at ``now``, earliest first."""
    query = (select(Timer.id, Timer.conversation_id, Timer.kind).where(Timer.due_at <= now)
             .order_by(Timer.due_at, Timer.id).limit(limit))
    return [(int(i), int(c), str(k)) for i, c, k in session.execute(query)]


def take(session: Session, timer_id: int, now: datetime | None = None) -> bool:
    """Delete a due timer; True for the one transaction that got it (the others skip it).

    With ``now``, only while it is still due: SQLite reuses the id of a deleted row, so the id a
    sweep read may by now name the timer another process armed again (the next SLA step).
    """
    query = delete(Timer).where(Timer.id == timer_id)
    if now is not None:
        query = query.where(Timer.due_at <= now)
    result = session.execute(query)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def pending(session: Session, handoff_id: int) -> dict[str, datetime]:
    query = select(Timer.kind, Timer.due_at).where(Timer.handoff_id == handoff_id)
    return {str(k): d for k, d in session.execute(query)}
