"""Button payloads that decide a turn without understanding: ``/SetSlots(a=1, b=x)``, ``/flow_id``,
``/intent`` (flow ``nlu_trigger``), ``/session_start`` and ``/restart``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from helpdesk.dialogue.commands import Command, Restart, SessionStart, SetSlot, StartFlow
from helpdesk.dialogue.commands.set_slot import EXTRACTOR_PAYLOAD
from helpdesk.dialogue.flows import FlowsList

if TYPE_CHECKING:
    from helpdesk.dialogue.domain import Domain
    from helpdesk.dialogue.tracker import DialogueTracker

#: slots a customer's payload never sets: where and how urgently a handoff goes
INTERNAL_SLOTS = frozenset({"handoff_team", "handoff_priority"})
#: slots a customer's payload may always set: their own language (one of the configured ones)
CUSTOMER_SLOTS = frozenset({"language"})

_SET_SLOTS = re.compile(r"^/SetSlots\((.*)\)\s*$", re.S)
_INTENT = re.compile(r"^/([A-Za-z0-9_\-]+)(\{.*\})?\s*$", re.S)


def read_payload(text: str | None, flows: FlowsList) -> list[Command] | None:
    """Commands for a payload message, or None when ``text`` is not a payload."""
    if not text or not text.startswith("/"):
        return None
    match = _SET_SLOTS.match(text.strip())
    if match:
        return [SetSlot(name, value, EXTRACTOR_PAYLOAD) for name, value in _pairs(match.group(1))]
    match = _INTENT.match(text.strip())
    if not match:
        return None
    name = match.group(1)
    if name == "session_start":
        return [SessionStart()]
    if name == "restart":
        return [Restart()]
    if name in flows and not flows[name].is_pattern:
        return [StartFlow(name)]
    for flow in flows.user_flows():
        if any(intent == name for intent, _ in flow.nlu_triggers):
            return [StartFlow(flow.id)]
    return None


def customer_may_set(commands: list[Command], tracker: DialogueTracker, domain: Domain,
                     active_flows: list[str]) -> list[Command]:
    """The commands of a customer's payload without the slots the customer could not set anyway.

    A ``/SetSlots`` pair stays when a button of the assistant's last message offered it, or when
    the slot's mappings let understanding fill it now (the customer could type the value). The
    built-in handoff slots and slots marked ``internal: true`` never stay.
    """
    offered = _offered_pairs(tracker.last_bot_messages)
    kept: list[Command] = []
    for command in commands:
        if isinstance(command, SetSlot) and not _settable(command, domain, offered, active_flows):
            continue
        kept.append(command)
    return kept


def _settable(command: SetSlot, domain: Domain, offered: set[tuple[str, str]], active_flows: list[str]) -> bool:
    slot = domain.slots.get(command.name)
    if command.name in INTERNAL_SLOTS or (slot is not None and slot.internal):
        return False
    if slot is None:
        return True  # cleaning turns an unknown slot into "cannot handle"
    if (command.name, str(command.value)) in offered or command.name in CUSTOMER_SLOTS:
        return True
    return slot.understanding_may_fill(active_flows)


def _offered_pairs(messages: list[dict[str, Any]]) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for message in messages:
        for button in message.get("buttons") or []:
            payload = button.get("payload") if isinstance(button, dict) else None
            match = _SET_SLOTS.match(payload.strip()) if isinstance(payload, str) else None
            if match:
                pairs.update(_pairs(match.group(1)))
    return pairs


def _pairs(body: str) -> list[tuple[str, str]]:
    pairs = []
    for part in _split(body):
        if "=" not in part:
            continue
        name, value = part.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        pairs.append((name.strip(), value))
    return pairs


def _split(body: str) -> list[str]:
    """Split on commas outside quotes."""
    parts, current, quote = [], "", ""
    for char in body:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ",":
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return [p for p in parts if p.strip()]
