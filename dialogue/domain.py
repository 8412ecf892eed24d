"""The domain: slots (typed, with initial values, mappings and coercion) and responses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from helpdesk.dialogue.conditions import Condition
from helpdesk.dialogue.flows import condition_or_issue
from helpdesk.dialogue.languages import DEFAULT_LANGUAGE, LANGUAGE_SLOT, response_translation_problems
from helpdesk.dialogue.yaml_io import Problem, line_of, plain

SLOT_TYPES = ("text", "bool", "float", "categorical", "any", "list")
DOMAIN_KEYS = {"version", "intents", "entities", "slots", "responses", "actions", "forms", "session_config",
               "config", "e2e_actions"}
#: who may fill a slot (``slots.<name>.mappings[].type``); a slot without mappings is ``from_llm``
LLM_MAPPING = "from_llm"
CONTROLLED_MAPPINGS = frozenset({"controlled", "custom"})
NLU_MAPPINGS = frozenset({"from_entity", "from_text", "from_intent", "from_trigger_intent"})
MAPPING_TYPES = frozenset({LLM_MAPPING}) | CONTROLLED_MAPPINGS | NLU_MAPPINGS
VALIDATION_KEYS = ("rejections", "refill_utter")
#: the slot a form is asking for (Rasa adds it to a domain that has forms: Domain._add_requested_slot)
REQUESTED_SLOT = "requested_slot"
TRUE_WORDS = {"true", "yes", "y", "1", "on"}
FALSE_WORDS = {"false", "no", "n", "0", "off"}


class CoercionError(ValueError):
    """A value does not fit a slot's type; ``rejection`` names the response to say."""

    def __init__(self, slot: str, value: Any, rejection: str) -> None:
        self.slot, self.value, self.rejection = slot, value, rejection
        super().__init__(f"value {value!r} does not fit slot '{slot}'")


@dataclass(frozen=True)
class Form:
    """A domain ``forms:`` entry."""

    name: str
    required_slots: tuple[str, ...]
    ignored_intents: tuple[str, ...] = ()
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class SlotMapping:
    """One entry of a slot's ``mappings``: its ``type`` and the flows its ``conditions`` name."""

    type: str
    #: ``conditions: [{active_flow: x}, ...]``: the mapping applies only while one of them is active
    active_flows: tuple[str, ...] = ()
    #: the mapping as written (sent to action servers in the domain)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class SlotRejection:
    """One ``validation.rejections`` entry: when ``source`` holds, say ``utter`` and empty the slot."""

    source: str
    utter: str
    line: int | None = None
    #: the parsed condition (None when it is templated: parsed when it runs)
    condition: Condition | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, str]:
        return {"if": self.source, "utter": self.utter}


@dataclass(frozen=True)
class SlotValidation:
    """A slot's ``validation`` (Rasa's real-time slot validation): checked by ``pattern_validate_slot``
    whenever a command sets the slot, asking again with ``refill_utter`` while it is invalid."""

    rejections: tuple[SlotRejection, ...] = ()
    #: as written; :meth:`refill_utter_for` gives the default ``utter_ask_<slot>``
    refill_utter: str | None = None
    line: int | None = None
    refill_line: int | None = None

    def refill_utter_for(self, slot: str) -> str:
        return self.refill_utter or f"utter_ask_{slot}"


