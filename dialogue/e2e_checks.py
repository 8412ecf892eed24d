"""What an e2e test expects of one user turn: step-style checks (``bot``, ``utter``,
``slot_was_set``, ``slot_was_not_set``) and assertions, parsed from the test file, matched against
the events the engine produced in that turn, and the turn described for failure reports.

Matching rules (RASA-NOTES §7, §13):

- Checks look for *some* event of the turn (existence, not order). With ``assertion_order_enabled``
  a positive check only looks at the events after the one the previous positive check matched;
  negative checks (``slot_was_not_set``, ``bot_did_not_utter``) look at those events too and do
  not move the cursor (as Rasa does).
- ``slot_was_not_set`` looks only at the *last* value the slot got in the turn: with a value it
  fails when that last value equals it; without one it fails when that last value is not None (a
  slot that was set and then reset within the turn, or only cleared, counts as not set).
- ``bot_uttered`` needs one bot message that satisfies every given key (``utter_name``,
  ``text_matches`` with ``re.search``, ``buttons``: the message's buttons start with the expected
  ones, compared by title and payload). ``bot_did_not_utter`` fails when any bot message matches
  any one of the given keys (a forbidden button is any one of the listed buttons).
- ``pattern_clarification_contains`` needs a ``flow_started`` event for ``pattern_clarification``
  in the turn; the offered flows are the options of the turn's (cleaned) ``clarify`` commands --
  the ids the pattern frame was pushed with, before ``action_clarify_flows`` trims them (the
  ``flow_started`` event's metadata, as in Rasa). As in Rasa, a list form names flows and must equal
  the offered flow names; ``{flow_ids: [...], operator: all|any}`` needs exactly those ids
  (``all``) or at least one of them (``any``).
- Values compare loosely (:func:`values_equal`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from helpdesk.dialogue.yaml_io import line_of, plain

Event = dict[str, Any]
CLARIFICATION = "pattern_clarification"
CLARIFICATION_UTTER = "utter_clarification_options_rasa"
STEP_CHECKS = ("bot", "utter", "slot_was_set", "slot_was_not_set")
#: assertions that need an LLM judge: reported as skipped
JUDGED = ("generative_response_is_relevant", "generative_response_is_grounded")
BOT_KEYS = ("utter_name", "text_matches", "buttons")


class SpecError(ValueError):
    """A check or assertion in a test file is malformed."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


@dataclass(frozen=True)
class SlotSpec:
    """A slot named by a slot check, with or without an expected value."""

    name: str
    value: Any = None
    has_value: bool = False

    def __str__(self) -> str:
        return f"{self.name} = {self.value!r}" if self.has_value else self.name


@dataclass(frozen=True)
class BotSpec:
    """What a bot message must look like (every given field must hold)."""

    text: str | None = None
    utter_name: str | None = None
    text_matches: re.Pattern[str] | None = None
    buttons: tuple[tuple[str, str], ...] = ()

    def parts(self) -> list[str]:
        out = [f'text "{self.text}"'] if self.text is not None else []
        out += [f"response {self.utter_name}"] if self.utter_name else []
        out += [f"text matching /{self.text_matches.pattern}/"] if self.text_matches else []
        out += ["buttons " + ", ".join(f"{t}={p}" for t, p in self.buttons)] if self.buttons else []
        return out


@dataclass
class Check:
    """One expectation about a user turn."""

    kind: str
    arg: Any
    line: int | None
    label: str


@dataclass
class TurnOutput:
    """What one user message produced."""

    events: list[Event]
    commands: list[dict[str, Any]]


# --- parsing ---------------------------------------------------------------------------------


def label(kind: str, value: Any) -> str:
    """How a step or assertion reads in the test file, shortened to one line."""
    text = value if isinstance(value, str) else json.dumps(plain(value), ensure_ascii=False, default=str)
    text = text if len(text) <= 80 else text[:77] + "..."
    return f"{kind}: {text}"


