"""The CALM engine: every step type, command and pattern, driven by scripted commands."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from helpdesk.dialogue.assistant import Assistant, load_assistant
from helpdesk.dialogue.commands.dsl import parse_command_text
from helpdesk.dialogue.engine import Engine, TurnResult, UserMessage
from helpdesk.dialogue.ports import Ports

FLOWS = """
flows:
  transfer_money:
    description: Send money to someone.
    persisted_slots: [recipient_note]
    steps:
      - collect: recipient
      - collect: amount
        rejections:
          - if: slots.amount > 1000
            utter: utter_too_much
      - set_slots:
          - recipient_note: "last transfer"
      - collect: confirm
        ask_before_filling: true
        next:
          - if: slots.confirm
            then:
              - action: action_transfer
                next: END
          - else:
              - action: utter_transfer_cancelled
                next: END
  check_balance:
    description: Show the account balance.
    steps:
      - action: utter_balance
  vip_lounge:
    description: Book the VIP lounge.
    if: slots.is_vip
    steps:
      - action: utter_vip
  loop_forever:
    description: A broken flow that never waits.
    steps:
      - id: a
        noop: true
        next: b
      - id: b
        noop: true
        next: a
  escalate:
    description: Talk to a person.
    steps:
      - collect: topic
      - link: pattern_human_handoff
  parent:
    description: A flow that calls a child.
    steps:
      - call: child
      - action: utter_parent_done
  child:
    description: A called child.
    if: False
    steps:
      - collect: child_answer
  broken_action:
    description: A flow whose action fails.
    steps:
      - action: action_explode
      - action: utter_balance
"""

DOMAIN = """
slots:
  recipient: {type: text}
  amount: {type: float}
  confirm: {type: bool}
  recipient_note: {type: text}
  is_vip: {type: bool, initial_value: false}
  topic: {type: text}
  child_answer: {type: text}
responses:
  utter_ask_recipient: [{text: "Who should get the money?"}]
  utter_ask_amount: [{text: "How much?"}]
  utter_ask_confirm:
    - text: "Send {amount} to {recipient}?"
      buttons:
        - {title: "Yes", payload: "/SetSlots(confirm=true)"}
        - {title: "No", payload: "/SetSlots(confirm=false)"}
  utter_too_much: [{text: "That is over the limit of 1000."}]
  utter_transfer_cancelled: [{text: "Transfer not sent."}]
  utter_balance: [{text: "Your balance is 100."}]
  utter_vip: [{text: "Welcome to the lounge."}]
  utter_ask_topic: [{text: "What is it about?"}]
  utter_ask_child_answer: [{text: "Child question?"}]
  utter_parent_done: [{text: "Parent done."}]
