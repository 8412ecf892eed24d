"""Acceptance: with ANTHROPIC_BASE_URL on a loopback Messages API answering the forced tool with
commands, the default assistant behaves exactly as with those commands scripted in an e2e test;
and every failure mode gives a polite reply, a logged error, a metric and no lost message.

The helpdesk runs as a real threaded HTTP server (the Rasa REST channel); the real ``anthropic``
SDK talks HTTP to the fake, configured only through the environment, as a user would.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from helpdesk.conversations.models import Conversation, DialogueEvent, Message
from helpdesk.dialogue.assistant import Assistant, load_assistant
from helpdesk.dialogue.commands import Command, SetSlot
from helpdesk.dialogue.e2e import load_test_file, run_tests
from helpdesk.dialogue.engine import Engine, UserMessage
from helpdesk.dialogue.generators.offline import OfflineCommandGenerator
from helpdesk.dialogue.ports import Ports
from tests.e2e.conftest import make_settings
from tests.fakes.anthropic_server import FakeAnthropic, Reply, rate_limited, slow, status, tool_use
from tests.fakes.helpdesk_server import RunningHelpdesk, running_helpdesk

REPO = Path(__file__).resolve().parents[2]
E2E = """
test_cases:
  - test_case: return_understood_by_commands
    steps:
      - user: "Hi! The boots from order A1002 are too small, I'd like to send them back"
        commands:
          - start flow return_request
          - set slot order_number A1002
          - set slot return_reason "wrong size"
        assertions:
          - flow_started: return_request
          - slot_was_set:
              - name: order_number
                value: A1002
              - name: return_reason
                value: wrong size
          - bot_uttered:
              utter_name: utter_ask_refund_method
      - user: "/SetSlots(refund_method=store credit)"
        assertions:
          - bot_uttered:
              utter_name: utter_ask_confirm_return
      - user: "yes, go ahead"
        commands:
          - set slot confirm_return true
        assertions:
          - slot_was_set:
              - name: return_id
                value: RMA-A1002
          - bot_uttered:
              utter_name: utter_return_created
      - user: "no, that's all"
        commands:
          - set slot continue_conversation false
        assertions:
          - bot_uttered:
              utter_name: utter_goodbye
"""


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def server(fake: FakeAnthropic, db_url: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningHelpdesk]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    monkeypatch.setenv("HELPDESK_LLM_TIMEOUT", "1.5")
    with running_helpdesk(make_settings(db_url, tmp_path, knowledge_reload_seconds=0)) as helpdesk:
        yield helpdesk


def tool_json(command: Command) -> dict[str, Any]:
    """A command as the forced tool's input item (DESIGN §3)."""
    if isinstance(command, SetSlot):
        return {"command": "set slot", "slot": command.name, "value": command.value}
    return {k: v for k, v in command.as_dict().items()}


def scripted_turns(assistant: Assistant, path: Path) -> list[tuple[str, list[Command] | None]]:
    specs, problems = load_test_file(path, path.parent, assistant.path)
    assert not problems
    return [(t.user.text, t.user.commands) for t in specs[0].turns if t.user is not None]


def engine_replies(assistant: Assistant, turns: list[tuple[str, list[Command] | None]]) -> tuple[
        list[list[dict[str, Any]]], dict[str, Any]]:
    engine = Engine(assistant, OfflineCommandGenerator(assistant.flows, assistant.domain),
                    Ports(actions=assistant.action_runner(), rng=random.Random(0)))
    state: dict[str, Any] | None = None
    replies = []
    for text, commands in turns:
        result = engine.handle(state, UserMessage(text, "scripted", commands=commands))
        state = result.state
        replies.append([{"text": m.text, **({"buttons": m.buttons} if m.buttons else {})} for m in result.messages])
    return replies, state or {}


def test_llm_commands_behave_exactly_like_the_same_commands_scripted_in_e2e(
        server: RunningHelpdesk, fake: FakeAnthropic, tmp_path: Path) -> None:
    assistant = load_assistant(REPO / "flows")
    path = tmp_path / "acceptance.yml"
    path.write_text(E2E)
    suite = run_tests([path], assistant, lambda a: OfflineCommandGenerator(a.flows, a.domain))
    assert (suite.passed, suite.failed) == (1, 0), suite.summary()

    turns = scripted_turns(assistant, path)
    fake.script(*[tool_use({"commands": [tool_json(c) for c in commands]}) for _, commands in turns if commands])
    over_http = [[{k: v for k, v in r.items() if k != "recipient_id"} for r in server.post("customer-7", text)]
                 for text, _ in turns]
    scripted, state = engine_replies(assistant, turns)
    assert over_http == scripted
    assert len(fake.message_requests()) == 3  # one per typed message, none for the button
    db = server.app.extensions["helpdesk"].db
    with db.read_session() as session:
        stored = session.scalars(select(Conversation)).one().state
    assert stored["slots"] == state["slots"] and stored["stack"] == state["stack"]


def messages_of(server: RunningHelpdesk) -> list[Message]:
    db = server.app.extensions["helpdesk"].db
    with db.read_session() as session:
        return list(session.scalars(select(Message).order_by(Message.seq)))


@pytest.mark.parametrize(("reply", "outcome"), [
    (rate_limited(retry_after=60), "rate_limited"),
    (status(500), "api_error"),
    (slow(10.0), "timeout"),
], ids=["429", "500", "timeout"])
def test_every_failure_gives_a_polite_reply_a_logged_error_a_metric_and_keeps_the_message(
        server: RunningHelpdesk, fake: FakeAnthropic, caplog: pytest.LogCaptureFixture, reply: Reply,
        outcome: str) -> None:
    fake.script(*[reply] * 3)
    with caplog.at_level(logging.WARNING):
        replies = server.post("unlucky", "where is my order A1002?")
    first = replies[0]["text"]
    assert first.startswith("Sorry, something went wrong on our side") and "talk to a human" in first
    assert any(r.message == "dialogue.llm.failed" for r in caplog.records)
    stored = messages_of(server)
    assert stored[0].role == "customer" and stored[0].text == "where is my order A1002?"
    assert [m.text for m in stored if m.role == "bot"][0] == first
    db = server.app.extensions["helpdesk"].db
    with db.read_session() as session:
        events = session.scalars(select(DialogueEvent).where(DialogueEvent.type == "llm_call")).all()
    # the handoff that the error starts asks for a summary too (its own llm_call, in the background)
    assert [e.data["outcome"] for e in events if e.data["purpose"] == "understanding"] == [outcome]
    metrics = httpx.get(server.url + "/metrics", timeout=10).text
    assert f'helpdesk_llm_calls_total{{outcome="{outcome}",purpose="understanding"}} 1.0' in metrics
