"""Ending, cancelling and resuming frames, with the slot resets and events that go with them."""

from __future__ import annotations

from typing import Any

from helpdesk.dialogue.languages import LANGUAGE_SLOT
from helpdesk.dialogue.ports import Context


def flow_slots_to_reset(ctx: Context, frame: dict[str, Any]) -> list[str]:
    """Slots a finished flow resets: what it and the flows it calls collect or set, less persisted
    ones (Rasa's ``reset_scoped_slots`` walks ``steps_with_calls_resolved``)."""
    flow = ctx.flows.get(frame["flow_id"])
    if flow is None:
        return []
    flows = _with_calls(ctx, flow)
    keep = {name for f in flows for name in f.persisted_slots} | {
        s.collect for f in flows for s in f.collect_steps() if not s.reset_after_flow_ends and s.collect
    }
    names = [n for f in flows for n in f.collected_slots() + f.set_slot_names()] + frame.get("called_slots", [])
    names += frame["context"].get("deferred_reset", [])
    return [n for n in dict.fromkeys(names) if n not in keep and n in ctx.domain.slots]


def _with_calls(ctx: Context, flow: Any) -> list[Any]:
    found, pending = [], [flow]
    while pending:
        current = pending.pop(0)
        if current in found:
            continue
        found.append(current)
        pending += [ctx.flows[str(s.target)] for s in current.steps if s.kind == "call" and str(s.target) in ctx.flows]
    return found


def reset_slots(ctx: Context, names: list[str]) -> None:
    """Reset ``names`` to their initial values; as Rasa does, every slot gets its reset event
    (``SlotSet`` with ``reset``), set or not."""
    initial = ctx.domain.initial_slots()
    for name in names:
        ctx.tracker.set_slot(name, initial.get(name), reset=True)


def finish_slots(ctx: Context, frame: dict[str, Any]) -> None:
    """Reset a finished frame's slots, or hand them to its caller when it was called."""
    names = flow_slots_to_reset(ctx, frame)
    if frame.get("frame_type") == "call":
        caller = next((f for f in reversed(ctx.tracker.user_frames()) if f is not frame), None)
        if caller is not None:
            caller.setdefault("called_slots", []).extend(n for n in names if n not in caller["called_slots"])
            return
    reset_slots(ctx, names)


def cancel_frames(ctx: Context, frame_ids: list[str], *, keep: str | None = None) -> None:
    """Remove user frames ``frame_ids`` and the pattern frames above the lowest of them."""
    stack = ctx.tracker.stack
    positions = [i for i, f in enumerate(stack) if f["frame_id"] in frame_ids]
    if not positions:
        return
    lowest = min(positions)
    removed = [f for i, f in enumerate(stack) if i >= lowest and f["frame_id"] != keep
               and (f["frame_id"] in frame_ids or f["type"] != "flow")]
    ids = {f["frame_id"] for f in removed}
    ctx.tracker.stack = [f for f in stack if f["frame_id"] not in ids]
    for frame in reversed(removed):
        if frame["type"] == "flow":
            ctx.tracker.emit("flow_cancelled", flow_id=frame["flow_id"], step_id=frame["step_id"])
            frame["frame_type"] = "regular"
            reset_slots(ctx, flow_slots_to_reset(ctx, frame))
    _complete_after(ctx, keep, [f for f in removed if f["type"] == "flow"])


def _complete_after(ctx: Context, keep: str | None, cancelled: list[dict[str, Any]]) -> None:
    """Rasa does not remove cancelled frames: ``action_cancel_flow`` moves them to ``NEXT:END`` and
    they end once the pattern that cancelled them has finished; a user flow ending on an empty stack
    pushes ``pattern_completed`` (flow_executor.py ``trigger_pattern_completed``). We remove them
    at once, so the pattern frame remembers to push ``pattern_completed`` when it ends."""
    if keep is None or not cancelled or ctx.tracker.user_frames():
        return
    pattern = next((f for f in ctx.tracker.stack if f["frame_id"] == keep), None)
    flow = ctx.flows.get(cancelled[0]["flow_id"])
    if pattern is not None and (flow is None or flow.run_pattern_completed):
        pattern["context"]["complete_after"] = _name(ctx, cancelled[0]["flow_id"])


def unfinished_interrupted(ctx: Context) -> list[dict[str, Any]]:
    """User flows still on the stack (not called children), the most recent first."""
    return [f for f in reversed(ctx.tracker.user_frames()) if f["frame_type"] != "call"]


def end_frame(ctx: Context, frame: dict[str, Any]) -> None:
    """The frame reached END: pop it, reset slots, push completed / continue-interrupted."""
    tracker = ctx.tracker
    tracker.remove_frame(frame)
    tracker.emit("flow_completed", flow_id=frame["flow_id"], step_id=frame["step_id"])
    is_user = frame["type"] == "flow"
    if is_user or frame["flow_id"] != "pattern_collect_information":
        finish_slots(ctx, frame)
    if is_user and frame["frame_type"] == "call":
        return
    interrupted = unfinished_interrupted(ctx)
    if (frame["frame_type"] == "interrupt" or (frame["flow_id"] == "pattern_search" and not _question_open(ctx))) \
            and interrupted and not _pending_pattern(ctx):
        _push_continue_interrupted(ctx, interrupted)
        return
    flow = ctx.flows.get(frame["flow_id"])
    if is_user and not tracker.stack and (flow is None or flow.run_pattern_completed):
        tracker.push("pattern_completed", kind="pattern",
                     context={"previous_flow_name": _name(ctx, frame["flow_id"])})
    elif not is_user and not tracker.user_frames() and frame["context"].get("complete_after") \
            and not any(f["flow_id"] == "pattern_completed" for f in tracker.stack):
        tracker.push("pattern_completed", kind="pattern",
                     context={"previous_flow_name": frame["context"]["complete_after"]})


def _question_open(ctx: Context) -> bool:
    """A knowledge answer given while a flow waits for an answer: the flow asks its question again
    (Rasa 3.14, which rasa-calm-demo's tests assume) instead of "continue with X?" (Rasa 3.21)."""
    top = ctx.tracker.top
    return top is not None and top["flow_id"] == "pattern_collect_information"


def _pending_pattern(ctx: Context) -> bool:
    top = ctx.tracker.top
    return top is not None and top["type"] != "flow" and top["flow_id"] != "pattern_collect_information"


def _push_continue_interrupted(ctx: Context, interrupted: list[dict[str, Any]]) -> None:
    names = [_name(ctx, f["flow_id"]) for f in interrupted]
    ctx.tracker.push("pattern_continue_interrupted", kind="pattern", context={
        "interrupted_flow_names": names,
        "interrupted_flow_ids": [f["flow_id"] for f in interrupted],
        "interrupted_flow_options": _options(names),
        "multiple_flows_interrupted": len(interrupted) > 1,
        "previous_flow_name": names[0],
    })


def _name(ctx: Context, flow_id: str) -> str:
    """A flow's name as the customer sees it: translated into the conversation's language."""
    flow = ctx.flows.get(flow_id)
    return flow.name_for(ctx.tracker.slots.get(LANGUAGE_SLOT)) if flow else flow_id


def _options(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]
