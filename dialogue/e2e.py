"""Running Rasa-style end-to-end test files (RASA-NOTES §7, §13) against an assistant.

A test file has ``test_cases`` and optionally ``fixtures``, ``metadata`` and
``stub_custom_actions``; ``conftest.yml`` files in the folders above a test file (up to the
assistant folder, or the folder given to :func:`run_tests`) add fixtures. Each test case runs as a
fresh conversation with its own :class:`~dialogue.engine.Engine`; the checks after a user step
(step style) and the ``assertions`` of a user step are matched against the events of that turn
(see :mod:`dialogue.e2e_checks`). Malformed files and steps become failed cases with file and line.
Commands a user step carries (``commands:`` on it, or a ``- commands:`` step right after it, as
tests annotated by Rasa's tooling have them) replace understanding for that message.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpdesk.dialogue.actions.registry import ActionRunner, StubActions
from helpdesk.dialogue.assistant import Assistant
from helpdesk.dialogue.commands import Clarify, Command, CommandFormatError, Error, SetSlot, StartFlow
from helpdesk.dialogue.commands.dsl import parse_command_text
from helpdesk.dialogue.commands.set_slot import EXTRACTOR_LLM
from helpdesk.dialogue.e2e_checks import (
    JUDGED,
    STEP_CHECKS,
    Check,
    SpecError,
    TurnOutput,
    describe_turn,
    expectation,
    failed_checks,
    parse_assertion,
    parse_step_check,
)
from helpdesk.dialogue.e2e_overlay import Overlay, apply_overlay
from helpdesk.dialogue.engine import Engine, UserMessage
from helpdesk.dialogue.ports import Ports
from helpdesk.dialogue.yaml_io import AssistantError, Problem, line_of, plain, read_yaml

if TYPE_CHECKING:
    from helpdesk.dialogue.generators import CommandGenerator

TEST_FILE_RE = re.compile(r"^['\"]?test_cases['\"]?\s*:", re.M)
CONFTEST = "conftest.yml"
USER_KEYS = {"user", "metadata", "commands", "assertions", "assertion_order_enabled"}
#: ``user:`` written as a mapping: ``user: {text: ..., metadata: name}``
USER_MAPPING_KEYS = {"text", "metadata"}
#: a step holding only ``commands`` (tests annotated with commands, as Rasa's annotation tool
#: writes them): the commands of the user step before it
COMMANDS_STEP = "commands"
ERROR_STEP = "error"


@dataclass
class Failure:
    """One unmet expectation, or (``step == "error"``) a problem with the test file itself."""

    test_case: str
    file: str
    line: int | None
    step: str
    expected: str
    actual: list[str]

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.step == ERROR_STEP:
            return f"{where}: error: {self.expected}"
        lines = [f"{where}: {self.step}", f"  expected: {self.expected}"]
        if not self.actual:
            return "\n".join(lines + ["  actual:   nothing (no bot messages or events in that turn)"])
        return "\n".join(lines + ["  actual:"] + [f"    - {item}" for item in self.actual])


@dataclass
class CaseResult:
    """The outcome of one test case; ``skipped`` lists assertions that could not be judged."""

    name: str
    file: str
    passed: bool
    failures: list[Failure]
    line: int | None = None
    skipped: list[str] = field(default_factory=list)
    #: why the case was not run (``run_tests(not_run=...)``); such a case neither passes nor fails
    not_run: str | None = None


@dataclass
class SuiteResult:
    """All cases of a run."""

    cases: list[CaseResult]
    passed: int
    failed: int
    not_run: int = 0

    def summary(self) -> str:
        """The failed cases (if any) and, as the last line, ``"N passed, M failed"``."""
        lines = [f"failed: {c.name} ({_where(c.file, c.line)})" for c in self.cases
                 if not c.passed and c.not_run is None]
        return "\n".join(lines + [f"{self.passed} passed, {self.failed} failed"])


@dataclass
class UserStep:
    text: str
    line: int | None
    metadata: dict[str, Any]
    commands: list[Command] | None
    #: the NLU intent a scripted-commands overlay gives the message (``intent x``)
    intent: str | None = None
    #: the NLU entities a scripted-commands overlay gives the message (``entity e v``)
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PlannedTurn:
    """A user message (None: the session start) and what must hold afterwards."""

    user: UserStep | None
    checks: list[Check] = field(default_factory=list)
    assertions: list[Check] = field(default_factory=list)
    ordered: bool = False


@dataclass
class CaseSpec:
    name: str
    line: int | None
    turns: list[PlannedTurn]
    slots: dict[str, Any]
    stubs: dict[str, dict[str, Any]]
    problems: list[Problem]


@dataclass
class FileContext:
    """What a test file shares between its cases."""

    file: str
    fixtures: dict[str, dict[str, Any]]
    metadata: dict[str, dict[str, Any]]
    stubs: dict[str, dict[str, Any]]
    problems: list[Problem]


# --- discovery -------------------------------------------------------------------------------


def discover(paths: list[Path]) -> list[Path]:
    """Test files among ``paths``: files as given, folders searched for YAML with ``test_cases``.

    A path that does not exist is returned as it is, so that running it reports the problem.
    """
    return [file for file, _ in _discover(paths)]


def _discover(paths: list[Path]) -> list[tuple[Path, Path]]:
    found: dict[Path, Path] = {}
    for path in paths:
        if not path.is_dir():
            found.setdefault(path, path.parent)
            continue
        for file in sorted(path.rglob("*")):
            rel = file.relative_to(path)
            if file.suffix in (".yml", ".yaml") and file.is_file() and file.name != CONFTEST \
                    and not any(part.startswith(".") for part in rel.parts) and _is_test_file(file):
                found.setdefault(file, path)
    return list(found.items())


def _is_test_file(path: Path) -> bool:
    try:
        return TEST_FILE_RE.search(path.read_text(encoding="utf-8")) is not None
    except (OSError, UnicodeDecodeError):
        return False


# --- running ---------------------------------------------------------------------------------


def run_tests(paths: list[Path], assistant: Assistant,
              generator_factory: Callable[[Assistant], CommandGenerator], *,
              remote: ActionRunner | None = None, overlay: Overlay | None = None,
              not_run: dict[str, str] | None = None) -> SuiteResult:
    """Run every test case found under ``paths``; never raises for a bad test file.

    With an ``overlay`` (:mod:`dialogue.e2e_overlay`) user steps get their scripted commands.
    Cases named in ``not_run`` are reported with the reason given, and not run."""
    cases: list[CaseResult] = []
    for file, root in _discover(paths):
        specs, problems = load_test_file(file, root, assistant.path)
        if overlay is not None:
            apply_overlay(specs, file, overlay)
        if problems:
            cases.append(_error_case(file.name, str(file), problems))
        for spec in specs:
            if not_run and spec.name in not_run:
                cases.append(CaseResult(spec.name, str(file), False, [], spec.line, not_run=not_run[spec.name]))
                continue
            cases.append(_run_case(spec, str(file), assistant, generator_factory, remote))
    if overlay is not None and overlay.unused():
        cases.append(_error_case(Path(overlay.path).name, overlay.path, overlay.unused()))
    passed = sum(1 for c in cases if c.passed)
    skipped = sum(1 for c in cases if c.not_run is not None)
    return SuiteResult(cases=cases, passed=passed, failed=len(cases) - passed - skipped, not_run=skipped)


def _error_case(name: str, file: str, problems: list[Problem], line: int | None = None) -> CaseResult:
    failures = [Failure(name, p.file, p.line, ERROR_STEP, p.message, []) for p in problems]
    return CaseResult(name=name, file=file, passed=False, failures=failures, line=line)


def _run_case(spec: CaseSpec, file: str, assistant: Assistant,
              generator_factory: Callable[[Assistant], CommandGenerator],
              remote: ActionRunner | None) -> CaseResult:
    if spec.problems:
        return _error_case(spec.name, file, spec.problems, spec.line)
    result = CaseResult(name=spec.name, file=file, passed=True, failures=[], line=spec.line)
    try:
        ports = Ports(actions=assistant.action_runner(stubs=StubActions(spec.stubs), remote=remote),
                      rng=random.Random(0))
        engine = Engine(assistant, generator_factory(assistant), ports)
    except Exception as exc:  # noqa: BLE001 - a broken generator fails the case, not the run
        return _error_case(spec.name, file, [Problem(file, spec.line, f"cannot start the engine: {exc}")],
                           spec.line)
    state: dict[str, Any] | None = {"slots": dict(spec.slots)} if spec.slots else None
    for turn in spec.turns:
        output, state, crash = _play(engine, state, turn, spec.name)
        if crash is not None:
            result.failures.append(Failure(spec.name, file, turn.user.line if turn.user else spec.line,
                                           _user_label(turn), "the turn to run", [crash]))
            break
        result.failures += _judge(turn, output, spec.name, file)
        result.skipped += [f"{_where(file, c.line)} {c.kind}: no LLM judge configured"
                           for c in turn.assertions if c.kind in JUDGED]
    result.passed = not result.failures
    return result


def _play(engine: Engine, state: dict[str, Any] | None, turn: PlannedTurn,
          case: str) -> tuple[TurnOutput, dict[str, Any] | None, str | None]:
    """Send the turn's user message; the session start (no message) produces nothing."""
    if turn.user is None:
        return TurnOutput([], []), state, None
    user = turn.user
    message = UserMessage(user.text, f"e2e::{case}", None, dict(user.metadata), user.commands, user.intent,
                          list(user.entities))
    try:
        result = engine.handle(state, message)
    except Exception as exc:  # noqa: BLE001 - an engine crash fails the case, not the run
        return TurnOutput([], []), state, f"the engine raised {type(exc).__name__}: {exc}"
    return TurnOutput(list(result.events), list(result.commands)), result.state, None


