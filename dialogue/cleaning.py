"""Cleaning commands before they run (Rasa's rules, see RASA-NOTES §2).

Understanding may propose anything; here unknown flows and slots, forbidden flows, slots that
cannot be filled now and contradictory combinations are dropped or turned into ``cannot handle``,
and a slot that is filled again becomes a correction.
"""

from __future__ import annotations

from typing import Any

from helpdesk.dialogue.commands import (
    CancelFlow,
    CannotHandle,
    ChitChat,
    Clarify,
    Command,
    CorrectSlots,
    RepeatBotMessages,
    SetSlot,
    SkipQuestion,
    StartFlow,
)
from helpdesk.dialogue.commands.set_slot import EXTRACTOR_LLM, EXTRACTOR_NLU, normalise_value
from helpdesk.dialogue.domain import Domain
from helpdesk.dialogue.flows import Flow, FlowsList, FlowStep
from helpdesk.dialogue.tracker import DialogueTracker

RESTRICTED_EXTRACTORS = (EXTRACTOR_LLM, EXTRACTOR_NLU)
#: Rasa's coexistence slot (CALM vs. NLU-based dialogue); when a domain has it, understanding sets it
ROUTE_TO_CALM_SLOT = "route_session_to_calm"
#: slots of the default patterns, which understanding may always fill when asked
SINGLETONS = (CannotHandle, RepeatBotMessages, ChitChat)


def clean_commands(commands: list[Command], tracker: DialogueTracker, flows: FlowsList,
                   domain: Domain) -> list[Command]:
    """Return the commands that may run now, in the order they should be applied."""
    starting = [c.flow for c in commands if isinstance(c, StartFlow)]
    cleaned: list[Command] = []
    corrections: dict[str, Any] = {}
    for command in commands:
        for result in _clean_one(command, tracker, flows, domain, starting):
            if isinstance(result, _Correction):
                corrections.setdefault(result.name, result.value)
            elif result not in cleaned:
                cleaned.append(result)
    if corrections:
        cleaned.append(CorrectSlots(tuple(corrections.items())))
    return _combine(cleaned)


class _Correction:
    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value


def _clean_one(command: Command, tracker: DialogueTracker, flows: FlowsList, domain: Domain,
               starting: list[str]) -> list[Any]:
    if isinstance(command, StartFlow):
        return _clean_start(command, tracker, flows)
    if isinstance(command, SetSlot):
        return _clean_set(command, tracker, flows, domain, starting)
    if isinstance(command, Clarify):
        return _clean_clarify(command, tracker, flows)
    if isinstance(command, CancelFlow):
        return [command] if tracker.user_frames() else [CannotHandle("cannot_handle_no_active_flow")]
    if isinstance(command, SkipQuestion):
        return [command] if tracker.user_frames() and tracker.asked_slot() else []
    return [command]


def _clean_start(command: StartFlow, tracker: DialogueTracker, flows: FlowsList) -> list[Any]:
    flow = flows.get(command.flow)
    if flow is None or flow.is_pattern:
        return []
    on_stack = any(f["flow_id"] == flow.id for f in tracker.user_frames())
    if not on_stack and not flow.is_startable(tracker.slots):
        return []
    active = tracker.active_user_frame()
    if active is not None and active["flow_id"] == flow.id and tracker.top is not None \
            and tracker.top["flow_id"] != "pattern_continue_interrupted":
        return []
    return [command]


def _clean_set(command: SetSlot, tracker: DialogueTracker, flows: FlowsList, domain: Domain,
               starting: list[str]) -> list[Any]:
    if command.name == "flow_name" and isinstance(command.value, str):
        return _clean_start(StartFlow(command.value), tracker, flows)
    if command.name not in domain.slots:
        return [CannotHandle("cannot_handle_invalid_slot")]
    if command.name == ROUTE_TO_CALM_SLOT:  # Rasa exempts the coexistence slot from these rules
        return [] if tracker.slots.get(command.name) == command.value else [command]
    if command.extractor == EXTRACTOR_LLM \
            and not domain.slots[command.name].understanding_may_fill(active_flows(tracker, starting)):
        return []  # its mappings leave it to actions, set_slots and buttons (RASA-NOTES §2)
    value = normalise_value(command.value)
    asked = tracker.asked_slot()
    current = tracker.slots.get(command.name)
    # Rasa's clean_up_slot_command: a slot that already has a value is corrected whatever flow
    # collects it (ask_before_filling ones too); only new values must belong to the active flows
    if current is None and command.extractor in RESTRICTED_EXTRACTORS and command.name != asked \
            and command.name not in collectable_slots(tracker, flows, starting):
        return []
    if command.name == asked or current is None:
        return [SetSlot(command.name, value, command.extractor)]
    if current == value or str(current) == str(value):
        return []
    if command.extractor == "CommandPayloadReader" and not _collected_by_stack(command.name, tracker, flows):
        return [SetSlot(command.name, value, command.extractor)]
    return [_Correction(command.name, value)]


