"""Automatic handoff rules: the assistant hands over by itself after repeated ``cannot handle``
turns, and after internal errors. ``routing`` asks :func:`auto_reason` after each bot turn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpdesk.conversations.models import DialogueEvent

CANNOT_HANDLE = "cannot handle"
USER_INPUT_ERRORS = "rasa_internal_error_user_input"


def commands_of(event_data: dict[str, Any]) -> list[str]:
    """The command names of a stored or fresh ``user`` event."""
    commands = ((event_data.get("parse_data") or {}).get("commands")) or []
    return [str(c.get("command")) for c in commands if isinstance(c, dict)]


def internal_error(events: Iterable[dict[str, Any]], commands: Iterable[dict[str, Any]]) -> bool:
    """An action failed, the step limit tripped, or understanding failed (not a bad input)."""
    for item in list(events) + [{"event": "error", **c} for c in commands if c.get("command") == "error"]:
        if item.get("event") == "error" and not str(item.get("error_type") or "").startswith(USER_INPUT_ERRORS):
            return True
    return False


def previous_commands(session: Session, conversation_id: int, turns: int) -> list[list[str]]:
    """Command names of the conversation's last ``turns`` stored turns, most recent first."""
    query = (select(DialogueEvent.data).where(DialogueEvent.conversation_id == conversation_id,
                                              DialogueEvent.type == "user")
             .order_by(DialogueEvent.id.desc()).limit(turns))
    return [commands_of(data or {}) for data in session.scalars(query)]


def auto_reason(session: Session, conversation_id: int, commands: list[dict[str, Any]],
                events: list[dict[str, Any]], *, cannot_handle_limit: int, on_error: bool,
                earlier: list[list[str]] | None = None) -> str | None:
    """Why the assistant should hand over after this turn, or ``None``.

    Args:
        commands: the turn's cleaned commands (``TurnResult.commands``).
        events: the turn's events.
        earlier: command names of turns run earlier in the same batch, not stored yet (most recent first).
    """
    if on_error and internal_error(events, commands):
        return "internal_error"
    names = [str(c.get("command")) for c in commands]
    if cannot_handle_limit <= 0 or CANNOT_HANDLE not in names:
        return None
    history = (earlier or []) + previous_commands(session, conversation_id, cannot_handle_limit - 1)
    streak = 1
    for turn in history[: cannot_handle_limit - 1]:
        if CANNOT_HANDLE not in turn:
            break
        streak += 1
    return "cannot_handle_repeated" if streak >= cannot_handle_limit else None