def _judge(turn: PlannedTurn, output: TurnOutput, case: str, file: str) -> list[Failure]:
    """Step-style checks look at the whole turn; assertions may have to hold in their order."""
    failed = [(c, "") for c in failed_checks(turn.checks, output, ordered=False)]
    suffix = " (in the order of the assertions)" if turn.ordered else ""
    failed += [(c, suffix) for c in failed_checks(turn.assertions, output, ordered=turn.ordered)]
    failed.sort(key=lambda pair: pair[0].line or 0)
    actual = describe_turn(output)
    after = f" (after {_user_label(turn)})"
    return [Failure(case, file, c.line, c.label + after, expectation(c) + note, actual) for c, note in failed]


def _user_label(turn: PlannedTurn) -> str:
    return f"user: {turn.user.text}" if turn.user else "session start"


def _where(file: str, line: int | None) -> str:
    return f"{file}:{line}" if line else file


# --- reading test files ----------------------------------------------------------------------


def load_test_file(path: Path, root: Path, assistant_path: Path | None = None
                   ) -> tuple[list[CaseSpec], list[Problem]]:
    """Parse a test file into cases; file-level problems (bad YAML, bad fixtures...) come apart."""
    file = str(path)
    try:
        node = read_yaml(path)
    except AssistantError as exc:
        return [], exc.problems
    except OSError as exc:
        return [], [Problem(file, None, f"cannot read the test file: {exc.strerror or exc}")]
    if not isinstance(node, dict) or not isinstance(node.get("test_cases"), list):
        return [], [Problem(file, line_of(node) if node is not None else None,
                            "a test file needs a top-level 'test_cases' list")]
    fixtures: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for conftest in _conftest_files(path, root, assistant_path):
        fixtures.update(_read_conftest(conftest, problems))
    context = FileContext(file, fixtures, {}, {}, problems)
    fixtures.update(_named_maps(node, "fixtures", context, _slot_list))
    context.metadata = _named_maps(node, "metadata", context, _mapping)
    context.stubs = _stubs(node, context)
    cases = node["test_cases"]
    specs = [_parse_case(item, line_of(cases, i), i, context) for i, item in enumerate(cases)]
    return specs, context.problems


