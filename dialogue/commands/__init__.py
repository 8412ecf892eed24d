"""The commands understanding can emit, by their pinned wire names (stored in conversations)."""

from __future__ import annotations

from typing import Any

from helpdesk.dialogue.commands.base import Command
from helpdesk.dialogue.commands.cancel_flow import CancelFlow
from helpdesk.dialogue.commands.correct_slots import CorrectSlots
from helpdesk.dialogue.commands.set_slot import SetSlot
from helpdesk.dialogue.commands.simple import (
    CannotHandle,
    ChitChat,
    Clarify,
    Error,
    HumanHandoff,
    KnowledgeAnswer,
    RepeatBotMessages,
    Restart,
    SessionStart,
    SkipQuestion,
)
from helpdesk.dialogue.commands.start_flow import StartFlow

REGISTRY: dict[str, type[Command]] = {
    StartFlow.command: StartFlow,
    SetSlot.command: SetSlot,
    CorrectSlots.command: CorrectSlots,
    CancelFlow.command: CancelFlow,
    Clarify.command: Clarify,
    ChitChat.command: ChitChat,
    KnowledgeAnswer.command: KnowledgeAnswer,
    HumanHandoff.command: HumanHandoff,
    SkipQuestion.command: SkipQuestion,
    RepeatBotMessages.command: RepeatBotMessages,
    CannotHandle.command: CannotHandle,
    Error.command: Error,
    Restart.command: Restart,
    SessionStart.command: SessionStart,
}


class CommandFormatError(ValueError):
    """A serialised command could not be understood."""


def command_from_dict(data: dict[str, Any]) -> Command:
    """Rebuild a command from its stored (or LLM tool) JSON form."""
    name = data.get("command")
    cls = REGISTRY.get(str(name))
    if cls is None:
        raise CommandFormatError(f"unknown command {name!r}")
    try:
        if cls is StartFlow:
            return StartFlow(str(data["flow"]))
        if cls is SetSlot:
            slot = data.get("slot", data.get("name"))
            return SetSlot(str(slot), data.get("value"), str(data.get("extractor", "LLM")))
        if cls is CorrectSlots:
            items = data.get("corrected_slots") or []
            return CorrectSlots(tuple((str(i["name"]), i.get("value")) for i in items))
        if cls is Clarify:
            return Clarify(tuple(str(f) for f in data.get("flows", data.get("options", []))))
        if cls is CannotHandle:
            return CannotHandle(data.get("reason"))
        if cls is HumanHandoff:
            return HumanHandoff(str(data.get("reason") or "customer_request"))
        if cls is Error:
            return Error(str(data.get("error_type", "rasa_internal_error_default")), dict(data.get("info") or {}))
        return cls()
    except (KeyError, TypeError) as exc:
        raise CommandFormatError(f"command {name!r} is missing a field: {exc}") from exc


__all__ = [
    "REGISTRY", "CancelFlow", "CannotHandle", "ChitChat", "Clarify", "Command", "CommandFormatError",
    "CorrectSlots", "Error", "HumanHandoff", "KnowledgeAnswer", "RepeatBotMessages", "Restart",
    "SessionStart", "SetSlot", "SkipQuestion", "StartFlow", "command_from_dict",
]
