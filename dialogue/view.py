"""A read-only view of a conversation's dialogue state for code outside the engine.

The state document (``DialogueTracker.to_state``) is the engine's own; handoff and the agent
API read it only through :class:`DialogueView`, so its layout (the stack's frames, their
context) can change without them noticing. Pure: no I/O, no imports outside ``dialogue``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

PATTERN_PREFIX = "pattern_"


@dataclass(frozen=True)
class DialogueView:
    """What people need to know about where the assistant was: slots and the flows on the stack."""

    slots: Mapping[str, Any]
    #: every flow on the dialogue stack, bottom first (patterns included)
    stack_flows: tuple[str, ...]
    #: the slot the assistant was asking for, if it was waiting for an answer
    asked_slot: str | None

    @classmethod
    def of(cls, state: Mapping[str, Any] | None) -> DialogueView:
        state = state or {}
        stack = [f for f in state.get("stack") or [] if isinstance(f, Mapping)]
        asked = next((f.get("context", {}).get("collect") for f in reversed(stack)
                      if f.get("flow_id") == "pattern_collect_information"), None)
        return cls(slots=MappingProxyType(dict(state.get("slots") or {})),
                   stack_flows=tuple(str(f.get("flow_id", "")) for f in stack),
                   asked_slot=asked if isinstance(asked, str) else None)

    @property
    def active_flow(self) -> str | None:
        """The topmost user flow (not a pattern) on the stack."""
        return next((f for f in reversed(self.stack_flows) if not f.startswith(PATTERN_PREFIX)), None)

    def filled_slots(self, *, exclude: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
        """The slots that have a value, without the ``exclude`` ones."""
        return {k: v for k, v in self.slots.items() if v is not None and k not in exclude}
