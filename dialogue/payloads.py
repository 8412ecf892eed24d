"""Button payloads that decide a turn without understanding: ``/SetSlots(a=1, b=x)``, ``/flow_id``,
``/intent`` (flow ``nlu_trigger``), ``/session_start`` and ``/restart``."""

from __future__ import annotations

import re

from dialogue.commands import Command, Restart, SessionStart, SetSlot, StartFlow
from dialogue.commands.set_slot import EXTRACTOR_PAYLOAD
from dialogue.flows import FlowsList

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
