"""The engine: one customer message in, the assistant's reply, new state and events out.

``Engine.handle`` is pure apart from the injected ports (understanding, actions, randomness):
it takes the stored JSON state and returns the next one. See DESIGN §3.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from helpdesk.dialogue.assistant import Assistant
from helpdesk.dialogue.builtin_actions import LISTEN, run_action
from helpdesk.dialogue.cleaning import ROUTE_TO_CALM_SLOT, active_flows, apply_force_slot_filling, clean_commands
from helpdesk.dialogue.commands import CancelFlow, CannotHandle, Command, Error, SetSlot, StartFlow
from helpdesk.dialogue.commands.cancel_flow import frames_to_cancel
from helpdesk.dialogue.commands.set_slot import EXTRACTOR_LLM
from helpdesk.dialogue.commands.start_flow import ACTIVE_AT_START
from helpdesk.dialogue.executor import DEFAULT_STEP_LIMIT, advance
from helpdesk.dialogue.forms import NluMessage, extract_slots, payload_message, run_form
from helpdesk.dialogue.payloads import customer_may_set, read_payload
from helpdesk.dialogue.ports import Context, Ports
from helpdesk.dialogue.rules import Rule
from helpdesk.dialogue.slot_validation import push_validations, slots_set_since, watched_values
from helpdesk.dialogue.tracker import BotMessage, DialogueTracker

if TYPE_CHECKING:
    from helpdesk.dialogue.generators import CommandGenerator

log = logging.getLogger(__name__)
DEFAULT_MAX_CHARS = 4000


@dataclass
class UserMessage:
    """A customer's message as the engine sees it."""

    text: str | None
    sender_id: str
    channel: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    #: commands given instead of understanding (e2e tests with ``commands:``)
    commands: list[Command] | None = None
    #: the NLU intent, when known (an e2e test's scripted ``intent x``); runs a simple Rasa rule
    intent: str | None = None
    #: the NLU entities, when known (an e2e test's scripted ``entity e v``): fill NLU-mapped slots
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TurnResult:
    """What one turn produced."""

    state: dict[str, Any]
    messages: list[BotMessage]
    events: list[dict[str, Any]]
    effects: list[dict[str, Any]]
    commands: list[dict[str, Any]]


