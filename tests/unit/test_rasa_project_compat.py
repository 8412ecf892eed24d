"""What published Rasa CALM projects write and we now read the way Rasa does.

Checked against a real CALM demo project and Rasa's own test fixtures; every YAML here is a small
synthetic example of one construct: slot ``mappings`` (who may fill a slot), ``nlu_trigger``
shape and uniqueness, ``reset_after_flow_ends`` versus ``persisted_slots``, the keys an action
step takes, and e2e tests annotated with ``commands`` steps or written with ``user: {text, ...}``.
"""

from __future__ import annotations

import random
import textwrap
from pathlib import Path
from typing import Any

import pytest

from helpdesk.dialogue.assistant import Assistant, load_assistant
from helpdesk.dialogue.commands import Clarify, Error, SetSlot, StartFlow
from helpdesk.dialogue.domain import parse_domain
from helpdesk.dialogue.e2e import load_test_file, run_tests
from helpdesk.dialogue.engine import Engine, UserMessage
from helpdesk.dialogue.flow_parser import parse_flow
from helpdesk.dialogue.flows import FlowParseError
from helpdesk.dialogue.generators.llm_prompt import prompt_slots, render_flow
from helpdesk.dialogue.ports import Ports
from helpdesk.dialogue.validation import validate_assistant
from helpdesk.dialogue.yaml_io import AssistantError, read_yaml_text

DOMAIN = """\
slots:
  pet_name:
    type: text
    mappings:
      - type: from_llm
  pet_checked:
    type: bool
    mappings:
      - type: controlled
  pet_owner:
    type: text
    mappings:
      - type: custom
        action: action_find_owner
  pet_kind:
    type: text
    mappings:
      - type: from_entity
        entity: animal
  pet_notes:
    type: text
  pet_color:
    type: text
    mappings:
      - type: from_llm
        conditions:
          - active_flow: paint_pet
responses:
  utter_ask_pet_name: [{text: "Name?"}]
  utter_ask_pet_checked: [{text: "Checked?"}]
  utter_ask_pet_owner: [{text: "Owner?"}]
  utter_ask_pet_kind: [{text: "Kind?"}]
  utter_ask_pet_notes: [{text: "Notes?"}]
  utter_ask_pet_color: [{text: "Color?"}]
  utter_done: [{text: "Done."}]
"""

FLOWS = """\
flows:
  register_pet:
    description: Register a pet at the clinic.
    steps:
      - collect: pet_name
      - collect: pet_checked
      - collect: pet_owner
      - collect: pet_kind
      - collect: pet_notes
      - action: utter_done
  paint_pet:
    description: Choose the color of a pet portrait.
    steps:
      - collect: pet_color
      - action: utter_done
  groom_pet:
    description: Book grooming for a pet.
    steps:
      - collect: pet_color
      - action: utter_done
"""


class Scripted:
    """Understanding that proposes exactly the commands a test gives it."""

    def __init__(self) -> None:
        self.next: list[Any] = []

    def predict(self, text: str, tracker: Any, flows: Any, domain: Any) -> list[Any]:
        return list(self.next)


@pytest.fixture
def pets(tmp_path: Path) -> Assistant:
    root = tmp_path / "pets"
    root.mkdir()
    (root / "domain.yml").write_text(DOMAIN)
    (root / "flows.yml").write_text(FLOWS)
    return load_assistant(root)


def turn(engine: Engine, generator: Scripted, state: Any, text: str, *commands: Any) -> Any:
    generator.next = list(commands)
    return engine.handle(state, UserMessage(text, "s1"))


def slot_events(result: Any, name: str) -> list[Any]:
    return [e["value"] for e in result.events if e["event"] == "slot" and e.get("name") == name]


# --- slot mappings ---------------------------------------------------------------------------


def test_slot_mappings_are_read_with_their_conditions() -> None:
    domain, problems = parse_domain(read_yaml_text(DOMAIN), "domain.yml")
    assert problems == []
    assert [m.type for m in domain.slots["pet_owner"].mappings] == ["custom"]
    assert domain.slots["pet_owner"].mappings[0].raw == {"type": "custom", "action": "action_find_owner"}
    assert domain.slots["pet_color"].mappings[0].active_flows == ("paint_pet",)
    assert domain.slots["pet_notes"].mappings == ()