@dataclass(frozen=True)
class SlotDefinition:
    """A slot as the domain declares it."""

    name: str
    type: str = "any"
    values: tuple[str, ...] = ()
    initial_value: Any = None
    line: int | None = None
    file: str | None = None
    #: empty: no ``mappings`` written, which means ``from_llm``
    mappings: tuple[SlotMapping, ...] = ()
    #: ``validation: {rejections, refill_utter}``, None when not written
    validation: SlotValidation | None = None
    #: ``internal: true``: only flows and actions set it; a customer's ``/SetSlots`` never can
    internal: bool = False

    def understanding_may_fill(self, active_flows: Iterable[str] = ()) -> bool:
        """Whether understanding (the LLM, or offline understanding in its place) may set this slot.

        Only a ``from_llm`` mapping allows it (a slot without mappings has one), and only while a
        flow its ``active_flow`` conditions name is active. ``controlled``/``custom`` slots are set
        by actions, ``set_slots`` and buttons; NLU mappings need an NLU pipeline, which we do not
        have (RASA-NOTES §2: such SetSlots are removed).
        """
        if not self.mappings:
            return True
        flows = set(active_flows)
        return any(m.type == LLM_MAPPING and (not m.active_flows or flows & set(m.active_flows))
                   for m in self.mappings)

    def understanding_may_ever_fill(self) -> bool:
        """Whether some flow state lets understanding set this slot (a ``from_llm`` mapping)."""
        return not self.mappings or any(m.type == LLM_MAPPING for m in self.mappings)

    def mappings_json(self) -> list[dict[str, Any]]:
        """The mappings as Rasa's domain JSON has them (``from_llm`` when none were written)."""
        return [dict(m.raw) for m in self.mappings] or [{"type": LLM_MAPPING}]

    def as_json(self) -> dict[str, Any]:
        """The slot as Rasa's domain JSON has it (sent to action servers)."""
        data: dict[str, Any] = {"type": self.type, "initial_value": self.initial_value,
                                "mappings": self.mappings_json()}
        if self.values:
            data["values"] = list(self.values)
        if self.validation is not None:
            data["validation"] = {"rejections": [r.as_dict() for r in self.validation.rejections],
                                  "refill_utter": self.validation.refill_utter_for(self.name)}
        return data

    def coerce(self, value: Any) -> Any:
        """Convert ``value`` to this slot's type (None stays None); raise CoercionError if impossible."""
        if value is None:
            return None
        if self.type == "bool":
            return _to_bool(self.name, value)
        if self.type == "float":
            return _to_float(self.name, value)
        if self.type == "categorical":
            return self._categorical(value)
        # text and any slots keep the value as it is, as Rasa's base Slot.coerce_value does
        # (``rasa/shared/core/slots.py``): a flow may compare a text slot with ``true``
        return value

    def _categorical(self, value: Any) -> str:
        text = _text(value).strip()
        for allowed in self.values:
            if allowed.lower() == text.lower():
                return allowed
        raise CoercionError(self.name, value, "utter_categorical_slot_rejection")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _to_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise CoercionError(name, value, "utter_boolean_slot_rejection")


def _to_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise CoercionError(name, value, "utter_float_slot_rejection")
    try:
        return float(str(value).strip().replace(",", "")) if not isinstance(value, (int, float)) else float(value)
    except ValueError:
        raise CoercionError(name, value, "utter_float_slot_rejection") from None


@dataclass
class Domain:
    """Slots, responses and declared action names, merged from one or more domain files."""

    slots: dict[str, SlotDefinition] = field(default_factory=dict)
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)
    #: NLU-based forms (``forms:``), run by :mod:`dialogue.forms`
    forms: dict[str, Form] = field(default_factory=dict)
    response_lines: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    #: config.yml's ``language`` (primary) and ``additional_languages`` (see dialogue.languages)
    language: str = DEFAULT_LANGUAGE
    additional_languages: tuple[str, ...] = ()

    def initial_slots(self) -> dict[str, Any]:
        return {name: slot.initial_value for name, slot in self.slots.items()}

    def set_languages(self, primary: str, additional: tuple[str, ...]) -> None:
        """Use these languages and add Rasa's built-in ``language`` slot: the conversation's
        language, the primary one at first, set by actions, ``set_slots`` and buttons."""
        self.language, self.additional_languages = primary, tuple(additional)
        if LANGUAGE_SLOT in self.slots and self.slots[LANGUAGE_SLOT].file is not None:
            return  # a project's own 'language' slot is kept (and warned about): it loads as in Rasa 3.x
        self.slots[LANGUAGE_SLOT] = SlotDefinition(
            LANGUAGE_SLOT, "categorical", (primary, *additional), primary,
            mappings=(SlotMapping("controlled", raw={"type": "controlled"}),))

    def merge(self, other: Domain, *, override: bool = True) -> None:
        """Add ``other``'s definitions; with ``override`` False existing ones win (defaults)."""
        for name, slot in other.slots.items():
            if override or name not in self.slots:
                self.slots[name] = slot
        for name, variations in other.responses.items():
            if override or name not in self.responses:
                self.responses[name] = variations
                if name in other.response_lines:
                    self.response_lines[name] = other.response_lines[name]
        self.actions += [a for a in other.actions if a not in self.actions]
        self.intents += [i for i in other.intents if i not in self.intents]
        for name, form in other.forms.items():
            if override or name not in self.forms:
                self.forms[name] = form

    def add_requested_slot(self) -> None:
        """As Rasa's ``Domain._add_requested_slot``: a domain with forms has a text slot
        ``requested_slot`` (set by forms only)."""
        if self.forms and REQUESTED_SLOT not in self.slots:
            self.slots[REQUESTED_SLOT] = SlotDefinition(
                REQUESTED_SLOT, "text", mappings=(SlotMapping("controlled", raw={"type": "controlled"}),))

    def as_dict(self) -> dict[str, Any]:
        """The domain in Rasa's JSON shape (sent to action servers)."""
        return {
            "version": "3.1",
            "intents": list(self.intents),
            "entities": [],
            "slots": {n: s.as_json() for n, s in self.slots.items()},
            "responses": self.responses,
            "actions": list(self.actions),
            "forms": {f.name: {"required_slots": list(f.required_slots),
                               "ignored_intents": list(f.ignored_intents)} for f in self.forms.values()},
            "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
        }


