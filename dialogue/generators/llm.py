"""The LLM command generator: Claude reads the message and answers with commands (DESIGN §3).

One Messages API call per customer message (the engine does not call understanding at all when
a button payload decides the turn), through :class:`~llm.client.ClaudeClient`
with its time budget. The reply must be one call of the forced tool; its input is parsed with
:func:`dialogue.commands.command_from_dict`. What the model proposes is only a proposal: the
engine's cleaning (:mod:`dialogue.cleaning`) drops unknown flows and slots, flows a guard forbids
and slots that cannot be filled now, so a customer cannot talk the model into more than the flows
allow. Failures never crash a turn:

* API errors, rate limits, timeouts → ``error`` → ``pattern_internal_error`` (which offers a human);
* a reply that is not the tool call, or whose input has no usable command → ``cannot handle``.

Each call is logged as an ``llm_call`` event (latency, tokens, cached tokens, cost, flows shown).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from helpdesk.dialogue.commands import CannotHandle, Command, CommandFormatError, Error, command_from_dict
from helpdesk.dialogue.commands.set_slot import EXTRACTOR_LLM
from helpdesk.dialogue.domain import Domain
from helpdesk.dialogue.flows import FlowsList
from helpdesk.dialogue.generators.llm_prompt import COMMAND_NAMES, TOOL_NAME, PromptBuilder
from helpdesk.dialogue.tracker import DialogueTracker
from helpdesk.llm.client import ClaudeClient, LLMError, MalformedOutput

log = logging.getLogger(__name__)
#: the fields a command may carry; anything else the model adds (an ``extractor``...) is dropped
COMMAND_FIELDS = ("command", "flow", "slot", "value", "flows")
INTERNAL_ERROR = "rasa_internal_error_default"
INVALID_OUTPUT = "cannot_handle_invalid_llm_output"


@dataclass(frozen=True)
class LLMOptions:
    """How understanding uses the model."""

    #: the name the instructions give the assistant ("Northwind Outfitters")
    assistant_name: str = "the company"
    #: past turns (a customer message and the replies to it) shown in the prompt
    history_turns: int = 5
    #: above this many startable flows, only the most relevant ones are shown
    retrieval_threshold: int = 20


class LLMCommandGenerator:
    """Understanding with Claude; a :class:`~dialogue.generators.CommandGenerator`.

    Example::

        client = ClaudeClient(api_key, "claude-sonnet-4-5", timeout=10)
        generator = LLMCommandGenerator(client, assistant.flows, assistant.domain)
        generator.predict("where is my order A1001?", tracker, assistant.flows, assistant.domain)
        # [StartFlow("check_order_status"), SetSlot("order_number", "A1001", "LLM")]
    """

    def __init__(self, client: ClaudeClient, flows: FlowsList, domain: Domain,
                 options: LLMOptions | None = None) -> None:
        self.client = client
        self.options = options or LLMOptions()
        self._build(flows, domain)

    def _build(self, flows: FlowsList, domain: Domain) -> None:
        self._flows, self._domain = flows, domain
        self.prompts = PromptBuilder(flows, domain, assistant_name=self.options.assistant_name,
                                     history_turns=self.options.history_turns,
                                     retrieval_threshold=self.options.retrieval_threshold)

    def predict(self, text: str, tracker: DialogueTracker, flows: FlowsList, domain: Domain) -> list[Command]:
        """Commands for one message (never raises)."""
        if flows is not self._flows or domain is not self._domain:
            self._build(flows, domain)
        prompt = self.prompts.build(text, tracker)
        details = {"flows_in_prompt": prompt.flow_ids, "retrieval": prompt.retrieved}
        try:
            commands, call = self.client.create("understanding", prompt.request, parse_commands)
        except LLMError as exc:
            tracker.events.append(exc.call.as_event(**details))
            if exc.call.outcome == "malformed_output":
                return [CannotHandle(INVALID_OUTPUT)]
            return [Error(INTERNAL_ERROR, {"llm_error": exc.call.outcome})]
        tracker.events.append(call.as_event(**details))
        return commands


def parse_commands(message: Any) -> list[Command]:
    """The commands of the forced tool call; raise MalformedOutput when there are none to read.

    Unknown command names and commands missing a field are dropped one by one; an empty list is
    a valid answer (the engine turns it into ``cannot handle``)."""
    block = next((b for b in getattr(message, "content", None) or []
                  if getattr(b, "type", None) == "tool_use" and getattr(b, "name", None) == TOOL_NAME), None)
    if block is None:
        raise MalformedOutput(f"no {TOOL_NAME} call in the reply")
    data = block.input
    if not isinstance(data, dict) or not isinstance(data.get("commands"), list):
        raise MalformedOutput(f"tool input without a 'commands' list: {str(data)[:200]}")
    commands: list[Command] = []
    for item in data["commands"]:
        command = _command(item)
        if command is not None and command not in commands:
            commands.append(command)
    if data["commands"] and not commands:
        raise MalformedOutput(f"no usable command in {str(data['commands'])[:200]}")
    return commands


def _command(item: Any) -> Command | None:
    if not isinstance(item, dict) or item.get("command") not in COMMAND_NAMES:
        log.info("dialogue.llm.command_dropped", extra={"item": str(item)[:200]})
        return None
    clean = {k: item[k] for k in COMMAND_FIELDS if k in item}
    if not _well_typed(clean):
        log.info("dialogue.llm.command_dropped", extra={"item": str(item)[:200]})
        return None
    if clean["command"] == "set slot":
        clean["extractor"] = EXTRACTOR_LLM
    try:
        return command_from_dict(clean)
    except CommandFormatError:
        log.info("dialogue.llm.command_dropped", extra={"item": str(item)[:200]})
        return None


def _well_typed(clean: dict[str, Any]) -> bool:
    name = clean["command"]
    if name == "start flow":
        return isinstance(clean.get("flow"), str)
    if name == "set slot":
        scalar = (str, int, float, bool, type(None))
        return isinstance(clean.get("slot"), str) and isinstance(clean.get("value"), scalar)
    if name == "clarify":
        return isinstance(clean.get("flows"), list) and all(isinstance(f, str) for f in clean["flows"])
    return True
