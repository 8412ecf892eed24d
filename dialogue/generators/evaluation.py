"""Evaluating understanding on labelled customer messages (``helpdesk evaluate``, like
``rasa test nlu``): per-label precision / recall / F1, a confusion table, slot values, misses.

A case file:

.. code-block:: yaml

    cases:
      - text: "hi, where's my order A1003?"
        expect: check_order_status        # a flow id, out_of_scope, cancel or answer
        slots: {order_number: A1003}      # values the message's commands must set
      - before: ["where is my order"]     # earlier messages, run through the engine first
        text: "never mind, found the tracking email"
        expect: cancel

Every message goes through the real engine (understanding, cleaning, flows, the assistant's
actions), so a case is judged on the commands the engine actually ran. ``expect`` labels:
a flow id (that flow is started), ``out_of_scope`` (no flow is started, no clarification),
``cancel`` (the running flow is cancelled), ``answer`` (the open question is answered).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpdesk.dialogue.assistant import Assistant
from helpdesk.dialogue.engine import Engine, UserMessage
from helpdesk.dialogue.generators import CommandGenerator
from helpdesk.dialogue.tracker import DialogueTracker
from helpdesk.dialogue.yaml_io import AssistantError, Problem, line_of, read_yaml

OUT_OF_SCOPE, CANCEL, ANSWER, CLARIFY = "out_of_scope", "cancel", "answer", "clarify"


@dataclass(frozen=True)
class Case:
    """One labelled message (``before``: earlier messages of the conversation)."""

    text: str
    expect: str
    slots: dict[str, Any] = field(default_factory=dict)
    before: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Outcome:
    case: Case
    predicted: str
    commands: list[dict[str, Any]]
    #: expected slot name -> whether the commands set exactly that value
    slot_hits: dict[str, bool]

    @property
    def correct(self) -> bool:
        return self.predicted == self.case.expect


@dataclass
class Report:
    outcomes: list[Outcome]

    @property
    def accuracy(self) -> float:
        return _ratio(sum(o.correct for o in self.outcomes), len(self.outcomes))

    @property
    def slot_accuracy(self) -> float:
        hits = [hit for o in self.outcomes for hit in o.slot_hits.values()]
        return _ratio(sum(hits), len(hits))

    @property
    def false_start_rate(self) -> float:
        """Out-of-scope messages that started a flow."""
        scoped = [o for o in self.outcomes if o.case.expect == OUT_OF_SCOPE]
        return _ratio(sum(o.predicted not in (OUT_OF_SCOPE, CLARIFY, CANCEL, ANSWER) for o in scoped),
                      len(scoped), empty=0.0)

    def per_label(self) -> dict[str, tuple[float, float, float, int]]:
        """label -> (precision, recall, F1, support)."""
        labels = sorted({o.case.expect for o in self.outcomes})
        result = {}
        for label in labels:
            tp = sum(o.correct and o.predicted == label for o in self.outcomes)
            predicted = sum(o.predicted == label for o in self.outcomes)
            support = sum(o.case.expect == label for o in self.outcomes)
            precision, recall = _ratio(tp, predicted, empty=0.0), _ratio(tp, support, empty=0.0)
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            result[label] = (precision, recall, f1, support)
        return result

    def confusion(self) -> Counter[tuple[str, str]]:
        return Counter((o.case.expect, o.predicted) for o in self.outcomes)


def _ratio(part: int, whole: int, *, empty: float = 1.0) -> float:
    return part / whole if whole else empty


def load_cases(paths: Iterable[Path]) -> list[Case]:
    """Read case files; raise AssistantError naming file and line of each malformed case."""
    cases: list[Case] = []
    problems: list[Problem] = []
    for path in paths:
        node = read_yaml(Path(path))
        items = node.get("cases") if isinstance(node, dict) else None
        if not isinstance(items, list):
            problems.append(Problem(str(path), 1, "a case file needs a top-level 'cases:' list"))
            continue
        for index, item in enumerate(items):
            line = line_of(items, index)
            case = _case(item, f"{path}:{line}")
            if isinstance(case, str):
                problems.append(Problem(str(path), line, case))
            else:
                cases.append(case)
    if problems:
        raise AssistantError(problems)
    return cases


def _case(item: Any, source: str) -> Case | str:
    if not isinstance(item, dict):
        return "a case must be a mapping with 'text' and 'expect'"
    text, expect = item.get("text"), item.get("expect")
    if not isinstance(text, str) or not text.strip() or not isinstance(expect, str):
        return "a case needs a non-empty 'text' and an 'expect' label"
    slots, before = item.get("slots") or {}, item.get("before") or []
    if not isinstance(slots, dict) or not isinstance(before, list):
        return "'slots' must be a mapping and 'before' a list of messages"
    return Case(text, expect, {str(k): v for k, v in slots.items()}, tuple(str(b) for b in before), source)


def evaluate(assistant: Assistant, generator: CommandGenerator, cases: list[Case]) -> Report:
    """Run every case through an engine with ``generator``; actions run as in production."""
    engine = Engine(assistant, generator)
    outcomes = []
    for number, case in enumerate(cases):
        sender = f"evaluate-{number}"
        state = None
        for text in case.before:
            state = engine.handle(state, UserMessage(text, sender)).state
        asked = DialogueTracker.from_state(sender, state, assistant.domain).asked_slot() if state else None
        commands = engine.handle(state, UserMessage(case.text, sender)).commands
        outcomes.append(Outcome(case, label_of(commands, asked), commands, _slot_hits(case, commands)))
    return Report(outcomes)


def label_of(commands: list[dict[str, Any]], asked: str | None) -> str:
    """What a turn's commands did, as an ``expect`` label."""
    names = [c.get("command") for c in commands]
    starts = [c["flow"] for c in commands if c.get("command") == "start flow"]
    if starts:
        return str(starts[0])
    if "cancel flow" in names:
        return CANCEL
    if "human handoff" in names:
        return "human_handoff"
    if asked and any(c.get("command") == "set slot" and c.get("name") == asked for c in commands):
        return ANSWER
    return CLARIFY if "clarify" in names else OUT_OF_SCOPE


