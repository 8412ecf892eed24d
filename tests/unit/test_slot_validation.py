"""Domain-level slot validation (Rasa's ``slots.<x>.validation: {rejections, refill_utter}``).

A slot with a ``validation`` is checked by ``pattern_validate_slot`` whenever a command sets it
(the LLM or offline understanding, a button, a correction), inside or outside a flow: a rejected
value is answered with the rejection's response, emptied and asked for again with ``refill_utter``
(default ``utter_ask_<slot>``) until it passes. ``set_slots`` steps and custom actions are trusted.
"""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path
from typing import Any

import pytest

from helpdesk.dialogue.assistant import Assistant, load_assistant
from helpdesk.dialogue.commands.dsl import parse_command_text
from helpdesk.dialogue.domain import parse_domain
from helpdesk.dialogue.e2e import run_tests
from helpdesk.dialogue.engine import Engine, TurnResult, UserMessage
from helpdesk.dialogue.flow_parser import parse_flow
from helpdesk.dialogue.ports import Ports
from helpdesk.dialogue.validation import validate_assistant
from helpdesk.dialogue.yaml_io import AssistantError, read_yaml_text
from tests.unit.test_engine import NoUnderstanding

DOMAIN = """\
slots:
  age:
    type: float
    mappings:
      - type: from_llm
    validation:
      rejections:
        - if: slots.age < 18
          utter: utter_too_young
      refill_utter: utter_ask_age_again
  email:
    type: text
    validation:
      rejections:
        - if: not (slots.email matches "@")
          utter: utter_invalid_email
  confirm:
    type: bool
responses:
  utter_ask_age: [{text: "How old are you?"}]
  utter_ask_age_again: [{text: "Please tell me your age again."}]
  utter_too_young: [{text: "Sorry, you must be 18 or older."}]
  utter_too_old: [{text: "That seems a bit old."}]
  utter_ask_email: [{text: "What is your email?"}]
  utter_invalid_email: [{text: "That is not an email address."}]
  utter_ask_confirm: [{text: "Sign up {email}?"}]
  utter_done: [{text: "Signed up."}]
  utter_age_set: [{text: "Age set."}]
"""

FLOWS = """\
flows:
  sign_up:
    description: Sign up for the newsletter.
    steps:
      - collect: email
      - collect: age
        rejections:
          - if: slots.age > 120
            utter: utter_too_old
      - collect: confirm
        ask_before_filling: true
      - action: utter_done
  age_by_step:
    description: A flow whose set_slots step writes an age.
    steps:
      - set_slots:
          - age: 5
      - action: utter_age_set
  age_by_action:
    description: A flow whose custom action writes an age.
    steps:
      - action: action_set_age
      - action: utter_age_set
"""

ACTIONS = '''
from helpdesk.dialogue.sdk import Action, SlotSet

class SetAge(Action):
    def name(self):
        return "action_set_age"

    def run(self, dispatcher, tracker, domain):
        return [SlotSet("age", 5)]
'''


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    root: Path = tmp_path_factory.mktemp("signup")
    (root / "domain.yml").write_text(DOMAIN)
    (root / "flows.yml").write_text(FLOWS)
    (root / "actions.py").write_text(ACTIONS)
    return load_assistant(root)


class Chat:
    def __init__(self, assistant: Assistant) -> None:
        self.engine = Engine(assistant, NoUnderstanding(),
                             Ports(actions=assistant.action_runner(), rng=random.Random(0)))
        self.state: dict[str, Any] | None = None
        self.last: TurnResult

    def __call__(self, text: str, *commands: str) -> list[str]:
        scripted = [parse_command_text(c) for c in commands] if commands else None
        self.last = self.engine.handle(self.state, UserMessage(text, "u1", commands=scripted))
        json.dumps(self.last.state)
        self.state = self.last.state
        return [m.text or "" for m in self.last.messages]

    @property
    def stack(self) -> list[str]:
        return [f["flow_id"] for f in (self.state or {}).get("stack", [])]

    @property
    def slots(self) -> dict[str, Any]:
        return (self.state or {})["slots"]

    def validations_started(self) -> list[dict[str, Any]]:
        return [e for e in self.last.events
                if e["event"] == "flow_started" and e["flow_id"] == "pattern_validate_slot"]