def parse_step_check(kind: str, value: Any, line: int | None) -> Check:
    """A step-style check (``bot``, ``utter``, ``slot_was_set``, ``slot_was_not_set``)."""
    if kind == "bot":
        return Check(kind, BotSpec(text=_scalar(kind, value, line)), line, label(kind, value))
    if kind == "utter":
        return Check(kind, BotSpec(utter_name=_scalar(kind, value, line)), line, label(kind, value))
    return Check(kind, _step_slots(kind, value, line), line, label(kind, value))


def parse_assertion(node: Any, line: int | None) -> Check:
    """One item of a user step's ``assertions`` list."""
    if not isinstance(node, dict) or not node:
        raise SpecError("an assertion must be a mapping like '- flow_started: my_flow'", line)
    keys = [str(k) for k in node]
    if "slot_was_set" in keys and "slot_was_not_set" in keys:
        raise SpecError("an assertion cannot have both 'slot_was_set' and 'slot_was_not_set'", line)
    if len(keys) != 1:
        raise SpecError(f"an assertion must have exactly one key, found {', '.join(keys)}", line)
    kind = keys[0]
    parser = _ASSERTION_PARSERS.get(kind)
    if parser is None and kind not in JUDGED:
        raise SpecError(f"unknown assertion '{kind}'", line)
    value = node[kind]
    arg = parser(kind, value, line) if parser else plain(value)
    return Check(kind, arg, line, label(kind, value))


def _scalar(kind: str, value: Any, line: int | None) -> str:
    if value is None or isinstance(value, (dict, list)):
        raise SpecError(f"'{kind}' needs a text value", line)
    return str(value)


def _step_slots(kind: str, value: Any, line: int | None) -> list[SlotSpec]:
    items = value if isinstance(value, list) else [value]
    specs: list[SlotSpec] = []
    for index, item in enumerate(items):
        where = line_of(value, index) if isinstance(value, list) else line
        if isinstance(item, dict):
            specs += [SlotSpec(str(k), plain(v), True) for k, v in item.items()]
        elif item is not None and not isinstance(item, list):
            specs.append(SlotSpec(str(item)))
        else:
            raise SpecError(f"'{kind}' items must be slot names or 'slot: value' pairs", where or line)
    if not specs:
        raise SpecError(f"'{kind}' needs at least one slot", line)
    return specs


def _assertion_slots(kind: str, value: Any, line: int | None) -> list[SlotSpec]:
    if not isinstance(value, list) or not value:
        raise SpecError(f"'{kind}' needs a list of slots like '- name: my_slot'", line)
    specs: list[SlotSpec] = []
    for index, item in enumerate(value):
        where = line_of(value, index) or line
        if isinstance(item, str):
            specs.append(SlotSpec(item))
        elif isinstance(item, dict) and item.get("name") is not None and set(map(str, item)) <= {"name", "value"}:
            specs.append(SlotSpec(str(item["name"]), plain(item.get("value")), "value" in item))
        else:
            raise SpecError(f"'{kind}' items must look like '{{name: slot, value: ...}}'", where)
    return specs


def _flow_id(kind: str, value: Any, line: int | None) -> str:
    if isinstance(value, dict):
        value = value.get("flow_id")
    return _scalar(kind, value, line)


def _flow_end(kind: str, value: Any, line: int | None) -> tuple[str, str | None]:
    if not isinstance(value, dict):
        return _scalar(kind, value, line), None
    unknown = set(map(str, value)) - {"flow_id", "flow_step_id"}
    if unknown or value.get("flow_id") is None:
        raise SpecError(f"'{kind}' takes 'flow_id' and an optional 'flow_step_id'", line)
    step = value.get("flow_step_id")
    return str(value["flow_id"]), None if step is None else str(step)


