"""``correct slot``: the customer changes a value given earlier (produced by cleaning)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from helpdesk.dialogue.commands.base import Command, push_pattern
from helpdesk.dialogue.flows import Flow, FlowsList
from helpdesk.dialogue.tracker import DialogueTracker


@dataclass(frozen=True)
class CorrectSlots(Command):
    command: ClassVar[str] = "correct slot"
    corrected_slots: tuple[tuple[str, Any], ...]

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:
        corrected = dict(self.corrected_slots)
        reset_frame, reset_step = _rewind_target(tracker, flows, corrected)
        push_pattern(
            tracker, "pattern_correction", corrected_slots=corrected,
            reset_frame_id=reset_frame, reset_step_id=reset_step,
            is_reset_only=_reset_only(flows, corrected),
        )

    def as_dict(self) -> dict[str, Any]:
        return {"command": self.command,
                "corrected_slots": [{"name": n, "value": v} for n, v in self.corrected_slots]}


def _reset_only(flows: FlowsList, corrected: dict[str, Any]) -> bool:
    """Rasa's ``are_all_slots_reset_only``: every collect step of a corrected slot (in any flow)
    asks before filling, so the flow goes back to that question instead of taking the value."""
    return all(not step.collect or step.collect not in corrected or step.ask_before_filling
               for flow in flows for step in flow.collect_steps())


def _rewind_target(tracker: DialogueTracker, flows: FlowsList,
                   corrected: dict[str, Any]) -> tuple[str | None, str | None]:
    """The user frame and collect step to go back to: the earliest already-asked corrected slot."""
    for frame in reversed(tracker.user_frames()):
        flow = flows.get(frame["flow_id"])
        if flow is None:
            continue
        asked = [s for s in frame.get("collected", []) if s in corrected]
        if asked:
            steps = [flow.collect_step_for(s) for s in asked]
            first = min((s for s in steps if s), key=flow.steps.index, default=None)
            if first is not None:
                return frame["frame_id"], first.id
        call = _call_collecting(flow, flows, frame, set(corrected))
        if call is not None:
            return frame["frame_id"], call
    return None, None


def _call_collecting(flow: Flow, flows: FlowsList, frame: dict[str, Any], slots: set[str]) -> str | None:
    """A call step this frame already ran whose called flow (or its calls) collects one of
    ``slots``: the child has ended, so the flow goes back to the call and runs the child again
    (Rasa restores the stack as it was when the child asked; filled slots are not asked again)."""
    from helpdesk.dialogue.cleaning import collect_steps_with_calls

    here = None if frame["step_id"] == "START" else flow.step(frame["step_id"].removeprefix("NEXT:"))
    if here is None:
        return None
    current = flow.steps.index(here)
    for step in flow.steps[:current + 1]:
        target = flows.get(str(step.target)) if step.kind == "call" else None
        if target is not None and slots & {s.collect for s in collect_steps_with_calls(target, flows)}:
            return step.id
    return None