@pytest.fixture
def chat(assistant: Assistant) -> Chat:
    return Chat(assistant)


# --- the trigger and the pattern ---------------------------------------------------------------


def test_a_rejected_value_in_a_flow_is_answered_emptied_and_asked_again_with_the_refill_utter(chat: Chat) -> None:
    chat("sign me up", "start flow sign_up")
    assert chat("maya@example.com", "set slot email maya@example.com") == ["How old are you?"]
    assert chat("12", "set slot age 12") == ["Sorry, you must be 18 or older.", "Please tell me your age again."]
    assert chat.slots["age"] is None
    assert chat.stack == ["sign_up", "pattern_collect_information", "pattern_validate_slot"]
    assert {"event": "action", "name": "action_run_slot_rejections"} in chat.last.events
    assert chat("30", "set slot age 30") == ["Sign up maya@example.com?"]
    assert chat.slots["age"] == 30.0
    assert chat.stack == ["sign_up", "pattern_collect_information"]


def test_a_valid_value_passes_without_extra_messages(chat: Chat) -> None:
    chat("sign me up", "start flow sign_up")
    chat("maya@example.com", "set slot email maya@example.com")
    assert chat("30", "set slot age 30") == ["Sign up maya@example.com?"]
    assert len(chat.validations_started()) == 1
    assert not [e for e in chat.last.events if e["event"] == "slot" and e["name"] == "age" and e["value"] is None]


def test_the_frame_carries_the_rules_and_the_default_refill_is_utter_ask_slot(chat: Chat) -> None:
    chat("sign me up", "start flow sign_up")
    assert chat("bob", "set slot email bob") == ["That is not an email address.", "What is your email?"]
    frame = chat.state["stack"][-1] if chat.state else {}
    assert frame["flow_id"] == "pattern_validate_slot" and frame["type"] == "pattern"
    assert frame["context"] == {
        "validate": "email", "refill_utter": "utter_ask_email", "refill_action": "action_ask_email",
        "rejections": [{"if": 'not (slots.email matches "@")', "utter": "utter_invalid_email"}],
    }
    # action_ask_email does not exist: skipped, as Rasa skips unknown actions of a flow
    assert {"event": "action_skipped", "name": "action_ask_email"} in chat.last.events


def test_the_refill_loop_asks_until_the_value_passes(chat: Chat) -> None:
    chat("sign me up", "start flow sign_up")
    chat("bob", "set slot email bob")
    assert chat("still bob", "set slot email still-bob") == ["That is not an email address.", "What is your email?"]
    assert chat("hm", "offtopic reply")[-1] == "What is your email?"
    assert chat("bob@example.com", "set slot email bob@example.com") == ["How old are you?"]
    assert chat.stack == ["sign_up", "pattern_collect_information"]


def test_a_value_of_the_wrong_type_gets_the_type_rejection_and_the_refill(chat: Chat) -> None:
    chat("sign me up", "start flow sign_up")
    chat("maya@example.com", "set slot email maya@example.com")
    assert chat("lots", "set slot age lots") == ["Sorry, I'm looking for a number.", "Please tell me your age again."]


def test_domain_validation_runs_before_the_collect_steps_own_rejections(chat: Chat) -> None:
    chat("sign me up", "start flow sign_up")
    chat("maya@example.com", "set slot email maya@example.com")
    assert chat("150", "set slot age 150") == ["That seems a bit old.", "How old are you?"]
    assert chat("12", "set slot age 12") == ["Sorry, you must be 18 or older.", "Please tell me your age again."]


def test_a_slot_set_together_with_starting_its_flow_is_validated_first(chat: Chat) -> None:
    replies = chat("sign me up, I am 12", "start flow sign_up", "set slot age 12")
    assert replies == ["Sorry, you must be 18 or older.", "Please tell me your age again."]
    assert chat.stack == ["sign_up", "pattern_validate_slot"]
    assert chat("40", "set slot age 40") == ["What is your email?"]
    assert chat.slots["age"] == 40.0