def _clarification(kind: str, value: Any, line: int | None) -> tuple[str, list[str]]:
    if isinstance(value, list) and value:
        return "contains", [str(v) for v in value]
    if isinstance(value, dict) and isinstance(value.get("flow_ids"), list):
        operator = str(value.get("operator", "all")).lower()
        if operator in ("all", "any"):
            return operator, [str(v) for v in value["flow_ids"]]
    raise SpecError(f"'{kind}' needs a list of flow ids (or 'flow_ids' with 'operator: all|any')", line)


def _bot_spec(kind: str, value: Any, line: int | None) -> BotSpec:
    if not isinstance(value, dict) or not any(value.get(k) for k in BOT_KEYS):
        raise SpecError(f"'{kind}' needs at least one of {', '.join(BOT_KEYS)}", line)
    unknown = sorted(set(map(str, value)) - set(BOT_KEYS))
    if unknown:
        raise SpecError(f"unknown key(s) in '{kind}': {', '.join(unknown)}", line)
    pattern = None
    if value.get("text_matches") is not None:
        try:
            pattern = re.compile(str(value["text_matches"]))
        except re.error as exc:
            raise SpecError(f"invalid regular expression in '{kind}': {exc}", line) from None
    buttons = value.get("buttons") or []
    if not isinstance(buttons, list) or not all(isinstance(b, dict) and "title" in b for b in buttons):
        raise SpecError(f"'{kind}' buttons must be a list of '{{title, payload}}' mappings", line)
    utter = value.get("utter_name")
    return BotSpec(utter_name=None if utter is None else str(utter), text_matches=pattern,
                   buttons=tuple((str(b["title"]), str(b.get("payload"))) for b in buttons))


Parser = Callable[[str, Any, int | None], Any]
_ASSERTION_PARSERS: dict[str, Parser] = {
    "flow_started": _flow_id, "flow_completed": _flow_end, "flow_cancelled": _flow_end,
    "pattern_clarification_contains": _clarification, "action_executed": _scalar,
    "slot_was_set": _assertion_slots, "slot_was_not_set": _assertion_slots,
    "bot_uttered": _bot_spec, "bot_did_not_utter": _bot_spec,
}


# --- matching --------------------------------------------------------------------------------


def values_equal(expected: Any, actual: Any) -> bool:
    """Equal values; across types 1 == 1.0, "50" == 50.0 and "true" == True (lower-cased text)."""
    if type(expected) is type(actual):
        return bool(expected == actual)
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(actual, numbers) \
            and not isinstance(expected, bool) and not isinstance(actual, bool):
        return float(expected) == float(actual)
    if _as_number(expected) is not None and _as_number(expected) == _as_number(actual):
        return True
    return str(expected).strip().lower() == str(actual).strip().lower()


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def failed_checks(checks: list[Check], output: TurnOutput, *, ordered: bool) -> list[Check]:
    """The checks the turn does not satisfy (judged assertions are never failed here)."""
    failed: list[Check] = []
    cursor = 0
    for check in checks:
        if check.kind in JUDGED:
            continue
        window = output.events[cursor:] if ordered else output.events
        negative = _NEGATIVE.get(check.kind)
        if negative is not None:
            if not negative(check.arg, window, output):
                failed.append(check)
            continue
        index = _POSITIVE[check.kind](check.arg, window, output)
        if index is None:
            failed.append(check)
        elif ordered:
            cursor += index + 1
    return failed


def _buttons(event: Event) -> list[tuple[str, str]]:
    buttons = (event.get("data") or {}).get("buttons") or []
    return [(str(b.get("title")), str(b.get("payload"))) for b in buttons]


def _utter_of(event: Event) -> str | None:
    return (event.get("metadata") or {}).get("utter_action")


def _bot_matches(spec: BotSpec, event: Event) -> bool:
    text = event.get("text") or ""
    return ((spec.text is None or text.strip() == spec.text.strip())
            and (spec.utter_name is None or _utter_of(event) == spec.utter_name)
            and (spec.text_matches is None or spec.text_matches.search(text) is not None)
            and (not spec.buttons or _buttons(event)[:len(spec.buttons)] == list(spec.buttons)))


