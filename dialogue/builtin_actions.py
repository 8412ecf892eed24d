"""Running an action step: a response, one of the built-in actions, or a custom action."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from helpdesk.dialogue.actions.registry import ActionError
from helpdesk.dialogue.cleaning import ROUTE_TO_CALM_SLOT
from helpdesk.dialogue.commands.cancel_flow import frames_to_cancel
from helpdesk.dialogue.commands.start_flow import resume_frame
from helpdesk.dialogue.conditions_parser import ConditionError
from helpdesk.dialogue.domain import CoercionError
from helpdesk.dialogue.evaluation import evaluate, frame_context
from helpdesk.dialogue.frames import cancel_frames, reset_slots
from helpdesk.dialogue.languages import LANGUAGE_SLOT
from helpdesk.dialogue.ports import Context
from helpdesk.dialogue.responses import render_response
from helpdesk.dialogue.sdk import Tracker
from helpdesk.dialogue.slot_validation import VALIDATE_PATTERN, push_validations
from helpdesk.dialogue.tracker import BotMessage

LISTEN = "listen"
CONTINUE = "continue"
Builtin = Callable[[Context, dict[str, Any]], str | None]


def run_action(ctx: Context, name: str, frame: dict[str, Any]) -> str:
    """Run ``name``; return LISTEN when the assistant must wait for the customer."""
    if name == "action_listen":
        return LISTEN
    if name in ctx.domain.responses:
        ctx.tracker.emit("action", name=name)
        utter(ctx, name, frame)
        return CONTINUE
    builtin = BUILTINS.get(name)
    if builtin is not None and not ctx.ports.actions.has(name):
        ctx.tracker.emit("action", name=name)
        return builtin(ctx, frame) or CONTINUE
    if ctx.ports.actions.has(name):
        ctx.tracker.emit("action", name=name)
        run_custom(ctx, name, frame)
        return CONTINUE
    ctx.tracker.emit("action_skipped", name=name)
    return CONTINUE


def utter(ctx: Context, name: str, frame: dict[str, Any] | None, extra: dict[str, Any] | None = None,
          buttons: list[dict[str, Any]] | None = None) -> None:
    context = frame_context(ctx, frame) if frame else {}
    message = render_response(ctx.domain, name, slots=ctx.tracker.slots, context=context,
                              channel=ctx.tracker.channel, rng=ctx.ports.rng, extra=extra)
    if message is None:
        return
    if buttons:
        message.buttons = message.buttons + buttons
    if name == "utter_clarification_options_rasa" and not message.buttons:
        message.buttons = [{"title": n, "payload": f"/{i}"} for n, i in
                           zip(context.get("names", []), context.get("clarification_ids", []), strict=False)]
    ctx.tracker.say(message)


def run_custom(ctx: Context, name: str, frame: dict[str, Any]) -> None:
    """Call a custom action and apply what it returns; a failure cancels into internal error."""
    view = Tracker(sender_id=ctx.tracker.sender_id, slots=dict(ctx.tracker.slots),
                   latest_message=dict(ctx.tracker.latest_message), events=list(ctx.tracker.events),
                   stack=list(ctx.tracker.stack), latest_input_channel=ctx.tracker.channel,
                   active_flow=(ctx.tracker.active_user_frame() or {}).get("flow_id"),
                   active_loop=ctx.tracker.active_loop)
    try:
        result = ctx.ports.actions.run(name, view, ctx.domain_json)
    except ActionError as exc:
        if routed_to_nlu(ctx):
            # Rasa 3.21 (core/processor.py, _get_events_from_action_execution_failure): while a
            # coexistence session is routed to the NLU-based system, a failed action only loses
            # its events; the internal-error pattern is for CALM
            ctx.tracker.emit("error", error_type="action_failed", message=str(exc))
            return
        internal_error(ctx, "rasa_internal_error_default", str(exc))
        return
    for response in result.responses:
        say_response(ctx, response, frame)
    for event in result.events:
        apply_event(ctx, event, frame)


def say_response(ctx: Context, response: dict[str, Any], frame: dict[str, Any]) -> None:
    name = response.get("response") or response.get("template")
    extra = {k: v for k, v in response.items() if k not in ("text", "buttons", "response", "template")}
    if name and name in ctx.domain.responses:
        utter(ctx, str(name), frame, extra=extra, buttons=response.get("buttons") or [])
        return
    if response.get("text") or response.get("buttons") or response.get("custom") or response.get("image"):
        ctx.tracker.say(BotMessage(text=response.get("text"), buttons=list(response.get("buttons") or []),
                                   custom=response.get("custom"), image=response.get("image")))


def apply_event(ctx: Context, event: dict[str, Any], frame: dict[str, Any] | None) -> None:
    """Apply an event returned by a custom action (rasa-sdk shapes)."""
    kind = event.get("event")
    if kind == "slot":
        ctx.tracker.set_slot(str(event.get("name")), event.get("value"), filled_by="Custom")
    elif kind == "reset_slots":
        reset_slots(ctx, list(ctx.domain.slots))
    elif kind == "bot":
        data = event.get("data") or {}
        ctx.tracker.say(BotMessage(text=event.get("text"), buttons=list(data.get("buttons") or [])))
    elif kind == "followup" and event.get("name"):
        run_action(ctx, str(event["name"]), frame or {})
    elif kind == "restart":
        _restart(ctx, frame or {})
    else:
        ctx.tracker.emit(str(kind or "unknown"), **{k: v for k, v in event.items() if k != "event"})


def routed_to_nlu(ctx: Context) -> bool:
    """A coexistence session handled by the NLU-based system (routing slot not true)."""
    return ROUTE_TO_CALM_SLOT in ctx.domain.slots and not ctx.tracker.slots.get(ROUTE_TO_CALM_SLOT)


def internal_error(ctx: Context, error_type: str, info: str) -> None:
    """Cancel the active user flow through ``pattern_cancel_flow`` and run pattern_internal_error
    on top of it, as Rasa 3.21 does when a custom action fails or a collect step cannot ask
    (rasa/core/utils.py ``cancel_flow_and_push_internal_error``, called from
    core/processor.py and core/policies/flows/flow_executor.py): the customer hears
    ``utter_internal_error_rasa``, then ``utter_flow_cancelled_rasa`` ("Okay, stopping …"), and
    ``pattern_completed`` follows when no user flow is left. Without a user flow only the error
    pattern runs. Rasa names the top frame's flow *id* in ``canceled_name`` after a failed
    action; we give the cancelled flow's name, as its own cancel command does."""
    ctx.tracker.emit("error", error_type=error_type, message=info)
    targets = frames_to_cancel(ctx.tracker)
    if targets:
        bottom = ctx.tracker.frame_by_id(targets[-1])
        flow = ctx.flows.get(bottom["flow_id"]) if bottom else None
        name = flow.name_for(ctx.tracker.slots.get(LANGUAGE_SLOT)) if flow else ""
        ctx.tracker.push("pattern_cancel_flow", kind="pattern",
                         context={"canceled_frames": targets, "canceled_name": name})
    ctx.tracker.push("pattern_internal_error", kind="pattern", context={"error_type": error_type, "info": info})


