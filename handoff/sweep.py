"""The timer sweep: fire due timers (SLA escalation, inactivity auto-resolve, agent response
timeout) and expire silent agents. Run by :mod:`handoff.scheduler` every few seconds, and by tests
with a controlled clock (``service.sweeper.run(now)``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from handoff import queue, texts, timers
from handoff.errors import HandoffError
from handoff.models import PRIORITIES, Handoff
from handoff.types import Pending

if TYPE_CHECKING:
    from conversations.turn import Turn
    from handoff.service import HandoffService

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, service: HandoffService) -> None:
        self.service = service

    def run(self, now: datetime | None = None) -> dict[str, int]:
        """Fire every timer due at ``now`` (default: the service clock); count what happened."""
        service = self.service
        now = now or service.now()
        fired = {"sla": 0, "inactivity": 0, "agent_response": 0, "agents_offline": 0}
        with service.db.read_session() as session:
            due = timers.due(session, now)
        for timer_id, conversation_id, kind in due:
            try:
                if self._fire(timer_id, conversation_id, kind, now):
                    fired[kind] += 1
            except HandoffError:
                log.info("handoff.timer.skipped", extra={"timer_id": timer_id})
            except Exception:
                log.exception("handoff.timer.failed", extra={"timer_id": timer_id, "kind": kind})
                self._drop(timer_id)
        fired["agents_offline"] = len(service.presence.expire(now))
        return fired

    def _fire(self, timer_id: int, conversation_id: int, kind: str, now: datetime) -> bool:
        with self.service.conversation(conversation_id) as (turn, pending):
            if not timers.take(turn.session, timer_id, now):
                return False
            handoff = queue.open_handoff(turn.session, conversation_id)
            if handoff is None:
                return False
            action = {"sla": self._escalate, "inactivity": self._auto_resolve,
                      "agent_response": self._agent_timeout}[kind]
            return action(turn, handoff, pending, now)

    def _drop(self, timer_id: int) -> None:
        with self.service.db.session() as session, session.begin():
            timers.take(session, timer_id)

    def _escalate(self, turn: Turn, handoff: Handoff, pending: Pending, now: datetime) -> bool:
        if handoff.status != "queued":
            return False
        service = self.service
        minutes = round((now - handoff.requested_at).total_seconds() / 60)
        handoff.priority = min(handoff.priority + 1, len(PRIORITIES) - 1)
        handoff.escalated_at = now
        service.note(turn.session, handoff, turn.conversation.id,
                     f"Escalated to {PRIORITIES[handoff.priority]} priority: waiting for {minutes} min (SLA).")
        if handoff.priority < len(PRIORITIES) - 1:
            timers.arm(turn.session, handoff, "sla", now + timedelta(seconds=service.settings.handoff_sla_seconds))
        if service.metrics:
            service.metrics.escalations.inc()
        service.changed(turn, handoff, pending, "escalated", alert=True)
        team_id = handoff.team_id
        pending.then(lambda: service.notify_positions(team_id))
        return True

    def _auto_resolve(self, turn: Turn, handoff: Handoff, pending: Pending, now: datetime) -> bool:
        if handoff.status != "assigned":
            return False
        service = self.service
        service.note(turn.session, handoff, turn.conversation.id, "Resolved automatically: the customer was "
                     "inactive.")
        service.close(turn, handoff, pending, "auto_resolved", "resolved")
        service.say(turn, pending, texts.AUTO_RESOLVED, payload={"event": "auto_resolved"})
        if service.resumer is not None:
            service.resumer(turn, None, True)
        return True

    def _agent_timeout(self, turn: Turn, handoff: Handoff, pending: Pending, now: datetime) -> bool:
        if handoff.status != "assigned" or handoff.first_response_at is not None:
            return False
        self.service.requeue(turn, handoff, pending, "Re-queued: the assigned agent did not answer in time.",
                             tell_customer=True)
        return True
