"""Load-time checks of an assistant: its flows against themselves, the domain and each other.

Follows Rasa's ``validate_flow`` and ``rasa data validate`` rules (see RASA-NOTES §1), plus what
Rasa lets slip through silently: unquoted words and unknown slots in conditions are errors here.
:func:`validate_assistant` returns every problem found, each with file, line, flow and step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from helpdesk.dialogue.domain import Domain
from helpdesk.dialogue.flows import Flow, FlowStep
from helpdesk.dialogue.validation_rules import (
    FLOW_RULES,
    Context,
    Problems,
    bare_word_issues,
    bare_words,
    comparison_issues,
    problem,
    typed_comparisons,
    unknown_condition_slots,
    unknown_slot_issues,
)
from helpdesk.dialogue.yaml_io import Problem

__all__ = ["BUILTIN_ACTIONS", "format_problems", "validate_assistant"]

BUILTIN_ACTIONS: frozenset[str] = frozenset({
    "action_listen", "action_restart", "action_session_start", "action_cancel_flow",
    "action_correct_flow_slot", "action_clarify_flows", "action_run_slot_rejections",
    "action_clean_stack", "action_trigger_search", "action_trigger_chitchat", "action_reset_routing",
    "action_hangup", "action_handoff_metric", "action_repeat_bot_messages",
    "action_continue_interrupted_flow", "action_cancel_interrupted_flows", "action_default_fallback",
    "action_send_text", "action_extract_slots", "action_human_handoff",
})

#: patterns any flow may link to (pattern_chitchat only from other patterns)
LINKABLE_PATTERNS = frozenset({"pattern_human_handoff", "pattern_search", "pattern_customer_satisfaction"})


def validate_assistant(flows: list[Flow], domain: Domain, custom_actions: set[str],
                       sub_agents: frozenset[str] = frozenset()) -> list[Problem]:
    """Every problem in ``flows`` (the assistant's plus default patterns), sorted by file and line."""
    ctx = Context(domain, frozenset(custom_actions) | frozenset(domain.actions), _flows_by_id(flows), sub_agents)
    problems: list[Problem] = []
    for flow in flows:
        for flow_rule in FLOW_RULES:
            problems.extend(flow_rule(flow))
        for context_rule in CONTEXT_RULES:
            problems.extend(context_rule(flow, ctx))
    problems.extend(duplicate_flow_texts(flows))
    problems.extend(shared_nlu_triggers(list(ctx.flows.values())))
    problems.extend(slot_validations(ctx))
    problems.extend(form_slots(domain))
    return sorted(dict.fromkeys(problems), key=lambda p: (p.file, p.line or 0))


def _flows_by_id(flows: list[Flow]) -> dict[str, Flow]:
    """Flows by id; an assistant flow overrides the default pattern with the same id."""
    return {flow.id: flow for flow in sorted(flows, key=lambda f: not f.is_default)}


def format_problems(problems: Iterable[Problem]) -> str:
    """One line per problem: ``flows/x.yml:12: flow 'a', step 'b': reason``."""
    return "\n".join(_format(p) for p in problems)


def _format(p: Problem) -> str:
    where = p.file + (f":{p.line}" if p.line else "")
    names = [text for text in (p.flow and f"flow '{p.flow}'", p.step and f"step '{p.step}'") if text]
    return f"{where}: {', '.join(names)}: {p.message}" if names else f"{where}: {p.message}"


# ----------------------------------------------------------------------------- slots


def _step_slots(step: FlowStep) -> list[tuple[str, str]]:
    """(slot, verb) for the slots a step fills: ``collected`` or ``set``."""
    if step.kind == "collect" and step.collect:
        return [(step.collect, "collected")]
    return [(name, "set") for name, _ in step.set_slots]


def unknown_step_slots(flow: Flow, ctx: Context) -> Problems:
    """Collected and set slots must be declared in the domain."""
    for step in flow.steps:
        for slot, verb in _step_slots(step):
            if slot not in ctx.domain.slots:
                yield problem(flow, step, f"unknown slot '{slot}' is {verb} here: "
                                          "declare it under 'slots' in the domain")


def list_slots(flow: Flow, ctx: Context) -> Problems:
    """List slots cannot be collected or set by a flow."""
    for step in flow.steps:
        for slot, verb in _step_slots(step):
            definition = ctx.domain.slots.get(slot)
            if definition is not None and definition.type == "list":
                yield problem(flow, step, f"list slot '{slot}' cannot be {verb} in a flow")


def persisted_slots(flow: Flow, ctx: Context) -> Problems:
    """Every ``persisted_slots`` entry must be collected or set in the flow."""
    filled = set(flow.collected_slots()) | set(flow.set_slot_names())
    for slot in flow.persisted_slots:
        if slot not in filled:
            yield problem(flow, None, f"persisted slot '{slot}' is neither collected nor set in this flow")


# ----------------------------------------------------------------------------- responses and actions


def collect_questions(flow: Flow, ctx: Context) -> Problems:
    """A collect step needs its question response, ``action_ask_<slot>`` or an initial value."""
    for step in flow.collect_steps():
        if step.collect and "{{" not in step.utter_name and not _can_ask(step, ctx):
            yield problem(flow, step, f"unknown response '{step.utter_name}': slot '{step.collect}' has no "
                                      f"question; add the response or a custom action 'action_ask_{step.collect}'")


def _can_ask(step: FlowStep, ctx: Context) -> bool:
    slot = ctx.domain.slots.get(step.collect or "")
    return (step.utter_name in ctx.domain.responses or f"action_ask_{step.collect}" in ctx.actions
            or (slot is not None and slot.initial_value is not None))


def action_names(flow: Flow, ctx: Context) -> Problems:
    """An action step runs a response, a built-in action or a custom action."""
    for step in flow.steps:
        name = step.action
        if step.kind != "action" or not name or "{{" in name or _known_action(name, ctx):
            continue
        if name.startswith("utter_"):
            yield problem(flow, step, f"unknown response '{name}': add it under 'responses' in the domain")
        else:
            yield problem(flow, step, f"unknown action '{name}': it is not a response, a built-in action "
                                      "or a custom action")


def _known_action(name: str, ctx: Context) -> bool:
    if name in ctx.domain.responses:
        return True
    return not name.startswith("utter_") and (name in BUILTIN_ACTIONS or name in ctx.actions)


def rejection_responses(flow: Flow, ctx: Context) -> Problems:
    """A rejection's ``utter`` must be a response."""
    for step in flow.collect_steps():
        for rejection in step.rejections:
            if "{{" not in rejection.utter and rejection.utter not in ctx.domain.responses:
                yield problem(flow, step, f"unknown response '{rejection.utter}' in a rejection "
                                          f"(if: {rejection.source})")


# ----------------------------------------------------------------------------- links and calls


def link_and_call_targets(flow: Flow, ctx: Context) -> Problems:
    """Link/call targets exist and respect the pattern restrictions."""
    for step in flow.steps:
        if step.kind in ("link", "call") and step.target and "{{" not in step.target:
            target = ctx.flows.get(step.target)
            if step.kind == "call" and target is None and step.target in ctx.sub_agents:
                # Rasa 3.21 calls a sub-agent when the target names one (CallFlowStep.is_calling_agent)
                yield problem(flow, step, f"call of sub-agent '{step.target}' (configured in sub_agents/) "
                                          "is not supported: only calls of flows are")
                continue
            reason = _target_issue(flow, step, target)
            if reason:
                yield problem(flow, step, reason)


def _target_issue(flow: Flow, step: FlowStep, target: Flow | None) -> str | None:
    if target is None:
        return f"{step.kind} target flow '{step.target}' does not exist"
    if step.kind == "call":
        if target.is_pattern:
            return f"pattern '{target.id}' cannot be called"
        if any(s.kind == "link" for s in target.steps):
            return f"called flow '{target.id}' contains link steps: a called flow may not link"
        return None
    if target.is_pattern and not _may_link_to_pattern(flow, target.id):
        allowed = ", ".join(sorted(LINKABLE_PATTERNS))
        return f"cannot link to pattern '{target.id}': only {allowed} (and pattern_chitchat from patterns)"
    return None


def _may_link_to_pattern(flow: Flow, pattern_id: str) -> bool:
    return pattern_id in LINKABLE_PATTERNS or (pattern_id == "pattern_chitchat" and flow.is_pattern)


def internal_error_links(flow: Flow, ctx: Context) -> Problems:
    """``pattern_internal_error`` may not link anywhere."""
    if flow.id == "pattern_internal_error":
        for step in flow.steps:
            if step.kind == "link":
                yield problem(flow, step, "pattern_internal_error may not link to another flow")


CONTEXT_RULES: tuple[Callable[[Flow, Context], Problems], ...] = (
    unknown_step_slots, list_slots, persisted_slots, collect_questions, action_names, rejection_responses,
    link_and_call_targets, internal_error_links, bare_words, unknown_condition_slots, typed_comparisons,
)


# ----------------------------------------------------------------------------- domain slot validation


def slot_validations(ctx: Context) -> Iterator[Problem]:
    """A slot's ``validation``: its responses exist (as ``rasa data validate`` checks) and its
    conditions pass the same checks as the conditions in flows."""
    for slot in ctx.domain.slots.values():
        rules = slot.validation
        if rules is None:
            continue
        file = slot.file or "domain"
        for rejection in rules.rejections:
            if rejection.utter not in ctx.domain.responses:
                yield Problem(file, rejection.line, f"slot '{slot.name}': unknown response '{rejection.utter}' "
                                                    f"in a validation rejection (if: {rejection.source})")
            if rejection.condition is not None:
                for message in (*bare_word_issues(rejection.condition),
                                *unknown_slot_issues(rejection.condition, ctx.domain),
                                *comparison_issues(rejection.condition, ctx.domain)):
                    yield Problem(file, rejection.line, f"slot '{slot.name}': {message}")
        refill = rules.refill_utter_for(slot.name)
        ask_action = f"action_ask_{slot.name}"
        if refill in ctx.domain.responses or (not rules.refill_utter and ask_action in ctx.actions):
            continue
        hint = "" if rules.refill_utter else f" (or write a 'refill_utter', or a custom action '{ask_action}')"
        yield Problem(file, rules.refill_line, f"slot '{slot.name}': unknown response '{refill}' to ask "
                                              f"again when its validation rejects a value: add it under "
                                              f"'responses'{hint}")


def form_slots(domain: Domain) -> Iterator[Problem]:
    """A form's ``required_slots`` are domain slots (``rasa data validate``: Validator.verify_form_slots)."""
    for form in domain.forms.values():
        for slot in form.required_slots:
            if slot not in domain.slots:
                yield Problem(form.file or "domain", form.line, f"form '{form.name}': required slot '{slot}' "
                                                                "is not a slot of the domain")


# ----------------------------------------------------------------------------- across flows


def duplicate_flow_texts(flows: list[Flow]) -> Iterator[Problem]:
    """User flows need distinct descriptions and names (the LLM tells flows apart by them)."""
    user_flows = [flow for flow in flows if not flow.is_pattern]
    for attribute in ("description", "name"):
        first: dict[str, Flow] = {}
        for flow in user_flows:
            key = " ".join(str(getattr(flow, attribute)).split()).lower()
            if key and key in first:
                other = first[key]
                yield problem(flow, None, f"same {attribute} as flow '{other.id}' ({other.file}:{other.line}): "
                                          f"flow {attribute}s must be unique")
            first.setdefault(key, flow)


def shared_nlu_triggers(flows: list[Flow]) -> Iterator[Problem]:
    """An intent may trigger only one flow (``nlu_trigger``)."""
    first: dict[str, Flow] = {}
    for flow in flows:
        for intent in dict.fromkeys(name for name, _ in flow.nlu_triggers):
            other = first.setdefault(intent, flow)
            if other is not flow:
                yield problem(flow, None, f"intent '{intent}' in 'nlu_trigger' already triggers flow '{other.id}' "
                                          f"({other.file}:{other.line}): an intent may trigger only one flow")
