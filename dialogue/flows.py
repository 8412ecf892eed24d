"""The flow model: flows and their steps as validated, immutable data.

A flow file is parsed into :class:`Flow` objects whose nested ``then``/``else`` step lists are
flattened into one list of steps, each with an id (explicit or Rasa's auto id) and a resolved
``next`` (a list of :class:`Branch`). Semantic checks live in :mod:`dialogue.validation`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from helpdesk.dialogue.conditions import Condition, ConditionError, parse_condition

END = "END"
START = "START"
STEP_KINDS = ("action", "collect", "link", "call", "set_slots", "noop")
FLOW_ID_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_-]*$")


@dataclass(frozen=True)
class Branch:
    """One arm of a step's ``next``: go to ``target`` when ``condition`` holds (None: always)."""

    target: str
    condition: Condition | None = None
    source: str | None = None


@dataclass(frozen=True)
class Rejection:
    """A collect step's rejection rule: when ``condition`` holds, say ``utter`` and ask again."""

    condition: Condition | None
    utter: str
    source: str


@dataclass
class FlowStep:
    """A step of a flow. ``kind`` names the step type; type-specific fields are set accordingly."""

    id: str
    kind: str
    line: int | None = None
    next: list[Branch] = field(default_factory=list)
    #: whether ``next`` was written explicitly (nested branches must state it)
    explicit_next: bool = False
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: action step: the action or response name (may contain ``{{context.x}}``)
    action: str | None = None
    #: collect step
    collect: str | None = None
    utter: str | None = None
    ask_before_filling: bool = False
    reset_after_flow_ends: bool = True
    force_slot_filling: bool = False
    rejections: list[Rejection] = field(default_factory=list)
    #: set_slots step: ordered (slot, value) pairs
    set_slots: list[tuple[str, Any]] = field(default_factory=list)
    #: link / call target flow id
    target: str | None = None
    #: path of the step list it belongs to: () for the top level
    branch_path: tuple[int, ...] = ()
    #: whether it is the last step of its (nested) list
    last_in_list: bool = False

    @property
    def utter_name(self) -> str:
        """The response asked for a collect step."""
        return self.utter or f"utter_ask_{self.collect}"


@dataclass
class Flow:
    """A flow: id, texts for people and the LLM, a guard and its flattened steps."""

    id: str
    description: str
    steps: list[FlowStep]
    name: str = ""
    file: str = "<memory>"
    line: int | None = None
    guard: Condition | None = None
    guard_source: str | bool | None = None
    persisted_slots: list[str] = field(default_factory=list)
    always_include_in_prompt: bool = False
    run_pattern_completed: bool = True
    nlu_triggers: list[tuple[str, float]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: ``translation: {<lang>: {name: ...}}``: the flow's name by language code
    translations: dict[str, str] = field(default_factory=dict)
    #: whether the flow came from our default patterns rather than the assistant
    is_default: bool = False
    _by_id: dict[str, FlowStep] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.name = self.name or re.sub(r"[_-]+", " ", self.id).strip()
        self._by_id = {s.id: s for s in self.steps}

    def name_for(self, language: Any) -> str:
        """The name to show in ``language`` (the ``language`` slot's value): its translation, or
        the default name (loading keeps only translations into the assistant's additional languages)."""
        if isinstance(language, str):
            wanted = language.lower()
            for code, name in self.translations.items():
                if code.lower() == wanted:
                    return name
        return self.name

    @property
    def is_pattern(self) -> bool:
        return self.id.startswith("pattern_")

    @property
    def examples(self) -> list[str]:
        """Example customer phrasings (``metadata.examples``) used by offline understanding."""
        raw = self.metadata.get("examples") or []
        return [str(x) for x in raw] if isinstance(raw, list) else []

    @property
    def link_only(self) -> bool:
        """A guard that is statically false makes a flow reachable only by link or call."""
        return self.guard_source is False or (
            isinstance(self.guard_source, str) and self.guard_source.strip().lower() == "false"
        )

    def step(self, step_id: str) -> FlowStep | None:
        return self._by_id.get(step_id)

    @property
    def first_step(self) -> FlowStep | None:
        return self.steps[0] if self.steps else None

    def collect_steps(self) -> list[FlowStep]:
        return [s for s in self.steps if s.kind == "collect"]

    def collected_slots(self) -> list[str]:
        return [s.collect for s in self.steps if s.kind == "collect" and s.collect]

    def set_slot_names(self) -> list[str]:
        return [name for s in self.steps if s.kind == "set_slots" for name, _ in s.set_slots]

    def collect_step_for(self, slot: str) -> FlowStep | None:
        return next((s for s in self.steps if s.kind == "collect" and s.collect == slot), None)

    def is_startable(self, slots: dict[str, Any], context: dict[str, Any] | None = None) -> bool:
        """Whether the guard allows starting this flow now (errors count as false)."""
        if self.link_only:
            return False
        return self.guard is None or self.guard.evaluate(slots, context or {})


class FlowParseError(Exception):
    """A flow could not be parsed; carries the problems found (message, line, step id)."""

    def __init__(self, issues: list[tuple[str, int | None, str | None]]) -> None:
        self.issues = issues
        super().__init__("; ".join(m for m, _, _ in issues))


def condition_or_issue(source: Any, issues: list[tuple[str, int | None, str | None]], line: int | None,
                       step_id: str | None) -> Condition | None:
    """Parse a condition, recording a readable issue instead of raising."""
    if isinstance(source, bool):
        return parse_condition(source)
    if not isinstance(source, str) or not source.strip():
        issues.append((f"condition must be a non-empty string, got {source!r}", line, step_id))
        return None
    if "{{" in source:
        # templated on the frame context: checked with a stand-in now, parsed when it runs
        try:
            parse_condition(re.sub(r"\{\{.*?\}\}", "placeholder", source))
        except ConditionError as exc:
            issues.append((f"invalid condition {source!r}: {exc.message}", line, step_id))
        return None
    try:
        return parse_condition(source)
    except ConditionError as exc:
        issues.append((f"invalid condition {source!r}: {exc.message} (column {exc.column + 1})", line, step_id))
        return None


class FlowsList:
    """All flows of an assistant (its own plus the default patterns it did not override)."""

    def __init__(self, flows: list[Flow]) -> None:
        self._flows = {f.id: f for f in flows}

    def __iter__(self) -> Iterator[Flow]:
        return iter(self._flows.values())

    def __len__(self) -> int:
        return len(self._flows)

    def __contains__(self, flow_id: object) -> bool:
        return flow_id in self._flows

    def get(self, flow_id: str) -> Flow | None:
        return self._flows.get(flow_id)

    def __getitem__(self, flow_id: str) -> Flow:
        return self._flows[flow_id]

    @property
    def ids(self) -> list[str]:
        return list(self._flows)

    def user_flows(self) -> list[Flow]:
        return [f for f in self._flows.values() if not f.is_pattern]

    def startable(self, slots: dict[str, Any], context: dict[str, Any] | None = None) -> list[Flow]:
        """User flows a customer may start now (guard true, not link-only)."""
        return [f for f in self.user_flows() if f.is_startable(slots, context)]
