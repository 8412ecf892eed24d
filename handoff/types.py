"""Value types shared by the handoff services, the API and the socket namespace."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from helpdesk.conversations.models import Message
from helpdesk.conversations.turn import Turn
from helpdesk.handoff.models import PRIORITIES

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Publisher = Callable[[str, dict[str, Any]], None]
#: ``resume(turn, flow, clear)``: run the assistant again after people had the conversation
#: (``flow`` pushed on the dialogue stack; ``clear`` empties it first), inside ``turn``; returns
#: the bot messages it wrote (``routing.Resumer`` is the one the app uses)
Resumer = Callable[[Turn, "str | None", bool], list[Message]]


@dataclass(frozen=True)
class HandoffRequest:
    """Why and where a conversation goes to people."""

    reason: str = "customer_request"
    team: str | None = None
    """A team name; ``None``: the route of the flow, else the default team, else any agent."""
    priority: str = "normal"
    flow: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)

    @property
    def priority_level(self) -> int:
        return PRIORITIES.index(self.priority) if self.priority in PRIORITIES else 1


@dataclass(frozen=True)
class AgentRef:
    """The authenticated agent of a request or socket."""

    id: int
    name: str
    email: str
    role: str
    team_ids: frozenset[int] = frozenset()
    last_seen_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_see(self, team_id: int | None, assignee_id: int | None = None) -> bool:
        """Team scoping: admins see everything; agents their teams', team-less and their own."""
        return self.is_admin or team_id is None or team_id in self.team_ids or assignee_id == self.id


class Pending:
    """Events gathered during a turn, published after it commits, and follow-up work run once its
    lock is released — through the turn's own after-commit mechanism (:meth:`Turn.after_commit`,
    :meth:`Turn.after_release`) once :meth:`attach`-ed; ``flush`` runs them by hand otherwise."""

    def __init__(self, publish: Publisher, turn: Turn | None = None) -> None:
        self._publish = publish
        self._events: list[tuple[str, dict[str, Any]]] = []
        self._after: list[Callable[[], object]] = []
        if turn is not None:
            self.attach(turn)

    def attach(self, turn: Turn) -> Pending:
        """Publish with ``turn``'s commit (events in the order added, at this point of the turn's
        after-commit callbacks) and run the follow-ups after its lock is released."""
        turn.after_commit(self.publish_events)
        turn.after_release(self.run_followups)
        return self

    def add(self, event: str, data: dict[str, Any]) -> None:
        self._events.append((event, data))

    def then(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` after the events are published (follow-up work: offers, summaries)."""
        self._after.append(callback)

    def flush(self) -> None:
        """Publish the events, then run the follow-ups."""
        self.publish_events()
        self.run_followups()

    def publish_events(self) -> None:
        events, self._events = self._events, []
        for event, data in events:
            self._publish(event, data)

    def run_followups(self) -> None:
        """Follow-up work, once the conversation's turn lock is released (an offer may open the
        same conversation's turn again)."""
        after, self._after = self._after, []
        for callback in after:
            try:
                callback()
            except Exception:  # noqa: BLE001 - follow-up work must not hide the commit
                log.exception("handoff.after_commit.failed")


@dataclass
class Outcome:
    """What a handoff step inside a customer turn added: messages to answer with, extra fields for
    the ``status`` event, and events to publish after the turn's own."""

    messages: list[Message] = field(default_factory=list)
    status_data: dict[str, Any] = field(default_factory=dict)
    pending: Pending | None = None
