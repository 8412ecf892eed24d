"""Reading the model's tool call into commands, and the cost of a call."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from helpdesk.dialogue.commands import CancelFlow, Clarify, HumanHandoff, KnowledgeAnswer, SetSlot, StartFlow
from helpdesk.dialogue.commands.set_slot import EXTRACTOR_LLM
from helpdesk.dialogue.generators.llm import parse_commands
from helpdesk.llm.client import LLMCall, MalformedOutput, Prices


def reply(tool_input: Any, *, name: str = "record_commands", kind: str = "tool_use") -> SimpleNamespace:
    return SimpleNamespace(content=[SimpleNamespace(type="text", text="thinking..."),
                                    SimpleNamespace(type=kind, name=name, input=tool_input)])


def test_designs_json_shape_becomes_commands() -> None:
    commands = parse_commands(reply({"commands": [
        {"command": "start flow", "flow": "check_order_status"},
        {"command": "set slot", "slot": "order_number", "value": "A1042"},
        {"command": "cancel flow"}, {"command": "clarify", "flows": ["a", "b"]},
        {"command": "knowledge"}, {"command": "human handoff"}]}))
    assert commands == [StartFlow("check_order_status"), SetSlot("order_number", "A1042", EXTRACTOR_LLM),
                        CancelFlow(), Clarify(("a", "b")), KnowledgeAnswer(), HumanHandoff()]


def test_typed_values_are_kept() -> None:
    commands = parse_commands(reply({"commands": [{"command": "set slot", "slot": "amount", "value": 12.5},
                                                  {"command": "set slot", "slot": "confirm", "value": False}]}))
    assert [c.value for c in commands if isinstance(c, SetSlot)] == [12.5, False]


def test_the_model_cannot_pose_as_a_button_or_the_system() -> None:
    commands = parse_commands(reply({"commands": [
        {"command": "set slot", "slot": "order_status", "value": "delivered", "extractor": "CommandPayloadReader"},
        {"command": "error", "error_type": "x"}, {"command": "restart"}, {"command": "correct slot"},
        {"command": "human handoff", "reason": "vip_override"}]}))
    assert commands == [SetSlot("order_status", "delivered", EXTRACTOR_LLM), HumanHandoff()]


@pytest.mark.parametrize("item", [
    {"command": "start flow"}, {"command": "start flow", "flow": 3}, {"command": "set slot", "value": "x"},
    {"command": "set slot", "slot": "a", "value": {"nested": True}}, {"command": "clarify", "flows": "a b"},
    {"command": "teleport"}, "start flow x", None,
])
def test_unusable_items_are_dropped(item: Any) -> None:
    assert parse_commands(reply({"commands": [item, {"command": "chitchat"}]})) == [
        parse_commands(reply({"commands": [{"command": "chitchat"}]}))[0]]


def test_an_empty_list_is_a_valid_answer() -> None:
    assert parse_commands(reply({"commands": []})) == []


@pytest.mark.parametrize("message", [
    SimpleNamespace(content=[SimpleNamespace(type="text", text="start flow x")]),
    reply({"commands": []}, name="other_tool"),
    reply({"cmds": []}), reply(["start flow"]), reply({"commands": "start flow x"}),
    reply({"commands": [{"command": "teleport"}]}), SimpleNamespace(content=None), SimpleNamespace(),
])
def test_malformed_replies_raise(message: Any) -> None:
    with pytest.raises(MalformedOutput):
        parse_commands(message)


def test_prices_by_model_and_the_cost_of_cached_tokens() -> None:
    assert Prices.for_model("claude-sonnet-4-5") == Prices(3.0, 15.0)
    assert Prices.for_model("claude-haiku-4-5-20251001") == Prices(1.0, 5.0)
    assert Prices.for_model("claude-opus-4-1") == Prices(15.0, 75.0)
    assert Prices.for_model("claude-opus-4-6") == Prices(5.0, 25.0)
    assert Prices.for_model("some-new-model") == Prices(3.0, 15.0)
    assert Prices.for_model("claude-sonnet-4-5", (2.0, None)) == Prices(2.0, 15.0)
    call = LLMCall("understanding", "m", input_tokens=1_000_000, output_tokens=100_000,
                   cache_read_tokens=2_000_000, cache_write_tokens=1_000_000)
    assert Prices(3.0, 15.0).cost(call) == pytest.approx(3.0 + 1.5 + 0.6 + 3.75)


def test_a_call_is_logged_as_an_event() -> None:
    call = LLMCall("understanding", "m", latency_ms=812.0, input_tokens=90, output_tokens=20, cache_read_tokens=1500)
    event = call.as_event(flows_in_prompt=["a"])
    assert event["event"] == "llm_call" and event["cache_read_tokens"] == 1500
    assert event["latency_ms"] == 812.0 and event["flows_in_prompt"] == ["a"] and event["outcome"] == "ok"
