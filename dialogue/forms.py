"""Rasa's NLU-based forms and slot filling from NLU entities (coexistence projects).

A Rasa Pro project may keep part of its dialogue in the older NLU-based system next to CALM
(rasa-calm-demo books restaurants with ``restaurant_form``). Nothing here understands language:
the intent and entities of a message come from an ``/intent{"entity": "value"}`` payload, or
from what an e2e test's overlay scripts for Rasa's NLU pipeline (``intent x``, ``entity e v``),
exactly as scripted commands stand in for Rasa's LLM. What follows is Rasa 3.21's own logic:

* :func:`extract_slots` is ``action_extract_slots`` (rasa/core/actions/action.py
  ``ActionExtractSlots.run`` and rasa/shared/core/slot_mappings.py ``extract_slot_value``):
  ``from_entity``, ``from_text``, ``from_intent`` and ``from_trigger_intent`` mappings, their
  ``intent``/``not_intent`` keys, the form's ``ignored_intents``, ``active_loop``/``requested_slot``
  conditions and the form's unique-entity check; slots that CALM flows collect or set are left
  to CALM (``should_fill_slot_in_coexistence``).
* :func:`run_form` is ``FormAction`` (rasa/core/actions/forms.py and loops.py): activation
  validates prefilled required slots, each later turn validates the slots extracted since the
  user's message with the ``validate_<form>`` custom action when the domain declares it
  (the action gets the candidates as the last events, after the form's ``action`` event, as
  rasa-sdk's ``slots_to_validate`` expects), rejects the turn when the requested slot was asked
  and nothing was extracted, then asks for the first empty required slot
  (``action_ask_<form>_<slot>``, ``utter_ask_<form>_<slot>``, ``action_ask_<slot>``,
  ``utter_ask_<slot>``) or, when none is left, deactivates (``requested_slot`` and the active
  loop are emptied) so that the rules conditioned on the form's end run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from helpdesk.dialogue.actions.registry import ActionError
from helpdesk.dialogue.builtin_actions import internal_error, routed_to_nlu, run_action, say_response
from helpdesk.dialogue.domain import REQUESTED_SLOT, Form
from helpdesk.dialogue.ports import Context
from helpdesk.dialogue.sdk import Tracker

EXTRACTOR_NLU = "NLU"
#: a rule's frame for the actions a form and its rules run (not a flow: never on the stack)
FORM_FRAME: dict[str, Any] = {"frame_id": "form", "flow_id": "form", "step_id": "START",
                              "frame_type": "regular", "type": "rule", "context": {}}


@dataclass
class NluMessage:
    """What Rasa's NLU pipeline made of a message: its intent and entities."""

    text: str | None
    intent: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)


def payload_message(text: str | None) -> NluMessage | None:
    """``/intent`` or ``/intent{"entity": "value", "other": ["a", "b"]}`` (Rasa's
    RegexMessageHandler format) as an NLU result; None for anything else."""
    value = (text or "").strip()
    if not value.startswith("/") or value.startswith("/SetSlots("):
        return None
    name, brace, rest = value[1:].partition("{")
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        return None
    entities: list[dict[str, Any]] = []
    if brace:
        try:
            data = json.loads("{" + rest)
        except json.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        for entity, values in data.items():
            for item in values if isinstance(values, list) else [values]:
                entities.append({"entity": str(entity), "value": item})
    return NluMessage(text, name, entities)


# --- action_extract_slots ------------------------------------------------------------------


def extract_slots(ctx: Context, message: NluMessage, forms: dict[str, Form], calm_slots: set[str]) -> None:
    """Fill the slots whose NLU mappings match ``message`` (Rasa's ``action_extract_slots``)."""
    for slot in ctx.domain.slots.values():
        if slot.name in calm_slots or slot.name == REQUESTED_SLOT:
            continue
        found, value = _extract(ctx, slot.name, [m.raw for m in slot.mappings], message, forms)
        if found and (value is not None or ctx.tracker.slots.get(slot.name) is not None):
            ctx.tracker.set_slot(slot.name, value, filled_by=EXTRACTOR_NLU)


