"""Numbers for the dashboard's stats panel and Prometheus gauges at ``/metrics``.

Containment rate: the share of recent conversations (started in the window) that never went to a
person; handoff rate: the share that did. Waiting time: request to first agent; first response:
request to the first agent reply.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from helpdesk.conversations.db import Database
from helpdesk.conversations.models import Conversation
from helpdesk.handoff.models import Agent, Handoff, Team
from helpdesk.handoff.types import Clock

WINDOW = timedelta(hours=24)


def _avg(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def compute(session: Session, now: datetime, window: timedelta = WINDOW) -> dict[str, Any]:
    """The stats panel: queue, agents, rates and times over the last ``window``."""
    since = now - window
    started = int(session.scalar(select(func.count()).select_from(Conversation)
                                 .where(Conversation.created_at >= since)) or 0)
    handed = int(session.scalar(select(func.count(distinct(Handoff.conversation_id))).join(
        Conversation, Conversation.id == Handoff.conversation_id).where(Conversation.created_at >= since)) or 0)
    recent = session.execute(select(Handoff.requested_at, Handoff.first_assigned_at, Handoff.first_response_at)
                             .where(Handoff.requested_at >= since)).all()
    waits = [(a - r).total_seconds() for r, a, _ in recent if a is not None]
    responses = [(f - r).total_seconds() for r, _, f in recent if f is not None]
    oldest = session.scalar(select(func.min(Handoff.requested_at)).where(Handoff.status == "queued"))
    return {
        "queue_length": int(session.scalar(select(func.count()).select_from(Handoff)
                                           .where(Handoff.status == "queued")) or 0),
        "assigned": int(session.scalar(select(func.count()).select_from(Handoff)
                                       .where(Handoff.status == "assigned")) or 0),
        "agents_online": int(session.scalar(select(func.count()).select_from(Agent)
                                            .where(Agent.presence == "online", Agent.active.is_(True))) or 0),
        "conversations": started, "handoffs": handed,
        "containment_rate": (started - handed) / started if started else None,
        "handoff_rate": handed / started if started else None,
        "avg_wait_seconds": _avg(waits), "avg_first_response_seconds": _avg(responses),
        "longest_wait_seconds": (now - oldest).total_seconds() if oldest else 0.0,
        "window_hours": window.total_seconds() / 3600,
    }


def queue_by_team(session: Session) -> dict[str, int]:
    query = (select(Team.name, func.count()).select_from(Handoff).outerjoin(Team, Team.id == Handoff.team_id)
             .where(Handoff.status == "queued").group_by(Team.name))
    return {name or "": int(n) for name, n in session.execute(query)}


class StatsCollector:
    """A Prometheus collector reading the gauges from the database at scrape time."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def describe(self) -> list[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.db.read_session() as session:
            stats = compute(session, self.clock())
            teams = queue_by_team(session)
        queue = GaugeMetricFamily("helpdesk_queue_length", "Conversations waiting for an agent", labels=["team"])
        for team, count in sorted(teams.items()):
            queue.add_metric([team], count)
        yield queue
        gauges = {
            "helpdesk_agents_online": ("Agents online", stats["agents_online"]),
            "helpdesk_conversations_assigned": ("Conversations with an agent", stats["assigned"]),
            "helpdesk_containment_rate": ("Share of conversations of the last 24 h that never went to a person",
                                          stats["containment_rate"]),
            "helpdesk_handoff_rate": ("Share of conversations of the last 24 h handed to people", stats["handoff_rate"]),
            "helpdesk_longest_wait_seconds": ("How long the longest-waiting conversation has waited",
                                              stats["longest_wait_seconds"]),
        }
        for name, (text, value) in gauges.items():
            yield GaugeMetricFamily(name, text, value=float(value) if value is not None else float("nan"))