def active_flows(tracker: DialogueTracker, starting: list[str]) -> list[str]:
    """The flows a slot mapping's ``active_flow`` condition can name now: the active user flow and
    the flows it called, plus the flows started in this message."""
    frames = tracker.user_frames()
    active = tracker.active_user_frame()
    index = next((i for i, f in enumerate(frames) if active is not None and f is active), len(frames))
    return [f["flow_id"] for f in frames[index:]] + list(starting)


def _collected_by_stack(slot: str, tracker: DialogueTracker, flows: FlowsList) -> bool:
    return any(slot in (flows[f["flow_id"]].collected_slots() if f["flow_id"] in flows else [])
               for f in tracker.user_frames())


def collectable_slots(tracker: DialogueTracker, flows: FlowsList, starting: list[str]) -> set[str]:
    """Slots understanding may fill now: collects (not ask-before-filling) of the active flow, its
    called children and flows started in this message, plus the slots of patterns on the stack."""
    flow_ids = [f["flow_id"] for f in tracker.stack] + list(starting)
    slots: set[str] = set()
    for flow_id in flow_ids:
        flow = flows.get(flow_id)
        if flow is None or (flow.is_pattern and flow_id not in [f["flow_id"] for f in tracker.stack]):
            continue
        for step in collect_steps_with_calls(flow, flows):
            if step.collect and (not step.ask_before_filling or flow.is_pattern):
                slots.add(step.collect)
    return slots


def collect_steps_with_calls(flow: Flow, flows: FlowsList) -> list[FlowStep]:
    """The collect steps of ``flow`` and of the flows it calls, recursively — Rasa's
    ``Flow.get_collect_steps`` walks ``steps_with_calls_resolved``, so a message that starts
    ``transfer_money`` may fill the slots of the flow it calls (finance template)."""
    steps: list[FlowStep] = []
    seen: set[str] = set()
    pending = [flow]
    while pending:
        current = pending.pop()
        if current.id in seen:
            continue
        seen.add(current.id)
        steps += current.collect_steps()
        pending += [flows[str(s.target)] for s in current.steps if s.kind == "call" and str(s.target) in flows]
    return steps


def _clean_clarify(command: Clarify, tracker: DialogueTracker, flows: FlowsList) -> list[Any]:
    valid = tuple(o for o in command.options
                  if o in flows and not flows[o].is_pattern and flows[o].is_startable(tracker.slots))
    if len(valid) == 1:
        return [StartFlow(valid[0])]
    if not valid and command.options:
        return [CannotHandle()]
    return [Clarify(valid)]


def _combine(commands: list[Command]) -> list[Command]:
    """Clarify only alone; one of each singleton; cannot-handle only if nothing else remains."""
    if any(isinstance(c, Clarify) for c in commands) and any(not isinstance(c, Clarify) for c in commands):
        commands = [c for c in commands if not isinstance(c, Clarify)]
    result: list[Command] = []
    seen: set[type] = set()
    for command in commands:
        if isinstance(command, (*SINGLETONS, CancelFlow, Clarify)):
            if type(command) in seen:
                continue
            seen.add(type(command))
        result.append(command)
    # as in Rasa's clean_up_commands, the coexistence slot does not count as "another command"
    if len([c for c in result if not (isinstance(c, SetSlot) and c.name == ROUTE_TO_CALM_SLOT)]) > 1:
        result = [c for c in result if not isinstance(c, CannotHandle)] or result[:1]
    return result


def apply_force_slot_filling(commands: list[Command], tracker: DialogueTracker) -> list[Command]:
    """While a ``force_slot_filling`` question is open, only its answer counts."""
    top = tracker.collecting_frame()
    if not top or not top["context"].get("force_slot_filling"):
        return commands
    asked = tracker.asked_slot()
    kept: list[Command] = [c for c in commands if isinstance(c, SetSlot) and c.name == asked]
    return kept or [CannotHandle()]
