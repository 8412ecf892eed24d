"""``cancel flow``: stop the active user flow (and the flows it called)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from helpdesk.dialogue.commands.base import Command, push_pattern
from helpdesk.dialogue.flows import FlowsList
from helpdesk.dialogue.languages import LANGUAGE_SLOT
from helpdesk.dialogue.tracker import DialogueTracker


def frames_to_cancel(tracker: DialogueTracker) -> list[str]:
    """From the top user frame down to (and including) the first one that was not called."""
    ids = []
    for frame in reversed(tracker.user_frames()):
        ids.append(frame["frame_id"])
        if frame["frame_type"] != "call":
            break
    return ids


@dataclass(frozen=True)
class CancelFlow(Command):
    command: ClassVar[str] = "cancel flow"

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:
        targets = tracker.scratch.get("cancel_targets") or frames_to_cancel(tracker)
        if not targets:
            return
        bottom = tracker.frame_by_id(targets[-1])
        flow = flows.get(bottom["flow_id"]) if bottom else None
        push_pattern(tracker, "pattern_cancel_flow", canceled_frames=targets,
                     canceled_name=flow.name_for(tracker.slots.get(LANGUAGE_SLOT)) if flow else "")
