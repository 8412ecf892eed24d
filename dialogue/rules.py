"""Rasa's NLU-based rules (``rules:`` in ``data/``), the two common kinds.

Rasa Pro projects may keep some of their dialogue in the older NLU-based system next to CALM
("coexistence", e.g. rasa-calm-demo's greet, goodbye, hotel search and restaurant form). Two
kinds of rule are run, as Rasa's RulePolicy predicts them:

* one ``intent`` followed by ``action`` steps, run when a message carries that intent (an
  ``/intent`` payload, or the intent a test scripts) and no flow's ``nlu_trigger`` takes it; an
  ``action: <form>`` may be followed by ``active_loop: <form>`` (the form activates,
  :mod:`dialogue.forms`);
* the end of a form: ``condition: [active_loop: <form>]`` with steps ``action: <form>``,
  ``active_loop: null`` (optionally ``slot_was_set: [requested_slot: null]``) and then actions,
  run when that form is done.

Other rules (other conditions, ``slot_was_set``, several intents) and ``stories`` are accepted and
ignored (one warning each), as are the NLU training examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from helpdesk.dialogue.yaml_io import Problem, line_of

RULE_KEYS = {"rule", "steps"}
FORM_END_KEYS = {"rule", "steps", "condition"}


@dataclass(frozen=True)
class Rule:
    name: str
    #: the intent that triggers the rule; "" for the end of a form
    intent: str
    actions: tuple[str, ...]
    file: str
    line: int | None
    #: for the end of a form: the form (its ``condition: [active_loop: <form>]``)
    after_form: str | None = None


def parse_rules(node: dict[str, Any], file: str) -> tuple[list[Rule], list[Problem]]:
    """The simple rules of one file, and a warning for each rule that is ignored."""
    rules: list[Rule] = []
    ignored: list[Problem] = []
    items = node.get("rules")
    for index, item in enumerate(items if isinstance(items, list) else []):
        line = line_of(items, index)
        rule = _simple_rule(item, file, line) or _form_end_rule(item, file, line)
        if rule is not None:
            rules.append(rule)
        else:
            name = item.get("rule") if isinstance(item, dict) else None
            ignored.append(Problem(file, line, f"rule '{name}' ignored: only rules made of one intent and "
                                               "actions (or a form), and rules for the end of a form, are run"))
    return rules, ignored


def _simple_rule(item: Any, file: str, line: int | None) -> Rule | None:
    if not isinstance(item, dict) or set(map(str, item)) - RULE_KEYS:
        return None
    steps = item.get("steps")
    if not isinstance(steps, list) or len(steps) < 2 or not all(isinstance(s, dict) and len(s) == 1 for s in steps):
        return None
    first, rest = steps[0], steps[1:]
    if "intent" not in first:
        return None
    actions: list[str] = []
    for step in rest:
        if "action" in step:
            actions.append(str(step["action"]))
        elif not ("active_loop" in step and actions and step["active_loop"] == actions[-1]):
            return None  # active_loop only right after the form's own action: its activation
    return Rule(str(item.get("rule") or ""), str(first["intent"]), tuple(actions), file, line)


def _form_end_rule(item: Any, file: str, line: int | None) -> Rule | None:
    if not isinstance(item, dict) or set(map(str, item)) - FORM_END_KEYS:
        return None
    condition, steps = item.get("condition"), item.get("steps")
    if not (isinstance(condition, list) and len(condition) == 1 and isinstance(condition[0], dict)
            and set(condition[0]) == {"active_loop"} and condition[0]["active_loop"]):
        return None
    form = str(condition[0]["active_loop"])
    if not isinstance(steps, list) or not all(isinstance(s, dict) and len(s) == 1 for s in steps):
        return None
    if steps[:2] != [{"action": form}, {"active_loop": None}]:
        return None
    rest = steps[2:]
    if rest and rest[0] == {"slot_was_set": [{"requested_slot": None}]}:
        rest = rest[1:]
    if not rest or not all("action" in s for s in rest):
        return None
    return Rule(str(item.get("rule") or ""), "", tuple(str(s["action"]) for s in rest), file, line,
                after_form=form)