class Engine:
    """Runs turns of conversations against one assistant."""

    def __init__(self, assistant: Assistant, generator: CommandGenerator, ports: Ports | None = None, *,
                 step_limit: int = DEFAULT_STEP_LIMIT, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.assistant = assistant
        self.generator = generator
        self.ports = ports or Ports(actions=assistant.action_runner())
        self.step_limit = step_limit
        limit = assistant.max_message_chars
        self.max_chars = min(max_chars, limit) if limit else max_chars
        self._domain_json = assistant.domain.as_dict()
        #: slots CALM flows collect or set: NLU slot extraction leaves them to CALM (coexistence)
        self._calm_slots = {name for flow in assistant.flows for name in (*flow.collected_slots(),
                                                                           *flow.set_slot_names())}

    def handle(self, state: dict[str, Any] | None, message: UserMessage) -> TurnResult:
        """Run one turn: understand, clean, execute commands, advance the flows."""
        tracker = DialogueTracker.from_state(message.sender_id, state, self.assistant.domain)
        tracker.channel = message.channel
        tracker.latest_message = {"text": message.text, "metadata": message.metadata}
        nlu = self._nlu_for(message, tracker)
        if nlu is not None:
            return self._run_nlu(nlu, tracker, message)
        commands = self._understand(message, tracker)
        wire = [c.as_dict() for c in commands]
        tracker.latest_message["commands"] = wire
        tracker.emit("user", text=message.text, parse_data={"commands": wire}, metadata=message.metadata)
        ctx = Context(tracker, self.assistant.flows, self.assistant.domain, self.ports, self._domain_json)
        execute_commands(commands, ctx)
        advance(ctx, step_limit=self.step_limit)
        return self._finish(tracker, message, [dict(c) for c in wire])

    def resume(self, state: dict[str, Any] | None, sender_id: str, *, channel: str | None = None,
               flow: str | None = None, clear: bool = False) -> TurnResult:
        """Run the assistant again after people had the conversation: keep its slots and stack
        (``clear`` empties the stack) and start ``flow`` (e.g. the satisfaction question) on top
        instead of starting over. A flow the assistant does not know is ignored."""
        tracker = DialogueTracker.from_state(sender_id, state, self.assistant.domain)
        tracker.channel = channel
        if clear:
            tracker.stack.clear()
        if flow and flow in self.assistant.flows:
            tracker.push(flow, kind="pattern" if flow.startswith("pattern_") else "flow")
            advance(Context(tracker, self.assistant.flows, self.assistant.domain, self.ports, self._domain_json),
                    step_limit=self.step_limit)
        if tracker.messages:
            tracker.last_bot_messages = [m.to_dict() for m in tracker.messages]
        tracker.emit("resumed", flow=flow, cleared=clear)
        return TurnResult(state=tracker.to_state(), messages=tracker.messages, events=tracker.events,
                          effects=tracker.effects, commands=[])

    def _nlu_for(self, message: UserMessage, tracker: DialogueTracker) -> NluMessage | None:
        """The message's NLU result when the NLU-based system handles it, else None.

        That is when the session is not routed to CALM (coexistence slot not true) and either a
        form is active or the intent has a rule (:mod:`dialogue.rules`). The intent and entities
        come from an ``/intent{...}`` payload or what a test scripts; a payload that starts a flow
        (its id or ``nlu_trigger``) stays with CALM."""
        if tracker.slots.get(ROUTE_TO_CALM_SLOT) is True or (not self.assistant.rules and not tracker.active_loop):
            return None
        payload = payload_message(message.text)
        if payload is not None and message.intent is None and read_payload(message.text, self.assistant.flows):
            payload = None
        nlu = NluMessage(message.text, message.intent or (payload.intent if payload else None),
                         list(message.entities) + (payload.entities if payload else []))
        if tracker.active_loop or (nlu.intent and nlu.intent in self.assistant.rules):
            return nlu
        return None

    def _run_nlu(self, nlu: NluMessage, tracker: DialogueTracker, message: UserMessage) -> TurnResult:
        """Rasa's NLU-based dialogue for one message: the router's routing slot, slot extraction
        (``action_extract_slots``), then the active form, or the intent's rule (RulePolicy)."""
        parse_data = {"intent": {"name": nlu.intent}, "entities": nlu.entities, "commands": []}
        tracker.latest_message.update({"intent": {"name": nlu.intent}, "entities": nlu.entities})
        tracker.emit("user", text=message.text, parse_data=parse_data, metadata=message.metadata)
        turn_start = len(tracker.events)
        ctx = Context(tracker, self.assistant.flows, self.assistant.domain, self.ports, self._domain_json)
        route = self.assistant.domain.slots.get(ROUTE_TO_CALM_SLOT)
        for command in message.commands or []:  # LLMBasedRouter: SetSlot(route_session_to_calm, False)
            if isinstance(command, SetSlot) and command.name == ROUTE_TO_CALM_SLOT and route is not None:
                tracker.set_slot(ROUTE_TO_CALM_SLOT, route.coerce(command.value), filled_by=command.extractor)
        forms = self.assistant.domain.forms
        extract_slots(ctx, nlu, forms, self._calm_slots)
        if tracker.active_loop and tracker.active_loop in forms:
            form, top = forms[tracker.active_loop], tracker.top
            if run_form(ctx, form, turn_start, activating=False):
                self._end_form(ctx, form.name)
            self._run_patterns(ctx, top)
            return self._finish(tracker, message, [])
        tracker.active_loop = None
        rule = self.assistant.rules[str(nlu.intent)]
        frame = _rule_frame(rule)
        top = tracker.top
        for name in rule.actions:
            if name in forms:
                if run_form(ctx, forms[name], turn_start, activating=True):
                    self._end_form(ctx, name)
                break
            if run_action(ctx, name, frame) == LISTEN or tracker.top is not top:
                break
        self._run_patterns(ctx, top)
        return self._finish(tracker, message, [])

    def _run_patterns(self, ctx: Context, top: dict[str, Any] | None) -> None:
        """A failed custom action of the NLU-based side pushed pattern_internal_error on top of
        the stack the turn started with: run it (and what it uncovers)."""
        if ctx.tracker.top is not top:
            advance(ctx, step_limit=self.step_limit)

    def _end_form(self, ctx: Context, form: str) -> None:
        """The form is done: run the rule for its end (``condition: active_loop: <form>``)."""
        rule = self.assistant.form_end_rules.get(form)
        if rule is None:
            return
        frame = _rule_frame(rule)
        for name in rule.actions:
            if run_action(ctx, name, frame) == LISTEN:
                break

    def _understand(self, message: UserMessage, tracker: DialogueTracker) -> list[Command]:
        flows, domain = self.assistant.flows, self.assistant.domain
        text = (message.text or "").strip()
        if not text:
            return [Error("rasa_internal_error_user_input_empty")]
        if len(text) > self.max_chars:
            return [Error("rasa_internal_error_user_input_too_long")]
        payload = read_payload(text, flows)
        if payload is not None:
            payload = customer_may_set(payload, tracker, domain, active_flows(tracker, []))
            return clean_commands(payload, tracker, flows, domain) or [CannotHandle()]
        if message.commands is not None:
            proposed = list(message.commands)
        else:
            try:
                proposed = self.generator.predict(text, tracker, flows, domain)
            except Exception as exc:  # noqa: BLE001 - understanding must never crash a turn
                log.exception("dialogue.understanding.failed")
                return [Error("rasa_internal_error_default", {"message": str(exc)})]
        if any(isinstance(c, Error) for c in proposed):
            errors: list[Command] = [c for c in proposed if isinstance(c, Error)]
            return errors[:1]
        if ROUTE_TO_CALM_SLOT in domain.slots and not any(
                isinstance(c, SetSlot) and c.name == ROUTE_TO_CALM_SLOT for c in proposed):
            # coexistence projects: Rasa's LLM command generator adds this to its commands, so the
            # session stays with CALM (single_step_based_llm_command_generator.py); we are all CALM
            proposed.append(SetSlot(ROUTE_TO_CALM_SLOT, True, EXTRACTOR_LLM))
        cleaned = apply_force_slot_filling(clean_commands(proposed, tracker, flows, domain), tracker)
        if not [c for c in cleaned if not (isinstance(c, SetSlot) and c.name == ROUTE_TO_CALM_SLOT)]:
            cleaned.append(CannotHandle())
        return cleaned

    def _finish(self, tracker: DialogueTracker, message: UserMessage, commands: list[dict[str, Any]]) -> TurnResult:
        texts = [m.text for m in tracker.messages if m.text]
        tracker.history.append({"user": message.text, "bot": texts})
        if tracker.messages:
            tracker.last_bot_messages = [m.to_dict() for m in tracker.messages]
        tracker.turn += 1
        return TurnResult(state=tracker.to_state(), messages=tracker.messages, events=tracker.events,
                          effects=tracker.effects, commands=commands)


def _rule_frame(rule: Rule) -> dict[str, Any]:
    """The frame a rule's actions run with (never on the stack)."""
    return {"frame_id": "rule", "flow_id": f"rule:{rule.name}", "step_id": "START", "frame_type": "regular",
            "type": "rule", "context": {}}


def execute_commands(commands: list[Command], ctx: Context) -> None:
    """Apply cleaned commands: slots first, then flows, then patterns (the first listed on top);
    then, on top of all, a validation for each slot set that has a domain ``validation``."""
    tracker = ctx.tracker
    if any(isinstance(c, CancelFlow) for c in commands):
        tracker.scratch["cancel_targets"] = frames_to_cancel(tracker)
        tracker.scratch["cancelling"] = len(tracker.scratch["cancel_targets"]) == len(
            [f for f in tracker.user_frames()])
    active = tracker.active_user_frame()
    tracker.scratch[ACTIVE_AT_START] = active["frame_id"] if active else None
    before, first_event = watched_values(ctx.domain, tracker), len(tracker.events)
    for command in commands:
        if isinstance(command, SetSlot):
            command.run(tracker, ctx.flows)
    for command in reversed([c for c in commands if isinstance(c, StartFlow)]):
        command.run(tracker, ctx.flows)
    for command in reversed([c for c in commands if not isinstance(c, (SetSlot, StartFlow))]):
        command.run(tracker, ctx.flows)
    if before:
        push_validations(tracker, ctx.domain, slots_set_since(tracker, first_event, before))
