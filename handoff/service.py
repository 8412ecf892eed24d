"""The handoff service: requests from the turn pipeline, assignment, the queue's customer
messages, offers when capacity frees, and position updates.

Agent actions live in :mod:`handoff.actions`, presence in :mod:`handoff.presence`, the timer sweep
in :mod:`handoff.sweep`. Everything that changes a conversation runs in that conversation's turn
(``conversations.open_turn``: its lock, one transaction) and publishes after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from conversations.db import Database
from conversations.locks import TurnLocks
from conversations.outbound import Delivery
from conversations.models import Conversation, Customer, Message, utcnow
from conversations.turn import ConversationNotFound, Turn, open_turn
from conversations.types import OutgoingMessage

from handoff import hours as hours_mod
from handoff import queue, texts, timers, triggers, views
from handoff.errors import Conflict, NotFound
from handoff.models import Agent, BusinessHours, Handoff, Note, Team
from handoff.status import change_status
from handoff.types import Clock, HandoffRequest, Outcome, Pending, Publisher

if TYPE_CHECKING:
    from dialogue.generators.llm_client import ClaudeClient
    from observability import Metrics
    from settings import Settings

log = logging.getLogger(__name__)
#: ``resume(turn, flow, clear)``: the pipeline runs the assistant again (``flow`` pushed on the
#: dialogue stack; ``clear`` empties it first); returns the bot messages it wrote
Resumer = Callable[[Turn, "str | None", bool], list[Message]]
NOTIFY_LOCK = (0x4844, -2)


class HandoffService:
    """Requests, assignment and the queue; one per app (``services.handoff``)."""

    def __init__(self, db: Database, locks: TurnLocks, settings: Settings, *, publish: Publisher,
                 clock: Clock = utcnow, metrics: Metrics | None = None, llm: ClaudeClient | None = None,
                 delivery: Delivery | None = None) -> None:
        self.db, self.locks, self.settings = db, locks, settings
        #: how agent and system messages leave (outbox rows for store-and-forward channels)
        self.delivery = delivery
        #: the app's Claude client (None without an API key), for the summaries
        self.llm = llm
        self.publish, self.clock, self.metrics = publish, clock, metrics
        self.default_hours = hours_mod.parse_short(settings.business_hours, settings.business_timezone)
        self.resumer: Resumer | None = None
        from handoff.actions import AgentActions
        from handoff.presence import Presence
        from handoff.summaries import Summaries
        from handoff.sweep import Sweeper

        self.summaries = Summaries(self)
        self.actions = AgentActions(self)
        self.presence = Presence(self)
        self.sweeper = Sweeper(self)

    # --- plumbing -------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def conversation(self, conversation_id: int) -> Iterator[tuple[Turn, Pending]]:
        """The conversation's turn (write phase) plus events published after its commit."""
        try:
            with open_turn(self.db, self.locks, conversation_id, write=True,
                           delivery=self.delivery) as turn:
                turn.session  # noqa: B018 - enter the write phase: lock the row now
                yield turn, Pending(self.publish, turn)
        except ConversationNotFound as exc:
            raise NotFound(f"no conversation {conversation_id}", code="conversation_not_found") from exc

    def say(self, turn: Turn, pending: Pending | None, text: str, *, role: str = "system",
            author: str | None = None, reply_to: int | None = None,
            payload: dict[str, Any] | None = None) -> Message:
        """Append a message to the conversation and (when ``pending``) publish it after commit."""
        message = turn.append_message(OutgoingMessage(role, text, payload, author), in_reply_to=reply_to)
        if pending is not None:
            pending.add("message", views.message_json(turn.conversation, message))
        return message

    def changed(self, turn: Turn, handoff: Handoff | None, pending: Pending, kind: str, *,
                known: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        """Queue a ``handoff`` event (the inbox row, for agents) and return the row."""
        session = turn.session
        session.flush()
        item = views.item_json(session, turn.conversation, handoff, self.now(), self.settings.handoff_wait_samples,
                               known)
        pending.add("handoff", {"type": kind, "conversation_id": turn.conversation.id, "item": item, **extra})
        return item

    def status_event(self, turn: Turn, pending: Pending, **extra: Any) -> None:
        conversation = turn.conversation
        pending.add("status", {"conversation_id": conversation.id, "channel": conversation.channel,
                               "thread_key": conversation.thread_key, "status": conversation.status, **extra})

    def note(self, session: Session, handoff: Handoff | None, conversation_id: int, text: str, *,
             kind: str = "event", author: Agent | None = None, source: str | None = None) -> Note:
        row = Note(conversation_id=conversation_id, handoff_id=handoff.id if handoff else None,
                   author_id=author.id if author else None, kind=kind, text=text, source=source,
                   created_at=self.now())
        session.add(row)
        session.flush()
        return row

    def hours_for(self, session: Session, team_id: int | None) -> hours_mod.Hours:
        rows = {r.team_id: r for r in session.scalars(
            select(BusinessHours).where((BusinessHours.team_id == team_id) | BusinessHours.team_id.is_(None)))}
        row = rows.get(team_id) or rows.get(None)
        return hours_mod.Hours(row.timezone, row.schedule) if row else self.default_hours

    # --- requests from the turn pipeline -------------------------------------------------
    def request(self, turn: Turn, request: HandoffRequest, *, reply_to: int | None = None,
                announce: bool = False) -> Outcome:
        """Hand the conversation of ``turn`` to people (inside the customer's turn).

        Args:
            announce: also say the handoff message (when the assistant did not say its own).
        """
        session = turn.session
        pending = Pending(self.publish, turn)
        outcome = Outcome(pending=pending)
        if queue.open_handoff(session, turn.conversation.id) is not None:
            return outcome
        handoff = self.open(turn, request)
        if announce:
            outcome.messages.append(self.say(turn, None, texts.HANDOFF, reply_to=reply_to))
        summary = self.summaries.write(turn, handoff, request, pending)
        hours = self.hours_for(session, handoff.team_id)
        known: dict[str, Any] = {"summary": summary}
        if not hours.is_open(self.now()):
            outcome.messages += self._go_offline(turn, handoff, hours, reply_to)
        elif self._assign_now(turn, handoff, pending, outcome, reply_to):
            return outcome
        else:
            told = self._tell_position(turn, handoff, outcome, reply_to)
            outcome.messages.append(told)
            known.update(outcome.status_data, last_message={"role": told.role, "text": told.text,
                                                            "created_at": views.iso(told.created_at)})
        self.changed(turn, handoff, pending, "queued", known=known, alert=True)
        if outcome.status_data.get("position", 0) < queue.queue_length(session, handoff.team_id):
            # it went ahead of someone (a higher priority): their places changed
            pending.then(lambda: self.notify_positions(handoff.team_id, skip=handoff.id))
        return outcome

    def open(self, turn: Turn, request: HandoffRequest) -> Handoff:
        """Insert the handoff row (queued, SLA timer armed) and move the conversation to the queue."""
        session, now = turn.session, self.now()
        team_id = self._team_for(session, request)
        handoff = Handoff(conversation_id=turn.conversation.id, open_key=turn.conversation.id, status="queued",
                          team_id=team_id, reason=request.reason[:255], priority=request.priority_level,
                          flow=request.flow, slots=_jsonable(request.slots), requested_at=now)
        session.add(handoff)
        session.flush()
        change_status(turn, "queued")
        timers.arm(session, handoff, "sla", now + timedelta(seconds=self.settings.handoff_sla_seconds), fresh=True)
        return handoff

    def _team_for(self, session: Session, request: HandoffRequest) -> int | None:
        routes = dict(p.split("=", 1) for p in (self.settings.handoff_routes or "").split(",") if "=" in p)
        name = request.team or routes.get(request.flow or "") or self.settings.handoff_default_team
        if not name:
            return None
        team_id = session.scalar(select(Team.id).where(Team.name == name.strip()))
        if team_id is None:
            log.warning("handoff.team.unknown", extra={"team": name})
        return team_id

    def _assign_now(self, turn: Turn, handoff: Handoff, pending: Pending, outcome: Outcome,
                    reply_to: int | None) -> bool:
        if self.settings.handoff_assignment != "auto":
            return False
        queue.lock_assignment(turn.session)
        agent = queue.least_loaded(turn.session, handoff.team_id)
        if agent is None:
            return False
        joined = self.assign(turn, handoff, agent, pending, reply_to=reply_to, publish_message=False)
        outcome.messages.append(joined)
        outcome.status_data = {"agent": {"name": agent.name}}
        return True

    def _tell_position(self, turn: Turn, handoff: Handoff, outcome: Outcome, reply_to: int | None) -> Message:
        place = queue.position(turn.session, handoff)
        wait = queue.estimate(turn.session, handoff, place, self.now(), self.settings.handoff_wait_samples)
        handoff.notified_position = place
        outcome.status_data = {"position": place, "estimated_wait": wait}
        return self.say(turn, None, texts.position_text(place, wait), reply_to=reply_to,
                        payload={"position": place, "estimated_wait": wait})

    def _go_offline(self, turn: Turn, handoff: Handoff, hours: hours_mod.Hours,
                    reply_to: int | None) -> list[Message]:
        now = self.now()
        opening = hours.next_opening(now)
        handoff.offline = True
        if opening is not None:
            due = opening + timedelta(seconds=self.settings.handoff_sla_seconds)
            timers.arm(turn.session, handoff, "sla", due)
        described = hours.describe_opening(now)
        text = texts.OFFLINE.format(opening=described) if described else texts.OFFLINE_NO_OPENING
        handoff.awaiting_email = True
        return [self.say(turn, None, text, reply_to=reply_to, payload={"offline": True})]

    def auto_reason(self, conversation_id: int, commands: list[dict[str, Any]], events: list[dict[str, Any]],
                    earlier: list[list[str]]) -> str | None:
        """Whether the assistant should hand over by itself after a turn (see :mod:`handoff.triggers`)."""
        settings = self.settings
        names = [str(c.get("command")) for c in commands]
        errored = settings.handoff_on_error and triggers.internal_error(events, commands)
        if not errored and (settings.handoff_cannot_handle_limit <= 0 or triggers.CANNOT_HANDLE not in names):
            return None
        with self.db.read_session() as session:
            return triggers.auto_reason(session, conversation_id, commands, events,
                                        cannot_handle_limit=settings.handoff_cannot_handle_limit,
                                        on_error=settings.handoff_on_error, earlier=earlier)

    # --- customer messages while people have the conversation -----------------------------
    def on_customer_messages(self, turn: Turn, messages: list[Message]) -> Outcome:
        """Note customer activity (stops auto-resolve) and collect the off-hours email address."""
        outcome = Outcome(pending=Pending(self.publish, turn))
        handoff = queue.open_handoff(turn.session, turn.conversation.id)
        if handoff is None or not messages:
            return outcome
        handoff.last_customer_at = self.now()
        timers.cancel(turn.session, handoff.id, "inactivity")
        if handoff.awaiting_email:
            for message in messages:
                outcome.messages += self._collect_email(turn, handoff, message)
        return outcome

    def _collect_email(self, turn: Turn, handoff: Handoff, message: Message) -> list[Message]:
        email = texts.find_email(message.text or "")
        if email is None:
            return [self.say(turn, None, texts.EMAIL_AGAIN, reply_to=message.id)]
        handoff.awaiting_email = False
        customer = self._customer(turn)
        customer.email = email
        self.note(turn.session, handoff, turn.conversation.id, f"Customer left the email address {email} "
                  "outside business hours: reply by email.")
        return [self.say(turn, None, texts.EMAIL_THANKS.format(email=email), reply_to=message.id)]

    def _customer(self, turn: Turn) -> Customer:
        conversation = turn.conversation
        customer = turn.session.get(Customer, conversation.customer_id) if conversation.customer_id else None
        if customer is None:
            customer = Customer(channel=conversation.channel, external_id=f"conversation:{conversation.id}")
            turn.session.add(customer)
            turn.session.flush()
            conversation.customer_id = customer.id
        return customer

    # --- assignment -----------------------------------------------------------------------
    def assign(self, turn: Turn, handoff: Handoff, agent: Agent, pending: Pending, *,
               reply_to: int | None = None, publish_message: bool = True, check_capacity: bool = True) -> Message:
        """Give a queued handoff to ``agent`` (one winner: a conditional update); say who joined.

        Raises:
            Conflict: someone has it already, or the agent is at capacity.
        """
        session, now = turn.session, self.now()
        if check_capacity:
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
        self._after_assign(turn, handoff, agent, pending, status_event=publish_message)
        joined = self.say(turn, pending if publish_message else None, texts.AGENT_JOINED.format(name=agent.name),
                          reply_to=reply_to, payload={"event": "agent_joined", "agent": {"name": agent.name}})
        return joined

    def _after_assign(self, turn: Turn, handoff: Handoff, agent: Agent, pending: Pending, *,
                      status_event: bool) -> None:
        session, now = turn.session, self.now()
        timers.cancel(session, handoff.id, "sla")
        if handoff.first_response_at is None and self.settings.handoff_agent_response_seconds > 0:
            due = now + timedelta(seconds=self.settings.handoff_agent_response_seconds)
            timers.arm(session, handoff, "agent_response", due)
        if self.metrics and handoff.first_assigned_at == now:
            self.metrics.handoff_wait_seconds.observe((now - handoff.requested_at).total_seconds())
        if status_event:
            self.status_event(turn, pending, agent={"name": agent.name})
        self.changed(turn, handoff, pending, "assigned", agent_id=agent.id)
        pending.then(lambda: self.notify_positions(handoff.team_id))

    def requeue(self, turn: Turn, handoff: Handoff, pending: Pending, why: str, *, tell_customer: bool) -> None:
        """Put an assigned handoff back in the queue, keeping its place (``requested_at``)."""
        session = turn.session
        agent = session.get(Agent, handoff.assignee_id) if handoff.assignee_id else None
        handoff.status, handoff.assignee_id, handoff.assigned_at = "queued", None, None
        handoff.notified_position = None
        change_status(turn, "queued")
        timers.cancel(session, handoff.id, "agent_response", "inactivity")
        timers.arm(session, handoff, "sla", self.now() + timedelta(seconds=self.settings.handoff_sla_seconds))
        self.note(session, handoff, turn.conversation.id, why)
        if tell_customer and agent is not None:
            self.say(turn, pending, texts.AGENT_LEFT.format(name=agent.name))
        self.status_event(turn, pending)
        self.changed(turn, handoff, pending, "requeued", alert=True)
        pending.then(self.offer)
        pending.then(lambda: self.notify_positions(handoff.team_id))

    def close(self, turn: Turn, handoff: Handoff | None, pending: Pending, reason: str, after: str) -> None:
        """Close the open handoff (resolved, released, auto_resolved) and move the conversation."""
        if handoff is not None:
            handoff.status, handoff.open_key = "closed", None
            handoff.closed_at, handoff.close_reason = self.now(), reason
            handoff.awaiting_email = False
            timers.cancel(turn.session, handoff.id)
        change_status(turn, after)
        self.status_event(turn, pending)
        self.changed(turn, handoff, pending, reason)
        team_id = handoff.team_id if handoff else None
        pending.then(self.offer)
        pending.then(lambda: self.notify_positions(team_id))

    def offer(self) -> int:
        """Assign waiting conversations to free agents (auto assignment); return how many."""
        if self.settings.handoff_assignment != "auto":
            return 0
        with self.db.read_session() as session:
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
            with self.conversation(conversation_id) as (turn, pending):
                handoff = queue.open_handoff(turn.session, conversation_id)
                if handoff is None or handoff.status != "queued":
                    return False
                queue.lock_assignment(turn.session)
                agent = queue.least_loaded(turn.session, handoff.team_id)
                if agent is None:
                    return None
                self.assign(turn, handoff, agent, pending, check_capacity=False)
                return True
        except (Conflict, NotFound):
            return False

    def notify_positions(self, team_id: int | None, *, skip: int | None = None) -> None:
        """Tell every waiting customer of the team whose place changed (status events)."""
        events: list[dict[str, Any]] = []
        with self.db.session() as session, session.begin():
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
            self.publish("status", event)

    def _position_event(self, session: Session, handoff: Handoff, place: int) -> dict[str, Any]:
        conversation = session.get(Conversation, handoff.conversation_id)
        assert conversation is not None
        wait = queue.estimate(session, handoff, place, self.now(), self.settings.handoff_wait_samples)
        return {"conversation_id": conversation.id, "channel": conversation.channel,
                "thread_key": conversation.thread_key, "status": "queued", "position": place,
                "estimated_wait": wait}

    def close_down(self) -> None:
        self.summaries.close()


def _jsonable(slots: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in slots.items() if isinstance(v, (str, int, float, bool, list, dict)) or v is None}
