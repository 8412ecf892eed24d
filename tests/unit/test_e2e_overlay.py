"""Scripted-commands overlays (dialogue/e2e_overlay.py) and simple NLU-based rules (dialogue/rules.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpdesk.dialogue.assistant import Assistant, load_assistant
from helpdesk.dialogue.e2e import format_report, run_tests
from helpdesk.dialogue.e2e_overlay import read_overlay
from helpdesk.dialogue.engine import Engine, UserMessage
from helpdesk.dialogue.yaml_io import AssistantError
from tests.unit.test_e2e_runner import assistant, no_understanding, write  # noqa: F401 - fixture

TESTS = """\
test_cases:
  - test_case: send
    steps:
      - user: send money to Ann
        assertions:
          - slot_was_set: [{name: recipient, value: Ann}]
          - bot_uttered: {utter_name: utter_ask_amount}
      - user: "50"
      - utter: utter_ask_confirm
      - user: "/SetSlots(confirm=true)"
      - utter: utter_done
  - test_case: send
    steps:
      - user: balance please
        assertions:
          - bot_uttered: {utter_name: utter_balance}
"""


def run_with(assistant: Assistant, overlay_text: str, tests: str = TESTS) -> tuple[str, bool]:  # noqa: F811
    assert assistant.path is not None
    tests_file = write(assistant.path / "tests" / "e2e" / "send.yml", tests)
    overlay = read_overlay(write(assistant.path.parent / "overlay.yml", overlay_text))
    result = run_tests([tests_file], assistant, no_understanding, overlay=overlay)
    return format_report(result), result.failed == 0 and result.passed > 0


def test_scripted_commands_drive_the_cases(assistant: Assistant) -> None:  # noqa: F811
    report, ok = run_with(assistant, """\
        e2e/send.yml::send:
          - send money to Ann: [start flow transfer_money, set slot recipient Ann]
          - "50": [set slot amount 50]
        send#2:
          - balance please: [start flow check_balance]
        """)
    assert ok, report


def test_a_step_without_commands_is_an_error_with_its_line(assistant: Assistant) -> None:  # noqa: F811
    report, ok = run_with(assistant, """\
        send:
          - send money to Ann: [start flow transfer_money, set slot recipient Ann]
        send#2:
          - balance please: [start flow check_balance]
        """)
    assert not ok
    assert "send.yml:8: error: user step '50' has no scripted commands" in report


def test_a_mismatched_text_and_an_unused_entry_are_reported(assistant: Assistant) -> None:  # noqa: F811
    report, ok = run_with(assistant, """\
        send:
          - send money to Bob: [start flow transfer_money]
        send#2:
          - balance please: [start flow check_balance]
        renamed case:
          - hello: [start flow check_balance]
        """)
    assert not ok
    assert "next entry: 'send money to Bob' (line 2)" in report
    assert "overlay.yml:5: error: no test case 'renamed case' uses these commands" in report


def test_an_invalid_command_in_the_overlay_names_its_line(assistant: Assistant) -> None:  # noqa: F811
    report, ok = run_with(assistant, """\
        send:
          - send money to Ann: [fly to the moon]
        """)
    assert not ok and "overlay.yml:2: error: invalid command: cannot parse command 'fly to the moon'" in report


def test_a_malformed_overlay_is_refused_with_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "overlay.yml", "send:\n  - just text\nother: 3\n")
    with pytest.raises(AssistantError) as caught:
        read_overlay(path)
    assert [p.line for p in caught.value.problems] == [2, 3]


RULES = """\
rules:
  - rule: greeting
    steps:
      - intent: greet
      - action: utter_greet
      - action: action_greet_back
  - rule: with a slot condition
    condition: [{slot_was_set: [{greeted: true}]}]
    steps:
      - intent: book
      - action: utter_greet
stories:
  - story: ignored
    steps: [{intent: greet}]
"""


@pytest.fixture
def with_rules(tmp_path: Path) -> Assistant:
    root = tmp_path / "nlu_bot"
    write(root / "domain.yml", """\
        slots:
          route_session_to_calm: {type: bool}
          greeted: {type: bool}
        responses:
          utter_greet: [{text: "Hello!"}]
          utter_balance: [{text: "Balance is 100."}]
        actions: [action_greet_back]
        """)
    write(root / "data" / "flows.yml", """\
        flows:
          check_balance:
            description: Tell the balance.
            steps:
              - action: utter_balance
        """)
    write(root / "data" / "rules.yml", RULES)
    write(root / "actions.py", """\
        from helpdesk.dialogue.sdk import SlotSet, action


        @action("action_greet_back")
        def greet_back(dispatcher, tracker, domain):
            return [SlotSet("greeted", True)]
        """)
    return load_assistant(root)


def test_simple_rules_load_and_the_others_are_warned_about(with_rules: Assistant) -> None:
    assert list(with_rules.rules) == ["greet"]
    assert with_rules.rules["greet"].actions == ("utter_greet", "action_greet_back")
    warnings = [str(w) for w in with_rules.warnings]
    assert any("rule 'with a slot condition' ignored" in w for w in warnings)
    assert any("stories ignored" in w for w in warnings)


def test_an_intent_runs_its_rule_unless_the_session_is_with_calm(with_rules: Assistant) -> None:
    engine = Engine(with_rules, no_understanding(with_rules))
    result = engine.handle(None, UserMessage("/greet", "s1"))
    assert [m.text for m in result.messages] == ["Hello!"]
    assert result.state["slots"]["greeted"] is True
    scripted = engine.handle(None, UserMessage("hi there", "s2", intent="greet", commands=[]))
    assert [m.text for m in scripted.messages] == ["Hello!"]
    with_calm = engine.handle({"slots": {"route_session_to_calm": True}}, UserMessage("/greet", "s3"))
    assert [m.text for m in with_calm.messages] != ["Hello!"]


def test_understanding_sets_the_coexistence_slot_once(with_rules: Assistant) -> None:
    from helpdesk.dialogue.commands import StartFlow

    engine = Engine(with_rules, no_understanding(with_rules))
    first = engine.handle(None, UserMessage("balance", "s4", commands=[StartFlow("check_balance")]))
    assert first.state["slots"]["route_session_to_calm"] is True
    assert {"command": "set slot", "name": "route_session_to_calm", "value": True,
            "extractor": "LLM"}.items() <= {k: v for c in first.commands for k, v in c.items()
                                            if c.get("name") == "route_session_to_calm"}.items()
    again = engine.handle(first.state, UserMessage("balance", "s4", commands=[StartFlow("check_balance")]))
    assert all(c.get("name") != "route_session_to_calm" for c in again.commands)


def test_cases_named_not_run_are_reported_with_their_reason(assistant: Assistant) -> None:  # noqa: F811
    assert assistant.path is not None
    tests_file = write(assistant.path / "tests" / "e2e" / "send.yml", TESTS)
    result = run_tests([tests_file], assistant, no_understanding, not_run={"send": "needs a Duckling server"})
    assert (result.passed, result.failed, result.not_run) == (0, 0, 2)
    report = format_report(result)
    assert "NOT RUN send (" in report and report.endswith("0 passed, 0 failed, 2 not run")
    assert "failed:" not in result.summary()