def test_a_button_outside_any_flow_is_validated_and_the_typed_answer_accepted(chat: Chat) -> None:
    assert chat("/SetSlots(age=12)") == ["Sorry, you must be 18 or older.", "Please tell me your age again."]
    assert chat.stack == ["pattern_validate_slot"]
    # the asked-again slot may be filled by understanding although no flow collects it now
    assert chat("20", "set slot age 20") == []
    assert chat.slots["age"] == 20.0 and chat.stack == []


def test_a_correction_is_confirmed_then_validated(chat: Chat) -> None:
    chat("sign me up", "start flow sign_up")
    chat("maya@example.com", "set slot email maya@example.com")
    chat("30", "set slot age 30")
    replies = chat("actually I am 12", "set slot age 12")
    assert replies == ["Ok, I am updating age to 12 respectively.", "Sorry, you must be 18 or older.",
                       "Please tell me your age again."]
    assert chat.slots["age"] is None
    assert chat("25", "set slot age 25") == ["Sign up maya@example.com?"]


@pytest.mark.parametrize("flow", ["age_by_step", "age_by_action"])
def test_set_slots_steps_and_custom_actions_are_trusted_as_in_rasa(chat: Chat, flow: str) -> None:
    replies = chat("set my age", f"start flow {flow}")
    assert replies[0] == "Age set."
    assert {"event": "slot", "name": "age", "value": 5} in [
        {k: e[k] for k in ("event", "name", "value")} for e in chat.last.events if e["event"] == "slot"]
    assert chat.validations_started() == []


def test_an_unchanged_empty_slot_triggers_no_validation(chat: Chat) -> None:
    chat("sign me up", "start flow sign_up")
    assert chat("no email", "set slot email null") == ["What is your email?"]
    assert chat.validations_started() == []


def test_action_servers_get_the_validation_with_its_default_refill(assistant: Assistant) -> None:
    slots = assistant.domain.as_dict()["slots"]
    assert slots["email"]["validation"] == {
        "rejections": [{"if": 'not (slots.email matches "@")', "utter": "utter_invalid_email"}],
        "refill_utter": "utter_ask_email"}
    assert "validation" not in slots["confirm"]


