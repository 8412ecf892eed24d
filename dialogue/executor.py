"""The flow executor: walk the top frame's steps until the assistant must listen.

A pure function of (tracker, flows, domain, ports): it runs steps, pushes and pops frames and
records events on the tracker. One ``_run_<kind>`` per step type; built-in actions live in
:mod:`dialogue.builtin_actions`.
"""

from __future__ import annotations

from typing import Any

from helpdesk.dialogue.builtin_actions import LISTEN, internal_error, run_action
from helpdesk.dialogue.conditions import render_template
from helpdesk.dialogue.evaluation import evaluate, frame_context
from helpdesk.dialogue.flows import END, START, Flow, FlowStep
from helpdesk.dialogue.frames import cancel_frames, end_frame, flow_slots_to_reset, reset_slots
from helpdesk.dialogue.ports import Context

CONTINUE = "continue"
DEFAULT_STEP_LIMIT = 250


class StepLimitReached(Exception):
    """The circuit breaker: too many steps in one turn (a loop in the flows)."""


def advance(ctx: Context, *, step_limit: int = DEFAULT_STEP_LIMIT) -> None:
    """Run steps until a collect waits for the customer or the stack is empty."""
    try:
        _walk(ctx, step_limit)
    except StepLimitReached:
        _break_circuit(ctx)
        try:
            _walk(ctx, step_limit)
        except StepLimitReached:
            ctx.tracker.stack.clear()


def _walk(ctx: Context, step_limit: int) -> None:
    steps = 0
    while ctx.tracker.stack:
        frame = ctx.tracker.stack[-1]
        flow = ctx.flows.get(frame["flow_id"])
        if flow is None:
            ctx.tracker.emit("frame_dropped", flow_id=frame["flow_id"], reason="unknown flow")
            ctx.tracker.remove_frame(frame)
            continue
        step = _next_step(ctx, frame, flow)
        if step is None:
            end_frame(ctx, frame)
            continue
        steps += 1
        if steps > step_limit:
            raise StepLimitReached()
        if frame["step_id"] == START:
            _emit_started(ctx, frame, flow)
        frame["step_id"] = step.id
        if _run_step(ctx, frame, flow, step) == LISTEN:
            return


#: frame context a ``flow_started`` event carries, as Rasa's FlowStarted metadata does (e2e
#: ``pattern_clarification_contains`` reads the offered names and ids from it)
STARTED_METADATA = ("names", "clarification_ids")


def _emit_started(ctx: Context, frame: dict[str, Any], flow: Flow) -> None:
    metadata = {k: frame["context"][k] for k in STARTED_METADATA if k in frame.get("context", {})}
    if metadata:
        ctx.tracker.emit("flow_started", flow_id=flow.id, metadata=metadata)
    else:
        ctx.tracker.emit("flow_started", flow_id=flow.id)


def _next_step(ctx: Context, frame: dict[str, Any], flow: Flow) -> FlowStep | None:
    current = frame["step_id"]
    if current == START:
        return flow.first_step
    if current.startswith("NEXT:"):
        target = current[5:]
        return None if target == END else flow.step(target)
    step = flow.step(current)
    if step is None:
        ctx.tracker.emit("frame_dropped", flow_id=flow.id, reason=f"step '{current}' no longer exists")
        return None
    context: dict[str, Any] | None = None  # built for the first conditional branch only
    for branch in step.next:
        if branch.source is not None or branch.condition is not None:
            context = context if context is not None else frame_context(ctx, frame)
            if not evaluate(branch.source, branch.condition, ctx, context):
                continue
        return None if branch.target == END else flow.step(branch.target)
    return None


def _run_step(ctx: Context, frame: dict[str, Any], flow: Flow, step: FlowStep) -> str:
    runner = _RUNNERS[step.kind]
    return runner(ctx, frame, flow, step)


def _run_collect(ctx: Context, frame: dict[str, Any], flow: Flow, step: FlowStep) -> str:
    slot = str(step.collect)
    if slot not in frame.setdefault("collected", []):
        frame["collected"].append(slot)
    if not _can_ask(ctx, step):
        internal_error(ctx, "rasa_internal_error_default", f"no response to ask for slot '{slot}'")
        return CONTINUE
    if step.ask_before_filling and ctx.tracker.slots.get(slot) is not None:
        ctx.tracker.set_slot(slot, None)
    ctx.tracker.push("pattern_collect_information", kind="pattern", context={
        "collect": slot, "utter": step.utter_name, "collect_action": f"action_ask_{slot}",
        "rejections": [{"if": r.source, "utter": r.utter} for r in step.rejections],
        "force_slot_filling": step.force_slot_filling,
    })
    return CONTINUE


def _can_ask(ctx: Context, step: FlowStep) -> bool:
    slot = str(step.collect)
    definition = ctx.domain.slots.get(slot)
    return (step.utter_name in ctx.domain.responses or ctx.ports.actions.has(f"action_ask_{slot}")
            or (definition is not None and definition.initial_value is not None))


def _run_action(ctx: Context, frame: dict[str, Any], flow: Flow, step: FlowStep) -> str:
    name = str(step.action)
    if "{{" in name:
        name = render_template(name, {"context": frame_context(ctx, frame)}).strip()
    if not name:
        return CONTINUE
    return run_action(ctx, name, frame)


def _run_set_slots(ctx: Context, frame: dict[str, Any], flow: Flow, step: FlowStep) -> str:
    for name, value in step.set_slots:
        ctx.tracker.set_slot(name, value, filled_by="set_slots")
    return CONTINUE


def _run_link(ctx: Context, frame: dict[str, Any], flow: Flow, step: FlowStep) -> str:
    target = str(step.target)
    kind = "pattern" if target.startswith("pattern_") else "flow"
    deferred = flow_slots_to_reset(ctx, frame) + frame["context"].get("deferred_reset", [])
    ctx.tracker.remove_frame(frame)
    ctx.tracker.emit("flow_completed", flow_id=flow.id, step_id=step.id)
    if kind == "flow":
        # as in Rasa, the linking flow ends here and resets its slots before the linked one runs;
        # a linked pattern (human handoff) still sees them and resets them when it ends
        reset_slots(ctx, deferred)
        deferred = []
    context = {"deferred_reset": deferred, "linked_from": flow.id}
    if kind == "pattern":
        context["reason"] = frame["context"].get("reason") or f"link from {flow.id}"
    ctx.tracker.push(target, kind=kind, frame_type="link", context=context)
    return CONTINUE


def _run_call(ctx: Context, frame: dict[str, Any], flow: Flow, step: FlowStep) -> str:
    ctx.tracker.push(str(step.target), frame_type="call")
    return CONTINUE


def _run_noop(ctx: Context, frame: dict[str, Any], flow: Flow, step: FlowStep) -> str:
    return CONTINUE


_RUNNERS = {
    "collect": _run_collect, "action": _run_action, "set_slots": _run_set_slots,
    "link": _run_link, "call": _run_call, "noop": _run_noop,
}


def _break_circuit(ctx: Context) -> None:
    ctx.tracker.emit("error", error_type="step_limit", message="too many steps in one turn")
    cancel_frames(ctx, [f["frame_id"] for f in ctx.tracker.user_frames()])
    ctx.tracker.stack.clear()
    ctx.tracker.push("pattern_internal_error", kind="pattern", context={"error_type": "rasa_internal_error_default"})


__all__ = ["advance"]