def _is_forbidden(spec: BotSpec, event: Event) -> bool:
    if spec.utter_name is not None and _utter_of(event) == spec.utter_name:
        return True
    if spec.text_matches is not None and spec.text_matches.search(event.get("text") or ""):
        return True
    return bool(set(spec.buttons) & set(_buttons(event)))


def _find_bot(spec: BotSpec, events: list[Event], output: TurnOutput) -> int | None:
    return next((i for i, e in enumerate(events) if e["event"] == "bot" and _bot_matches(spec, e)), None)


def _no_forbidden_bot(spec: BotSpec, events: list[Event], output: TurnOutput) -> bool:
    return not any(e["event"] == "bot" and _is_forbidden(spec, e) for e in events)


def _slot_events(name: str, events: list[Event]) -> list[tuple[int, Event]]:
    return [(i, e) for i, e in enumerate(events) if e["event"] == "slot" and e.get("name") == name]


def _find_slots(specs: list[SlotSpec], events: list[Event], output: TurnOutput) -> int | None:
    last = -1
    for spec in specs:
        found = [i for i, e in _slot_events(spec.name, events)
                 if not spec.has_value or values_equal(spec.value, e.get("value"))]
        if not found:
            return None
        last = max(last, found[0])
    return last


def _slots_not_set(specs: list[SlotSpec], events: list[Event], output: TurnOutput) -> bool:
    for spec in specs:
        found = _slot_events(spec.name, events)
        if not found:
            continue
        value = found[-1][1].get("value")
        if (spec.has_value and values_equal(spec.value, value)) or (not spec.has_value and value is not None):
            return False
    return True


def _find_flow_started(flow_id: str, events: list[Event], output: TurnOutput) -> int | None:
    return next((i for i, e in enumerate(events) if e["event"] == "flow_started" and e.get("flow_id") == flow_id),
                None)


def _flow_end_finder(kind: str) -> Callable[[tuple[str, str | None], list[Event], TurnOutput], int | None]:
    def find(arg: tuple[str, str | None], events: list[Event], output: TurnOutput) -> int | None:
        flow_id, step_id = arg
        return next((i for i, e in enumerate(events) if e["event"] == kind and e.get("flow_id") == flow_id
                     and (step_id is None or e.get("step_id") == step_id)), None)
    return find


def _find_action(name: str, events: list[Event], output: TurnOutput) -> int | None:
    if name == "action_listen":  # every turn ends by listening
        return max(len(events) - 1, 0)
    return next((i for i, e in enumerate(events) if e["event"] == "action" and e.get("name") == name), None)


def clarification_offers(output: TurnOutput) -> tuple[set[str], set[str]]:
    """Flow ids offered by clarification in this turn, and the flow names shown for them."""
    ids: set[str] = set()
    for command in output.commands:
        if command.get("command") == "clarify":
            ids.update(str(o) for o in command.get("options") or [])
    names: set[str] = set()
    for event in output.events:
        if event["event"] == "bot" and _utter_of(event) == CLARIFICATION_UTTER:
            for title, payload in _buttons(event):
                names.add(title)
                if payload.startswith("/"):
                    ids.add(payload[1:])
    return ids, names


def _find_clarification(arg: tuple[str, list[str]], events: list[Event], output: TurnOutput) -> int | None:
    index = _find_flow_started(CLARIFICATION, events, output)
    if index is None:
        return None
    operator, expected = arg
    metadata = events[index].get("metadata") or {}
    if operator == "contains" and "names" in metadata:
        # Rasa (e2e_test/assertions.py): the list form names flows and must equal the names the
        # clarification was started with
        return index if set(expected) == {str(n) for n in metadata["names"]} else None
    ids, names = clarification_offers(output)
    if "clarification_ids" in metadata:
        ids = {str(i) for i in metadata["clarification_ids"]}
    if operator == "all":
        ok = set(expected) == ids
    elif operator == "any":
        ok = bool(set(expected) & ids)
    else:
        ok = all(flow in ids or flow in names for flow in expected)
    return index if ok else None


