"""What every part of the handoff shares: the database and turn locks, the settings, the clock,
the publisher, metrics and delivery — plus the few steps all of them take inside a
conversation's turn (add a message, add a note, queue the inbox row for agents).

The collaborators (:mod:`handoff.intake`, :mod:`handoff.assignment`, :mod:`handoff.actions`,
:mod:`handoff.presence`, :mod:`handoff.sweep`, :mod:`handoff.summary_notes`) each take this context
and the other collaborators they call, explicitly; none of them knows the others' owner.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.conversations.db import Database
from helpdesk.conversations.locks import TurnLocks
from helpdesk.conversations.models import Message, utcnow
from helpdesk.conversations.outbound import Delivery
from helpdesk.conversations.turn import ConversationNotFound, Turn, open_turn
from helpdesk.conversations.types import OutgoingMessage
from helpdesk.handoff import hours as hours_mod
from helpdesk.handoff import serializers
from helpdesk.handoff.errors import NotFound
from helpdesk.handoff.models import Agent, BusinessHours, Handoff, Note
from helpdesk.handoff.types import Clock, Pending, Publisher

if TYPE_CHECKING:
    from helpdesk.observability import Metrics
    from helpdesk.settings import Settings


@dataclass(frozen=True)
class Say:
    """A message the handoff adds to a conversation (a system notice unless ``role`` says so)."""

    text: str
    role: str = "system"
    author: str | None = None
    #: the customer message it answers
    reply_to: int | None = None
    payload: dict[str, Any] | None = None


@dataclass(frozen=True)
class NoteEntry:
    """A note on the conversation's handoff history (``kind`` event, summary or an agent's note)."""

    text: str
    kind: str = "event"
    author: Agent | None = None
    source: str | None = None


class HandoffContext:
    """The shared dependencies of the handoff's collaborators and their common in-turn steps."""

    def __init__(self, db: Database, locks: TurnLocks, settings: Settings, *, publish: Publisher,
                 clock: Clock = utcnow, metrics: Metrics | None = None, delivery: Delivery | None = None) -> None:
        self.db, self.locks, self.settings = db, locks, settings
        self.publish, self.clock, self.metrics = publish, clock, metrics
        #: how agent and system messages leave (outbox rows for store-and-forward channels)
        self.delivery = delivery
        self.default_hours = hours_mod.parse_short(settings.business_hours, settings.business_timezone)

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

    def say(self, turn: Turn, pending: Pending | None, say: Say) -> Message:
        """Append a message to the conversation and (when ``pending``) publish it after commit."""
        message = turn.append_message(OutgoingMessage(say.role, say.text, say.payload, say.author),
                                      in_reply_to=say.reply_to)
        if pending is not None:
            pending.add("message", serializers.message_json(turn.conversation, message))
        return message

    def changed(self, turn: Turn, handoff: Handoff | None, pending: Pending, kind: str, *,
                known: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        """Queue a ``handoff`` event (the inbox row, for agents) and return the row."""
        session = turn.session
        session.flush()
        item = serializers.item_json(session, turn.conversation, handoff, self.now(), self.settings.handoff_wait_samples,
                               known)
        data = {"type": kind, "conversation_id": turn.conversation.id, "item": item, **extra}
        pending.add("handoff", data)
        if self.delivery is not None:  # the Slack agents' card: an outbox row of this transaction
            self.delivery.notice(turn, "handoff", data)
        return item

    def status_event(self, turn: Turn, pending: Pending, **extra: Any) -> None:
        conversation = turn.conversation
        pending.add("status", {"conversation_id": conversation.id, "channel": conversation.channel,
                               "thread_key": conversation.thread_key, "status": conversation.status, **extra})

    def note(self, turn: Turn, handoff: Handoff | None, entry: NoteEntry) -> Note:
        """Add a note to the turn's conversation (and its handoff, if any)."""
        row = Note(conversation_id=turn.conversation.id, handoff_id=handoff.id if handoff else None,
                   author_id=entry.author.id if entry.author else None, kind=entry.kind, text=entry.text,
                   source=entry.source, created_at=self.now())
        turn.session.add(row)
        turn.session.flush()
        return row

    def hours_for(self, session: Session, team_id: int | None) -> hours_mod.Hours:
        rows = {r.team_id: r for r in session.scalars(
            select(BusinessHours).where((BusinessHours.team_id == team_id) | BusinessHours.team_id.is_(None)))}
        row = rows.get(team_id) or rows.get(None)
        return hours_mod.Hours(row.timezone, row.schedule) if row else self.default_hours
