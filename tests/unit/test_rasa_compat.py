"""Behaviours that follow Rasa Pro 3.21 (issue 12), each on a small assistant of its own.

The same behaviours are exercised on Rasa's own projects by tests/compat/ (which needs the
rasa-pro wheel from PyPI); these tests pin them without network.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from helpdesk.dialogue.assistant import Assistant, load_assistant
from helpdesk.dialogue.yaml_io import AssistantError
from tests.unit.test_engine import Chat

DOMAIN = """\
slots:
  confirmed: {type: text}
  recipient: {type: text}
  amount: {type: float}
  income_ok: {type: bool}
  email: {type: text}
responses:
  utter_ask_confirmed: [{text: "Sure?"}]
  utter_ask_recipient: [{text: "Who to?"}]
  utter_ask_amount: [{text: "How much?"}]
  utter_ask_income_ok: [{text: "Income above 100k?"}]
  utter_ask_email: [{text: "Email?"}]
  utter_yes: [{text: "Confirmed."}]
  utter_no: [{text: "Not confirmed."}]
  utter_sent: [{text: "Sent."}]
  utter_transactions: [{text: "Your transactions."}]
  utter_verified: [{text: "Verified."}]
"""

FLOWS = """\
flows:
  confirm_text:
    description: A text slot compared with a boolean, as Rasa's default template does.
    steps:
      - collect: confirmed
        next:
          - if: slots.confirmed is not true
            then:
              - action: utter_no
                next: END
          - else:
              - action: utter_yes
                next: END
  transfer_money:
    description: Send money (the slots are collected by the flow it calls).
    steps:
      - call: transfer_details
      - action: utter_sent
  transfer_details:
    description: Collect the transfer details.
    if: False
    steps:
      - collect: recipient
      - collect: amount
  show_transactions:
    description: Show transactions.
    steps:
      - action: utter_transactions
  verify:
    description: Verify an account.
    steps:
      - collect: email
      - collect: income_ok
        ask_before_filling: true
      - collect: recipient
      - action: utter_verified
"""


def make(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "bot"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def chat(tmp_path: Path) -> Chat:
    return Chat(load_assistant(make(tmp_path, {"domain.yml": DOMAIN, "flows.yml": FLOWS})))


def test_a_text_slot_keeps_a_boolean_value(chat: Chat) -> None:
    """Rasa's text slots do not coerce (base Slot.coerce_value): 'is not true' sees True."""
    chat("confirm", "start flow confirm_text")
    assert chat("yes", "set slot confirmed true")[0] == "Confirmed."


def test_starting_a_flow_fills_the_slots_of_the_flow_it_calls(chat: Chat) -> None:
    """Rasa's get_collect_steps resolves calls: one message can give the called flow's slots."""
    replies = chat("send 50 to Ann", "start flow transfer_money", "set slot recipient Ann", "set slot amount 50")
    assert replies[0] == "Sent."


def test_two_flows_started_by_one_message_run_in_order_without_asking(chat: Chat) -> None:
    """Both frames are regular (Rasa decides interrupts from the stack before the message)."""
    replies = chat("transactions and send money", "start flow show_transactions", "start flow transfer_money")
    assert replies[:2] == ["Your transactions.", "Who to?"]


def test_correcting_an_ask_before_filling_slot_asks_its_question_again(chat: Chat) -> None:
    """Rasa: any slot with a value may be corrected; ask-before-filling ones reset-only."""
    chat("verify", "start flow verify")
    chat("a@b.c", "set slot email a@b.c")
    assert chat("yes", "set slot income_ok true") == ["Who to?"]
    assert chat("actually my income is lower", "set slot income_ok false") == ["Income above 100k?"]
    assert chat.slots["income_ok"] is None


def test_a_cancelled_flow_is_followed_by_pattern_completed(chat: Chat) -> None:
    chat("send", "start flow transfer_money")
    replies = chat("stop", "cancel flow")
    assert replies[-1] == "Is there anything else I can help you with?"
    assert chat.stack[0] == "pattern_completed"


def test_a_search_without_an_answer_goes_to_pattern_cannot_handle(chat: Chat) -> None:
    """action_trigger_search without a relevant answer: CannotHandle(no relevant answer)."""
    assert chat("what are your fees?", "provide info") == [
        'I\'m sorry, I don\'t have an answer to that. Would you like to talk to a person? Just say "talk to a human".']
    assert any(e["flow_id"] == "pattern_cannot_handle" for e in chat.events("flow_started"))


def test_rasa_config_sets_the_input_limit(tmp_path: Path) -> None:
    root = make(tmp_path, {"domain.yml": DOMAIN, "flows.yml": FLOWS, "config.yml": """\
        recipe: default.v1
        pipeline:
          - name: CompactLLMCommandGenerator
            user_input:
              max_characters: 20
        """})
    chat = Chat(load_assistant(root))
    chat("x" * 21, "start flow show_transactions")
    assert [m.utter_action for m in chat.last.messages] == ["utter_user_input_too_long_error_rasa"]
    assert chat("x" * 20, "start flow show_transactions")[0] == "Your transactions."


def test_a_rasa_config_without_a_limit_uses_rasas_default(tmp_path: Path) -> None:
    root = make(tmp_path, {"domain.yml": DOMAIN, "flows.yml": FLOWS,
                           "config.yml": "pipeline:\n  - name: CompactLLMCommandGenerator\n"})
    assert load_assistant(root).max_message_chars == 420
    assert load_assistant(make(tmp_path / "ours", {"domain.yml": DOMAIN, "flows.yml": FLOWS})).max_message_chars is None


def test_a_mantle_project_is_refused_in_one_line(tmp_path: Path) -> None:
    root = make(tmp_path, {"agent.yml": "agent:\n  language: en\n", "skills/view/skill.yml": "name: view\n"})
    with pytest.raises(AssistantError) as caught:
        load_assistant(root)
    [problem] = caught.value.problems
    assert "Rasa Mantle projects (agent.yml with skills/) are not supported" in problem.message


def test_rasa_321_default_names_are_known(tmp_path: Path) -> None:
    """A project may use Rasa 3.21's default slots, responses and actions without declaring them."""
    silence = (
        "  pattern_user_silence:\n    description: Silence.\n    steps:\n"
        "      - noop: true\n        next:\n          - if: slots.consecutive_silence_timeouts > 1.0\n"
        "            then: bye\n          - else: END\n      - id: bye\n        action: utter_inform_hangup\n"
        "      - action: utter_ask_still_there\n      - action: utter_free_chitchat_response\n"
        "      - action: action_hangup\n")
    root = make(tmp_path, {"domain.yml": DOMAIN, "flows.yml": FLOWS + silence})
    assistant: Assistant = load_assistant(root)
    assert {"silence_timeout", "consecutive_silence_timeouts"} <= set(assistant.domain.slots)
