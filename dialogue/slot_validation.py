"""Domain-level slot validation: Rasa's ``validation: {rejections, refill_utter}`` on a slot.

When a command sets such a slot (understanding, a button, a scripted test command) or a
correction changes it, a ``pattern_validate_slot`` frame is pushed for it. The pattern runs
``action_run_slot_rejections`` with the frame's rejections and, while the slot is empty, asks
again with ``refill_utter`` (default ``utter_ask_<slot>``) and ``action_ask_<slot>``, then
listens. As in Rasa, values written by ``set_slots`` steps and custom actions are trusted and
the slot a collect step is asking for is validated too, before the step's own rejections.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from helpdesk.dialogue.domain import Domain
from helpdesk.dialogue.tracker import DialogueTracker

VALIDATE_PATTERN = "pattern_validate_slot"


def validate_frame_context(domain: Domain, name: str) -> dict[str, Any] | None:
    """The context of a ``pattern_validate_slot`` frame for slot ``name`` (None: no validation)."""
    slot = domain.slots.get(name)
    if slot is None or slot.validation is None:
        return None
    return {
        "validate": name,
        "refill_utter": slot.validation.refill_utter_for(name),
        "refill_action": f"action_ask_{name}",
        "rejections": [rejection.as_dict() for rejection in slot.validation.rejections],
    }


def watched_values(domain: Domain, tracker: DialogueTracker) -> dict[str, Any]:
    """Current values of the slots that have a ``validation`` (taken before commands run)."""
    return {name: tracker.slots.get(name) for name, slot in domain.slots.items() if slot.validation is not None}


def slots_set_since(tracker: DialogueTracker, first_event: int, before: dict[str, Any]) -> list[str]:
    """Validated slots set by the events from ``first_event`` on, in order, each once.

    Setting an empty slot to nothing is no change, so it triggers no validation."""
    names: list[str] = []
    for event in tracker.events[first_event:]:
        name = event.get("name")
        if event["event"] != "slot" or name not in before or name in names:
            continue
        if event.get("value") is None and before[name] is None:
            continue
        names.append(name)
    return names


def push_validations(tracker: DialogueTracker, domain: Domain, names: Iterable[str], *,
                     below_top: bool = False) -> None:
    """Push a validation frame per slot in ``names`` in order, so the last one set runs first (Rasa's
    ``push_stack_frames_to_follow_commands`` pushes them in the order of the slot events).

    ``below_top`` places them under the running frame, which finishes first (a correction confirms
    the new value before it is validated, as in Rasa)."""
    for name in list(names):
        context = validate_frame_context(domain, name)
        if context is not None:
            tracker.push(VALIDATE_PATTERN, kind="pattern", context=context, below_top=below_top)
