"""Rasa's NLU-based forms and slot extraction from entities (dialogue/forms.py), as Rasa 3.21 runs
them in a coexistence project: rasa/core/actions/forms.py, loops.py and
rasa/shared/core/slot_mappings.py. The calm-demo restaurant booking runs the same code against a
real rasa-sdk server in tests/compat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpdesk.dialogue.assistant import Assistant, load_assistant
from helpdesk.dialogue.commands import SetSlot, StartFlow
from helpdesk.dialogue.engine import Engine, TurnResult, UserMessage
from helpdesk.dialogue.forms import payload_message
from helpdesk.dialogue.yaml_io import AssistantError
from tests.unit.test_e2e_runner import no_understanding, write

DOMAIN = """\
    intents: [book_table, inform, greet, chitchat]
    entities: [city, number, time, cuisine]
    slots:
      route_session_to_calm: {type: bool}
      city:
        type: text
        mappings: [{type: from_entity, entity: city}]
      people:
        type: any
        mappings: [{type: from_entity, entity: number}]
      time:
        type: text
        mappings: [{type: from_entity, entity: time}]
      cuisine:
        type: text
        mappings:
          - type: from_entity
            entity: cuisine
            conditions: [{active_loop: table_form, requested_slot: cuisine}]
      note:
        type: text
        mappings:
          - type: from_text
            conditions: [{active_loop: table_form, requested_slot: note}]
      account:
        type: text
        mappings: [{type: from_entity, entity: city}]
    forms:
      table_form:
        ignored_intents: [chitchat]
        required_slots: [city, cuisine, people, time, note]
    responses:
      utter_ask_table_form_city: [{text: "Which city?"}]
      utter_ask_cuisine: [{text: "Which cuisine?"}]
      utter_ask_table_form_people: [{text: "How many people?"}]
      utter_ask_table_form_time: [{text: "When?"}]
      utter_ask_note: [{text: "Any note?"}]
      utter_ask_account: [{text: "Which account?"}]
      utter_submit: [{text: "Booking {people} in {city} at {time}: {note}."}]
      utter_hello: [{text: "Hello!"}]
      utter_how_can_i_help: [{text: "How can I help?"}]
    actions: [validate_table_form, action_ask_table_form_cuisine]
    """
RULES = """\
    rules:
      - rule: activate
        steps:
          - intent: book_table
          - action: table_form
          - active_loop: table_form
      - rule: submit
        condition: [{active_loop: table_form}]
        steps:
          - action: table_form
          - active_loop: null
          - slot_was_set: [{requested_slot: null}]
          - action: utter_submit
          - action: action_reset_routing
      - rule: greet
        steps:
          - intent: greet
          - action: utter_hello
          - action: utter_how_can_i_help
    """
FLOWS = """\
    flows:
      open_account:
        description: Open an account.
        steps:
          - collect: account
    """
# a FormValidationAction written against our rasa-sdk-like API: the slot candidates are the last
# events of the tracker (rasa-sdk's Tracker.slots_to_validate); Berlin has no Thai food
ACTIONS = """\
    from helpdesk.dialogue.sdk import SlotSet, action


    def slots_to_validate(tracker):
        found = {}
        for event in reversed(tracker.events):
            if event["event"] != "slot":
                break
            found[event["name"]] = event["value"]
        return found


    @action("validate_table_form")
    def validate(dispatcher, tracker, domain):
        assert tracker.active_loop == "table_form"
        assert domain["forms"]["table_form"]["required_slots"][0] == "city"
        events = []
        for name, value in slots_to_validate(tracker).items():
            if name == "cuisine" and value == "Thai" and tracker.get_slot("city") == "Berlin":
                dispatcher.utter_message(text="No Thai food in Berlin.")
                value = None
            events.append(SlotSet(name, value))
        return events


    @action("action_ask_table_form_cuisine")
    def ask_cuisine(dispatcher, tracker, domain):
        dispatcher.utter_message(text=f"Which cuisine in {tracker.get_slot('city')}?")
        return []
    """


@pytest.fixture
def bot(tmp_path: Path) -> Assistant:
    root = tmp_path / "forms_bot"
    write(root / "domain.yml", DOMAIN)
    write(root / "data" / "rules.yml", RULES)
    write(root / "data" / "flows.yml", FLOWS)
    write(root / "actions.py", ACTIONS)
    return load_assistant(root)


class Chat:
    def __init__(self, assistant: Assistant) -> None:
        self.engine = Engine(assistant, no_understanding(assistant))
        self.state: dict[str, Any] | None = None
        self.result: TurnResult | None = None

    def __call__(self, text: str, intent: str | None = None, commands: list[Any] | None = None,
                 **entities: Any) -> list[str]:
        message = UserMessage(text, "forms-1", intent=intent, commands=commands,
                              entities=[{"entity": k, "value": v} for k, v in entities.items()])
        self.result = self.engine.handle(self.state, message)
        self.state = self.result.state
        return [m.text or "" for m in self.result.messages]

    def slot(self, name: str) -> Any:
        assert self.state is not None
        return self.state["slots"].get(name)

    @property
    def stack(self) -> list[dict[str, Any]]:
        assert self.state is not None
        return list(self.state["stack"])

    def events(self, kind: str) -> list[dict[str, Any]]:
        assert self.result is not None
        return [e for e in self.result.events if e.get("event") == kind]


def test_payloads_carry_an_intent_and_entities() -> None:
    parsed = payload_message('/inform{"city": "Berlin", "number": [2, 3]}')
    assert parsed is not None and parsed.intent == "inform"
    assert parsed.entities == [{"entity": "city", "value": "Berlin"}, {"entity": "number", "value": 2},
                               {"entity": "number", "value": 3}]
    assert payload_message("/greet").entities == []  # type: ignore[union-attr]
    assert payload_message('/inform{"broken"') is None
    assert payload_message("/SetSlots(a=1)") is None
    assert payload_message("hello") is None


def test_the_form_asks_validates_and_hands_over_to_its_end_rule(bot: Assistant) -> None:
    chat = Chat(bot)
    route_off = [SetSlot("route_session_to_calm", "false", "NLU")]
    # activation: entities of the triggering message prefill required slots (action_extract_slots)
    assert chat("a table for 3 tomorrow", "book_table", route_off, number=3, time="tomorrow") == ["Which city?"]
    assert chat.slot("route_session_to_calm") is False
    assert (chat.slot("people"), chat.slot("time"), chat.slot("requested_slot")) == (3, "tomorrow", "city")
    assert [e["name"] for e in chat.events("action")][:1] == ["table_form"]
    # the ask order: action_ask_<form>_<slot> (a custom action) before utter_ask_<slot>
    assert chat('/inform{"city": "Berlin"}') == ["Which cuisine in Berlin?"]
    # validate_<form> empties an invalid value and the form asks again
    assert chat('/inform{"cuisine": "Thai"}') == ["No Thai food in Berlin.", "Which cuisine in Berlin?"]
    assert chat.slot("cuisine") is None
    # a value for another required slot while the form asks for one: taken (unique entity mapping)
    assert chat("we are 4 now", "inform", number=4) == ["Which cuisine in Berlin?"]
    assert chat.slot("people") == 4
    # nothing extracted for the asked slot: the form is rejected, the question stays open
    assert chat("hmm", "inform") == []
    assert chat.events("action_execution_rejected")[0]["name"] == "table_form"
    assert chat('/inform{"cuisine": "Italian"}') == ["Any note?"]
    # from_text with a requested_slot condition takes the whole message
    assert chat("window seat please", "inform") == ["Booking 4 in Berlin at tomorrow: window seat please."]
    assert chat.slot("requested_slot") is None and chat.slot("route_session_to_calm") is None
    assert chat.state is not None and "active_loop" not in chat.state


def test_conditions_ignored_intents_and_calm_slots_limit_extraction(bot: Assistant) -> None:
    chat = Chat(bot)
    chat("book", "book_table", cuisine="Thai", city="Paris")
    # cuisine maps only while the form asks for it; account is a CALM flow's slot: left to CALM
    assert chat.slot("cuisine") is None and chat.slot("city") == "Paris" and chat.slot("account") is None
    # an ignored intent of the active form fills nothing, even with a matching entity
    chat("lovely weather", "chitchat", number=5)
    assert chat.slot("people") is None


def test_a_session_with_calm_does_not_enter_the_form_and_flows_still_run(bot: Assistant) -> None:
    chat = Chat(bot)
    chat("open an account", None, [StartFlow("open_account")])
    assert chat.slot("route_session_to_calm") is True
    assert chat("/book_table") != ["Which city?"]
    assert chat.state is not None and "active_loop" not in chat.state


def test_forms_in_the_domain_json_and_the_requested_slot(bot: Assistant) -> None:
    assert bot.domain.as_dict()["forms"]["table_form"] == {
        "required_slots": ["city", "cuisine", "people", "time", "note"], "ignored_intents": ["chitchat"]}
    assert bot.domain.slots["requested_slot"].type == "text"
    assert not bot.domain.slots["requested_slot"].understanding_may_fill()
    assert "submit" in {rule.name for rule in bot.form_end_rules.values()}


def test_malformed_forms_are_domain_problems(tmp_path: Path) -> None:
    root = tmp_path / "bad_forms"
    write(root / "domain.yml", """\
        forms:
          table_form:
            required_slots: city
        """)
    with pytest.raises(AssistantError) as error:
        load_assistant(root)
    assert "form 'table_form': 'required_slots' must be a list of slot names" in str(error.value)


def test_an_overlay_scripts_the_intent_and_entities_of_nlu_steps(bot: Assistant) -> None:
    """``intent x`` and ``entity e v`` stand in for Rasa's NLU pipeline (numbers stay numbers)."""
    from helpdesk.dialogue.e2e import format_report, run_tests
    from helpdesk.dialogue.e2e_overlay import read_overlay

    assert bot.path is not None
    tests = write(bot.path / "tests" / "book.yml", """\
        test_cases:
          - test_case: book
            steps:
              - user: a table for 3 in Berlin
                assertions:
                  - slot_was_set: [{name: people, value: 3}, {name: city, value: Berlin},
                                   {name: route_session_to_calm, value: false}]
                  - action_executed: table_form
                  - bot_uttered: {text_matches: "Which cuisine in Berlin\\\\?"}
        """)
    overlay = read_overlay(write(bot.path / "overlay.yml", """\
        book:
          - a table for 3 in Berlin: [intent book_table, entity number 3, entity city Berlin,
                                      set slot route_session_to_calm false]
        """))
    result = run_tests([tests], bot, no_understanding, overlay=overlay)
    assert result.failed == 0 and result.passed == 1, format_report(result)
    assert overlay.cases["book"][0].commands[1] == "entity number 3"


