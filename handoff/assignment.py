"""Assignment: giving a queued conversation to an agent (one winner), putting it back in the
queue, closing it, offering waiting conversations to free agents, and telling waiting customers
when their place in the queue changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from helpdesk.conversations.models import Conversation, Message
from helpdesk.conversations.turn import Turn
from helpdesk.handoff import queue, texts, timers
from helpdesk.handoff.context import HandoffContext, NoteEntry, Say
from helpdesk.handoff.errors import Conflict, NotFound
from helpdesk.handoff.lifecycle import change_status
from helpdesk.handoff.models import Agent, Handoff
from helpdesk.handoff.types import Pending

NOTIFY_LOCK = (0x4844, -2)


@dataclass(frozen=True)
class AssignOptions:
    """How :meth:`Assigner.assign` goes about it."""

    #: the customer message the "agent joined" notice answers
    reply_to: int | None = None
    #: publish the notice (and the status event) after commit; False: the caller returns it
    publish_message: bool = True
    #: refuse an agent at capacity (False: the caller checked under the assignment lock)
    check_capacity: bool = True


class Assigner:
    """Assignment, re-queueing, closing and offers."""

    def __init__(self, ctx: HandoffContext) -> None:
        self.ctx = ctx

    def assign(self, turn: Turn, handoff: Handoff, agent: Agent, pending: Pending,
               options: AssignOptions = AssignOptions()) -> Message:
        """Give a queued handoff to ``agent`` (one winner: a conditional update); say who joined.

        Raises:
            Conflict: someone has it already, or the agent is at capacity.
        """
        session, now = turn.session, self.ctx.now()
        if options.check_capacity:
            queue.lock_assignment(session)
            if queue.loads(session, [agent.id])[agent.id] >= agent.capacity:
                raise Conflict(f"{agent.name} already has {agent.capacity} conversations", code="agent_at_capacity")
        won = session.execute(update(Handoff).where(
            Handoff.id == handoff.id, Handoff.status == "queued", Handoff.assignee_id.is_(None)).values(
            status="assigned", assignee_id=agent.id, assigned_at=now, notified_position=None,
            first_assigned_at=handoff.first_assigned_at or now).execution_options(synchronize_session=False))
        if won.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("the conversation has already been claimed", code="already_assigned")
        session.refresh(handoff)
        agent.last_assigned_at = now
        change_status(turn, "assigned")
        self._after_assign(turn, handoff, agent, pending, status_event=options.publish_message)
        return self.ctx.say(turn, pending if options.publish_message else None,
                            Say(texts.AGENT_JOINED.format(name=agent.name), reply_to=options.reply_to,
                                payload={"event": "agent_joined", "agent": {"name": agent.name}}))

    def _after_assign(self, turn: Turn, handoff: Handoff, agent: Agent, pending: Pending, *,
                      status_event: bool) -> None:
        ctx = self.ctx
        session, now, settings = turn.session, ctx.now(), ctx.settings
        timers.cancel(session, handoff.id, "sla")
        if handoff.first_response_at is None and settings.handoff_agent_response_seconds > 0:
            due = now + timedelta(seconds=settings.handoff_agent_response_seconds)
            timers.arm(session, handoff, "agent_response", due)
        if ctx.metrics and handoff.first_assigned_at == now:
            ctx.metrics.handoff_wait_seconds.observe((now - handoff.requested_at).total_seconds())
        if status_event:
            ctx.status_event(turn, pending, agent={"name": agent.name})
        ctx.changed(turn, handoff, pending, "assigned", agent_id=agent.id)
        pending.then(lambda: self.notify_positions(handoff.team_id))

    def requeue(self, turn: Turn, handoff: Handoff, pending: Pending, why: str, *, tell_customer: bool) -> None:
        """Put an assigned handoff back in the queue, keeping its place (``requested_at``)."""
        ctx, session = self.ctx, turn.session
        agent = session.get(Agent, handoff.assignee_id) if handoff.assignee_id else None
        handoff.status, handoff.assignee_id, handoff.assigned_at = "queued", None, None
        handoff.notified_position = None
        change_status(turn, "queued")
        timers.cancel(session, handoff.id, "agent_response", "inactivity")
        timers.arm(session, handoff, "sla", ctx.now() + timedelta(seconds=ctx.settings.handoff_sla_seconds))
        ctx.note(turn, handoff, NoteEntry(why))
        if tell_customer and agent is not None:
            ctx.say(turn, pending, Say(texts.AGENT_LEFT.format(name=agent.name)))
        ctx.status_event(turn, pending)
        ctx.changed(turn, handoff, pending, "requeued", alert=True)
        pending.then(self.offer)
        pending.then(lambda: self.notify_positions(handoff.team_id))

    def close(self, turn: Turn, handoff: Handoff | None, pending: Pending, reason: str, after: str) -> None:
        """Close the open handoff (resolved, released, auto_resolved) and move the conversation."""
        if handoff is not None:
            handoff.status, handoff.open_key = "closed", None
            handoff.closed_at, handoff.close_reason = self.ctx.now(), reason
            handoff.awaiting_email = False
            timers.cancel(turn.session, handoff.id)
        change_status(turn, after)
        self.ctx.status_event(turn, pending)
        self.ctx.changed(turn, handoff, pending, reason)
        team_id = handoff.team_id if handoff else None
        pending.then(self.offer)
        pending.then(lambda: self.notify_positions(team_id))

    def offer(self) -> int:
        """Assign waiting conversations to free agents (auto assignment); return how many."""
        if self.ctx.settings.handoff_assignment != "auto":
            return 0
        with self.ctx.db.read_session() as session:
            waiting = [(h.conversation_id, h.team_id) for h in queue.queued(session)]
        blocked: set[int | None] = set()
        assigned = 0
        for conversation_id, team_id in waiting:
            if team_id in blocked:
                continue
            result = self._offer_one(conversation_id)
            if result is None:
                blocked.add(team_id)
            assigned += bool(result)
        return assigned

    def _offer_one(self, conversation_id: int) -> bool | None:
        """True: assigned; False: no longer waiting; None: no free agent for its team."""
        try:
            with self.ctx.conversation(conversation_id) as (turn, pending):
                handoff = queue.open_handoff(turn.session, conversation_id)
                if handoff is None or handoff.status != "queued":
                    return False
                queue.lock_assignment(turn.session)
                agent = queue.least_loaded(turn.session, handoff.team_id)
                if agent is None:
                    return None
                self.assign(turn, handoff, agent, pending, AssignOptions(check_capacity=False))
                return True
        except (Conflict, NotFound):
            return False

    def notify_positions(self, team_id: int | None, *, skip: int | None = None) -> None:
        """Tell every waiting customer of the team whose place changed (status events)."""
        events: list[dict[str, Any]] = []
        with self.ctx.db.session() as session, session.begin():
            if session.get_bind().dialect.name == "postgresql":
                session.execute(select(func.pg_advisory_xact_lock(*NOTIFY_LOCK)))
            moved = [(place, h) for place, h in enumerate(queue.team_queue(session, team_id), start=1)
                     if h.notified_position != place and h.id != skip]
            # rows a running turn holds are skipped, never waited for (no lock cycle with turns on
            # PostgreSQL); the next change of the queue tells those customers
            free = set(session.scalars(select(Handoff.id).where(Handoff.id.in_([h.id for _, h in moved]))
                                       .with_for_update(skip_locked=True))) if moved else set()
            for place, handoff in moved:
                if handoff.id in free:
                    handoff.notified_position = place
                    events.append(self._position_event(session, handoff, place))
        for event in events:
            self.ctx.publish("status", event)

    def _position_event(self, session: Session, handoff: Handoff, place: int) -> dict[str, Any]:
        conversation = session.get(Conversation, handoff.conversation_id)
        assert conversation is not None
        wait = queue.estimate(session, handoff, place, self.ctx.now(), self.ctx.settings.handoff_wait_samples)
        return {"conversation_id": conversation.id, "channel": conversation.channel,
                "thread_key": conversation.thread_key, "status": "queued", "position": place,
                "estimated_wait": wait}
