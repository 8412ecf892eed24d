"""Requests from the turn pipeline: opening a handoff (team, timers, summary), assigning it at
once or telling the customer their place (or that nobody is in), the auto-handoff rules, and the
customer's messages while people have the conversation (the off-hours email address)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.conversations.models import Customer, Message
from helpdesk.conversations.turn import Turn
from helpdesk.handoff import hours as hours_mod
from helpdesk.handoff import queue, serializers, texts, timers, triggers
from helpdesk.handoff.assignment import Assigner, AssignOptions
from helpdesk.handoff.context import HandoffContext, NoteEntry, Say
from helpdesk.handoff.lifecycle import change_status
from helpdesk.handoff.models import Handoff, Team
from helpdesk.handoff.summary_notes import SummaryNotes
from helpdesk.handoff.types import HandoffRequest, Outcome, Pending

log = logging.getLogger(__name__)


class Intake:
    """Hands conversations to people (inside the customer's turn) and looks after the queue's
    customer messages."""

    def __init__(self, ctx: HandoffContext, assigner: Assigner, summaries: SummaryNotes) -> None:
        self.ctx, self.assigner, self.summaries = ctx, assigner, summaries

    def request(self, turn: Turn, request: HandoffRequest, *, reply_to: int | None = None,
                announce: bool = False) -> Outcome:
        """Hand the conversation of ``turn`` to people (inside the customer's turn).

        Args:
            announce: also say the handoff message (when the assistant did not say its own).
        """
        ctx, session = self.ctx, turn.session
        pending = Pending(ctx.publish, turn)
        outcome = Outcome(pending=pending)
        if queue.open_handoff(session, turn.conversation.id) is not None:
            return outcome
        handoff = self.open(turn, request)
        if announce:
            outcome.messages.append(ctx.say(turn, None, Say(texts.HANDOFF, reply_to=reply_to)))
        summary = self.summaries.write(turn, handoff, request, pending)
        hours = ctx.hours_for(session, handoff.team_id)
        known: dict[str, Any] = {"summary": summary}
        if not hours.is_open(ctx.now()):
            outcome.messages += self._go_offline(turn, handoff, hours, reply_to)
        elif self._assign_now(turn, handoff, pending, outcome, reply_to):
            return outcome
        else:
            told = self._tell_position(turn, handoff, outcome, reply_to)
            outcome.messages.append(told)
            known.update(outcome.status_data, last_message={"role": told.role, "text": told.text,
                                                            "created_at": serializers.iso(told.created_at)})
        ctx.changed(turn, handoff, pending, "queued", known=known, alert=True)
        if outcome.status_data.get("position", 0) < queue.queue_length(session, handoff.team_id):
            # it went ahead of someone (a higher priority): their places changed
            pending.then(lambda: self.assigner.notify_positions(handoff.team_id, skip=handoff.id))
        return outcome

    def open(self, turn: Turn, request: HandoffRequest) -> Handoff:
        """Insert the handoff row (queued, SLA timer armed) and move the conversation to the queue."""
        session, now = turn.session, self.ctx.now()
        team_id = self._team_for(session, request)
        handoff = Handoff(conversation_id=turn.conversation.id, open_key=turn.conversation.id, status="queued",
                          team_id=team_id, reason=request.reason[:255], priority=request.priority_level,
                          flow=request.flow, slots=_jsonable(request.slots), requested_at=now)
        session.add(handoff)
        session.flush()
        change_status(turn, "queued")
        timers.arm(session, handoff, "sla", now + timedelta(seconds=self.ctx.settings.handoff_sla_seconds),
                   fresh=True)
        return handoff

    def _team_for(self, session: Session, request: HandoffRequest) -> int | None:
        settings = self.ctx.settings
        routes = dict(p.split("=", 1) for p in (settings.handoff_routes or "").split(",") if "=" in p)
        name = request.team or routes.get(request.flow or "") or settings.handoff_default_team
        if not name:
            return None
        team_id = session.scalar(select(Team.id).where(Team.name == name.strip()))
        if team_id is None:
            log.warning("handoff.team.unknown", extra={"team": name})
        return team_id

    def _assign_now(self, turn: Turn, handoff: Handoff, pending: Pending, outcome: Outcome,
                    reply_to: int | None) -> bool:
        if self.ctx.settings.handoff_assignment != "auto":
            return False
        queue.lock_assignment(turn.session)
        agent = queue.least_loaded(turn.session, handoff.team_id)
        if agent is None:
            return False
        joined = self.assigner.assign(turn, handoff, agent, pending,
                                      AssignOptions(reply_to=reply_to, publish_message=False))
        outcome.messages.append(joined)
        outcome.status_data = {"agent": {"name": agent.name}}
        return True

    def _tell_position(self, turn: Turn, handoff: Handoff, outcome: Outcome, reply_to: int | None) -> Message:
        place = queue.position(turn.session, handoff)
        wait = queue.estimate(turn.session, handoff, place, self.ctx.now(), self.ctx.settings.handoff_wait_samples)
        handoff.notified_position = place
        outcome.status_data = {"position": place, "estimated_wait": wait}
        return self.ctx.say(turn, None, Say(texts.position_text(place, wait), reply_to=reply_to,
                                            payload={"position": place, "estimated_wait": wait}))

    def _go_offline(self, turn: Turn, handoff: Handoff, hours: hours_mod.Hours,
                    reply_to: int | None) -> list[Message]:
        now = self.ctx.now()
        opening = hours.next_opening(now)
        handoff.offline = True
        if opening is not None:
            due = opening + timedelta(seconds=self.ctx.settings.handoff_sla_seconds)
            timers.arm(turn.session, handoff, "sla", due)
        described = hours.describe_opening(now)
        text = texts.OFFLINE.format(opening=described) if described else texts.OFFLINE_NO_OPENING
        handoff.awaiting_email = True
        return [self.ctx.say(turn, None, Say(text, reply_to=reply_to, payload={"offline": True}))]

    def auto_reason(self, conversation_id: int, commands: list[dict[str, Any]], events: list[dict[str, Any]],
                    earlier: list[list[str]]) -> str | None:
        """Whether the assistant should hand over by itself after a turn (see :mod:`handoff.triggers`)."""
        settings = self.ctx.settings
        names = [str(c.get("command")) for c in commands]
        errored = settings.handoff_on_error and triggers.internal_error(events, commands)
        if not errored and (settings.handoff_cannot_handle_limit <= 0 or triggers.CANNOT_HANDLE not in names):
            return None
        with self.ctx.db.read_session() as session:
            return triggers.auto_reason(session, conversation_id, commands, events,
                                        cannot_handle_limit=settings.handoff_cannot_handle_limit,
                                        on_error=settings.handoff_on_error, earlier=earlier)

    # --- customer messages while people have the conversation -----------------------------
    def on_customer_messages(self, turn: Turn, messages: list[Message]) -> Outcome:
        """Note customer activity (stops auto-resolve) and collect the off-hours email address.

        Publishes ``handoff_route`` first (before the turn's messages): who has the conversation now,
        read in the turn — its assignee may have changed in another process, whose ``handoff`` events
        this process never saw, and the agents' namespace routes the customer's words by it."""
        pending = Pending(self.ctx.publish, turn)
        outcome = Outcome(pending=pending)
        handoff = queue.open_handoff(turn.session, turn.conversation.id)
        if messages:
            pending.add("handoff_route", {
                "conversation_id": turn.conversation.id, "team_id": handoff.team_id if handoff else None,
                "assignee_id": handoff.assignee_id if handoff else None, "open": handoff is not None})
        if handoff is None or not messages:
            return outcome
        handoff.last_customer_at = self.ctx.now()
        timers.cancel(turn.session, handoff.id, "inactivity")
        if handoff.awaiting_email:
            for message in messages:
                outcome.messages += self._collect_email(turn, handoff, message)
        return outcome

    def _collect_email(self, turn: Turn, handoff: Handoff, message: Message) -> list[Message]:
        email = texts.find_email(message.text or "")
        if email is None:
            return [self.ctx.say(turn, None, Say(texts.EMAIL_AGAIN, reply_to=message.id))]
        handoff.awaiting_email = False
        _customer(turn).email = email
        self.ctx.note(turn, handoff, NoteEntry(f"Customer left the email address {email} "
                                               "outside business hours: reply by email."))
        # the payload tells the email channel to continue this conversation by email
        return [self.ctx.say(turn, None, Say(texts.EMAIL_THANKS.format(email=email), reply_to=message.id,
                                             payload={"email_follow_up": email}))]


def _customer(turn: Turn) -> Customer:
    conversation = turn.conversation
    customer = turn.session.get(Customer, conversation.customer_id) if conversation.customer_id else None
    if customer is None:
        customer = Customer(channel=conversation.channel, external_id=f"conversation:{conversation.id}")
        turn.session.add(customer)
        turn.session.flush()
        conversation.customer_id = customer.id
    return customer


def _jsonable(slots: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in slots.items() if isinstance(v, (str, int, float, bool, list, dict)) or v is None}