def test_a_form_asking_for_an_unknown_slot_is_a_problem(tmp_path: Path) -> None:
    root = tmp_path / "unknown_form_slot"
    write(root / "domain.yml", """\
        slots:
          city: {type: text, mappings: [{type: from_entity, entity: city}]}
        forms:
          table_form:
            required_slots: [city, cuisine]
        """)
    with pytest.raises(AssistantError) as error:
        load_assistant(root)
    assert [(p.line, p.message) for p in error.value.problems] == [
        (4, "form 'table_form': required slot 'cuisine' is not a slot of the domain")]


def _failing_bot(tmp_path: Path, *, coexistence: bool) -> Assistant:
    root = tmp_path / ("coexistence" if coexistence else "calm_only")
    domain = DOMAIN if coexistence else DOMAIN.replace("      route_session_to_calm: {type: bool}\n", "")
    write(root / "domain.yml", domain)
    write(root / "data" / "rules.yml", RULES)
    write(root / "data" / "flows.yml", FLOWS)
    write(root / "actions.py", ACTIONS.replace(
        '        assert tracker.active_loop == "table_form"\n',
        '        assert tracker.active_loop == "table_form"\n'
        '        if tracker.get_slot("city") == "Atlantis":\n'
        '            raise RuntimeError("no such city database")\n'))
    return load_assistant(root)


@pytest.mark.parametrize("coexistence", [False, True])
def test_a_failing_validation_action_loses_the_form_turn(tmp_path: Path, coexistence: bool) -> None:
    """As any failed custom action (rasa/core/processor.py): the form's events are lost, and outside
    an NLU-routed session pattern_internal_error runs."""
    chat = Chat(_failing_bot(tmp_path, coexistence=coexistence))
    replies = chat("a table in Atlantis", "book_table", city="Atlantis")
    assert chat.state is not None and "active_loop" not in chat.state
    assert chat.events("error")[0]["error_type"] == ("action_failed" if coexistence else "rasa_internal_error_default")
    assert replies == ([] if coexistence else [
        'Sorry, something went wrong on our side. Please try again in a moment, or type "talk to a human" '
        "and a person will help you."])


def test_a_rule_runs_all_its_actions_while_a_calm_flow_waits(tmp_path: Path) -> None:
    chat = Chat(_failing_bot(tmp_path, coexistence=False))
    assert chat("open an account", None, [StartFlow("open_account")]) == ["Which account?"]
    assert chat("/greet") == ["Hello!", "How can I help?"]  # the flow below is not advanced
    assert [f["flow_id"] for f in chat.stack] == ["open_account", "pattern_collect_information"]
