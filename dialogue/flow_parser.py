"""Parse ``flows:`` YAML (ruamel nodes, line numbers kept) into :class:`~dialogue.flows.Flow`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpdesk.dialogue.flows import (
    END,
    STEP_KINDS,
    Branch,
    Flow,
    FlowParseError,
    FlowStep,
    Rejection,
    condition_or_issue,
)
from helpdesk.dialogue.languages import flow_translation_issues
from helpdesk.dialogue.yaml_io import line_of, plain

FLOW_KEYS = {
    "description", "name", "if", "nlu_trigger", "persisted_slots", "always_include_in_prompt",
    "run_pattern_completed", "translation", "metadata", "file_path", "on_activate", "steps",
}
COMMON_STEP_KEYS = {"id", "next", "description", "metadata"}
#: an action step takes only ``id``, ``next``, ``action`` and ``metadata`` (RASA-NOTES §1)
ACTION_STEP_EXCLUDED = {"description"}
STEP_KEYS = {
    "action": set(),
    "collect": {"utter", "ask_before_filling", "reset_after_flow_ends", "rejections", "force_slot_filling",
                "silence_timeout", "dtmf", "collect-tool-binding"},
    "link": set(),
    "call": {"mcp_server", "mapping", "exit_if"},
    "set_slots": set(),
    "noop": set(),
}
Issues = list[tuple[str, int | None, str | None]]


@dataclass
class _Pending:
    """A step being parsed whose ``next`` may point into nested step lists not yet numbered."""

    step: FlowStep
    raw_next: Any
    nested: list[tuple[Any, list[_Pending]]] = field(default_factory=list)


class _FlowParser:
    def __init__(self, flow_id: str, node: Any, file: str) -> None:
        self.flow_id = flow_id
        self.node = node
        self.file = file
        self.issues: Issues = []
        self.ordered: list[_Pending] = []
        #: collect steps that say ``reset_after_flow_ends`` (line, step): not with persisted_slots
        self.reset_options: list[tuple[int | None, FlowStep]] = []

    def parse(self) -> Flow:
        node = self.node
        if not isinstance(node, dict):
            raise FlowParseError([("a flow must be a mapping with 'description' and 'steps'", line_of(node), None)])
        for key in node:
            if key not in FLOW_KEYS:
                self.issues.append((f"unknown flow key '{key}'", line_of(node, key), None))
        description = node.get("description")
        if not isinstance(description, str) or not description.strip():
            self.issues.append(("missing required key 'description'", line_of(node), None))
        steps_node = node.get("steps")
        if not isinstance(steps_node, list) or not steps_node:
            self.issues.append(("'steps' must be a non-empty list", line_of(node, "steps") or line_of(node), None))
            steps_node = []
        top = self._sequence(steps_node, ())
        self._assign_ids()
        self._resolve(top)
        flow = self._build(node, description)
        if self.issues:
            raise FlowParseError(self.issues)
        return flow

    def _sequence(self, items: list[Any], path: tuple[int, ...]) -> list[_Pending]:
        pendings: list[_Pending] = []
        for index, item in enumerate(items):
            pending = self._step(item, line_of(items, index), path)
            if pending is None:
                continue
            pending.step.last_in_list = index == len(items) - 1
            pendings.append(pending)
        return pendings

    def _step(self, item: Any, line: int | None, path: tuple[int, ...]) -> _Pending | None:
        if not isinstance(item, dict):
            self.issues.append(("a step must be a mapping", line, None))
            return None
        kinds = [k for k in STEP_KINDS if k in item]
        sid = str(item["id"]) if "id" in item else None
        if len(kinds) != 1:
            what = "no step type" if not kinds else "more than one step type (" + ", ".join(kinds) + ")"
            self.issues.append((f"step has {what}; use exactly one of {', '.join(STEP_KINDS)}", line, sid))
            return None
        kind = kinds[0]
        allowed = COMMON_STEP_KEYS | {kind} | STEP_KEYS[kind]
        if kind == "action":
            allowed -= ACTION_STEP_EXCLUDED
        for key in item:
            if key not in allowed:
                self.issues.append((f"unknown key '{key}' in {kind} step", line_of(item, key) or line, sid))
        step = FlowStep(id=sid or "", kind=kind, line=line, explicit_next="next" in item, branch_path=path,
                        description=_opt_str(item.get("description")), metadata=plain(item.get("metadata") or {}))
        self._fill(step, item, line)
        if kind == "collect" and "reset_after_flow_ends" in item:
            self.reset_options.append((line_of(item, "reset_after_flow_ends") or line, step))
        pending = _Pending(step, item.get("next"))
        self.ordered.append(pending)
        self._nested(pending, path)
        return pending

    def _fill(self, step: FlowStep, item: Any, line: int | None) -> None:
        value = item[step.kind]
        if step.kind == "action":
            step.action = _require_str(value, "action", self.issues, line, step.id)
        elif step.kind in ("link", "call"):
            step.target = _require_str(value, step.kind, self.issues, line, step.id)
            if step.kind == "call":
                self._unsupported_call(step, item, line)
        elif step.kind == "collect":
            step.collect = _require_str(value, "collect", self.issues, line, step.id)
            step.utter = _opt_str(item.get("utter"))
            step.ask_before_filling = bool(item.get("ask_before_filling", False))
            step.reset_after_flow_ends = bool(item.get("reset_after_flow_ends", True))
            step.force_slot_filling = bool(item.get("force_slot_filling", False))
            step.rejections = self._rejections(item.get("rejections") or [], line, step.id)
        elif step.kind == "set_slots":
            step.set_slots = self._set_slots(value, line, step.id)
        elif step.kind == "noop" and value is not True:
            self.issues.append(("noop must be 'noop: true'", line, step.id))

    def _unsupported_call(self, step: FlowStep, item: Any, line: int | None) -> None:
        """Rasa 3.21's ``call`` step also calls an MCP tool (``mcp_server`` + ``mapping``) or a
        sub-agent (``exit_if``; rasa/shared/core/flows/steps/call.py, ``CallFlowStep``): neither is
        supported here, and each is refused in one line naming it rather than run as a flow call."""
        if "mcp_server" in item or "mapping" in item:
            server = plain(item.get("mcp_server"))
            self.issues.append((f"call of MCP tool '{step.target}' (mcp_server: {server}) is not supported: "
                                "only calls of flows are", line, step.id))
        elif "exit_if" in item:
            self.issues.append((f"call of sub-agent '{step.target}' (exit_if) is not supported: "
                                "only calls of flows are", line, step.id))

    def _rejections(self, raw: Any, line: int | None, sid: str | None) -> list[Rejection]:
        result: list[Rejection] = []
        if not isinstance(raw, list):
            self.issues.append(("'rejections' must be a list of {if, utter}", line, sid))
            return result
        for i, rej in enumerate(raw):
            rline = line_of(raw, i) or line
            if not isinstance(rej, dict) or "if" not in rej or "utter" not in rej:
                self.issues.append(("each rejection needs both 'if' and 'utter'", rline, sid))
                continue
            cond = condition_or_issue(rej["if"], self.issues, rline, sid)
            result.append(Rejection(cond, str(rej["utter"]), str(rej["if"])))
        return result

    def _set_slots(self, raw: Any, line: int | None, sid: str | None) -> list[tuple[str, Any]]:
        if not isinstance(raw, list):
            self.issues.append(("set_slots must be a list of '- slot: value' entries", line, sid))
            return []
        pairs = []
        for i, entry in enumerate(raw):
            if not isinstance(entry, dict) or len(entry) != 1:
                self.issues.append(("each set_slots entry must be one 'slot: value'", line_of(raw, i) or line, sid))
                continue
            ((name, value),) = entry.items()
            pairs.append((str(name), plain(value)))
        return pairs

    def _nested(self, pending: _Pending, path: tuple[int, ...]) -> None:
        raw = pending.raw_next
        if not isinstance(raw, list):
            return
        for index, arm in enumerate(raw):
            if not isinstance(arm, dict):
                continue
            body = arm.get("then", arm.get("else"))
            if isinstance(body, list):
                seq = self._sequence(body, (*path, len(self.ordered), index))
                if not seq:
                    self.issues.append(("empty step list in a branch", line_of(raw, index), pending.step.id or None))
                pending.nested.append((arm, seq))

    def _assign_ids(self) -> None:
        for index, pending in enumerate(self.ordered):
            step = pending.step
            if not step.id:
                step.id = f"{self.flow_id}_{index}_{_postfix(step)}"

    def _resolve(self, seq: list[_Pending]) -> None:
        for i, pending in enumerate(seq):
            following = seq[i + 1].step.id if i + 1 < len(seq) else None
            pending.step.next = self._branches(pending, following, not pending.step.branch_path)
            for _, nested in pending.nested:
                self._resolve(nested)

    def _branches(self, pending: _Pending, following: str | None, top_level: bool) -> list[Branch]:
        step, raw = pending.step, pending.raw_next
        if raw is None:
            if step.kind == "link":
                return []
            return [Branch(following or END)] if (following or top_level) else []
        if isinstance(raw, str):
            return [Branch(str(raw))]
        if not isinstance(raw, list):
            self.issues.append((f"'next' must be a step id or a list of if/then/else, got {raw!r}", step.line, step.id))
            return []
        nested = {id(arm): seq for arm, seq in pending.nested}
        branches = []
        for index, arm in enumerate(raw):
            line = line_of(raw, index) or step.line
            if not isinstance(arm, dict) or not ({"if", "else"} & set(arm)):
                self.issues.append(("each 'next' entry needs 'if' + 'then' or 'else'", line, step.id))
                continue
            body = arm.get("then") if "if" in arm else arm.get("else")
            if body is None:
                self.issues.append(("'if' in 'next' needs a 'then'", line, step.id))
                continue
            target = nested[id(arm)][0].step.id if isinstance(body, list) and nested.get(id(arm)) else str(body)
            if "if" in arm:
                cond = condition_or_issue(arm["if"], self.issues, line, step.id)
                branches.append(Branch(target, cond, str(arm["if"])))
            else:
                branches.append(Branch(target))
        return branches

    def _nlu_triggers(self, node: Any) -> list[tuple[str, float]]:
        """``nlu_trigger``: a non-empty list of ``- intent: name`` or
        ``- intent: {name: x, confidence_threshold: 0.8}`` (threshold 0 to 1, default 0)."""
        if "nlu_trigger" not in node:
            return []
        raw = node.get("nlu_trigger")
        shape = "'nlu_trigger' must be a list of '- intent: name' or '- intent: {name, confidence_threshold}'"
        if not isinstance(raw, list) or not raw:
            self.issues.append((shape, line_of(node, "nlu_trigger"), None))
            return []
        triggers = []
        for index, entry in enumerate(raw):
            line = line_of(raw, index) or line_of(node, "nlu_trigger")
            trigger = _nlu_trigger(entry)
            if trigger is None:
                self.issues.append((shape, line, None))
            else:
                triggers.append(trigger)
        return triggers

    def _build(self, node: Any, description: Any) -> Flow:
        guard_source = node.get("if")
        guard = None
        if guard_source is not None:
            guard = condition_or_issue(guard_source, self.issues, line_of(node, "if"), None)
        if "persisted_slots" in node:
            for line, step in self.reset_options:
                self.issues.append(("'reset_after_flow_ends' cannot be combined with the flow's 'persisted_slots': "
                                    "list the slot under 'persisted_slots' instead", line, step.id))
        return Flow(
            id=self.flow_id, description=str(description or "").strip(), steps=[p.step for p in self.ordered],
            name=_opt_str(node.get("name")) or "", file=self.file, line=line_of(node),
            guard=guard, guard_source=plain(guard_source),
            persisted_slots=[str(s) for s in node.get("persisted_slots") or []],
            always_include_in_prompt=bool(node.get("always_include_in_prompt", False)),
            run_pattern_completed=bool(node.get("run_pattern_completed", True)),
            nlu_triggers=self._nlu_triggers(node), metadata=plain(node.get("metadata") or {}),
            translations=self._translations(node),
        )

    def _translations(self, node: Any) -> dict[str, str]:
        """``translation: {<lang>: {name: ...}}`` (Rasa's flow name translations)."""
        if "translation" not in node:
            return {}
        names, issues = flow_translation_issues(node["translation"], line_of(node, "translation"))
        self.issues += [(message, line, None) for message, line in issues]
        return names


def _postfix(step: FlowStep) -> str:
    if step.kind == "collect":
        return f"collect_{step.collect}"
    if step.kind == "action":
        return str(step.action)
    if step.kind in ("link", "call"):
        return f"{step.kind}_{step.target}"
    return step.kind


def _nlu_trigger(entry: Any) -> tuple[str, float] | None:
    intent = entry.get("intent") if isinstance(entry, dict) and set(map(str, entry)) == {"intent"} else None
    if isinstance(intent, dict):
        name, threshold = intent.get("name"), intent.get("confidence_threshold", 0.0)
        if set(map(str, intent)) - {"name", "confidence_threshold"} or not isinstance(name, str) or not name \
                or isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
                or not 0 <= threshold <= 1:
            return None
        return name, float(threshold)
    if isinstance(intent, str) and intent:
        return intent, 0.0
    return None


def _opt_str(value: Any) -> str | None:
    return str(value) if value is not None else None


def _require_str(value: Any, key: str, issues: Issues, line: int | None, sid: str | None) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    issues.append((f"'{key}' needs a name, got {value!r}", line, sid or None))
    return None


def parse_flow(flow_id: str, node: Any, file: str = "<memory>") -> Flow:
    """Parse one flow mapping; raises FlowParseError listing every problem found."""
    return _FlowParser(flow_id, node, file).parse()
