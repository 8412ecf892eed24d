"""The conversation status model of DESIGN §4, enforced in one place.

``bot`` → ``queued`` → ``assigned`` → ``resolved``; back to ``bot`` on release. The bot never
answers a ``queued`` or ``assigned`` conversation (``routing`` checks :data:`HUMAN_STATUSES`).
Every status change the handoff makes goes through :func:`change_status`.
"""

from __future__ import annotations

from helpdesk.conversations.turn import Turn
from helpdesk.handoff.errors import Conflict

#: statuses in which customer messages go to people, never to the bot
HUMAN_STATUSES = frozenset({"queued", "assigned"})

TRANSITIONS: dict[str, frozenset[str]] = {
    "bot": frozenset({"queued", "assigned", "resolved"}),      # handoff, takeover, closed
    "queued": frozenset({"assigned", "bot", "resolved"}),      # claim, release, resolve
    "assigned": frozenset({"queued", "bot", "resolved"}),      # re-queue, release, resolve
    "resolved": frozenset({"bot", "queued", "assigned"}),      # reopened by a message or an agent
}


def allowed(before: str, after: str) -> bool:
    """Whether a conversation may go from ``before`` to ``after`` (staying put is allowed)."""
    return before == after or after in TRANSITIONS.get(before, frozenset())


def change_status(turn: Turn, after: str) -> str:
    """Move the turn's conversation to ``after``; return the status it had.

    Raises:
        Conflict: the transition is not part of the status model.
    """
    before = turn.conversation.status
    if not allowed(before, after):
        raise Conflict(f"a {before} conversation cannot become {after}", code="invalid_status")
    if before != after:
        turn.set_status(after)
    return before