@pytest.mark.parametrize(("slot", "flows", "allowed"), [
    ("pet_name", [], True),           # from_llm
    ("pet_notes", [], True),          # no mappings: from_llm
    ("pet_checked", [], False),       # controlled: actions, set_slots and buttons only
    ("pet_owner", [], False),         # custom: the same
    ("pet_kind", [], False),          # from_entity: needs an NLU pipeline
    ("pet_color", ["groom_pet"], False),
    ("pet_color", ["paint_pet"], True),
])
def test_who_may_fill_a_slot_follows_its_mappings(slot: str, flows: list[str], allowed: bool) -> None:
    domain, _ = parse_domain(read_yaml_text(DOMAIN), "domain.yml")
    assert domain.slots[slot].understanding_may_fill(flows) is allowed


@pytest.mark.parametrize(("mappings", "message"), [
    ("[{type: from_llmm}]", "unknown type 'from_llmm'"),
    ("[{entity: animal}]", "unknown type None"),
    ("{type: from_llm}", "'mappings' must be a list"),
    ("[{type: from_llm, conditions: {active_flow: x}}]", "'conditions' must be a list"),
])
def test_malformed_mappings_are_domain_problems(mappings: str, message: str) -> None:
    node = read_yaml_text(f"slots:\n  pet_name:\n    type: text\n    mappings: {mappings}\n")
    _, problems = parse_domain(node, "domain.yml")
    assert len(problems) == 1 and message in problems[0].message
    assert problems[0].line in (3, 4)


def test_understanding_cannot_fill_controlled_custom_or_nlu_mapped_slots(pets: Assistant) -> None:
    generator = Scripted()
    engine = Engine(pets, generator, Ports(actions=pets.action_runner(), rng=random.Random(0)))
    result = turn(engine, generator, None, "register", StartFlow("register_pet"))
    result = turn(engine, generator, result.state, "Rex", SetSlot("pet_name", "Rex"))
    assert slot_events(result, "pet_name") == ["Rex"]
    assert [m.text for m in result.messages] == ["Checked?"]
    for slot in ("pet_checked", "pet_owner", "pet_kind"):
        result = turn(engine, generator, result.state, "yes it is", SetSlot(slot, "yes"))
        assert slot_events(result, slot) == [], slot
        assert result.commands == [{"command": "cannot handle", "reason": None}]
        typed = engine.handle(result.state, UserMessage(f"/SetSlots({slot}=yes)", "s1"))
        assert slot_events(typed, slot) == [], f"a payload no button offered may not set {slot}"
        offered = {**result.state, "last_bot_messages": [
            {"text": "Checked?", "buttons": [{"title": "Yes", "payload": f"/SetSlots({slot}=yes)"}]}]}
        result = engine.handle(offered, UserMessage(f"/SetSlots({slot}=yes)", "s1"))
        assert slot_events(result, slot) != [], f"a button may set {slot}"


def test_a_from_llm_mapping_with_an_active_flow_condition(pets: Assistant) -> None:
    generator = Scripted()
    engine = Engine(pets, generator, Ports(actions=pets.action_runner(), rng=random.Random(0)))
    groom = turn(engine, generator, None, "groom", StartFlow("groom_pet"))
    groom = turn(engine, generator, groom.state, "blue", SetSlot("pet_color", "blue"))
    assert slot_events(groom, "pet_color") == []
    paint = turn(engine, generator, None, "paint it blue", StartFlow("paint_pet"), SetSlot("pet_color", "blue"))
    assert slot_events(paint, "pet_color")[:1] == ["blue"]


def test_action_servers_get_the_written_mappings(pets: Assistant) -> None:
    slots = pets.domain.as_dict()["slots"]
    assert slots["pet_owner"]["mappings"] == [{"type": "custom", "action": "action_find_owner"}]
    assert slots["pet_kind"]["mappings"] == [{"type": "from_entity", "entity": "animal"}]
    assert slots["pet_notes"]["mappings"] == [{"type": "from_llm"}]


def test_the_prompt_shows_only_slots_understanding_may_fill(pets: Assistant) -> None:
    flow = pets.flows["register_pet"]
    assert [s.collect for s in prompt_slots(flow, pets.domain)] == ["pet_name", "pet_notes"]
    assert [s.collect for s in prompt_slots(flow)] == ["pet_name", "pet_checked", "pet_owner", "pet_kind",
                                                       "pet_notes"]
    assert "pet_owner" not in render_flow(flow, pets.domain)


# --- flows -----------------------------------------------------------------------------------