# --- built-in actions ---------------------------------------------------------------------


def _run_slot_rejections(ctx: Context, frame: dict[str, Any]) -> str | None:
    """Check the slot of the running collect or validation frame against the frame's rejections."""
    context = frame_context(ctx, frame)
    slot = context.get("validate" if frame["flow_id"] == VALIDATE_PATTERN else "collect")
    if not slot:
        return None
    slot = str(slot)
    value = ctx.tracker.slots.get(slot)
    definition = ctx.domain.slots.get(slot)
    if value is None:
        return None
    if definition is not None:
        try:
            coerced = definition.coerce(value)
        except CoercionError as exc:  # as in Rasa: the slot is emptied, then the rejection said
            ctx.tracker.set_slot(slot, None)
            utter(ctx, exc.rejection, frame)
            return None
        if coerced != value or type(coerced) is not type(value):
            ctx.tracker.set_slot(slot, coerced)
    for rejection in context.get("rejections") or []:
        try:
            violated = evaluate(rejection["if"], None, ctx, context, strict=True)
        except (ConditionError, ValueError):
            ctx.tracker.set_slot(slot, None)
            utter(ctx, "utter_internal_error_rasa", frame)
            return None
        if violated:
            ctx.tracker.set_slot(slot, None)
            utter(ctx, str(rejection["utter"]), frame)
            return None
    return None


