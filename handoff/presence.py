"""Agent presence: online / away / offline, heartbeats, and what follows from a change.

Going online offers waiting conversations; going offline (explicitly, or silently past the
heartbeat timeout) puts the agent's conversations back in the queue, ahead of newer ones.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from helpdesk.handoff import queue, serializers
from helpdesk.handoff.assignment import Assigner
from helpdesk.handoff.context import HandoffContext
from helpdesk.handoff.errors import Conflict, Invalid, NotFound
from helpdesk.handoff.models import PRESENCES, Agent, Handoff

log = logging.getLogger(__name__)


class Presence:
    """Agents' presence and what a change of it sets off (offers, re-queueing)."""

    def __init__(self, ctx: HandoffContext, assigner: Assigner) -> None:
        self.ctx, self.assigner = ctx, assigner

    def set(self, agent_id: int, status: Any) -> dict[str, Any]:
        """Set an agent's presence; returns the agent."""
        if status not in PRESENCES:
            raise Invalid(f"'status' must be one of {', '.join(PRESENCES)}", code="invalid_status")
        now = self.ctx.now()
        with self.ctx.db.session() as session, session.begin():
            agent = session.get(Agent, agent_id)
            if agent is None:
                raise NotFound(f"no agent {agent_id}", code="agent_not_found")
            before, agent.presence, agent.last_seen_at = agent.presence, status, now
            data = serializers.agent_json(agent, load=queue.loads(session, [agent.id])[agent.id])
        self.ctx.publish("agent", {"agent": data})
        if status == "offline" and before != "offline":
            self.requeue_all(agent_id, f"{data['name']} went offline.")
        if status == "online" and before != "online":
            self.assigner.offer()
        return data

    def heartbeat(self, agent_id: int) -> None:
        """The agent is still there (the dashboard sends one every ~25 s)."""
        with self.ctx.db.session() as session, session.begin():
            session.execute(update(Agent).where(Agent.id == agent_id).values(last_seen_at=self.ctx.now()))

    def expire(self, now: datetime) -> list[int]:
        """Agents silent past the heartbeat timeout go offline; returns their ids."""
        limit = now - timedelta(seconds=self.ctx.settings.agent_heartbeat_timeout)
        with self.ctx.db.read_session() as session:
            stale = list(session.scalars(select(Agent.id).where(
                Agent.presence != "offline", (Agent.last_seen_at < limit) | Agent.last_seen_at.is_(None))))
        for agent_id in stale:
            log.info("handoff.agent.timed_out", extra={"agent_id": agent_id})
            self.set(agent_id, "offline")
        return stale

    def requeue_all(self, agent_id: int, why: str) -> int:
        """Put every conversation assigned to the agent back in the queue."""
        with self.ctx.db.read_session() as session:
            conversation_ids = list(session.scalars(select(Handoff.conversation_id).where(
                Handoff.status == "assigned", Handoff.assignee_id == agent_id)))
        count = 0
        for conversation_id in conversation_ids:
            try:
                with self.ctx.conversation(conversation_id) as (turn, pending):
                    handoff = queue.open_handoff(turn.session, conversation_id)
                    if handoff is None or handoff.status != "assigned" or handoff.assignee_id != agent_id:
                        continue
                    self.assigner.requeue(turn, handoff, pending, why, tell_customer=True)
                    count += 1
            except (Conflict, NotFound):
                continue
        return count