def parse(text: str) -> Any:
    node = read_yaml_text(textwrap.dedent(text))
    ((flow_id, flow_node),) = node["flows"].items()
    return parse_flow(flow_id, flow_node, "flows.yml")


def test_nlu_trigger_in_both_forms() -> None:
    flow = parse("""\
        flows:
          book_room:
            description: Book a meeting room.
            nlu_trigger:
              - intent: book_room
              - intent:
                  name: reserve_room
                  confidence_threshold: 0.8
            steps:
              - action: utter_done
        """)
    assert flow.nlu_triggers == [("book_room", 0.0), ("reserve_room", 0.8)]


@pytest.mark.parametrize("trigger", [
    "[]", "book_room", "[book_room]", "[{intent: null}]", "[{name: book_room}]",
    "[{intent: {confidence_threshold: 0.5}}]", "[{intent: {name: book_room, confidence_threshold: 2}}]",
    "[{intent: {name: book_room, threshold: 0.5}}]",
])
def test_malformed_nlu_trigger_is_a_problem(trigger: str) -> None:
    with pytest.raises(FlowParseError) as error:
        parse(f"""\
            flows:
              book_room:
                description: Book a meeting room.
                nlu_trigger: {trigger}
                steps:
                  - action: utter_done
            """)
    assert "'nlu_trigger' must be a list" in str(error.value)


def test_an_intent_may_trigger_only_one_flow() -> None:
    domain, _ = parse_domain(read_yaml_text("responses:\n  utter_done: [{text: Done.}]\n"), "d.yml")
    node = read_yaml_text(textwrap.dedent("""\
        flows:
          book_room:
            description: Book a meeting room.
            nlu_trigger: [{intent: book}]
            steps: [{action: utter_done}]
          book_desk:
            description: Book a desk.
            nlu_trigger: [{intent: {name: book, confidence_threshold: 0.9}}]
            steps: [{action: utter_done}]
        """))
    flows = [parse_flow(str(k), v, "flows.yml") for k, v in node["flows"].items()]
    problems = validate_assistant(flows, domain, set())
    assert [(p.flow, p.line) for p in problems] == [("book_desk", 7)]
    assert "intent 'book' in 'nlu_trigger' already triggers flow 'book_room'" in problems[0].message


def test_reset_after_flow_ends_cannot_be_combined_with_persisted_slots() -> None:
    with pytest.raises(FlowParseError) as error:
        parse("""\
            flows:
              sign_up:
                description: Sign up.
                persisted_slots: [email]
                steps:
                  - collect: email
                    reset_after_flow_ends: false
            """)
    [(message, line, step)] = error.value.issues
    assert "cannot be combined with the flow's 'persisted_slots'" in message
    assert (line, step) == (7, "sign_up_0_collect_email")
    flow = parse("""\
        flows:
          sign_up:
            description: Sign up.
            steps:
              - collect: email
                reset_after_flow_ends: false
        """)
    assert flow.steps[0].reset_after_flow_ends is False


def test_an_action_step_takes_no_description() -> None:
    with pytest.raises(FlowParseError) as error:
        parse("""\
            flows:
              greet:
                description: Say hello.
                steps:
                  - action: utter_done
                    description: says hello
            """)
    assert error.value.issues[0][:2] == ("unknown key 'description' in action step", 6)
    flow = parse("""\
        flows:
          greet:
            description: Say hello.
            steps:
              - collect: name
                description: the name of the person
              - noop: true
                description: a branching point
                next: END
        """)
    assert flow.steps[0].description == "the name of the person"


def test_a_rasa_project_layout_with_mappings_translations_and_forms_loads(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "domain" / "flows").mkdir(parents=True)
    (root / "data" / "flows").mkdir(parents=True)
    (root / "config").mkdir()
    (root / "config" / "config.yml").write_text("recipe: default.v1\npipeline: []\npolicies: []\n")
    (root / "domain" / "shared.yml").write_text(textwrap.dedent("""\
        version: "3.1"
        intents: [greet]
        entities: [animal]
        forms:
          pet_form:
            required_slots: [pet_kind]
        session_config:
          session_expiration_time: 60
        """))
    hello = "  utter_hello:\n    - text: Hello\n      translation: {de: Hallo}\n      metadata: {rephrase: true}\n"
    (root / "domain" / "flows" / "pets.yml").write_text(DOMAIN + hello)
    (root / "data" / "flows" / "pets.yml").write_text(textwrap.dedent("""\
        flows:
          register_pet:
            description: Register a pet at the clinic.
            translation: {de: {name: Tier anmelden}}
            nlu_trigger: [{intent: greet}]
            always_include_in_prompt: true
            steps:
              - collect: pet_name
                silence_timeout: 30
              - action: utter_hello
        """))
    (root / "data" / "nlu.yml").write_text("version: '3.1'\nnlu:\n  - intent: greet\n    examples: '- hi'\n")
    assistant = load_assistant(root)
    assert assistant.flows["register_pet"].nlu_triggers == [("greet", 0.0)]
    assert [m.type for m in assistant.domain.slots["pet_checked"].mappings] == ["controlled"]