def _correct_flow_slot(ctx: Context, frame: dict[str, Any]) -> str | None:
    context = frame["context"]
    corrected = context.get("corrected_slots") or {}
    for name, value in corrected.items():
        ctx.tracker.set_slot(name, value, filled_by="LLM")
    _rewind(ctx, frame, corrected)
    # domain validation of the new values runs once the correction has been confirmed
    push_validations(ctx.tracker, ctx.domain, list(corrected), below_top=True)
    return None


def _rewind(ctx: Context, frame: dict[str, Any], corrected: dict[str, Any]) -> None:
    """Send the corrected flow back to the earliest corrected collect step."""
    context = frame["context"]
    target = ctx.tracker.frame_by_id(context.get("reset_frame_id") or "")
    step_id = context.get("reset_step_id")
    if target is None or step_id is None or not _only_calls_above(ctx, target):
        return
    index = ctx.tracker.stack.index(target)
    ctx.tracker.stack = ctx.tracker.stack[: index + 1] + [frame]
    target["step_id"] = f"NEXT:{step_id}"
    collected = target.get("collected", [])
    hits = [collected.index(s) for s in corrected if s in collected]
    if hits:
        target["collected"] = collected[: min(hits)]


def _only_calls_above(ctx: Context, target: dict[str, Any]) -> bool:
    """The corrected flow is the active one: above it are only the flows it called."""
    frames = ctx.tracker.user_frames()
    above = frames[frames.index(target) + 1:] if target in frames else [None]
    return all(f is not None and f["frame_type"] == "call" for f in above)


def _cancel_flow(ctx: Context, frame: dict[str, Any]) -> str | None:
    cancel_frames(ctx, list(frame["context"].get("canceled_frames") or []), keep=frame["frame_id"])
    return None


def _clarify_flows(ctx: Context, frame: dict[str, Any]) -> str | None:
    limit = int(ctx.tracker.slots.get("max_clarification_options") or 3)
    names = list(frame["context"].get("names") or [])[:limit]
    frame["context"]["names"] = names
    frame["context"]["clarification_ids"] = list(frame["context"].get("clarification_ids") or [])[:limit]
    frame["context"]["clarification_options"] = (
        ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names))
    return None


def _continue_interrupted(ctx: Context, frame: dict[str, Any]) -> str | None:
    ids = frame["context"].get("interrupted_flow_ids") or []
    chosen = ctx.tracker.slots.get("interrupted_flow_to_continue")
    names = frame["context"].get("interrupted_flow_names") or []
    defaults = [ctx.flows[i].name if i in ctx.flows else i for i in ids]  # the untranslated names
    target_id = next((ids[known.index(chosen)] for known in (names, ids, defaults) if chosen in known),
                     ids[0] if ids else None)
    target = next((f for f in ctx.tracker.user_frames() if f["flow_id"] == target_id), None)
    if target is None:
        return None
    resume_frame(ctx.tracker, target)
    ctx.tracker.stack.remove(frame)
    ctx.tracker.stack.append(frame)
    ctx.tracker.emit("flow_resumed", flow_id=target["flow_id"], step_id=target["step_id"])
    return None


def _cancel_interrupted(ctx: Context, frame: dict[str, Any]) -> str | None:
    ids = [f["frame_id"] for f in ctx.tracker.user_frames()
           if f["flow_id"] in (frame["context"].get("interrupted_flow_ids") or [])]
    cancel_frames(ctx, ids, keep=frame["frame_id"])
    return None