def _slot_hits(case: Case, commands: list[dict[str, Any]]) -> dict[str, bool]:
    values = {c.get("name"): c.get("value") for c in commands if c.get("command") == "set slot"}
    return {name: name in values and _same(values[name], expected) for name, expected in case.slots.items()}


def _same(value: Any, expected: Any) -> bool:
    return value == expected or str(value).strip().lower() == str(expected).strip().lower()


def format_report(report: Report, title: str) -> str:
    """The text ``helpdesk evaluate`` prints."""
    lines = [f"== {title}: {len(report.outcomes)} messages ==",
             f"right flow/outcome: {report.accuracy:.1%}   slot values: {report.slot_accuracy:.1%}   "
             f"out-of-scope false starts: {report.false_start_rate:.1%}", "",
             f"{'label':<28} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8}"]
    for label, (precision, recall, f1, support) in report.per_label().items():
        lines.append(f"{label:<28} {precision:>9.2f} {recall:>7.2f} {f1:>6.2f} {support:>8}")
    lines += ["", *format_confusion(report), "", *format_misses(report)]
    return "\n".join(lines)


def format_confusion(report: Report) -> list[str]:
    """Rows: expected label; columns: predicted label (numbered, legend below)."""
    confusion = report.confusion()
    rows = sorted({e for e, _ in confusion})
    columns = sorted({p for _, p in confusion})
    lines = ["confusion (rows: expected, columns: predicted)",
             " " * 28 + "".join(f"{i + 1:>4}" for i in range(len(columns)))]
    for row in rows:
        lines.append(f"{row:<28}" + "".join(f"{confusion.get((row, c), 0) or '.':>4}" for c in columns))
    lines.append("columns: " + ", ".join(f"{i + 1}={c}" for i, c in enumerate(columns)))
    return lines


def format_misses(report: Report) -> list[str]:
    misses = [o for o in report.outcomes if not o.correct or not all(o.slot_hits.values())]
    lines = [f"misses ({len(misses)})"]
    for o in misses:
        wrong_slots = [name for name, hit in o.slot_hits.items() if not hit]
        detail = f"expected {o.case.expect}, got {o.predicted}"
        if wrong_slots:
            detail += f"; slots wrong: {', '.join(wrong_slots)}"
        context = f" (after {' / '.join(o.case.before)})" if o.case.before else ""
        lines.append(f"  {o.case.source}: {o.case.text!r}{context}: {detail}; "
                     f"commands: {_short(o.commands)}")
    return lines


def _short(commands: list[dict[str, Any]]) -> str:
    parts = []
    for c in commands:
        args = {k: v for k, v in c.items() if k != "command" and v not in (None, "", (), [])}
        parts.append(c.get("command", "?") + (f" {args}" if args else ""))
    return "; ".join(parts) or "-"