def test_unknown_mapping_type_stops_loading(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    (root / "domain.yml").write_text("slots:\n  x:\n    type: text\n    mappings:\n      - type: from_gpt\n")
    with pytest.raises(AssistantError) as error:
        load_assistant(root)
    assert "domain.yml:5: slot 'x' has a mapping of unknown type 'from_gpt'" in str(error.value)


CALLER = """\
    flows:
      check_weather:
        description: Tell the weather at a place.
        steps:
          - collect: place
          - call: {target}
{extra}          - action: utter_done
    """
CALLER_DOMAIN = ("slots:\n  place:\n    type: text\n    mappings: [{type: from_llm}]\n"
                 "responses:\n  utter_ask_place: [{text: Where?}]\n  utter_done: [{text: Done.}]\n")


def _caller_project(tmp_path: Path, target: str, extra: str = "") -> Path:
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "domain.yml").write_text(CALLER_DOMAIN)
    (root / "data" / "flows.yml").write_text(textwrap.dedent(CALLER).format(target=target, extra=extra))
    return root


@pytest.mark.parametrize(("extra", "expected"), [
    ("            mcp_server: weather_server\n"
     "            mapping:\n              input: [{param: city, slot: place}]\n              output: []\n",
     "call of MCP tool 'get_weather' (mcp_server: weather_server) is not supported: only calls of flows are"),
    ("            exit_if: [slots.place is not null]\n",
     "call of sub-agent 'get_weather' (exit_if) is not supported: only calls of flows are"),
])
def test_calls_of_mcp_tools_and_sub_agents_are_refused_in_one_line(tmp_path: Path, extra: str,
                                                                  expected: str) -> None:
    """Rasa 3.21's call step may call an MCP tool or a sub-agent (CallFlowStep): refused, one line."""
    root = _caller_project(tmp_path, "get_weather", extra)
    with pytest.raises(AssistantError) as error:
        load_assistant(root)
    problems = error.value.problems
    assert [(Path(p.file).name, p.line, p.flow, p.message) for p in problems] == [
        ("flows.yml", 6, "check_weather", expected)]


def test_a_call_naming_a_configured_sub_agent_is_refused_in_one_line(tmp_path: Path) -> None:
    """A call whose target is a sub-agent of ``sub_agents/<folder>/config.yml`` (by its
    ``agent.name``, as rasa/core/available_agents.py names them) is named as such."""
    root = _caller_project(tmp_path, "weather_agent")
    (root / "sub_agents" / "weather").mkdir(parents=True)
    (root / "sub_agents" / "weather" / "config.yml").write_text(
        "agent:\n  name: weather_agent\n  protocol: RASA\n")
    with pytest.raises(AssistantError) as error:
        load_assistant(root)
    assert [(p.line, p.message) for p in error.value.problems] == [
        (6, "call of sub-agent 'weather_agent' (configured in sub_agents/) is not supported: "
            "only calls of flows are")]
    (root / "sub_agents" / "weather" / "config.yml").write_text("agent:\n  name: other\n")
    with pytest.raises(AssistantError) as error:
        load_assistant(root)
    assert [p.message for p in error.value.problems] == ["call target flow 'weather_agent' does not exist"]


# --- e2e test files --------------------------------------------------------------------------


def load_cases(tmp_path: Path, text: str) -> tuple[list[Any], list[Any]]:
    path = tmp_path / "e2e" / "case.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return load_test_file(path, path.parent)


