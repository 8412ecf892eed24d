"""Rasa 3.21's internal-error path, against a real rasa-sdk action server (issue 12).

When a custom action cannot run (it raises: rasa-sdk answers HTTP 500; the server is unreachable;
the server has no such action), Rasa 3.21 loses the action's events and, in CALM, cancels the top
user flow and runs ``pattern_internal_error`` on top of ``pattern_cancel_flow``
(rasa/core/processor.py ``_get_events_from_action_execution_failure`` →
rasa/core/utils.py ``cancel_flow_and_push_internal_error``): ``utter_internal_error_rasa``, then
``utter_flow_cancelled_rasa``, then ``pattern_completed`` once no user flow is left. Without a user
flow only the error pattern runs; a session routed to the NLU-based system (coexistence slot not
true) gets neither. A rejected action (HTTP 400, ``ActionExecutionRejection``) is no error.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from helpdesk.dialogue.actions.registry import RemoteActions
from helpdesk.dialogue.actions.remote import RemoteActionClient
from helpdesk.dialogue.assistant import Assistant, load_assistant
from helpdesk.dialogue.commands.dsl import parse_command_text
from helpdesk.dialogue.engine import Engine, TurnResult, UserMessage
from helpdesk.dialogue.ports import Ports
from tests.integration.conftest import action_server  # noqa: F401 - the real rasa-sdk server fixture

FLOWS = """
flows:
  check_account:
    description: Check an account with an action that fails on the server.
    steps:
      - collect: account
      - action: action_fail
      - action: utter_checked
  parent:
    description: Call a flow whose action fails.
    steps:
      - set_slots: [{parent_note: started}]
      - call: failing_child
      - action: utter_checked
  failing_child:
    description: A called flow with an action that is not on the server.
    if: false
    steps:
      - action: action_not_on_server
  rejecting:
    description: An action that rejects its execution.
    steps:
      - action: action_reject
      - action: utter_checked
"""
DOMAIN = """
slots:
  account: {type: text}
  parent_note: {type: text}
responses:
  utter_ask_account: [{text: "Which account?"}]
  utter_checked: [{text: "Checked."}]
actions: [action_fail, action_not_on_server, action_reject]
"""
RULES = """
rules:
  - rule: explode
    steps:
      - intent: explode
      - action: action_fail
"""
INTERNAL_ERROR = ('Sorry, something went wrong on our side. Please try again in a moment, or type '
                  '"talk to a human" and a person will help you.')
ANYTHING_ELSE = "Is there anything else I can help you with?"


def _assistant(root: Path, *, coexistence: bool = False) -> Assistant:
    root.mkdir()
    (root / "flows.yml").write_text(FLOWS)
    route = "  route_session_to_calm: {type: bool}\n" if coexistence else ""
    (root / "domain.yml").write_text(DOMAIN.replace("slots:\n", "slots:\n" + route))
    (root / "rules.yml").write_text(RULES)
    return load_assistant(root)


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return _assistant(tmp_path_factory.mktemp("internal_error") / "calm")


class Conversation:
    def __init__(self, assistant: Assistant, url: str) -> None:
        self.client = RemoteActionClient(url, timeout=5)
        runner = assistant.action_runner(remote=RemoteActions(self.client, assistant.domain))
        self.engine = Engine(assistant, NoUnderstanding(), Ports(actions=runner, rng=random.Random(0)))
        self.state: dict[str, Any] | None = None
        self.result: TurnResult | None = None

    def say(self, text: str, *commands: str) -> list[str]:
        message = UserMessage(text, "internal-error-1",
                              commands=[parse_command_text(c) for c in commands] if commands else None)
        self.result = self.engine.handle(self.state, message)
        self.state = self.result.state
        return [m.text or "" for m in self.result.messages]

    def events(self, kind: str) -> list[dict[str, Any]]:
        assert self.result is not None
        return [e for e in self.result.events if e.get("event") == kind]

    @property
    def stack(self) -> list[dict[str, Any]]:
        assert self.state is not None
        return list(self.state["stack"])

    def slot(self, name: str) -> Any:
        assert self.state is not None
        return self.state["slots"].get(name)


class NoUnderstanding:
    def predict(self, *args: Any) -> list[Any]:
        return []


@pytest.fixture
def talk(assistant: Assistant, action_server: str) -> Any:  # noqa: F811 - the imported fixture
    conversations: list[Conversation] = []

    def start(which: Assistant = assistant, url: str = action_server) -> Conversation:
        conversations.append(Conversation(which, url))
        return conversations[-1]

    yield start
    for conversation in conversations:
        conversation.client.close()


def test_an_action_that_raises_cancels_the_flow_under_the_error_pattern(talk: Any) -> None:
    chat = talk()
    assert chat.say("check my account", "start flow check_account") == ["Which account?"]
    replies = chat.say("savings", "set slot account savings")
    assert replies == [INTERNAL_ERROR, "Okay, I've stopped check account.", ANYTHING_ELSE]
    assert "HTTP 500" in chat.events("error")[0]["message"]
    started = [e["flow_id"] for e in chat.events("flow_started")]
    assert started[:3] == ["pattern_internal_error", "pattern_cancel_flow", "pattern_completed"]
    assert [e["flow_id"] for e in chat.events("flow_cancelled")] == ["check_account"]
    assert chat.slot("account") is None  # the cancelled flow's slots are reset
    assert [f["flow_id"] for f in chat.stack] == ["pattern_completed", "pattern_collect_information"]


def test_an_action_missing_on_the_server_cancels_the_calling_and_the_called_flow(talk: Any) -> None:
    chat = talk()
    replies = chat.say("go", "start flow parent")
    assert replies == [INTERNAL_ERROR, "Okay, I've stopped parent.", ANYTHING_ELSE]
    assert "not found" in chat.events("error")[0]["message"]
    assert sorted(e["flow_id"] for e in chat.events("flow_cancelled")) == ["failing_child", "parent"]
    assert chat.slot("parent_note") is None


def test_an_unreachable_action_server_is_the_same_internal_error(talk: Any, assistant: Assistant) -> None:
    chat = talk(url="http://127.0.0.1:9/webhook")
    chat.say("check my account", "start flow check_account")
    assert chat.say("savings", "set slot account savings") == [
        INTERNAL_ERROR, "Okay, I've stopped check account.", ANYTHING_ELSE]


def test_without_a_user_flow_only_the_error_pattern_runs(talk: Any) -> None:
    chat = talk()
    assert chat.say("/explode") == [INTERNAL_ERROR]
    assert [e["flow_id"] for e in chat.events("flow_started")] == ["pattern_internal_error"]
    assert chat.events("flow_cancelled") == []


def test_a_session_routed_to_nlu_loses_the_events_without_the_error_pattern(
        talk: Any, tmp_path: Path) -> None:
    chat = talk(_assistant(tmp_path / "coexistence", coexistence=True))
    assert chat.say("/explode") == []
    assert chat.events("error")[0]["error_type"] == "action_failed"
    assert chat.events("flow_started") == []


def test_a_rejected_action_is_not_an_internal_error(talk: Any) -> None:
    chat = talk()
    assert chat.say("go", "start flow rejecting") == ["Checked.", ANYTHING_ELSE]
    assert chat.events("error") == []
    assert chat.events("action_execution_rejected")[0]["name"] == "action_reject"