def test_an_e2e_test_case_walks_through_a_rejection(assistant: Assistant) -> None:
    assert assistant.path is not None
    path = assistant.path / "tests" / "validation.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent("""\
        test_cases:
          - test_case: too_young_then_valid
            steps:
              - user: sign me up
                commands: [start_flow: sign_up]
              - utter: utter_ask_email
              - user: maya@example.com
                commands: ["set slot email maya@example.com"]
              - utter: utter_ask_age
              - user: I am 12
                commands: ["set slot age 12"]
              - utter: utter_too_young
              - utter: utter_ask_age_again
              - user: fine, 30
                commands: ["set slot age 30"]
              - slot_was_set:
                  - age: 30.0
              - utter: utter_ask_confirm
        """))
    result = run_tests([path], assistant, lambda _: NoUnderstanding())
    assert result.passed == 1, "\n".join(str(f) for c in result.cases for f in c.failures)


# --- loading and validating ----------------------------------------------------------------------


def domain_problems(validation: str) -> list[Any]:
    text = "slots:\n  age:\n    type: float\n    validation:" + validation
    _, problems = parse_domain(read_yaml_text(text, "domain.yml"), "domain.yml")
    return problems


@pytest.mark.parametrize(("validation", "message", "line"), [
    (" [slots.age < 18]\n", "'validation' must be a mapping", 4),
    ("\n      refill_utter: utter_ask_age\n", "'validation' needs 'rejections'", 4),
    ("\n      rejections: {if: slots.age < 18, utter: utter_too_young}\n", "'rejections' must be a list", 5),
    ("\n      rejections:\n        - if: slots.age < 18\n", "needs both 'if' (a condition) and 'utter'", 6),
    ("\n      rejections:\n        - utter: utter_too_young\n", "needs both 'if'", 6),
    ("\n      rejections:\n        - if: slots.age <\n          utter: utter_too_young\n",
     "invalid condition 'slots.age <'", 6),
    ("\n      rejections:\n        - if: slots.age < 18\n          utter: utter_too_young\n"
     "          then: END\n", "unknown key 'then' in a rejection", 8),
    ("\n      rejections: []\n      refill: utter_ask_age\n", "unknown key 'refill' in 'validation'", 6),
    ("\n      rejections: []\n      refill_utter: 3\n", "'refill_utter' must be the name of a response", 6),
])
def test_a_malformed_validation_is_a_domain_problem_with_its_line(validation: str, message: str,
                                                                   line: int) -> None:
    problems = domain_problems(validation)
    assert len(problems) == 1, problems
    assert message in problems[0].message and "slot 'age'" in problems[0].message
    assert problems[0].line == line


def test_a_malformed_validation_stops_loading_with_file_and_line(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    (root / "domain.yml").write_text("slots:\n  age:\n    type: float\n    validation:\n"
                                     "      rejections:\n        - if: slots.age < 18\n")
    with pytest.raises(AssistantError) as error:
        load_assistant(root)
    assert "domain.yml:6: slot 'age': each rejection needs both 'if'" in str(error.value)


def test_a_well_formed_validation_is_read() -> None:
    assert domain_problems("\n      rejections:\n        - if: slots.age < 18\n          utter: utter_too_young\n"
                           "      refill_utter: utter_ask_age\n") == []
    domain, _ = parse_domain(read_yaml_text(DOMAIN), "domain.yml")
    rules = domain.slots["age"].validation
    assert rules is not None and rules.refill_utter == "utter_ask_age_again"
    assert [(r.source, r.utter, r.line) for r in rules.rejections] == [("slots.age < 18", "utter_too_young", 8)]
    assert domain.slots["email"].validation.refill_utter_for("email") == "utter_ask_email"  # type: ignore[union-attr]
    assert domain.slots["confirm"].validation is None


def check(domain_text: str, actions: set[str] | None = None) -> list[str]:
    domain, problems = parse_domain(read_yaml_text(domain_text, "domain.yml"), "domain.yml")
    assert problems == []
    flow = parse_flow("f", read_yaml_text("description: A test flow.\nsteps:\n  - action: utter_ok\n"), "f.yml")
    return [f"{p.line}: {p.message}" for p in validate_assistant([flow], domain, actions or set())]


VALIDATED = """\
slots:
  age:
    type: float
    validation:
      rejections:
        - if: {condition}
          utter: {utter}
{refill}responses:
  utter_ok: [{{text: ok}}]
  utter_too_young: [{{text: too young}}]
  utter_ask_age: [{{text: age?}}]
  utter_ask_age_again: [{{text: age again?}}]
"""


def validated(condition: str = "slots.age < 18", utter: str = "utter_too_young", refill: str = "") -> str:
    return VALIDATED.format(condition=condition, utter=utter, refill=refill)


def test_responses_of_a_validation_must_exist() -> None:
    assert check(validated()) == []
    assert check(validated(refill="      refill_utter: utter_ask_age_again\n")) == []
    assert check(validated(utter="utter_young")) == [
        "6: slot 'age': unknown response 'utter_young' in a validation rejection (if: slots.age < 18)"]
    assert check(validated(refill="      refill_utter: utter_age_again\n")) == [
        "8: slot 'age': unknown response 'utter_age_again' to ask again when its validation rejects a value: "
        "add it under 'responses'"]


def test_the_default_refill_needs_utter_ask_slot_or_action_ask_slot() -> None:
    without = validated().replace("  utter_ask_age: [{text: age?}]\n", "")
    [problem] = check(without)
    assert "unknown response 'utter_ask_age' to ask again" in problem and "action_ask_age" in problem
    assert check(without, {"action_ask_age"}) == []


def test_validation_conditions_get_the_checks_of_flow_conditions() -> None:
    assert check(validated(condition="slots.agee < 18")) == [
        "6: slot 'age': condition \"slots.agee < 18\" uses unknown slot 'agee'"]
    assert check(validated(condition="slots.age = young")) == [
        "6: slot 'age': unquoted value 'young' in condition \"slots.age = young\": write \"young\" with quotes"]
