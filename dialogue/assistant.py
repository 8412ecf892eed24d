"""Loading an assistant folder: ours (``flows/*.yml``, ``domain.yml``, ``actions.py``) or a Rasa
project (``domain.yml`` or ``domain/``, flows under ``data/``), plus our default patterns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpdesk.dialogue.actions.registry import ActionRunner, ChainedActions, PythonActions
from helpdesk.dialogue.domain import Domain, parse_domain
from helpdesk.dialogue.flow_parser import parse_flow
from helpdesk.dialogue.flows import FLOW_ID_RE, Flow, FlowParseError, FlowsList
from helpdesk.dialogue.languages import read_config_languages, translation_language, translation_warnings
from helpdesk.dialogue.rules import Rule, parse_rules
from helpdesk.dialogue.yaml_io import AssistantError, Problem, line_of, read_yaml

PATTERNS_FILE = Path(__file__).parent / "patterns" / "default_patterns.yml"
SKIP_DIRS = {"tests", "knowledge", "results", "models", "__pycache__", "node_modules", ".venv", "e2e_tests"}
IGNORED_FILES = {"config.yml", "endpoints.yml", "credentials.yml", "conftest.yml"}
DOMAIN_MARKERS = {"slots", "responses", "intents", "entities", "actions", "forms", "session_config"}
NLU_MARKERS = {"nlu", "rules", "stories", "test_cases", "fixtures", "stub_custom_actions"}


@dataclass
class Assistant:
    """A loaded assistant: all flows (own + default patterns), the merged domain, its actions."""

    path: Path | None
    flows: FlowsList
    domain: Domain
    python_actions: PythonActions | None = None
    config: dict[str, Any] = field(default_factory=dict)
    #: Rasa's command generator input limit (config.yml ``user_input.max_characters``, default 420)
    #: when the project has a Rasa pipeline with an LLM command generator
    max_message_chars: int | None = None
    #: Rasa NLU-based rules of one intent and actions, by intent (:mod:`dialogue.rules`)
    rules: dict[str, Rule] = field(default_factory=dict)
    #: rules run when an NLU-based form ends, by form (:mod:`dialogue.rules`, :mod:`dialogue.forms`)
    form_end_rules: dict[str, Rule] = field(default_factory=dict)
    #: what ``rasa data validate`` warns about (translations): aggregated, and one per item
    warnings: list[Problem] = field(default_factory=list)
    detailed_warnings: list[Problem] = field(default_factory=list)

    @property
    def custom_action_names(self) -> set[str]:
        return self.python_actions.names if self.python_actions else set()

    def action_runner(self, *, stubs: ActionRunner | None = None,
                      remote: ActionRunner | None = None) -> ChainedActions:
        """Test stubs first, then the assistant's Python actions, then an action server."""
        runners = [r for r in (stubs, self.python_actions, remote) if r is not None]
        return ChainedActions(runners)


def yaml_files(root: Path) -> list[Path]:
    """YAML files of an assistant folder in a stable order, skipping tests and documents."""
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        if path.suffix in (".yml", ".yaml") and path.is_file():
            if len(rel.parts) == 1 and path.name in IGNORED_FILES:
                continue
            found.append(path)
    return found


def _load_flows(node: Any, file: str, flows: dict[str, Flow], problems: list[Problem], *,
                default: bool = False) -> None:
    mapping = node.get("flows")
    if not isinstance(mapping, dict):
        problems.append(Problem(file, line_of(node, "flows"), "'flows' must be a mapping of flow ids to flows"))
        return
    for flow_id, flow_node in mapping.items():
        flow_id = str(flow_id)
        line = line_of(mapping, flow_id)
        if not FLOW_ID_RE.match(flow_id):
            problems.append(Problem(file, line, f"invalid flow id '{flow_id}'", flow=flow_id))
            continue
        if flow_id in flows and not flows[flow_id].is_default:
            other = flows[flow_id]
            problems.append(Problem(file, line, f"duplicate flow id (also defined in {other.file}:{other.line})",
                                    flow=flow_id))
            continue
        try:
            flow = parse_flow(flow_id, flow_node, file)
        except FlowParseError as exc:
            problems += [Problem(file, ln or line, msg, flow=flow_id, step=sid) for msg, ln, sid in exc.issues]
            continue
        flow.is_default = default
        flows[flow_id] = flow


def load_defaults() -> tuple[dict[str, Flow], Domain]:
    node = read_yaml(PATTERNS_FILE)
    flows: dict[str, Flow] = {}
    problems: list[Problem] = []
    _load_flows(node, str(PATTERNS_FILE), flows, problems, default=True)
    domain, more = parse_domain({k: v for k, v in node.items() if k != "flows"}, str(PATTERNS_FILE))
    if problems or more:  # pragma: no cover - our own file
        raise AssistantError(problems + more)
    return flows, domain