def _extract(ctx: Context, slot: str, mappings: list[dict[str, Any]], message: NluMessage,
             forms: dict[str, Form]) -> tuple[bool, Any]:
    for mapping in mappings:
        kind = mapping.get("type")
        if kind not in ("from_entity", "from_text", "from_intent", "from_trigger_intent"):
            continue
        if not _intent_desired(ctx, mapping, message, forms) or not _conditions_met(ctx, slot, mapping):
            continue
        if kind == "from_entity" and not _unique_enough(ctx, slot, mapping, forms):
            continue
        if kind == "from_entity":
            values = [e.get("value") for e in message.entities
                      if e.get("entity") == mapping.get("entity") and e.get("role") == mapping.get("role")
                      and e.get("group") == mapping.get("group")]
        elif kind == "from_text":
            values = [message.text]
        elif kind == "from_trigger_intent" and not _active_loop(ctx):
            continue
        else:
            values = [mapping.get("value")]
        if values:
            is_list = ctx.domain.slots[slot].type == "list"
            return True, values if is_list else values[-1]
    return False, None


def _listed(value: Any) -> list[Any]:
    return [] if value is None else list(value) if isinstance(value, list) else [value]


def _intent_desired(ctx: Context, mapping: dict[str, Any], message: NluMessage, forms: dict[str, Form]) -> bool:
    wanted, unwanted = _listed(mapping.get("intent")), _listed(mapping.get("not_intent"))
    loop = _active_loop(ctx)
    if loop and loop in forms:
        unwanted += list(forms[loop].ignored_intents)
    return (not wanted and message.intent not in unwanted) or message.intent in wanted


def _conditions_met(ctx: Context, slot: str, mapping: dict[str, Any]) -> bool:
    conditions = [c for c in mapping.get("conditions") or [] if isinstance(c, dict)]
    if not conditions or mapping.get("type") == "from_trigger_intent":
        return True
    active_flow = (ctx.tracker.active_user_frame() or {}).get("flow_id")
    if active_flow:
        return any(c.get("active_flow") == active_flow for c in conditions if c.get("active_flow"))
    loop = _active_loop(ctx)
    for condition in conditions:
        if "active_loop" not in condition:
            continue
        wanted = condition.get("active_loop")
        if wanted and wanted == loop:
            requested = condition.get("requested_slot")
            if not requested or requested == ctx.tracker.slots.get(REQUESTED_SLOT):
                return True
        if wanted is None and loop is None:
            return True
    return False


def _unique_enough(ctx: Context, slot: str, mapping: dict[str, Any], forms: dict[str, Form]) -> bool:
    """Rasa's ``_fails_unique_entity_mapping_check``: while a form asks for another slot, an entity
    fills one of its required slots only if no other required slot maps the same entity."""
    form = forms.get(_active_loop(ctx) or "")
    if form is None or ctx.tracker.slots.get(REQUESTED_SLOT) == slot or slot not in form.required_slots:
        return True
    key = json.dumps(mapping, sort_keys=True, default=str)
    same = [s for s in form.required_slots if s in ctx.domain.slots
            for m in ctx.domain.slots[s].mappings
            if m.raw.get("type") == "from_entity" and json.dumps(m.raw, sort_keys=True, default=str) == key]
    return len(same) == 1


def _active_loop(ctx: Context) -> str | None:
    return ctx.tracker.active_loop


# --- the form action -----------------------------------------------------------------------