def test_commands_steps_annotate_the_user_step_before_them(tmp_path: Path) -> None:
    specs, problems = load_cases(tmp_path, """\
        test_cases:
          - test_case: annotated
            steps:
              - user: register Rex please
              - commands:
                  - start_flow: register_pet
                  - set_slot:
                      - pet_name: Rex
                      - pet_notes: 3
              - utter: utter_ask_pet_checked
              - user: which one?
              - commands:
                  - clarify: [register_pet, paint_pet]
              - user: never mind
              - commands:
                  - cancel_flow
                  - skip_question
                  - chitchat
              - user: "   "
              - commands:
                  - error:
                    error_type: rasa_internal_error_user_input_empty
        """)
    assert problems == [] and specs[0].problems == []
    commands = [t.user.commands for t in specs[0].turns if t.user is not None]
    assert commands[0] == [StartFlow("register_pet"), SetSlot("pet_name", "Rex"), SetSlot("pet_notes", 3)]
    assert commands[1] == [Clarify(("register_pet", "paint_pet"))]
    assert [c.command for c in commands[2]] == ["cancel flow", "skip question", "chitchat"]
    assert commands[3] == [Error("rasa_internal_error_user_input_empty")]
    assert [c.kind for c in specs[0].turns[1].checks] == ["utter"]


def test_annotation_items_also_work_on_a_user_step(tmp_path: Path) -> None:
    specs, _ = load_cases(tmp_path, """\
        test_cases:
          - test_case: inline
            steps:
              - user: register Rex
                commands:
                  - start_flow: register_pet
                  - "set slot pet_name Rex"
        """)
    assert specs[0].turns[1].user.commands == [StartFlow("register_pet"), SetSlot("pet_name", "Rex")]


@pytest.mark.parametrize(("steps", "message", "line"), [
    ("      - commands: [start_flow: register_pet]\n", "must follow a user step", 4),
    ("      - user: hi\n        commands: [chitchat]\n      - commands: [chitchat]\n",
     "commands given twice", 6),
    ("      - user: hi\n      - commands:\n          - launch_rocket\n", "launch_rocket", 6),
    ("      - user: hi\n      - commands:\n          - set_slot: pet_name\n", "needs '- slot: value'", 6),
    ("      - user: hi\n      - commands:\n          - start_flow: a\n            set_slot: [{x: 1}]\n",
     "one key per command", 6),
    ("      - user: hi\n      - bot: Hello\n        commands: [chitchat]\n", "only allowed on user steps", 5),
])
def test_bad_commands_steps_are_reported_with_their_line(tmp_path: Path, steps: str, message: str,
                                                          line: int) -> None:
    specs, _ = load_cases(tmp_path, "test_cases:\n  - test_case: bad\n    steps:\n" + steps)
    assert [p.line for p in specs[0].problems] == [line]
    assert message in specs[0].problems[0].message


def test_a_user_step_written_as_a_mapping(tmp_path: Path) -> None:
    specs, problems = load_cases(tmp_path, """\
        metadata:
          - device: {os: linux}
        test_cases:
          - test_case: mapping
            steps:
              - user:
                  text: "No, thanks."
                  metadata: device
              - user: {text: "yes"}
        """)
    assert problems == [] and specs[0].problems == []
    first, second = (t.user for t in specs[0].turns[1:])
    assert (first.text, first.metadata) == ("No, thanks.", {"os": "linux"})
    assert (second.text, second.metadata) == ("yes", {})


@pytest.mark.parametrize(("user", "message"), [
    ("{message: hi}", "takes 'text' and an optional 'metadata'"),
    ("{text: [hi]}", "a user message must be text"),
    ("[hi, there]", "a user message must be text"),
])
def test_a_user_step_must_carry_text(tmp_path: Path, user: str, message: str) -> None:
    specs, _ = load_cases(tmp_path, f"test_cases:\n  - test_case: bad\n    steps:\n      - user: {user}\n")
    assert [p.line for p in specs[0].problems] == [4]
    assert message in specs[0].problems[0].message


def test_an_annotated_test_runs_with_its_commands(pets: Assistant) -> None:
    assert pets.path is not None
    path = pets.path / "tests" / "annotated.yml"
    path.parent.mkdir()
    path.write_text(textwrap.dedent("""\
        test_cases:
          - test_case: annotated
            steps:
              - user: register Rex please
              - commands:
                  - start_flow: register_pet
                  - set_slot:
                      - pet_name: Rex
              - slot_was_set:
                  - pet_name: Rex
              - utter: utter_ask_pet_checked
              - user: he was checked
              - commands:
                  - set_slot:
                      - pet_checked: true
              - slot_was_not_set:
                  - pet_checked
              - utter: utter_ask_pet_checked
        """))
    result = run_tests([path], pets, lambda assistant: Scripted())
    assert result.passed == 1, "\n".join(str(f) for c in result.cases for f in c.failures)