def load_assistant(path: Path | str, *, validate: bool = True, load_actions: bool = True) -> Assistant:
    """Load and validate an assistant folder; raise AssistantError listing every problem."""
    root = Path(path)
    if not root.is_dir():
        raise AssistantError([Problem(str(root), None, "assistant folder not found")])
    mantle = _mantle_problem(root)
    if mantle is not None:
        raise AssistantError([mantle])
    nlu = _NluParts()
    flows, domain, problems = _read_folder(root, nlu)
    primary, additional, more = read_config_languages(root)
    problems += more
    defaults, default_domain = load_defaults()
    for flow_id, flow in defaults.items():
        flows.setdefault(flow_id, flow)
    domain.merge(default_domain, override=False)
    domain.add_requested_slot()
    domain.set_languages(primary, additional)
    actions = None
    if load_actions and (root / "actions.py").is_file():
        try:
            actions = PythonActions.from_file(root / "actions.py")
        except Exception as exc:  # noqa: BLE001 - report any import failure as a problem
            problems.append(Problem(str(root / "actions.py"), None, f"cannot import actions: {exc}"))
    assistant = Assistant(root, FlowsList(list(flows.values())), domain, actions, _read_config(root),
                          max_message_chars=_rasa_input_limit(root), rules=nlu.rules, form_end_rules=nlu.form_ends)
    if validate:
        from helpdesk.dialogue.validation import validate_assistant

        problems += validate_assistant(list(flows.values()), domain, assistant.custom_action_names,
                                       _sub_agents(root))
        assistant.warnings = translation_warnings(flows.values(), domain) + nlu.ignored
        assistant.detailed_warnings = translation_warnings(flows.values(), domain, detailed=True) + nlu.ignored
    if problems:
        raise AssistantError(problems)
    for flow in flows.values():  # only the assistant's languages are ever shown
        flow.translations = {code: name for code, name in flow.translations.items()
                             if translation_language(code, additional)}
    return assistant


MANTLE_FILE = "agent.yml"
SUB_AGENTS = "sub_agents"


def _sub_agents(root: Path) -> frozenset[str]:
    """Names of the sub-agents a Rasa 3.21 project configures (``sub_agents/<folder>/config.yml``,
    named by its ``agent.name``: rasa/core/available_agents.py), which a ``call`` step may name
    instead of a flow; calling one is refused at validation. The folder name counts too."""
    names: set[str] = set()
    for path in (root / SUB_AGENTS).glob("*/config.yml"):
        names.add(path.parent.name)
        try:
            node = read_yaml(path)
        except AssistantError:
            continue
        agent = node.get("agent") if isinstance(node, dict) else None
        if isinstance(agent, dict) and agent.get("name"):
            names.add(str(agent["name"]))
    return frozenset(names)


def _mantle_problem(root: Path) -> Problem | None:
    """Rasa's experimental Mantle projects (``agent.yml`` + ``skills/``, no flows) are refused in
    one line: their skills, orchestrator and memory are not CALM flows (RASA-NOTES §12.13)."""
    if not (root / MANTLE_FILE).is_file() or not (root / "skills").is_dir():
        return None
    if any(path.is_dir() for path in (root / "data", root / "flows")):
        return None
    return Problem(str(root / MANTLE_FILE), None, "Rasa Mantle projects (agent.yml with skills/) are "
                                                  "not supported: only CALM flows (data/*.yml) are")


@dataclass
class _NluParts:
    """Rasa's NLU-based dialogue found in the project: simple rules, and what is ignored."""

    rules: dict[str, Rule] = field(default_factory=dict)
    form_ends: dict[str, Rule] = field(default_factory=dict)
    ignored: list[Problem] = field(default_factory=list)


def _read_nlu_parts(node: dict[str, Any], file: str, parts: _NluParts) -> None:
    if "rules" in node:
        rules, ignored = parse_rules(node, file)
        for rule in rules:
            if rule.after_form:
                parts.form_ends.setdefault(rule.after_form, rule)
            else:
                parts.rules.setdefault(rule.intent, rule)
        parts.ignored += ignored
    if node.get("stories"):
        parts.ignored.append(Problem(file, line_of(node, "stories"), "stories ignored: NLU-based stories "
                                                                     "are not run (rules and forms are)"))


def _read_folder(root: Path, parts: _NluParts | None = None) -> tuple[dict[str, Flow], Domain, list[Problem]]:
    flows: dict[str, Flow] = {}
    domain = Domain()
    problems: list[Problem] = []
    parts = parts if parts is not None else _NluParts()
    for path in yaml_files(root):
        try:
            node = read_yaml(path)
        except AssistantError as exc:
            problems += exc.problems
            continue
        if not isinstance(node, dict):
            continue
        keys = set(map(str, node))
        _read_nlu_parts(node, str(path), parts)
        if "flows" in keys:
            _load_flows(node, str(path), flows, problems)
        if keys & DOMAIN_MARKERS and (path.name.startswith("domain") or "domain" in path.parts
                                      or "flows" not in keys or keys & {"slots", "responses"}):
            part, more = parse_domain({k: v for k, v in node.items() if k not in ("flows", *NLU_MARKERS)},
                                      str(path))
            problems += more
            domain.merge(part)
    return flows, domain, problems


RASA_CONFIGS = ("config.yml", "config/config.yml")
RASA_INPUT_LIMIT = 420


def _rasa_input_limit(root: Path) -> int | None:
    """``user_input.max_characters`` of the LLM command generator in a Rasa ``config.yml`` (Rasa's
    default 420: longer messages get ``utter_user_input_too_long_error_rasa``); None without one."""
    for name in RASA_CONFIGS:
        path = root / name
        if not path.is_file():
            continue
        try:
            node = read_yaml(path)
        except AssistantError:
            return None
        pipeline = node.get("pipeline") if isinstance(node, dict) else None
        for component in pipeline if isinstance(pipeline, list) else []:
            if isinstance(component, dict) and str(component.get("name", "")).endswith("CommandGenerator"):
                limit = (component.get("user_input") or {}).get("max_characters", RASA_INPUT_LIMIT)
                return int(limit) if isinstance(limit, int) and limit > 0 else RASA_INPUT_LIMIT
    return None


def _read_config(root: Path) -> dict[str, Any]:
    """Our assistant settings (``assistant.yml``: tone etc.); of a Rasa ``config.yml`` only the
    languages are read (:func:`dialogue.languages.read_config_languages`)."""
    path = root / "assistant.yml"
    if not path.is_file():
        return {}
    node = read_yaml(path)
    return dict(node) if isinstance(node, dict) else {}