def _repeat(ctx: Context, frame: dict[str, Any]) -> str | None:
    for message in ctx.tracker.last_bot_messages:
        ctx.tracker.say(BotMessage(text=message.get("text"), buttons=list(message.get("buttons") or []),
                                   utter_action=message.get("utter_action")))
    return None


def _restart(ctx: Context, frame: dict[str, Any]) -> str | None:
    ctx.tracker.emit("restart")
    ctx.tracker.stack.clear()
    reset_slots(ctx, list(ctx.domain.slots))
    return None


def _human_handoff(ctx: Context, frame: dict[str, Any]) -> str | None:
    active = ctx.tracker.active_user_frame()
    effect = {"type": "handoff", "reason": frame["context"].get("reason") or "customer_request",
              "flow": active["flow_id"] if active else frame["context"].get("linked_from"),
              "slots": {k: v for k, v in ctx.tracker.slots.items() if v is not None}}
    ctx.tracker.effects.append(effect)
    ctx.tracker.emit("handoff_requested", reason=effect["reason"], flow=effect["flow"])
    ctx.tracker.handed_over = True  # the bot stays silent for the rest of the turn
    return None


def _answer_with(port_name: str, fallback: str | None) -> Builtin:
    """Answer from a port; ``fallback`` None: no answer means Rasa's "no relevant answer"."""
    def run(ctx: Context, frame: dict[str, Any]) -> str | None:
        responder = getattr(ctx.ports, port_name)
        messages = responder(ctx.tracker) if responder else []
        for message in messages:
            ctx.tracker.say(message)
        if not messages and fallback is not None:
            utter(ctx, fallback, frame)
        elif not messages:
            # EnterpriseSearchPolicy without a relevant answer: CannotHandle with this reason, so
            # pattern_cannot_handle answers (utter_no_relevant_answer_found, or the project's branch)
            ctx.tracker.push("pattern_cannot_handle", kind="pattern",
                             context={"reason": "cannot_handle_no_relevant_answer"})
        return None

    return run


def _clean_stack(ctx: Context, frame: dict[str, Any]) -> str | None:
    cancel_frames(ctx, [f["frame_id"] for f in ctx.tracker.user_frames()], keep=frame["frame_id"])
    return None


def _noop(ctx: Context, frame: dict[str, Any]) -> str | None:
    return None


def _reset_routing(ctx: Context, frame: dict[str, Any]) -> str | None:
    """Rasa's ``action_reset_routing``: the coexistence slot goes back to None (next message is
    routed afresh); nothing to do in projects without it."""
    if ROUTE_TO_CALM_SLOT in ctx.domain.slots and ctx.tracker.slots.get(ROUTE_TO_CALM_SLOT) is not None:
        ctx.tracker.set_slot(ROUTE_TO_CALM_SLOT, None)
    return None


def _hangup(ctx: Context, frame: dict[str, Any]) -> str | None:
    """Rasa's ``action_hangup`` ends the session (``SessionEnded``; voice channels hang up)."""
    ctx.tracker.emit("session_ended", reason="hangup")
    return None


def _session_start(ctx: Context, frame: dict[str, Any]) -> str | None:
    ctx.tracker.emit("session_started")
    return None


BUILTINS: dict[str, Builtin] = {
    "action_run_slot_rejections": _run_slot_rejections,
    "action_correct_flow_slot": _correct_flow_slot,
    "action_cancel_flow": _cancel_flow,
    "action_clarify_flows": _clarify_flows,
    "action_continue_interrupted_flow": _continue_interrupted,
    "action_cancel_interrupted_flows": _cancel_interrupted,
    "action_repeat_bot_messages": _repeat,
    "action_restart": _restart,
    "action_session_start": _session_start,
    "action_human_handoff": _human_handoff,
    "action_trigger_search": _answer_with("search", None),
    "action_trigger_chitchat": _answer_with("chitchat", "utter_chitchat"),
    "action_clean_stack": _clean_stack,
    "action_handoff_metric": _noop,
    "action_reset_routing": _reset_routing,
    "action_extract_slots": _noop,
    "action_hangup": _hangup,
    "action_default_fallback": _noop,
    "action_send_text": _noop,
}
