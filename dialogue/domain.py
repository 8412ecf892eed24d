"""The domain: slots (typed, with initial values and coercion) and responses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dialogue.yaml_io import Problem, line_of, plain

SLOT_TYPES = ("text", "bool", "float", "categorical", "any", "list")
DOMAIN_KEYS = {"version", "intents", "entities", "slots", "responses", "actions", "forms", "session_config",
               "config", "e2e_actions"}
TRUE_WORDS = {"true", "yes", "y", "1", "on"}
FALSE_WORDS = {"false", "no", "n", "0", "off"}


class CoercionError(ValueError):
    """A value does not fit a slot's type; ``rejection`` names the response to say."""

    def __init__(self, slot: str, value: Any, rejection: str) -> None:
        self.slot, self.value, self.rejection = slot, value, rejection
        super().__init__(f"value {value!r} does not fit slot '{slot}'")


@dataclass(frozen=True)
class SlotDefinition:
    """A slot as the domain declares it."""

    name: str
    type: str = "any"
    values: tuple[str, ...] = ()
    initial_value: Any = None
    line: int | None = None
    file: str | None = None

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
        if self.type == "text":
            return value if isinstance(value, str) else _text(value)
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
    response_lines: dict[str, tuple[str, int | None]] = field(default_factory=dict)

    def initial_slots(self) -> dict[str, Any]:
        return {name: slot.initial_value for name, slot in self.slots.items()}

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

    def as_dict(self) -> dict[str, Any]:
        """The domain in Rasa's JSON shape (sent to action servers)."""
        return {
            "version": "3.1",
            "intents": list(self.intents),
            "entities": [],
            "slots": {
                n: {"type": s.type, "initial_value": s.initial_value, "mappings": [{"type": "from_llm"}],
                    **({"values": list(s.values)} if s.values else {})}
                for n, s in self.slots.items()
            },
            "responses": self.responses,
            "actions": list(self.actions),
            "forms": {},
            "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
        }


def parse_domain(node: Any, file: str) -> tuple[Domain, list[Problem]]:
    """Parse one domain file's mapping, collecting problems instead of failing on the first."""
    domain, problems = Domain(), []
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
    return domain, problems


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
        domain.slots[str(name)] = SlotDefinition(
            str(name), slot_type, values, plain(spec.get("initial_value")), line, file)


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
        for variation in variations:
            if not isinstance(variation, dict) or not ({"text", "custom", "image", "buttons", "attachment"}
                                                        & set(variation)):
                problems.append(Problem(file, line, f"response '{name}' has a variation without text"))
                continue
            parsed.append(plain(variation))
        domain.responses[str(name)] = parsed
        domain.response_lines[str(name)] = (file, line)
