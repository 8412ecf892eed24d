"""``set slot``: fill a slot with a value the customer gave."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from helpdesk.dialogue.commands.base import Command
from helpdesk.dialogue.flows import FlowsList
from helpdesk.dialogue.tracker import DialogueTracker

#: who produced a SetSlot: understanding may only fill collectable slots, buttons any slot
EXTRACTOR_LLM = "LLM"
EXTRACTOR_PAYLOAD = "CommandPayloadReader"
EXTRACTOR_NLU = "NLU"
EXTRACTOR_TEST = "E2E"
EMPTY_VALUES = ("none", "null", "undefined", "[missing]", "")


def normalise_value(value: Any) -> Any:
    """Rasa treats these spellings of 'nothing' as None."""
    if isinstance(value, str) and value.strip().lower() in EMPTY_VALUES:
        return None
    return value


@dataclass(frozen=True)
class SetSlot(Command):
    command: ClassVar[str] = "set slot"
    name: str
    value: Any
    extractor: str = EXTRACTOR_LLM

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:
        value = normalise_value(self.value)
        if tracker.slots.get(self.name) == value and value is not None:
            return
        tracker.set_slot(self.name, value, filled_by=self.extractor)
