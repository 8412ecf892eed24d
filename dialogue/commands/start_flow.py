"""``start flow``: start a user flow, interrupting or resuming as needed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from helpdesk.dialogue.commands.base import Command
from helpdesk.dialogue.flows import FlowsList
from helpdesk.dialogue.tracker import DialogueTracker

#: tracker.scratch key: frame id of the active user flow before the message's commands ran
ACTIVE_AT_START = "active_at_start"
#: Patterns that wait for the customer's next words; starting a flow answers them.
WAITING_PATTERNS = ("pattern_completed", "pattern_continue_interrupted", "pattern_clarification",
                    "pattern_customer_satisfaction", "pattern_cannot_handle")


def drop_waiting_patterns(tracker: DialogueTracker) -> None:
    """Remove conversation-level patterns (and their open questions) from the top of the stack."""
    while tracker.stack:
        top = tracker.stack[-1]
        if top["flow_id"] in WAITING_PATTERNS:
            tracker.stack.pop()
            continue
        below = tracker.stack[-2]["flow_id"] if len(tracker.stack) > 1 else None
        if top["flow_id"] == "pattern_collect_information" and below in WAITING_PATTERNS:
            tracker.stack.pop()
            continue
        break


@dataclass(frozen=True)
class StartFlow(Command):
    command: ClassVar[str] = "start flow"
    flow: str

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:
        drop_waiting_patterns(tracker)
        active = tracker.active_user_frame()
        if active is not None and active["flow_id"] == self.flow:
            return
        # Rasa (start_flow_command.py) decides from the stack *before* this message's commands
        # ran: two flows started by one message are both regular, the first listed runs first
        before = tracker.scratch.get(ACTIVE_AT_START, active["frame_id"] if active else None)
        if before is None or tracker.frame_by_id(before) is None:
            active = None
        existing = next((f for f in tracker.user_frames() if f["flow_id"] == self.flow), None)
        if existing is not None:
            resume_frame(tracker, existing)
            tracker.emit("flow_resumed", flow_id=self.flow, step_id=existing["step_id"])
            return
        frame_type = "regular"
        if active is not None and not tracker.scratch.get("cancelling"):
            frame_type = "interrupt"
            tracker.emit("flow_interrupted", flow_id=active["flow_id"], step_id=active["step_id"])
        tracker.push(self.flow, frame_type=frame_type)


def resume_frame(tracker: DialogueTracker, frame: dict[str, Any]) -> None:
    """Move ``frame`` and every frame above it that belongs to it (its questions, calls) to the top."""
    index = next(i for i, f in enumerate(tracker.stack) if f["frame_id"] == frame["frame_id"])
    group = [frame]
    for above in tracker.stack[index + 1:]:
        if above["type"] == "flow" and above["frame_type"] != "call":
            break
        if above["type"] == "flow" or above["flow_id"] == "pattern_collect_information":
            group.append(above)
        else:
            break
    ids = {f["frame_id"] for f in group}
    tracker.stack = [f for f in tracker.stack if f["frame_id"] not in ids] + group