def _conftest_files(path: Path, root: Path, assistant_path: Path | None) -> list[Path]:
    """``conftest.yml`` files from the assistant folder (or ``root``) down to the file's folder."""
    folder = path.resolve().parent
    stop = root.resolve()
    if assistant_path is not None and folder.is_relative_to(assistant_path.resolve()):
        stop = assistant_path.resolve()
    if not folder.is_relative_to(stop):
        stop = folder
    found = []
    while True:
        if (folder / CONFTEST).is_file():
            found.append(folder / CONFTEST)
        if folder == stop or folder.parent == folder:
            return list(reversed(found))
        folder = folder.parent


def _read_conftest(path: Path, problems: list[Problem]) -> dict[str, dict[str, Any]]:
    try:
        node = read_yaml(path)
    except AssistantError as exc:
        problems += exc.problems
        return {}
    if not isinstance(node, dict):
        return {}
    context = FileContext(str(path), {}, {}, {}, problems)
    return _named_maps(node, "fixtures", context, _slot_list)


def _named_maps(node: dict[str, Any], key: str, context: FileContext,
                convert: Callable[[Any], dict[str, Any] | None]) -> dict[str, dict[str, Any]]:
    """``fixtures`` / ``metadata``: a list of ``{name: ...}`` entries."""
    entries = node.get(key)
    if entries is None:
        return {}
    if not isinstance(entries, list):
        context.problems.append(Problem(context.file, line_of(node, key), f"'{key}' must be a list"))
        return {}
    out: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        values = [convert(v) for v in entry.values()] if isinstance(entry, dict) and len(entry) == 1 else [None]
        if values[0] is None:
            context.problems.append(Problem(context.file, line_of(entries, index),
                                            f"each '{key}' entry must look like '- name: {_SHAPES[key]}'"))
            continue
        out[str(next(iter(entry)))] = values[0]
    return out