def run_form(ctx: Context, form: Form, turn_start: int, *, activating: bool) -> bool:
    """Run the form once (activation or a later turn); True when it is done (deactivated).

    ``turn_start`` is the index in ``ctx.tracker.events`` of this turn's user event: the slot
    events after it are the candidates the form validates."""
    ctx.tracker.emit("action", name=form.name)
    if activating:
        ctx.tracker.active_loop = form.name
        ctx.tracker.emit("active_loop", name=form.name)
        candidates = {s: ctx.tracker.slots.get(s) for s in form.required_slots
                      if ctx.tracker.slots.get(s) is not None}
    else:
        candidates = _candidates(ctx, form, turn_start)
    requested = ctx.tracker.slots.get(REQUESTED_SLOT) if not activating else None
    try:
        validated = _validate(ctx, form, candidates, requested)
    except ActionError as exc:
        # the form's events are lost, its activation too (rasa/core/processor.py _run_action);
        # pattern_internal_error only outside an NLU-routed session, as for any failed action
        if activating:
            ctx.tracker.active_loop = None
        if routed_to_nlu(ctx):
            ctx.tracker.emit("error", error_type="action_failed", message=str(exc))
        else:
            internal_error(ctx, "rasa_internal_error_default", str(exc))
        return False
    if requested and not candidates and not any(e.get("name") != REQUESTED_SLOT for e in validated):
        # FormAction.validate: it asked for a slot and nothing was extracted: the form is rejected
        # (Rasa lets other policies predict; the question stays open)
        ctx.tracker.emit("action_execution_rejected", name=form.name,
                         message=f"Failed to extract slot {requested} with action {form.name}")
        return False
    next_slot = _next_slot(ctx, form, validated)
    ctx.tracker.set_slot(REQUESTED_SLOT, next_slot)
    if next_slot is not None:
        _ask(ctx, form, next_slot)
        return False
    ctx.tracker.active_loop = None
    ctx.tracker.emit("active_loop", name=None)
    return True


def _candidates(ctx: Context, form: Form, turn_start: int) -> dict[str, Any]:
    wanted = set(form.required_slots) | {ctx.tracker.slots.get(REQUESTED_SLOT)}
    return {e["name"]: e.get("value") for e in ctx.tracker.events[turn_start:]
            if e.get("event") == "slot" and e.get("name") in wanted}


def _validate(ctx: Context, form: Form, candidates: dict[str, Any], requested: str | None) -> list[dict[str, Any]]:
    """The slot events of ``validate_<form>`` when the domain declares it (FormAction.validate_slots:
    without it the extracted slots stand as they are)."""
    name = f"validate_{form.name}"
    if name not in ctx.domain.actions or not ctx.ports.actions.has(name):
        return []
    candidate_events = [{"event": "slot", "name": k, "value": v} for k, v in candidates.items()]
    events = [*ctx.tracker.events, {"event": "slot", "name": REQUESTED_SLOT, "value": requested},
              {"event": "action", "name": form.name}, *candidate_events]
    view = Tracker(sender_id=ctx.tracker.sender_id, slots={**ctx.tracker.slots, **candidates},
                   latest_message=dict(ctx.tracker.latest_message), events=events,
                   latest_input_channel=ctx.tracker.channel, active_loop=form.name)
    result = ctx.ports.actions.run(name, view, ctx.domain_json)
    slot_events = [e for e in result.events if e.get("event") == "slot"]
    for event in slot_events:
        ctx.tracker.set_slot(str(event.get("name")), event.get("value"), filled_by="Custom")
    for response in result.responses:
        say_response(ctx, response, FORM_FRAME)
    return slot_events


def _next_slot(ctx: Context, form: Form, validated: list[dict[str, Any]]) -> str | None:
    chosen = [e for e in validated if e.get("name") == REQUESTED_SLOT]
    if chosen:
        return chosen[-1].get("value")
    return next((s for s in form.required_slots if ctx.tracker.slots.get(s) is None), None)


def _ask(ctx: Context, form: Form, slot: str) -> None:
    known = set(ctx.domain.actions) | set(ctx.domain.responses)
    for name in (f"action_ask_{form.name}_{slot}", f"utter_ask_{form.name}_{slot}", f"action_ask_{slot}",
                 f"utter_ask_{slot}"):
        if name in known:
            run_action(ctx, name, FORM_FRAME)
            return


__all__ = ["REQUESTED_SLOT", "NluMessage", "extract_slots", "payload_message", "run_form"]
