"""The handoff, composed: one object per app (``services.handoff``) holding the collaborators,
each built with exactly what it needs.

- :class:`~handoff.context.HandoffContext`: database, locks, settings, clock, publisher,
  metrics, delivery, and the common in-turn steps (add a message or a note, queue the inbox row);
- :class:`~handoff.intake.Intake`: requests from the turn pipeline, auto-handoff rules, customer
  messages while people have the conversation;
- :class:`~handoff.assignment.Assigner`: assignment, re-queueing, closing, offers, positions;
- :class:`~handoff.summary_notes.SummaryNotes`: the summary note (with the summarizer it is given);
- :class:`~handoff.actions.AgentActions`, :class:`~handoff.presence.Presence`,
  :class:`~handoff.sweep.Sweeper`: what agents do, their presence, the timer sweep.

Everything that changes a conversation runs in that conversation's turn (``conversations.open_turn``:
its lock, one transaction) and publishes after the commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from helpdesk.conversations.db import Database
from helpdesk.conversations.locks import TurnLocks
from helpdesk.conversations.models import Message, utcnow
from helpdesk.conversations.outbound import Delivery
from helpdesk.conversations.turn import Turn
from helpdesk.handoff import hours as hours_mod
from helpdesk.handoff.actions import AgentActions
from helpdesk.handoff.assignment import Assigner
from helpdesk.handoff.context import HandoffContext
from helpdesk.handoff.intake import Intake
from helpdesk.handoff.presence import Presence
from helpdesk.handoff.summarizers import ClaudeSummarizer
from helpdesk.handoff.summary_notes import SummaryNotes
from helpdesk.handoff.sweep import Sweeper
from helpdesk.handoff.types import Clock, HandoffRequest, Outcome, Pending, Publisher, Resumer

if TYPE_CHECKING:
    from helpdesk.observability import Metrics
    from helpdesk.settings import Settings


class HandoffService:
    """Requests, assignment and the queue, agents' actions, presence and timers; one per app."""

    def __init__(self, db: Database, locks: TurnLocks, settings: Settings, *, publish: Publisher,
                 clock: Clock = utcnow, metrics: Metrics | None = None,
                 summarizer: ClaudeSummarizer | None = None, delivery: Delivery | None = None,
                 resume: Resumer | None = None) -> None:
        """
        Args:
            summarizer: writes summaries with an LLM (None: deterministic summaries only).
            resume: runs the assistant again after release, resolve and auto-resolve.
        """
        self.ctx = HandoffContext(db, locks, settings, publish=publish, clock=clock, metrics=metrics,
                                  delivery=delivery)
        self.summaries = SummaryNotes(self.ctx, summarizer)
        self.assigner = Assigner(self.ctx)
        self.intake = Intake(self.ctx, self.assigner, self.summaries)
        self.actions = AgentActions(self.ctx, self.assigner, self.intake, resume=resume)
        self.presence = Presence(self.ctx, self.assigner)
        self.sweeper = Sweeper(self.ctx, self.assigner, self.presence, resume=resume)

    # --- what the app, the API and the namespace read -------------------------------------
    @property
    def db(self) -> Database:
        return self.ctx.db

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def publish(self) -> Publisher:
        return self.ctx.publish

    @property
    def clock(self) -> Clock:
        return self.ctx.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:  # tests run the timers on their own clock
        self.ctx.clock = clock

    def now(self) -> datetime:
        return self.ctx.now()

    @contextmanager
    def conversation(self, conversation_id: int) -> Iterator[tuple[Turn, Pending]]:
        with self.ctx.conversation(conversation_id) as opened:
            yield opened

    def hours_for(self, session: Session, team_id: int | None) -> hours_mod.Hours:
        return self.ctx.hours_for(session, team_id)

    # --- the turn pipeline's calls ----------------------------------------------------------
    def request(self, turn: Turn, request: HandoffRequest, *, reply_to: int | None = None,
                announce: bool = False) -> Outcome:
        return self.intake.request(turn, request, reply_to=reply_to, announce=announce)

    def auto_reason(self, conversation_id: int, commands: list[dict[str, Any]], events: list[dict[str, Any]],
                    earlier: list[list[str]]) -> str | None:
        return self.intake.auto_reason(conversation_id, commands, events, earlier)

    def on_customer_messages(self, turn: Turn, messages: list[Message]) -> Outcome:
        return self.intake.on_customer_messages(turn, messages)

    def offer(self) -> int:
        return self.assigner.offer()

    def close_down(self) -> None:
        self.summaries.close()