"""

ACTIONS = '''
from helpdesk.dialogue.sdk import Action, SlotSet

class Transfer(Action):
    def name(self):
        return "action_transfer"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text=f"Sent {tracker.get_slot('amount'):g} to {tracker.get_slot('recipient')}.")
        return []

class Explode(Action):
    def name(self):
        return "action_explode"

    def run(self, dispatcher, tracker, domain):
        raise RuntimeError("boom")
'''


class NoUnderstanding:
    def predict(self, text: str, tracker: Any, flows: Any, domain: Any) -> list[Any]:
        return []


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    root: Path = tmp_path_factory.mktemp("assistant")
    (root / "flows.yml").write_text(FLOWS)
    (root / "domain.yml").write_text(DOMAIN)
    (root / "actions.py").write_text(ACTIONS)
    return load_assistant(root, validate=False)


class Chat:
    def __init__(self, assistant: Assistant, step_limit: int = 250) -> None:
        self.engine = Engine(assistant, NoUnderstanding(),
                             Ports(actions=assistant.action_runner(), rng=random.Random(0)), step_limit=step_limit)
        self.state: dict[str, Any] | None = None
        self.last: TurnResult

    def __call__(self, text: str, *commands: str) -> list[str]:
        scripted = [parse_command_text(c) for c in commands] if commands else None
        self.last = self.engine.handle(self.state, UserMessage(text, "u1", commands=scripted))
        json.dumps(self.last.state)  # the state is always a JSON document
        self.state = self.last.state
        return [m.text or "" for m in self.last.messages]

    @property
    def stack(self) -> list[str]:
        return [f["flow_id"] for f in (self.state or {}).get("stack", [])]

    @property
    def slots(self) -> dict[str, Any]:
        return (self.state or {})["slots"]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.last.events if e["event"] == kind]


@pytest.fixture
def chat(assistant: Assistant) -> Chat:
    return Chat(assistant)


def fill_transfer(chat: Chat) -> None:
    chat("send money", "start flow transfer_money")
    chat("bob", "set slot recipient bob")
    chat("50", "set slot amount 50")


def test_collect_steps_ask_in_order_and_the_flow_completes(chat: Chat) -> None:
    assert chat("send money", "start flow transfer_money") == ["Who should get the money?"]
    assert chat.events("flow_started")[0]["flow_id"] == "transfer_money"
    assert chat("bob", "set slot recipient bob") == ["How much?"]
    assert chat("50", "set slot amount 50") == ["Send 50 to bob?"]
    assert chat.last.messages[0].buttons[0]["payload"] == "/SetSlots(confirm=true)"
    replies = chat("/SetSlots(confirm=true)")
    assert replies == ["Sent 50 to bob.", "Is there anything else I can help you with?"]
    assert {"event": "flow_completed", "flow_id": "transfer_money", "step_id": "transfer_money_4_action_transfer"} \
        in chat.last.events
    assert chat.stack == ["pattern_completed", "pattern_collect_information"]


def test_slots_reset_when_the_flow_ends_except_persisted_ones(chat: Chat) -> None:
    fill_transfer(chat)
    chat("/SetSlots(confirm=true)")
    assert chat.slots["recipient"] is None and chat.slots["amount"] is None
    assert chat.slots["recipient_note"] == "last transfer"


def test_set_slots_step_sets_values(chat: Chat) -> None:
    fill_transfer(chat)
    assert {"event": "slot", "name": "recipient_note", "value": "last transfer", "filled_by": "set_slots"} \
        in chat.last.events


def test_rejection_says_why_and_asks_again(chat: Chat) -> None:
    chat("send money", "start flow transfer_money")
    chat("bob", "set slot recipient bob")
    assert chat("5000", "set slot amount 5000") == ["That is over the limit of 1000.", "How much?"]
    assert chat.slots["amount"] is None
    assert chat("20", "set slot amount 20") == ["Send 20 to bob?"]


def test_a_value_of_the_wrong_type_is_rejected_and_re_asked(chat: Chat) -> None:
    chat("send money", "start flow transfer_money")
    chat("bob", "set slot recipient bob")
    assert chat("lots", "set slot amount lots") == ["Sorry, I'm looking for a number.", "How much?"]


def test_ask_before_filling_asks_even_when_the_slot_is_filled(chat: Chat) -> None:
    chat("send money", "start flow transfer_money", "set slot confirm true", "set slot recipient bob")
    assert chat("50", "set slot amount 50") == ["Send 50 to bob?"]


def test_correction_updates_the_slot_and_continues_from_its_question(chat: Chat) -> None:
    fill_transfer(chat)
    replies = chat("actually to alice", "set slot recipient alice")
    assert replies == ["Ok, I am updating recipient to alice respectively.", "Send 50 to alice?"]
    assert chat.last.commands == [{"command": "correct slot",
                                   "corrected_slots": [{"name": "recipient", "value": "alice"}]}]
    assert chat.stack == ["transfer_money", "pattern_collect_information"]


def test_correction_re_runs_rejections(chat: Chat) -> None:
    fill_transfer(chat)
    replies = chat("make it 9999", "set slot amount 9999")
    assert replies[-2:] == ["That is over the limit of 1000.", "How much?"]


def test_cancel_stops_the_flow_and_resets_its_slots(chat: Chat) -> None:
    fill_transfer(chat)
    # as in Rasa, the cancelled flow ends the stack, so pattern_completed follows
    assert chat("stop", "cancel flow") == ["Okay, I've stopped transfer money.",
                                           "Is there anything else I can help you with?"]
    assert chat.stack == ["pattern_completed", "pattern_collect_information"]
    assert chat.events("flow_cancelled")[0]["flow_id"] == "transfer_money"
    assert chat.slots["recipient"] is None


def test_cancel_without_a_flow_cannot_be_handled(chat: Chat) -> None:
    assert chat("cancel", "cancel flow") == ["I'm sorry, I didn't quite understand that. Could you rephrase?"]


def test_interrupt_then_continue(chat: Chat) -> None:
    chat("send money", "start flow transfer_money")
    chat("bob", "set slot recipient bob")
    replies = chat("what's my balance?", "start flow check_balance")
    assert replies == ["Your balance is 100.", "Would you like to continue with transfer money?"]
    assert chat.events("flow_interrupted")[0]["flow_id"] == "transfer_money"
    assert chat("yes", "set slot continue_interrupted_flow_confirmation true") == ["How much?"]
    assert chat.events("flow_resumed")[0]["flow_id"] == "transfer_money"
    assert chat.stack == ["transfer_money", "pattern_collect_information"]


def test_interrupt_then_decline_cancels_the_interrupted_flow(chat: Chat) -> None:
    chat("send money", "start flow transfer_money")
    chat("balance", "start flow check_balance")
    chat("no", "set slot continue_interrupted_flow_confirmation false")
    assert chat.stack == ["pattern_completed", "pattern_collect_information"]
    assert chat.events("flow_cancelled")[0]["flow_id"] == "transfer_money"


def test_cancel_inside_an_interruption_keeps_the_interrupted_flow(chat: Chat) -> None:
    chat("send money", "start flow transfer_money")
    chat("I need a person", "start flow escalate")
    replies = chat("forget it", "cancel flow")
    assert replies == ["Okay, I've stopped escalate.", "Who should get the money?"]
    assert chat.stack == ["transfer_money", "pattern_collect_information"]


def test_starting_a_flow_answers_the_anything_else_question(chat: Chat) -> None:
    chat("balance", "start flow check_balance")
    assert chat.stack == ["pattern_completed", "pattern_collect_information"]
    assert chat("send money", "start flow transfer_money") == ["Who should get the money?"]
    assert chat.stack == ["transfer_money", "pattern_collect_information"]


def test_no_more_help_says_goodbye_and_asks_for_satisfaction(chat: Chat) -> None:
    chat("balance", "start flow check_balance")
    replies = chat("/SetSlots(continue_conversation=false)")
    assert replies == ["Thanks for reaching out. Have a great day!", "How satisfied were you with this conversation?"]
    assert chat("/SetSlots(csat_score=satisfied)") == ["Thank you for your feedback, we're glad we could help!"]
    assert chat.stack == []


def test_clarification_lists_the_options_as_buttons(chat: Chat) -> None:
    replies = chat("money", "disambiguate flows transfer_money check_balance")
    assert replies == ["I'm not sure which of these you mean: transfer money or check balance?"]
    assert [b["payload"] for b in chat.last.messages[0].buttons] == ["/transfer_money", "/check_balance"]
    assert chat("/check_balance") == ["Your balance is 100.", "Is there anything else I can help you with?"]


def test_clarify_with_one_valid_option_starts_it(chat: Chat) -> None:
    assert chat("balance", "disambiguate flows check_balance nonexistent") == [
        "Your balance is 100.", "Is there anything else I can help you with?"]


@pytest.mark.parametrize(("command", "reply"), [
    ("chitchat", "I'm the support assistant, so I'm best at questions about your account and orders. "
                 "What can I help you with?"),
    ("provide info", "I'm sorry, I don't have an answer to that. Would you like to talk to a person? "
                     "Just say \"talk to a human\"."),
    ("cannot handle", "I'm sorry, I didn't quite understand that. Could you rephrase?"),
])
def test_patterns_without_a_flow(chat: Chat, command: str, reply: str) -> None:
    assert chat("hm", command) == [reply]


def test_chitchat_during_a_question_asks_the_question_again(chat: Chat) -> None:
    chat("send money", "start flow transfer_money")
    replies = chat("how are you?", "offtopic reply")
    assert replies[-1] == "Who should get the money?"


def test_skip_question_explains_the_step_is_needed(chat: Chat) -> None:
    chat("send money", "start flow transfer_money")
    replies = chat("skip", "skip question")
    assert replies == ["I'm afraid I need this information to continue. If you'd rather stop, say \"cancel\".",
                       "Who should get the money?"]


def test_repeat_sends_the_last_messages_again(chat: Chat) -> None:
    chat("send money", "start flow transfer_money")
    assert chat("what?", "repeat message")[0] == "Who should get the money?"


def test_human_handoff_command_requests_a_transfer(chat: Chat) -> None:
    replies = chat("a human please", "human handoff")
    assert replies[0].startswith("I'm connecting you with a member of our team")
    assert chat.last.effects[0]["type"] == "handoff"


def test_link_to_human_handoff_carries_the_flow_and_slots(chat: Chat) -> None:
    chat("escalate", "start flow escalate")
    replies = chat("billing", "set slot topic billing")
    assert replies[0].startswith("I'm connecting you")
    effect = chat.last.effects[0]
    assert effect["slots"]["topic"] == "billing"
    assert effect["flow"] == "escalate"
    assert chat.stack == []
    assert chat.slots["topic"] is None, "the linking flow's slots reset once the handoff ended"


def test_call_runs_the_child_and_returns(chat: Chat) -> None:
    assert chat("parent", "start flow parent") == ["Child question?"]
    assert chat("x", "set slot child_answer x")[0] == "Parent done."
    assert chat.slots["child_answer"] is None


def test_a_flow_whose_guard_is_false_cannot_be_started(chat: Chat) -> None:
    assert chat("lounge", "start flow vip_lounge") == [
        "I'm sorry, I didn't quite understand that. Could you rephrase?"]
    assert chat("lounge", "start flow child")[0].startswith("I'm sorry")


def test_a_flow_whose_guard_is_true_starts(chat: Chat) -> None:
    chat.state = {"slots": {"is_vip": True}}
    assert chat("lounge", "start flow vip_lounge")[0] == "Welcome to the lounge."


def test_the_step_limit_breaks_a_loop(assistant: Assistant) -> None:
    chat = Chat(assistant, step_limit=50)
    replies = chat("loop", "start flow loop_forever")
    assert replies[-1].startswith("Sorry, something went wrong on our side")
    assert chat.events("error")[0]["error_type"] == "step_limit"
    assert chat.stack == []


def test_a_failing_action_cancels_into_internal_error(chat: Chat) -> None:
    replies = chat("explode", "start flow broken_action")
    # as Rasa 3.21 (rasa/core/utils.py cancel_flow_and_push_internal_error): the error pattern runs
    # on top of pattern_cancel_flow, then pattern_completed
    assert replies == ['Sorry, something went wrong on our side. Please try again in a moment, or type '
                       '"talk to a human" and a person will help you.',
                       "Okay, I've stopped broken action.", "Is there anything else I can help you with?"]
    assert "boom" in chat.events("error")[0]["message"]
    assert chat.events("flow_cancelled")[0]["flow_id"] == "broken_action"


def test_understanding_may_not_fill_slots_of_other_flows(chat: Chat) -> None:
    chat("send money", "start flow transfer_money")
    replies = chat("topic billing", "set slot topic billing")
    assert chat.slots["topic"] is None
    assert replies[0].startswith("I'm sorry")


def test_a_button_may_set_any_slot(chat: Chat) -> None:
    chat("/SetSlots(topic=billing, is_vip=true)")
    assert chat.slots["topic"] == "billing"


def test_unknown_flows_and_slots_cannot_be_handled(chat: Chat) -> None:
    assert chat("x", "start flow nope")[0].startswith("I'm sorry")
    assert chat("x", "set slot nope 1")[0].startswith("I'm sorry")


def test_empty_and_too_long_messages(assistant: Assistant) -> None:
    chat = Chat(assistant)
    assert chat("   ") == ["I see an empty message. What can I help you with?"]
    chat.engine.max_chars = 10
    assert chat("x" * 11) == ["Sorry, that message is too long for me. Could you shorten it?"]


def test_restart_and_session_start(chat: Chat) -> None:
    fill_transfer(chat)
    chat("/restart")
    assert chat.stack == [] and chat.slots["recipient"] is None
    assert chat.events("restart")
    chat("/session_start")
    assert chat.events("session_started")


def test_state_stays_the_same_size_as_the_conversation_grows(chat: Chat) -> None:
    sizes = []
    for _ in range(30):
        chat("balance", "start flow check_balance")
        chat("/SetSlots(continue_conversation=false)")
        chat("/SetSlots(csat_score=satisfied)")
        sizes.append(len(json.dumps(chat.state)))
    assert max(sizes[10:]) <= sizes[9] + 20


def test_after_a_handoff_the_engine_says_nothing_more_in_that_turn(chat: Chat) -> None:
    chat("send money", "start flow transfer_money")
    replies = chat("a human please", "human handoff")
    assert len(replies) == 1 and replies[0].startswith("I'm connecting you"), \
        "the flow below the handoff pattern does not re-ask its question"
    silenced = chat.events("bot_silenced")
    assert [e["text"] for e in silenced] == ["Who should get the money?"]
    assert len(chat.events("bot")) == len(replies), "every message said is a bot event, nothing more"
    assert "transfer_money" in chat.stack, "the interrupted flow stays on the stack for later"


def test_resume_after_people_keeps_the_slots_and_starts_the_given_flow(chat: Chat) -> None:
    chat("send money", "start flow transfer_money")
    chat("to Ann", "set slot recipient Ann")
    chat("a human please", "human handoff")
    resumed = chat.engine.resume(chat.state, "u1", channel="test", flow="check_balance")
    assert [m.text for m in resumed.messages] == ["Your balance is 100.", "How much?"], \
        "the given flow runs, then the interrupted one goes on where it was (not from the start)"
    assert resumed.state["slots"]["recipient"] == "Ann"
    assert resumed.events[-1] == {"event": "resumed", "flow": "check_balance", "cleared": False}
    assert [m["text"] for m in resumed.state["last_bot_messages"]] == ["Your balance is 100.", "How much?"]
    cleared = chat.engine.resume(chat.state, "u1", clear=True, flow="no_such_flow")
    assert cleared.messages == [] and cleared.state["stack"] == [], "clear empties the stack; unknown flows are ignored"
    assert chat.engine.resume(chat.state, "u1").state["stack"] == chat.state["stack"]
