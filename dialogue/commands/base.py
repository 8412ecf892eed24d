"""What every command shares: a pinned wire name, a pure ``run`` on the tracker, (de)serialisation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from helpdesk.dialogue.flows import FlowsList
from helpdesk.dialogue.tracker import DialogueTracker


@dataclass(frozen=True)
class Command:
    """A decision about the conversation taken by understanding (LLM, offline, button payload)."""

    command: ClassVar[str] = ""

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def as_dict(self) -> dict[str, Any]:
        return {"command": self.command, **asdict(self)}


def push_pattern(tracker: DialogueTracker, pattern: str, **context: Any) -> None:
    """Push a pattern frame with ``context`` on top of the stack."""
    tracker.push(pattern, kind="pattern", context=context)
