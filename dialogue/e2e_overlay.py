"""Scripted commands for e2e tests that have none: an overlay file written next to the tests.

Rasa's own e2e tests (the project templates, rasa-calm-demo) give only what the user says; Rasa's
LLM command generator turns each message into commands. To replay them without an LLM, an overlay
lists, per test case, the commands each user step should produce — the same commands a
``- commands:`` step of an annotated Rasa test (RASA-NOTES §7) would carry::

    test basic conversation flow:          # the test case name
      - hello: [start flow hello]          # user text: its commands
      - "what can you help me with?": [start flow help]
    tests/e2e/cards.yml::block a card:     # 'file::case' when a name is used in several files
      - I lost my card: [start flow block_card, set slot reason lost]
    tests/e2e/cards.yml::block a card#2:   # the second case with that name in that file
      - block my card: [start flow block_card]

Entries are matched in order to the case's user steps, and their text must be the step's text.
Button payloads (``/SetSlots(...)``, ``/intent``) are read without understanding, as in Rasa, so
they may be left out. A user step without commands and without a payload is an error, as is an
entry left over — so a test edit never silently falls back to offline understanding. An entry
``intent <name>`` gives the intent Rasa's NLU pipeline would classify, and ``entity <type> <value>``
an entity it would extract (its entity extractors, e.g. Duckling's ``number`` and ``time``; the
value is a number when it reads as one, so ``entity number 3`` is the number 3): they drive NLU-based rules
and forms (:mod:`dialogue.rules`, :mod:`dialogue.forms`) as commands drive flows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpdesk.dialogue.yaml_io import AssistantError, Problem, line_of, plain, read_yaml

if TYPE_CHECKING:
    from helpdesk.dialogue.e2e import CaseSpec

PAYLOAD_PREFIX = "/"
#: ``intent greet``: what Rasa's NLU pipeline classifies the message as (for NLU-based rules)
INTENT_RE = re.compile(r"^intent\s+([\w-]+)$")
#: ``entity number 3``: an entity Rasa's NLU pipeline extracts from the message
ENTITY_RE = re.compile(r"^entity\s+([\w-]+)\s+(.+)$", re.S)


@dataclass
class OverlayStep:
    text: str
    commands: Any
    line: int | None


@dataclass
class Overlay:
    """The scripted commands of one overlay file, by test case (``name`` or ``file::name``)."""

    path: str
    cases: dict[str, list[OverlayStep]] = field(default_factory=dict)
    lines: dict[str, int | None] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def steps_for(self, file: Path, case: str, occurrence: int = 1) -> tuple[str, list[OverlayStep]] | None:
        """The entry for the ``occurrence``-th case named ``case`` in ``file``: ``<path suffix>::case``
        wins over the bare name, and ``case#2`` names the second case of that name in a file."""
        posix = file.as_posix()
        names = [f"{case}#{occurrence}", case] if occurrence > 1 else [case, f"{case}#1"]
        for wanted in names:
            for key, steps in self.cases.items():
                where, sep, name = key.rpartition("::")
                if sep and name == wanted and (posix == where or posix.endswith("/" + where)):
                    return key, steps
            if wanted in self.cases:
                return wanted, self.cases[wanted]
        return None

    def unused(self) -> list[Problem]:
        """Entries no test case used (a renamed or deleted test)."""
        return [Problem(self.path, self.lines.get(key), f"no test case '{key}' uses these commands")
                for key in self.cases if key not in self.used]


def read_overlay(path: Path) -> Overlay:
    """Read an overlay file; raise AssistantError naming the line of each malformed entry."""
    node = read_yaml(path)
    overlay, problems = Overlay(str(path)), []
    if not isinstance(node, dict):
        raise AssistantError([Problem(str(path), None, "an overlay maps test case names to lists of steps")])
    for key, steps in node.items():
        line = line_of(node, key)
        overlay.lines[str(key)] = line
        if not isinstance(steps, list):
            problems.append(Problem(str(path), line, f"'{key}': expected a list of '- user text: [commands]'"))
            continue
        parsed = []
        for index, step in enumerate(steps):
            step_line = line_of(steps, index) or line
            if not isinstance(step, dict) or len(step) != 1:
                problems.append(Problem(str(path), step_line, "each step must be one '- user text: [commands]'"))
                continue
            text, commands = next(iter(step.items()))
            parsed.append(OverlayStep(_text(text), commands, step_line))
        overlay.cases[str(key)] = parsed
    if problems:
        raise AssistantError(problems)
    return overlay


def _text(value: Any) -> str:
    return "" if value is None else str(plain(value))


def apply_overlay(specs: list[CaseSpec], file: Path, overlay: Overlay) -> None:
    """Give each user step of ``specs`` its scripted commands; problems go on the case."""
    from helpdesk.dialogue.e2e import SpecError, _commands

    seen: dict[str, int] = {}
    for spec in specs:
        seen[spec.name] = seen.get(spec.name, 0) + 1
        found = overlay.steps_for(file, spec.name, seen[spec.name])
        if found is None:
            if any(t.user and t.user.commands is None and not _is_payload(t.user.text) for t in spec.turns):
                spec.problems.append(Problem(str(file), spec.line,
                                             f"no scripted commands for this test case in {overlay.path}"))
            continue
        key, steps = found
        overlay.used.add(key)
        pending = list(steps)
        for turn in spec.turns:
            user = turn.user
            if user is None or user.commands is not None:
                continue
            if pending and pending[0].text == user.text:
                step = pending.pop(0)
                raw = list(step.commands) if isinstance(step.commands, list) else [step.commands]
                intents = [INTENT_RE.match(str(c)) for c in raw if c is not None]
                user.intent = next((m.group(1) for m in intents if m), None)
                user.entities = [_entity(m) for m in (ENTITY_RE.match(str(c)) for c in raw if c is not None) if m]
                raw = [c for c in raw if c is not None and not INTENT_RE.match(str(c))
                       and not ENTITY_RE.match(str(c))]
                try:
                    user.commands = _commands(raw, {"commands": raw}, step.line)
                except SpecError as exc:
                    spec.problems.append(Problem(overlay.path, exc.line, exc.message))
            elif not _is_payload(user.text):
                expected = f"'{pending[0].text}' (line {pending[0].line})" if pending else "nothing"
                spec.problems.append(Problem(str(file), user.line,
                                             f"user step '{user.text}' has no scripted commands in "
                                             f"{overlay.path} (next entry: {expected})"))
                break
        for step in pending if not spec.problems else []:
            spec.problems.append(Problem(overlay.path, step.line,
                                         f"'{step.text}' matches no user step of '{spec.name}'"))


def _entity(match: re.Match[str]) -> dict[str, Any]:
    """``entity number 3`` → ``{"entity": "number", "value": 3}``: a number stays a number (as
    Duckling's ``number`` gives it), anything else is the text as written."""
    raw = match.group(2).strip()
    value: Any = raw
    for kind in (int, float):
        try:
            value = kind(raw)
            break
        except ValueError:
            continue
    return {"entity": match.group(1), "value": value}


def _is_payload(text: str) -> bool:
    return text.startswith(PAYLOAD_PREFIX)