def parse_domain(node: Any, file: str) -> tuple[Domain, list[Problem]]:
    """Parse one domain file's mapping, collecting problems instead of failing on the first."""
    domain, problems = Domain(), list[Problem]()
    if node is None:
        return domain, problems
    if not isinstance(node, dict):
        return domain, [Problem(file, line_of(node), "a domain file must be a mapping")]
    for key in node:
        if key not in DOMAIN_KEYS:
            problems.append(Problem(file, line_of(node, key), f"unknown domain key '{key}'"))
    _parse_slots(node.get("slots") or {}, file, domain, problems)
    _parse_responses(node.get("responses") or {}, file, domain, problems)
    domain.actions = [str(a) if not isinstance(a, dict) else str(next(iter(a))) for a in node.get("actions") or []]
    domain.intents = [str(i) if not isinstance(i, dict) else str(next(iter(i))) for i in node.get("intents") or []]
    domain.forms, more = parse_forms(node.get("forms"), file)
    return domain, problems + more


def parse_forms(node: Any, file: str) -> tuple[dict[str, Form], list[Problem]]:
    """``forms: {name: {required_slots: [..], ignored_intents: [..]}}``."""
    forms: dict[str, Form] = {}
    problems: list[Problem] = []
    if node is None:
        return forms, problems
    if not isinstance(node, dict):
        return forms, [Problem(file, line_of(node), "'forms' must be a mapping of form names to forms")]
    for name, spec in node.items():
        line = line_of(node, name)
        spec = spec if isinstance(spec, dict) else {}
        required = spec.get("required_slots") or []
        if not isinstance(required, list) or not all(isinstance(s, str) for s in required):
            problems.append(Problem(file, line, f"form '{name}': 'required_slots' must be a list of slot names"))
            required = []
        ignored = spec.get("ignored_intents") or []
        ignored = [ignored] if isinstance(ignored, str) else list(ignored)
        forms[str(name)] = Form(str(name), tuple(map(str, required)), tuple(map(str, ignored)), file, line)
    return forms, problems


def _parse_slots(slots: Any, file: str, domain: Domain, problems: list[Problem]) -> None:
    if not isinstance(slots, dict):
        problems.append(Problem(file, line_of(slots), "'slots' must be a mapping"))
        return
    for name, spec in slots.items():
        line = line_of(slots, name)
        spec = spec if isinstance(spec, dict) else {}
        slot_type = str(spec.get("type", "any"))
        if slot_type not in SLOT_TYPES:
            problems.append(Problem(file, line, f"slot '{name}' has unknown type '{slot_type}'"))
            slot_type = "any"
        values = tuple(_text(v) for v in spec.get("values") or [])
        if slot_type == "categorical" and not values:
            problems.append(Problem(file, line, f"categorical slot '{name}' needs 'values'"))
        mappings = _parse_mappings(str(name), spec.get("mappings"), file, line_of(spec, "mappings") or line,
                                   problems)
        validation = _parse_validation(str(name), spec.get("validation"), file,
                                       line_of(spec, "validation") or line, problems)
        domain.slots[str(name)] = SlotDefinition(
            str(name), slot_type, values, plain(spec.get("initial_value")), line, file, mappings, validation,
            internal=spec.get("internal") is True)


