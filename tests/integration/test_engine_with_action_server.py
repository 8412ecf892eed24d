"""Flows calling custom actions on a real rasa-sdk action server, through the engine."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from helpdesk.dialogue.actions.registry import RemoteActions
from helpdesk.dialogue.actions.remote import RemoteActionClient
from helpdesk.dialogue.assistant import Assistant, load_assistant
from helpdesk.dialogue.commands.dsl import parse_command_text
from helpdesk.dialogue.engine import Engine, UserMessage
from helpdesk.dialogue.ports import Ports

FLOWS = """
flows:
  balance:
    description: Check the balance of an account.
    steps:
      - collect: account
      - action: action_check_balance
      - action: utter_checked
  greet_with_buttons:
    description: Greet with buttons from the action server.
    steps:
      - action: action_buttons
  failing:
    description: An action that fails on the server.
    steps:
      - action: action_fail
      - action: utter_checked
  slow:
    description: An action that takes too long.
    steps:
      - action: action_slow
      - action: utter_checked
"""
DOMAIN = """
slots:
  account: {type: text}
  balance: {type: float}
  checked_account: {type: text}
responses:
  utter_ask_account: [{text: "Which account?"}]
  utter_checked: [{text: "Checked {checked_account}: {balance}."}]
  utter_greet: [{text: "Hello {name}!"}]
actions: [action_check_balance, action_buttons, action_fail, action_slow]
"""


class NoUnderstanding:
    def predict(self, *args: Any) -> list[Any]:
        return []


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    root: Path = tmp_path_factory.mktemp("remote_assistant")
    (root / "flows.yml").write_text(FLOWS)
    (root / "domain.yml").write_text(DOMAIN)
    return load_assistant(root)


def chat(assistant: Assistant, url: str, turns: list[tuple[str, list[str]]], timeout: float = 10.0
         ) -> list[list[str]]:
    client = RemoteActionClient(url, timeout=timeout)
    engine = Engine(assistant, NoUnderstanding(),
                    Ports(actions=assistant.action_runner(remote=RemoteActions(client, assistant.domain)),
                          rng=random.Random(0)))
    state: dict[str, Any] | None = None
    replies = []
    try:
        for text, commands in turns:
            result = engine.handle(state, UserMessage(text, "remote-1",
                                                      commands=[parse_command_text(c) for c in commands]))
            state = result.state
            replies.append([m.text or "" for m in result.messages])
    finally:
        client.close()
    return replies


def test_a_flow_runs_an_action_on_the_action_server(assistant: Assistant, action_server: str) -> None:
    replies = chat(assistant, action_server, [("balance", ["start flow balance"]),
                                              ("savings", ["set slot account savings"])])
    assert replies[0] == ["Which account?"]
    assert replies[1][:2] == ["Your balance is 42.5", "Checked savings: 42.5."]


def test_responses_named_by_the_server_are_rendered_with_its_values(assistant: Assistant,
                                                                    action_server: str) -> None:
    replies = chat(assistant, action_server, [("hi", ["start flow greet_with_buttons"])])
    assert replies[0][0] == "Hello Ada!"


@pytest.mark.parametrize("flow", ["failing", "slow"])
def test_a_failing_or_slow_action_cancels_into_internal_error(assistant: Assistant, action_server: str,
                                                              flow: str) -> None:
    replies = chat(assistant, action_server, [("go", [f"start flow {flow}"])], timeout=1.0)
    # then pattern_cancel_flow and pattern_completed, as in Rasa 3.21 (tests/compat/test_internal_error.py)
    assert replies[0] == ['Sorry, something went wrong on our side. Please try again in a moment, or type '
                          '"talk to a human" and a person will help you.', f"Okay, I've stopped {flow}.",
                          "Is there anything else I can help you with?"]


def test_an_unreachable_action_server_is_an_internal_error(assistant: Assistant) -> None:
    replies = chat(assistant, "http://127.0.0.1:9/webhook", [("balance", ["start flow balance"]),
                                                              ("savings", ["set slot account savings"])])
    assert replies[1][0].startswith("Sorry, something went wrong on our side")
