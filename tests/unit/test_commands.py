"""Command wire names are stored in conversations: they are pinned here."""

from __future__ import annotations

import pytest

from helpdesk.dialogue.commands import (
    REGISTRY,
    CancelFlow,
    CannotHandle,
    ChitChat,
    Clarify,
    CommandFormatError,
    CorrectSlots,
    HumanHandoff,
    KnowledgeAnswer,
    RepeatBotMessages,
    SetSlot,
    SkipQuestion,
    StartFlow,
    command_from_dict,
)
from helpdesk.dialogue.commands.dsl import parse_command_text


def test_wire_names_are_pinned() -> None:
    assert sorted(REGISTRY) == sorted([
        "start flow", "set slot", "correct slot", "cancel flow", "clarify", "chitchat", "knowledge",
        "human handoff", "skip question", "repeat", "cannot handle", "error", "restart", "session start",
    ])


@pytest.mark.parametrize("command", [
    StartFlow("a"), SetSlot("x", "1"), CorrectSlots((("x", 2),)), CancelFlow(), Clarify(("a", "b")),
    ChitChat(), KnowledgeAnswer(), HumanHandoff(), SkipQuestion(), RepeatBotMessages(), CannotHandle("why"),
])
def test_commands_round_trip_through_json(command: object) -> None:
    assert command_from_dict(command.as_dict()) == command  # type: ignore[attr-defined]


def test_the_llm_tool_shape_is_understood() -> None:
    assert command_from_dict({"command": "set slot", "slot": "order_id", "value": "A-1"}) == \
        SetSlot("order_id", "A-1", "LLM")
    assert command_from_dict({"command": "clarify", "flows": ["a", "b"]}) == Clarify(("a", "b"))


@pytest.mark.parametrize("data", [{"command": "fly"}, {"command": "start flow"}, {}])
def test_malformed_commands_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(CommandFormatError):
        command_from_dict(data)


@pytest.mark.parametrize(("text", "command"), [
    ("start flow transfer_money", StartFlow("transfer_money")),
    ("- start flow `transfer_money`", StartFlow("transfer_money")),
    ("StartFlow(transfer_money)", StartFlow("transfer_money")),
    ("set slot amount 50", SetSlot("amount", "50")),
    ("SetSlot(amount, 50)", SetSlot("amount", "50")),
    ('set slot name "Ann Lee"', SetSlot("name", "Ann Lee")),
    ("set slot confirm true", SetSlot("confirm", True)),
    ("cancel flow", CancelFlow()),
    ("CancelFlow()", CancelFlow()),
    ("disambiguate flows a b", Clarify(("a", "b"))),
    ("Clarify(a, b)", Clarify(("a", "b"))),
    ("offtopic reply", ChitChat()),
    ("ChitChat()", ChitChat()),
    ("provide info", KnowledgeAnswer()),
    ("search and reply", KnowledgeAnswer()),
    ("SearchAndReply()", KnowledgeAnswer()),
    ("skip question", SkipQuestion()),
    ("repeat message", RepeatBotMessages()),
    ("RepeatLastBotMessages()", RepeatBotMessages()),
    ("cannot handle", CannotHandle()),
    ("human handoff", HumanHandoff()),
])
def test_rasa_command_syntax(text: str, command: object) -> None:
    assert parse_command_text(text) == command


def test_unknown_command_text_is_an_error() -> None:
    with pytest.raises(CommandFormatError):
        parse_command_text("launch rockets")
