"""Rasa's NLU-based rules (``rules:`` in ``data/``), the simple kind: an intent, then actions.

Rasa Pro projects may keep some of their dialogue in the older NLU-based system next to CALM
("coexistence", e.g. rasa-calm-demo's greet, goodbye and hotel search). A rule whose steps are one
``intent`` followed by ``action`` steps is run here when a message carries that intent (an
``/intent`` payload, or the intent a test scripts) and no flow's ``nlu_trigger`` takes it: its
actions run in order, as Rasa's RulePolicy predicts them. Rules with ``condition``, forms
(``active_loop``), ``slot_was_set`` or several intents, and ``stories``, are accepted and ignored
(one warning each), as are the NLU training examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dialogue.yaml_io import Problem, line_of

RULE_KEYS = {"rule", "steps"}


@dataclass(frozen=True)
class Rule:
    name: str
    intent: str
    actions: tuple[str, ...]
    file: str
    line: int | None


def parse_rules(node: dict[str, Any], file: str) -> tuple[list[Rule], list[Problem]]:
    """The simple rules of one file, and a warning for each rule that is ignored."""
    rules: list[Rule] = []
    ignored: list[Problem] = []
    items = node.get("rules")
    for index, item in enumerate(items if isinstance(items, list) else []):
        line = line_of(items, index)
        rule = _simple_rule(item, file, line)
        if rule is not None:
            rules.append(rule)
        else:
            name = item.get("rule") if isinstance(item, dict) else None
            ignored.append(Problem(file, line, f"rule '{name}' ignored: only rules made of one intent "
                                               "and actions are run (no conditions, forms or slot steps)"))
    return rules, ignored


def _simple_rule(item: Any, file: str, line: int | None) -> Rule | None:
    if not isinstance(item, dict) or set(map(str, item)) - RULE_KEYS:
        return None
    steps = item.get("steps")
    if not isinstance(steps, list) or len(steps) < 2 or not all(isinstance(s, dict) and len(s) == 1 for s in steps):
        return None
    first, rest = steps[0], steps[1:]
    if "intent" not in first or not all("action" in s for s in rest):
        return None
    return Rule(str(item.get("rule") or ""), str(first["intent"]), tuple(str(s["action"]) for s in rest),
                file, line)


def intent_of_payload(text: str | None) -> str | None:
    """``/greet`` → ``greet`` (an intent payload without entities or slots)."""
    value = (text or "").strip()
    if len(value) > 1 and value.startswith("/") and value[1:].replace("_", "").replace("-", "").isalnum():
        return value[1:]
    return None