_SHAPES = {"fixtures": "[{slot: value}, ...]", "metadata": "{key: value, ...}"}


def _slot_list(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        return None
    return {str(k): plain(v) for item in value for k, v in item.items()}


def _mapping(value: Any) -> dict[str, Any] | None:
    return {str(k): plain(v) for k, v in value.items()} if isinstance(value, dict) else None


def _stubs(node: dict[str, Any], context: FileContext) -> dict[str, dict[str, Any]]:
    stubs = node.get("stub_custom_actions")
    if stubs is None:
        return {}
    if not isinstance(stubs, dict):
        context.problems.append(Problem(context.file, line_of(node, "stub_custom_actions"),
                                        "'stub_custom_actions' must map action names to {events, responses}"))
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, stub in stubs.items():
        lists = isinstance(stub, dict) and all(isinstance(stub.get(k) or [], list) for k in ("events", "responses"))
        if not lists or set(map(str, stub)) - {"events", "responses"}:
            context.problems.append(Problem(context.file, line_of(stubs, name),
                                            f"stub '{name}' must have only 'events' and 'responses' lists"))
            continue
        out[str(name)] = {"events": plain(stub.get("events") or []), "responses": plain(stub.get("responses") or [])}
    return out


def _case_stubs(name: str, stubs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Stubs for all cases, overridden by ``case_name::action_name`` ones for this case."""
    out = {k: v for k, v in stubs.items() if "::" not in k}
    prefix = f"{name}::"
    out.update({k[len(prefix):]: v for k, v in stubs.items() if k.startswith(prefix)})
    return out


def _parse_case(node: Any, line: int | None, index: int, context: FileContext) -> CaseSpec:
    spec = CaseSpec(f"test case #{index + 1}", line, [PlannedTurn(None)], {}, {}, [])
    if not isinstance(node, dict):
        spec.problems.append(Problem(context.file, line, "a test case must be a mapping with 'test_case' and 'steps'"))
        return spec
    if node.get("test_case") in (None, ""):
        spec.problems.append(Problem(context.file, line, "test case without a 'test_case' name"))
    else:
        spec.name = str(node["test_case"])
    spec.stubs = _case_stubs(spec.name, context.stubs)
    spec.slots = _case_fixtures(node, spec, context)
    metadata = _case_metadata(node, spec, context)
    steps = node.get("steps")
    if not isinstance(steps, list):
        spec.problems.append(Problem(context.file, line_of(node, "steps") or line, "a test case needs a 'steps' list"))
        return spec
    for step_index, step in enumerate(steps):
        _add_step(step, line_of(steps, step_index) or line, spec, metadata, context)
    return spec


def _case_fixtures(node: dict[str, Any], spec: CaseSpec, context: FileContext) -> dict[str, Any]:
    names = node.get("fixtures") or []
    names = names if isinstance(names, list) else [names]
    slots: dict[str, Any] = {}
    for name in names:
        if str(name) not in context.fixtures:
            spec.problems.append(Problem(context.file, line_of(node, "fixtures"), f"unknown fixture '{name}'"))
            continue
        slots.update(context.fixtures[str(name)])
    return slots


def _case_metadata(node: dict[str, Any], spec: CaseSpec, context: FileContext) -> dict[str, Any]:
    name = node.get("metadata")
    if name is None:
        return {}
    if str(name) not in context.metadata:
        spec.problems.append(Problem(context.file, line_of(node, "metadata"), f"unknown metadata '{name}'"))
        return {}
    return dict(context.metadata[str(name)])


def _add_step(step: Any, line: int | None, spec: CaseSpec, metadata: dict[str, Any],
              context: FileContext) -> None:
    problem = _step_problem(step)
    if problem:
        spec.problems.append(Problem(context.file, line, problem))
        return
    kind = next(k for k in ("user", COMMANDS_STEP, *STEP_CHECKS) if k in step)
    try:
        if kind == "user":
            spec.turns.append(_user_turn(step, line, metadata, context))
        elif kind == COMMANDS_STEP:
            _attach_commands(spec.turns[-1], step, line)
        else:
            spec.turns[-1].checks.append(parse_step_check(kind, step[kind], line))
    except SpecError as exc:
        spec.problems.append(Problem(context.file, exc.line or line, exc.message))


def _step_problem(step: Any) -> str | None:
    if not isinstance(step, dict) or not step:
        return "a step must be a mapping like '- user: hello' or '- bot: Hi!'"
    keys = {str(k) for k in step}
    if {"slot_was_set", "slot_was_not_set"} <= keys:
        return "a step cannot have both 'slot_was_set' and 'slot_was_not_set'"
    if "user" in keys:
        unknown = sorted(keys - USER_KEYS)
        return f"unknown key(s) in a user step: {', '.join(unknown)}" if unknown else None
    if keys == {COMMANDS_STEP}:
        return None
    user_only = sorted(keys & (USER_KEYS - {"user"}))
    if user_only:
        return f"{', '.join(repr(k) for k in user_only)} only allowed on user steps"
    kinds = keys & set(STEP_CHECKS)
    if len(kinds) != 1 or len(keys) != 1:
        extra = sorted(keys - set(STEP_CHECKS)) or sorted(keys)
        return f"unknown step kind '{', '.join(extra)}' (expected one of user, {', '.join(STEP_CHECKS)})"
    return None


def _user_turn(step: dict[str, Any], line: int | None, case_metadata: dict[str, Any],
               context: FileContext) -> PlannedTurn:
    metadata = dict(case_metadata)
    text, name = _user_text(step, line)
    if name is not None:
        if str(name) not in context.metadata:
            raise SpecError(f"unknown metadata '{name}'", line_of(step, "metadata") or line)
        metadata.update(context.metadata[str(name)])
    commands = _commands(step["commands"], step, line) if "commands" in step else None
    turn = PlannedTurn(UserStep(text, line, metadata, commands), ordered=bool(step.get("assertion_order_enabled")))
    assertions = step.get("assertions")
    if assertions is not None:
        if not isinstance(assertions, list):
            raise SpecError("'assertions' must be a list", line_of(step, "assertions") or line)
        turn.assertions = [parse_assertion(a, line_of(assertions, i) or line) for i, a in enumerate(assertions)]
    return turn


def _user_text(step: dict[str, Any], line: int | None) -> tuple[str, Any]:
    """The message and the metadata name of a user step: ``user: text`` (+ ``metadata: name``) or
    ``user: {text: ..., metadata: name}``."""
    value = step["user"]
    if isinstance(value, dict):
        unknown = sorted(set(map(str, value)) - USER_MAPPING_KEYS)
        if unknown or "text" not in value:
            raise SpecError("a user step written as a mapping takes 'text' and an optional 'metadata'",
                            line_of(step, "user") or line)
        if "metadata" in value and "metadata" in step:
            raise SpecError("'metadata' given twice in a user step", line_of(step, "metadata") or line)
        text = value["text"]
        name = value.get("metadata", step.get("metadata"))
    else:
        text, name = value, step.get("metadata")
    if isinstance(text, (dict, list)):
        raise SpecError("a user message must be text", line_of(step, "user") or line)
    return ("" if text is None else str(plain(text))), name


def _attach_commands(turn: PlannedTurn, step: dict[str, Any], line: int | None) -> None:
    """A ``commands`` step gives the commands of the user step just before it."""
    if turn.user is None:
        raise SpecError("a 'commands' step must follow a user step", line)
    if turn.user.commands is not None:
        raise SpecError("commands given twice for the same user step", line)
    turn.user.commands = _commands(step[COMMANDS_STEP], step, line)


def _commands(raw: Any, step: dict[str, Any], line: int | None) -> list[Command]:
    """Commands as text (``start flow x``, ``StartFlow(x)``) or as annotations (``- start_flow: x``,
    ``- set_slot: [{slot: value}]``, ``- clarify: [a, b]``, ``- skip_question``, ``- error:`` with
    ``error_type``)."""
    items = raw if isinstance(raw, list) else [raw]
    commands: list[Command] = []
    for index, item in enumerate(items):
        where = (line_of(raw, index) if isinstance(raw, list) else line_of(step, "commands")) or line
        try:
            commands += _command_item(item)
        except CommandFormatError as exc:
            raise SpecError(f"invalid command: {exc}", where) from None
    return commands


def _command_item(item: Any) -> list[Command]:
    if not isinstance(item, dict):
        text = str(plain(item))
        try:
            return [parse_command_text(text)]
        except CommandFormatError:
            if "_" not in text:
                raise
        try:
            return [parse_command_text(text.replace("_", " "))]
        except CommandFormatError:
            raise CommandFormatError(f"cannot parse command {text!r}") from None
    keys = [str(k) for k in item]
    if "error" in keys:
        error = item.get("error")
        detail = error if isinstance(error, dict) else item
        return [Error(str(detail.get("error_type") or "rasa_internal_error_default"))]
    if len(keys) != 1:
        raise CommandFormatError(f"cannot parse command {plain(item)!r}: use one key per command")
    key, value = keys[0], plain(next(iter(item.values())))
    if key == "start_flow" and isinstance(value, str):
        return [StartFlow(value)]
    if key in ("set_slot", "set_slots"):
        pairs = value if isinstance(value, list) else [value]
        if not pairs or not all(isinstance(p, dict) for p in pairs):
            raise CommandFormatError(f"'{key}' needs '- slot: value' entries, got {value!r}")
        return [SetSlot(str(name), slot_value, EXTRACTOR_LLM) for pair in pairs for name, slot_value in pair.items()]
    if key == "clarify":
        options = value if isinstance(value, list) else [value]
        return [Clarify(tuple(str(o) for o in options if o is not None))]
    if value is None:
        return _command_item(key)
    raise CommandFormatError(f"cannot parse command {plain(item)!r}")


# --- reporting -------------------------------------------------------------------------------


def format_report(result: SuiteResult) -> str:
    """One line per case, the failures under the failed ones, and the summary as the last line."""
    lines: list[str] = []
    for case in result.cases:
        if case.not_run is not None:
            lines.append(f"NOT RUN {case.name} ({_where(case.file, case.line)}): {case.not_run}")
        elif case.passed:
            lines.append(f"PASSED {case.name}")
        else:
            lines.append(f"FAILED {case.name} ({_where(case.file, case.line)})")
            lines += ["  " + row for failure in case.failures for row in str(failure).splitlines()]
        lines += [f"  skipped {note}" for note in case.skipped]
    skipped = sum(len(c.skipped) for c in result.cases)
    if skipped:
        lines.append(f"{skipped} assertion(s) skipped (no LLM judge)")
    lines.append(f"{result.passed} passed, {result.failed} failed"
                 + (f", {result.not_run} not run" if result.not_run else ""))
    return "\n".join(lines)