Finder = Callable[[Any, list[Event], TurnOutput], int | None]
_POSITIVE: dict[str, Finder] = {
    "bot": _find_bot, "utter": _find_bot, "bot_uttered": _find_bot, "slot_was_set": _find_slots,
    "flow_started": _find_flow_started, "flow_completed": _flow_end_finder("flow_completed"),
    "flow_cancelled": _flow_end_finder("flow_cancelled"), "action_executed": _find_action,
    "pattern_clarification_contains": _find_clarification,
}
_NEGATIVE: dict[str, Callable[[Any, list[Event], TurnOutput], bool]] = {
    "slot_was_not_set": _slots_not_set, "bot_did_not_utter": _no_forbidden_bot,
}


# --- describing ------------------------------------------------------------------------------


def expectation(check: Check) -> str:
    """What a check expects, in words."""
    kind, arg = check.kind, check.arg
    if kind in ("bot", "utter", "bot_uttered"):
        return "a bot message with " + " and ".join(arg.parts())
    if kind == "bot_did_not_utter":
        return "no bot message with any of: " + "; ".join(arg.parts())
    if kind == "slot_was_set":
        return "; ".join(f"slot {s.name} set" + (f" to {s.value!r}" if s.has_value else "") for s in arg)
    if kind == "slot_was_not_set":
        return "; ".join(f"slot {s.name} not set" + (f" to {s.value!r}" if s.has_value else "") for s in arg)
    if kind == "flow_started":
        return f"flow {arg} started"
    if kind in ("flow_completed", "flow_cancelled"):
        verb = kind.split("_")[1]
        return f"flow {arg[0]} {verb}" + (f" at step {arg[1]}" if arg[1] else "")
    if kind == "action_executed":
        return f"action {arg} run"
    if kind == "pattern_clarification_contains":
        words = {"all": "exactly", "any": "any of", "contains": "the flows named"}[arg[0]]
        return f"{CLARIFICATION} started, offering {words}: {', '.join(arg[1])}"
    return check.label


def describe_turn(output: TurnOutput) -> list[str]:
    """What the bot did in a turn, one line per message or event (the user's own event and actions
    that were skipped because nobody defines them left out)."""
    lines = []
    commands = [_describe_command(c) for c in output.commands]
    if commands:
        lines.append("understood: " + "; ".join(commands))
    lines += [_describe_event(e) for e in output.events if e["event"] not in ("user", "action_skipped")]
    return lines


def _describe_command(command: dict[str, Any]) -> str:
    args = [str(v) if not isinstance(v, (list, tuple)) else ",".join(map(str, v))
            for k, v in command.items() if k not in ("command", "extractor") and v not in (None, "", [], ())]
    return " ".join([str(command.get("command")), *args])


def _describe_event(event: Event) -> str:
    kind = event["event"]
    if kind == "bot":
        utter = _utter_of(event)
        buttons = (event.get("data") or {}).get("buttons") or []
        text = f"bot: {json.dumps(event.get('text'), ensure_ascii=False)}" + (f" ({utter})" if utter else "")
        if buttons:
            text += " buttons: " + ", ".join(f"{b.get('title')}={b.get('payload')}" for b in buttons)
        return text
    if kind == "slot":
        reset = " (reset)" if (event.get("metadata") or {}).get("reset") else ""
        return f"slot {event.get('name')} = {event.get('value')!r}{reset}"
    if kind == "action":
        return f"action {event.get('name')}"
    if kind.startswith("flow_"):
        step = f" at step {event['step_id']}" if event.get("step_id") else ""
        return f"{kind.replace('_', ' ')}: {event.get('flow_id')}{step}"
    rest = {k: v for k, v in event.items() if k != "event"}
    return f"{kind} {json.dumps(rest, ensure_ascii=False, default=str)}" if rest else kind