def _parse_mappings(slot: str, raw: Any, file: str, line: int | None,
                    problems: list[Problem]) -> tuple[SlotMapping, ...]:
    """``mappings``: a list of ``{type, conditions?, ...}``; other keys (entity, intent, action,
    run_action_every_turn...) are kept as written."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(Problem(file, line, f"slot '{slot}': 'mappings' must be a list of {{type: ...}}"))
        return ()
    mappings = []
    for index, entry in enumerate(raw):
        where = line_of(raw, index) or line
        kind = entry.get("type") if isinstance(entry, dict) else None
        if kind not in MAPPING_TYPES:
            allowed = ", ".join(sorted(MAPPING_TYPES))
            problems.append(Problem(file, where, f"slot '{slot}' has a mapping of unknown type {kind!r} "
                                                 f"(one of {allowed})"))
            continue
        conditions = entry.get("conditions") or []
        if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
            problems.append(Problem(file, where, f"slot '{slot}': mapping 'conditions' must be a list of "
                                                 "{active_flow: ...} or {active_loop: ...}"))
            conditions = []
        flows = tuple(str(c["active_flow"]) for c in conditions if c.get("active_flow") is not None)
        mappings.append(SlotMapping(str(kind), flows, plain(entry)))
    return tuple(mappings)


def _parse_validation(slot: str, raw: Any, file: str, line: int | None,
                      problems: list[Problem]) -> SlotValidation | None:
    """``validation``: a mapping with a list ``rejections`` of ``{if, utter}`` and an optional
    ``refill_utter`` (Rasa's domain schema; nothing else is allowed)."""
    if raw is None:
        return None
    shape = "a mapping with 'rejections' (a list of {if, utter}) and an optional 'refill_utter'"
    if not isinstance(raw, dict):
        problems.append(Problem(file, line, f"slot '{slot}': 'validation' must be {shape}"))
        return None
    for key in raw:
        if key not in VALIDATION_KEYS:
            problems.append(Problem(file, line_of(raw, key) or line,
                                    f"slot '{slot}': unknown key '{key}' in 'validation' ({shape})"))
    refill = raw.get("refill_utter")
    if "refill_utter" in raw and not (isinstance(refill, str) and refill.strip()):
        problems.append(Problem(file, line_of(raw, "refill_utter") or line,
                                f"slot '{slot}': 'refill_utter' must be the name of a response"))
        refill = None
    if "rejections" not in raw:
        problems.append(Problem(file, line, f"slot '{slot}': 'validation' needs 'rejections' ({shape})"))
        return None
    rejections = _parse_slot_rejections(slot, raw["rejections"], file, line_of(raw, "rejections") or line,
                                        problems)
    return SlotValidation(rejections, refill, line, line_of(raw, "refill_utter") or line)


def _parse_slot_rejections(slot: str, raw: Any, file: str, line: int | None,
                           problems: list[Problem]) -> tuple[SlotRejection, ...]:
    if not isinstance(raw, list):
        problems.append(Problem(file, line, f"slot '{slot}': 'rejections' must be a list of {{if, utter}}"))
        return ()
    rejections = []
    for index, entry in enumerate(raw):
        where = line_of(raw, index) or line
        if not isinstance(entry, dict) or "if" not in entry or not isinstance(entry.get("utter"), str) \
                or not entry["utter"].strip():
            problems.append(Problem(file, where, f"slot '{slot}': each rejection needs both 'if' (a condition) "
                                                 "and 'utter' (a response name)"))
            continue
        for key in entry:
            if key not in ("if", "utter"):
                message = f"slot '{slot}': unknown key '{key}' in a rejection (only 'if' and 'utter')"
                problems.append(Problem(file, line_of(entry, key) or where, message))
        issues: list[tuple[str, int | None, str | None]] = []
        condition = condition_or_issue(entry["if"], issues, where, None)
        problems += [Problem(file, at, f"slot '{slot}': {message}") for message, at, _ in issues]
        if not issues:
            source = condition.source if condition is not None else str(entry["if"])
            rejections.append(SlotRejection(source, str(entry["utter"]), where, condition))
    return tuple(rejections)


def _parse_responses(responses: Any, file: str, domain: Domain, problems: list[Problem]) -> None:
    if not isinstance(responses, dict):
        problems.append(Problem(file, line_of(responses), "'responses' must be a mapping"))
        return
    for name, variations in responses.items():
        line = line_of(responses, name)
        if not isinstance(variations, list) or not variations:
            problems.append(Problem(file, line, f"response '{name}' must be a non-empty list of variations"))
            continue
        parsed = []
        for index, variation in enumerate(variations):
            if not isinstance(variation, dict) or not ({"text", "custom", "image", "buttons", "attachment"}
                                                        & set(variation)):
                problems.append(Problem(file, line, f"response '{name}' has a variation without text"))
                continue
            problems += response_translation_problems(str(name), variation, file,
                                                      line_of(variations, index) or line)
            parsed.append(plain(variation))
        domain.responses[str(name)] = parsed
        domain.response_lines[str(name)] = (file, line)
