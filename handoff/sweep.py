"""The timer sweep: fire due timers (SLA escalation, inactivity auto-resolve, agent response
timeout) and expire silent agents. Run by :mod:`handoff.scheduler` every few seconds, and by tests
with a controlled clock (``service.sweeper.run(now)``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from helpdesk.handoff import queue, texts, timers
from helpdesk.handoff.assignment import Assigner
from helpdesk.handoff.context import HandoffContext, NoteEntry, Say
from helpdesk.handoff.errors import HandoffError
from helpdesk.handoff.models import PRIORITIES, Handoff
from helpdesk.handoff.presence import Presence
from helpdesk.handoff.types import Pending, Resumer

if TYPE_CHECKING:
    from helpdesk.conversations.turn import Turn

log = logging.getLogger(__name__)


class Sweeper:
    """Fires due timers and expires silent agents."""

    def __init__(self, ctx: HandoffContext, assigner: Assigner, presence: Presence, *,
                 resume: Resumer | None = None) -> None:
        self.ctx, self.assigner, self.presence = ctx, assigner, presence
        #: runs the assistant again after an auto-resolve (None: the bot waits for the customer)
        self.resume = resume

    def run(self, now: datetime | None = None) -> dict[str, int]:
        """Fire every timer due at ``now`` (default: the service clock); count what happened."""
        ctx = self.ctx
        now = now or ctx.now()
        fired = {"sla": 0, "inactivity": 0, "agent_response": 0, "agents_offline": 0}
        with ctx.db.read_session() as session:
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
        fired["agents_offline"] = len(self.presence.expire(now))
        return fired

    def _fire(self, timer_id: int, conversation_id: int, kind: str, now: datetime) -> bool:
        with self.ctx.conversation(conversation_id) as (turn, pending):
            if not timers.take(turn.session, timer_id, now):
                return False
            handoff = queue.open_handoff(turn.session, conversation_id)
            if handoff is None:
                return False
            action = {"sla": self._escalate, "inactivity": self._auto_resolve,
                      "agent_response": self._agent_timeout}[kind]
            return action(turn, handoff, pending, now)

    def _drop(self, timer_id: int) -> None:
        with self.ctx.db.session() as session, session.begin():
            timers.take(session, timer_id)

    def _escalate(self, turn: Turn, handoff: Handoff, pending: Pending, now: datetime) -> bool:
        if handoff.status != "queued":
            return False
        ctx = self.ctx
        minutes = round((now - handoff.requested_at).total_seconds() / 60)
        handoff.priority = min(handoff.priority + 1, len(PRIORITIES) - 1)
        handoff.escalated_at = now
        ctx.note(turn, handoff, NoteEntry(
            f"Escalated to {PRIORITIES[handoff.priority]} priority: waiting for {minutes} min (SLA)."))
        if handoff.priority < len(PRIORITIES) - 1:
            timers.arm(turn.session, handoff, "sla", now + timedelta(seconds=ctx.settings.handoff_sla_seconds))
        if ctx.metrics:
            ctx.metrics.escalations.inc()
        ctx.changed(turn, handoff, pending, "escalated", alert=True)
        team_id = handoff.team_id
        pending.then(lambda: self.assigner.notify_positions(team_id))
        return True

    def _auto_resolve(self, turn: Turn, handoff: Handoff, pending: Pending, now: datetime) -> bool:
        if handoff.status != "assigned":
            return False
        ctx = self.ctx
        ctx.note(turn, handoff, NoteEntry("Resolved automatically: the customer was inactive."))
        self.assigner.close(turn, handoff, pending, "auto_resolved", "resolved")
        ctx.say(turn, pending, Say(texts.AUTO_RESOLVED, payload={"event": "auto_resolved"}))
        if self.resume is not None:
            self.resume(turn, None, True)
        return True

    def _agent_timeout(self, turn: Turn, handoff: Handoff, pending: Pending, now: datetime) -> bool:
        if handoff.status != "assigned" or handoff.first_response_at is not None:
            return False
        self.assigner.requeue(turn, handoff, pending, "Re-queued: the assigned agent did not answer in time.",
                              tell_customer=True)
        return True
