"""Commands that only push their pattern: clarify, chitchat, knowledge, handoff, skip, repeat,
cannot handle, error, restart, session start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from helpdesk.dialogue.commands.base import Command, push_pattern
from helpdesk.dialogue.flows import FlowsList
from helpdesk.dialogue.languages import LANGUAGE_SLOT
from helpdesk.dialogue.tracker import DialogueTracker


@dataclass(frozen=True)
class Clarify(Command):
    command: ClassVar[str] = "clarify"
    options: tuple[str, ...] = ()

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:
        language = tracker.slots.get(LANGUAGE_SLOT)
        names = [flows[o].name_for(language) for o in self.options if o in flows]
        push_pattern(tracker, "pattern_clarification", names=names, clarification_ids=list(self.options),
                     clarification_options="")

    def as_dict(self) -> dict[str, Any]:
        return {"command": self.command, "options": list(self.options)}


@dataclass(frozen=True)
class ChitChat(Command):
    command: ClassVar[str] = "chitchat"

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:
        push_pattern(tracker, "pattern_chitchat")


@dataclass(frozen=True)
class KnowledgeAnswer(Command):
    command: ClassVar[str] = "knowledge"

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:
        push_pattern(tracker, "pattern_search")


@dataclass(frozen=True)
class HumanHandoff(Command):
    command: ClassVar[str] = "human handoff"
    reason: str = "customer_request"

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:
        push_pattern(tracker, "pattern_human_handoff", reason=self.reason)


@dataclass(frozen=True)
class SkipQuestion(Command):
    command: ClassVar[str] = "skip question"

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:
        push_pattern(tracker, "pattern_skip_question")


@dataclass(frozen=True)
class RepeatBotMessages(Command):
    command: ClassVar[str] = "repeat"

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:
        push_pattern(tracker, "pattern_repeat_bot_messages")


@dataclass(frozen=True)
class CannotHandle(Command):
    command: ClassVar[str] = "cannot handle"
    reason: str | None = None

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:
        push_pattern(tracker, "pattern_cannot_handle", reason=self.reason)


@dataclass(frozen=True)
class Error(Command):
    command: ClassVar[str] = "error"
    error_type: str = "rasa_internal_error_default"
    info: dict[str, Any] = field(default_factory=dict)

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:
        push_pattern(tracker, "pattern_internal_error", error_type=self.error_type, info=dict(self.info))


@dataclass(frozen=True)
class Restart(Command):
    command: ClassVar[str] = "restart"

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:
        push_pattern(tracker, "pattern_restart")


@dataclass(frozen=True)
class SessionStart(Command):
    command: ClassVar[str] = "session start"

    def run(self, tracker: DialogueTracker, flows: FlowsList) -> None:
        push_pattern(tracker, "pattern_session_start")
