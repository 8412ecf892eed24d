"""Rules about one flow on its own (ids, ``next`` lists, reachability) and about its conditions.

Every rule is a small generator yielding :class:`~dialogue.yaml_io.Problem`. Structural rules take
only the flow; condition rules also take a :class:`Context` (the domain). :mod:`dialogue.validation`
runs them all, together with the rules about actions, responses and other flows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from helpdesk.dialogue.conditions import Condition
from helpdesk.dialogue.conditions_parser import Compare, Literal, Name, Node, children, parse
from helpdesk.dialogue.domain import Domain, SlotDefinition
from helpdesk.dialogue.flows import END, START, Flow, FlowStep
from helpdesk.dialogue.yaml_io import Problem

Problems = Iterator[Problem]


@dataclass(frozen=True)
class Context:
    """What rules may look at besides the flow itself."""

    domain: Domain
    #: custom actions (from the action code) plus the domain's declared ``actions``
    actions: frozenset[str] = frozenset()
    #: every flow by id (assistant flows win over default patterns of the same id)
    flows: dict[str, Flow] = field(default_factory=dict)
    #: ids of Rasa sub-agents configured in the project (``sub_agents/<id>/config.yml``)
    sub_agents: frozenset[str] = frozenset()


def problem(flow: Flow, step: FlowStep | None, message: str) -> Problem:
    """A problem located at ``step`` (or at the flow when there is no step)."""
    line = step.line if step is not None else flow.line
    return Problem(flow.file, line, message, flow.id, step.id if step is not None else None)


# ----------------------------------------------------------------------------- structure


def unknown_next_targets(flow: Flow) -> Problems:
    """Every ``next`` target must be a step id of the flow or END."""
    for step in flow.steps:
        for target in dict.fromkeys(branch.target for branch in step.next):
            if target != END and flow.step(target) is None:
                yield problem(flow, step, f"'next' goes to unknown step '{target}': "
                                          "use the id of a step of this flow or END")


def unreachable_steps(flow: Flow) -> Problems:
    """Every step must be reachable from the first step by following ``next``."""
    if not flow.steps:
        return
    reached = _reachable(flow, flow.steps[0].id)
    for step in flow.steps:
        if step.id not in reached:
            yield problem(flow, step, "step is unreachable: no 'next' leads to it from the first step")


def _reachable(flow: Flow, first: str) -> set[str]:
    seen: set[str] = set()
    todo = [first]
    while todo:
        step_id = todo.pop()
        step = flow.step(step_id)
        if step is None or step_id in seen:
            continue
        seen.add(step_id)
        todo.extend(branch.target for branch in step.next)
    return seen


def next_list_shape(flow: Flow) -> Problems:
    """A ``next`` list needs an ``else`` (only as its last entry) after its ``if`` entries."""
    for step in flow.steps:
        branches = step.next
        if any(branch.source is None for branch in branches[:-1]):
            yield problem(flow, step, "'else' must be the last entry of a 'next' list")
        if branches and branches[-1].source is not None:
            yield problem(flow, step, f"'if: {branches[-1].source}' in 'next' has no 'else': "
                                      "end the list with '- else: <step id or END>'")


def link_placement(flow: Flow) -> Problems:
    """A link step ends its branch, so it may not have ``next``.

    As in Rasa (``validation.py``: only a link step *with* a next link is refused), a link may be
    followed by more steps when those are jump targets; a step nothing leads to is reported by
    :func:`unreachable_steps`.
    """
    for step in flow.steps:
        if step.kind == "link" and step.explicit_next:
            yield problem(flow, step, "a link step cannot have 'next': the flow ends there "
                                      "and the linked flow takes over")


def nested_last_step_next(flow: Flow) -> Problems:
    """The last step of a then/else list must say where to go (link steps excepted)."""
    for step in flow.steps:
        if step.branch_path and step.last_in_list and not step.explicit_next and step.kind != "link":
            yield problem(flow, step, "the last step of a nested branch must say 'next' explicitly "
                                      "(for example 'next: END')")


def noop_next(flow: Flow) -> Problems:
    """A noop step exists only to branch, so it must have ``next``."""
    for step in flow.steps:
        if step.kind == "noop" and not step.explicit_next:
            yield problem(flow, step, "a noop step must have 'next'")


def duplicate_step_ids(flow: Flow) -> Problems:
    """Step ids must be unique within a flow (reported at every repetition)."""
    first_line: dict[str, int | None] = {}
    for step in flow.steps:
        if step.id in first_line:
            where = f" (first on line {first_line[step.id]})" if first_line[step.id] else ""
            yield problem(flow, step, f"step id '{step.id}' is used more than once in this flow{where}")
        else:
            first_line[step.id] = step.line


def reserved_step_ids(flow: Flow) -> Problems:
    """START, END and ids starting with NEXT: are reserved."""
    for step in flow.steps:
        if step.id in (START, END) or step.id.startswith("NEXT:"):
            yield problem(flow, step, f"step id '{step.id}' is reserved (START, END and ids "
                                      "starting with 'NEXT:' cannot be used)")


FLOW_RULES: tuple[Callable[[Flow], Problems], ...] = (
    unknown_next_targets, unreachable_steps, next_list_shape, link_placement, nested_last_step_next,
    noop_next, duplicate_step_ids, reserved_step_ids,
)


# ----------------------------------------------------------------------------- conditions


def conditions_of(flow: Flow) -> Iterator[tuple[FlowStep | None, Condition]]:
    """Parsed conditions of the flow: its guard, ``next`` branches and rejections (not templated ones)."""
    if flow.guard is not None:
        yield None, flow.guard
    for step in flow.steps:
        for branch in step.next:
            if branch.condition is not None:
                yield step, branch.condition
        for rejection in step.rejections:
            if rejection.condition is not None:
                yield step, rejection.condition


def bare_words(flow: Flow, ctx: Context) -> Problems:
    """Unquoted words silently never match in Rasa; here they are an error."""
    for step, condition in conditions_of(flow):
        for message in bare_word_issues(condition):
            yield problem(flow, step, message)


def bare_word_issues(condition: Condition) -> Iterator[str]:
    for word in condition.bare_words():
        yield _bare_word_message(word, condition.source)


def _bare_word_message(word: str, source: str) -> str:
    if "." in word:
        return (f"unknown name '{word}' in condition \"{source}\": "
                "names must start with 'slots.' or 'context.'")
    return f"unquoted value '{word}' in condition \"{source}\": write \"{word}\" with quotes"


def unknown_condition_slots(flow: Flow, ctx: Context) -> Problems:
    """``slots.<x>`` in a condition must name a domain slot."""
    for step, condition in conditions_of(flow):
        for message in unknown_slot_issues(condition, ctx.domain):
            yield problem(flow, step, message)


def unknown_slot_issues(condition: Condition, domain: Domain) -> Iterator[str]:
    names = {ref.split(".")[1] for ref in condition.references() if ref.startswith("slots.")}
    for name in sorted(names - set(domain.slots)):
        yield f"condition \"{condition.source}\" uses unknown slot '{name}'"


def typed_comparisons(flow: Flow, ctx: Context) -> Problems:
    """Categorical slots compare with one of their values; bool slots never with a string."""
    for step, condition in conditions_of(flow):
        for message in comparison_issues(condition, ctx.domain):
            yield problem(flow, step, message)


def comparison_issues(condition: Condition, domain: Domain) -> Iterator[str]:
    for name, value in _slot_literal_comparisons(condition):
        slot = domain.slots.get(name)
        reason = _comparison_issue(slot, value) if slot is not None else None
        if reason:
            yield f"condition \"{condition.source}\": {reason}"


def _slot_literal_comparisons(condition: Condition) -> Iterator[tuple[str, Any]]:
    """(slot, literal) for each ``slots.x = literal`` / ``!=`` (either side) in the condition."""
    for node in _walk(parse(condition.source)):
        if not isinstance(node, Compare) or node.op not in ("=", "!="):
            continue
        for name, other in ((node.left, node.right), (node.right, node.left)):
            if isinstance(name, Name) and len(name.path) == 2 and name.path[0] == "slots" \
                    and isinstance(other, Literal):
                yield name.path[1], other.value


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in children(node):
        yield from _walk(child)


def _comparison_issue(slot: SlotDefinition, value: Any) -> str | None:
    if slot.type == "categorical" and isinstance(value, str) \
            and value.lower() not in {allowed.lower() for allowed in slot.values}:
        allowed = ", ".join(f'"{v}"' for v in slot.values)
        return f"\"{value}\" is not a value of categorical slot '{slot.name}' (values: {allowed})"
    if slot.type == "bool" and isinstance(value, str):
        return (f"bool slot '{slot.name}' is compared with the string \"{value}\": "
                "write true or false without quotes")
    return None
