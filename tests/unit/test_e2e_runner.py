"""The e2e test runner: test files in Rasa's format run against a small assistant."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from helpdesk.dialogue.actions.registry import ActionResult
from helpdesk.dialogue.assistant import Assistant, load_assistant
from helpdesk.dialogue.e2e import CaseResult, SuiteResult, discover, format_report, run_tests
from helpdesk.dialogue.sdk import Tracker

DOMAIN = """\
slots:
  recipient: {type: text}
  amount: {type: float}
  confirm: {type: bool}
  account: {type: text}
responses:
  utter_ask_recipient: [{text: "Who to?"}]
  utter_ask_amount: [{text: "How much?"}]
  utter_ask_confirm:
    - text: "Send {amount} to {recipient}?"
      buttons:
        - {title: "Yes", payload: "/SetSlots(confirm=true)"}
        - {title: "No", payload: "/SetSlots(confirm=false)"}
  utter_too_much: [{text: "Too much."}]
  utter_cancelled: [{text: "Cancelled."}]
  utter_balance: [{text: "Balance is 100."}]
  utter_done: [{text: "Sent."}]
  utter_account: [{text: "Your account is ready."}]
actions: [action_remote]
"""

FLOWS = """\
flows:
  transfer_money:
    description: Send money to a friend.
    steps:
      - collect: recipient
      - collect: amount
        rejections:
          - if: slots.amount > 1000
            utter: utter_too_much
      - collect: confirm
        ask_before_filling: true
        next:
          - if: slots.confirm
            then:
              - action: action_transfer
                next: END
          - else:
              - action: utter_cancelled
                next: END
  check_balance:
    description: Tell the customer their balance.
    steps:
      - action: utter_balance
  lookup_account:
    description: Look up the customer's account.
    steps:
      - action: action_lookup
  echo_metadata:
    description: Repeat the message metadata.
    steps:
      - action: action_echo_metadata
  remote_thing:
    description: Run an action on the action server.
    steps:
      - action: action_remote
"""

ACTIONS = """\
from helpdesk.dialogue.sdk import Action, SlotSet, action


class Transfer(Action):
    def name(self):
        return "action_transfer"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(response="utter_done")
        return [SlotSet("account", "main")]


@action("action_lookup")
def lookup(dispatcher, tracker, domain):
    dispatcher.utter_message(text="real lookup")
    return [SlotSet("account", "real")]


@action("action_echo_metadata")
def echo(dispatcher, tracker, domain):
    metadata = tracker.latest_message.get("metadata") or {}
    dispatcher.utter_message(text=f"lang={metadata.get('lang')} tier={metadata.get('tier')}")
    return []
"""


class NoUnderstanding:
    """A generator that never understands anything: tests give ``commands:``."""

    def predict(self, text: str, tracker: Any, flows: Any, domain: Any) -> list[Any]:
        return []


def no_understanding(assistant: Assistant) -> NoUnderstanding:
    return NoUnderstanding()


@pytest.fixture
def assistant(tmp_path: Path) -> Assistant:
    root = tmp_path / "bot"
    root.mkdir()
    (root / "domain.yml").write_text(DOMAIN)
    (root / "flows.yml").write_text(FLOWS)
    (root / "actions.py").write_text(ACTIONS)
    return load_assistant(root)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def run(assistant: Assistant, text: str, **kwargs: Any) -> SuiteResult:
    assert assistant.path is not None
    path = write(assistant.path / "tests" / "test.yml", text)
    return run_tests([path], assistant, no_understanding, **kwargs)


def only(result: SuiteResult) -> CaseResult:
    assert len(result.cases) == 1, format_report(result)
    return result.cases[0]


def failure_text(case: CaseResult) -> str:
    return "\n".join(str(f) for f in case.failures)


START = """\
      - user: send money
        commands: ["start flow transfer_money"]
"""


# --- step style ------------------------------------------------------------------------------


def test_passing_step_style_case(assistant: Assistant) -> None:
    result = run(assistant, """\
        test_cases:
          - test_case: happy path
            steps:
              - user: send money
                commands: ["start flow transfer_money"]
              - utter: utter_ask_recipient
              - bot: Who to?
              - user: john
                commands: ["set slot recipient john"]
              - slot_was_set:
                  - recipient
              - bot: How much?
              - user: "50"
                commands: ["set slot amount 50"]
              - slot_was_set:
                  - amount: 50
              - bot: Send 50 to john?
              - user: "Yes"
                commands: ["set slot confirm true"]
              - bot: Sent.
              - slot_was_set:
                  - account: main
        """)
    case = only(result)
    assert case.passed, failure_text(case)
    assert (result.passed, result.failed) == (1, 0)


def test_failing_bot_step_shows_expected_and_actual(assistant: Assistant) -> None:
    case = only(run(assistant, """\
        test_cases:
          - test_case: wrong text
            steps:
              - user: send money
                commands: ["start flow transfer_money"]
              - bot: Whom to?
        """))
    assert not case.passed
    [failure] = case.failures
    assert failure.line == 6
    assert failure.file.endswith("test.yml")
    assert failure.step.startswith("bot: Whom to?")
    text = str(failure)
    assert 'expected: a bot message with text "Whom to?"' in text
    assert 'bot: "Who to?" (utter_ask_recipient)' in text
    assert "flow started: transfer_money" in text
    assert "understood: start flow transfer_money" in text
    assert "test.yml:6" in text


def test_utter_step_fails_with_the_actual_response_names(assistant: Assistant) -> None:
    case = only(run(assistant, """\
        test_cases:
          - test_case: utter
            steps:
              - user: send money
                commands: ["start flow transfer_money"]
              - utter: utter_ask_recipient
              - utter: utter_ask_amount
        """))
    [failure] = case.failures
    assert failure.line == 7
    assert "response utter_ask_amount" in failure.expected
    assert any("(utter_ask_recipient)" in line for line in failure.actual)


def test_slot_was_set_without_and_with_value(assistant: Assistant) -> None:
    case = only(run(assistant, """\
        test_cases:
          - test_case: slots
            steps:
              - user: send money
                commands: ["start flow transfer_money"]
              - user: john
                commands: ["set slot recipient john"]
              - slot_was_set:
                  - recipient
                  - recipient: john
              - slot_was_set:
                  - recipient: mary
              - slot_was_set:
                  - amount
        """))
    assert [f.line for f in case.failures] == [11, 13]
    assert "slot recipient set to 'mary'" in case.failures[0].expected
    assert "slot recipient = 'john'" in case.failures[0].actual


def test_slot_values_compare_loosely_across_types(assistant: Assistant) -> None:
    case = only(run(assistant, """\
        test_cases:
          - test_case: loose
            steps:
              - user: send money
                commands: ["start flow transfer_money"]
              - user: john
                commands: ["set slot recipient john"]
              - user: fifty
                commands: ["set slot amount 50"]
              - slot_was_set:
                  - amount: 50
                  - amount: 50.0
                  - amount: "50"
              - user: "yes"
                commands: ["set slot confirm true"]
              - slot_was_set:
                  - confirm: "true"
                  - confirm: true
        """))
    assert case.passed, failure_text(case)


def test_slot_was_not_set_looks_at_the_last_value_of_the_turn(assistant: Assistant) -> None:
    case = only(run(assistant, """\
        test_cases:
          - test_case: rejected amount
            steps:
              - user: send money
                commands: ["start flow transfer_money"]
              - user: john
                commands: ["set slot recipient john"]
              - user: "5000"
                commands: ["set slot amount 5000"]
              - bot: Too much.
              - slot_was_set:
                  - amount: 5000
              - slot_was_not_set:
                  - amount: 5000
              - slot_was_not_set:
                  - amount
                  - recipient
              - user: "50"
                commands: ["set slot amount 50"]
              - slot_was_not_set:
                  - amount: 50
              - slot_was_not_set:
                  - amount
        """))
    assert [f.line for f in case.failures] == [20, 22]
    assert "slot amount not set to 50" in case.failures[0].expected
    assert "slot amount = 50.0" in case.failures[0].actual


def test_commands_in_both_syntaxes(assistant: Assistant) -> None:
    case = only(run(assistant, """\
        test_cases:
          - test_case: v1 and v2
            steps:
              - user: send money to john
                commands:
                  - StartFlow(transfer_money)
                  - SetSlot(recipient, john)
              - bot: How much?
              - user: "20"
                commands: ["set slot amount 20"]
              - bot: Send 20 to john?
              - user: stop
                commands: ["CancelFlow()"]
              - bot: Okay, I've stopped transfer money.
        """))
    assert case.passed, failure_text(case)


def test_invalid_command_text_is_reported_with_its_line(assistant: Assistant) -> None:
    case = only(run(assistant, """\
        test_cases:
          - test_case: bad command
            steps:
              - user: send money
                commands:
                  - start flow transfer_money
                  - launch the rocket
        """))
    [failure] = case.failures
    assert failure.step == "error"
    assert failure.line == 7
    assert "invalid command" in failure.expected and "launch the rocket" in failure.expected


def test_bot_steps_before_any_user_step_check_an_empty_session_start(assistant: Assistant) -> None:
    case = only(run(assistant, """\
        test_cases:
          - test_case: greeting
            steps:
              - bot: Welcome!
        """))
    [failure] = case.failures
    assert "session start" in failure.step
    assert "nothing" in str(failure)


def test_each_case_is_a_fresh_conversation(assistant: Assistant) -> None:
    result = run(assistant, """\
        test_cases:
          - test_case: first
            steps:
              - user: send money
                commands: ["start flow transfer_money"]
          - test_case: second
            steps:
              - user: john
                commands: ["set slot recipient john"]
              - slot_was_not_set:
                  - recipient
        """)
    assert [c.passed for c in result.cases] == [True, True], format_report(result)


# --- fixtures, metadata, stubs ---------------------------------------------------------------


def test_fixtures_fill_slots_before_the_first_message(assistant: Assistant) -> None:
    case = only(run(assistant, """\
        fixtures:
          - known_recipient:
              - recipient: john
          - big_amount:
              - amount: 20
        test_cases:
          - test_case: with fixtures
            fixtures: [known_recipient, big_amount]
            steps:
              - user: send money
                commands: ["start flow transfer_money"]
              - bot: Send 20 to john?
        """))
    assert case.passed, failure_text(case)


def test_conftest_fixtures_from_parent_folders(assistant: Assistant) -> None:
    assert assistant.path is not None
    write(assistant.path / "tests" / "conftest.yml", """\
        fixtures:
          - known_recipient:
              - recipient: john
          - amount:
              - amount: 30
        """)
    write(assistant.path / "tests" / "e2e" / "conftest.yml", """\
        fixtures:
          - amount:
              - amount: 40
        """)
    write(assistant.path / "tests" / "e2e" / "money" / "test_money.yml", """\
        fixtures:
          - known_recipient:
              - recipient: mary
        test_cases:
          - test_case: nearest fixture wins
            fixtures: [known_recipient, amount]
            steps:
              - user: send money
                commands: ["start flow transfer_money"]
              - bot: Send 40 to mary?
        """)
    result = run_tests([assistant.path / "tests" / "e2e"], assistant, no_understanding)
    case = only(result)
    assert case.passed, failure_text(case)


def test_unknown_fixture_and_metadata_names_are_errors(assistant: Assistant) -> None:
    case = only(run(assistant, """\
        test_cases:
          - test_case: typo
            fixtures: [nope]
            metadata: missing
            steps:
              - user: hi
        """))
    assert not case.passed
    assert {f.line for f in case.failures} == {3, 4}
    assert "unknown fixture 'nope'" in failure_text(case)
    assert "unknown metadata 'missing'" in failure_text(case)


def test_metadata_is_merged_into_user_messages_and_step_metadata_wins(assistant: Assistant) -> None:
    case = only(run(assistant, """\
        metadata:
          - english: {lang: en, tier: free}
          - gold: {tier: gold}
        test_cases:
          - test_case: metadata
            metadata: english
            steps:
              - user: echo
                commands: ["start flow echo_metadata"]
              - bot: lang=en tier=free
              - user: echo again
                metadata: gold
                commands: ["start flow echo_metadata"]
              - bot: lang=en tier=gold
        """))
    assert case.passed, failure_text(case)


def test_global_stub_replaces_the_python_action(assistant: Assistant) -> None:
    case = only(run(assistant, """\
        stub_custom_actions:
          action_lookup:
            events:
              - {event: slot, name: account, value: stubbed}
            responses:
              - response: utter_account
                buttons: [{title: Open, payload: /open}]
              - text: plain stub text
        test_cases:
          - test_case: stubbed
            steps:
              - user: look up
                commands: ["start flow lookup_account"]
                assertions:
                  - action_executed: action_lookup
                  - slot_was_set:
                      - name: account
                        value: stubbed
                  - bot_uttered:
                      utter_name: utter_account
                      buttons: [{title: Open, payload: /open}]
                  - bot_uttered:
                      text_matches: plain stub text
                  - bot_did_not_utter:
                      text_matches: real lookup
        """))
    assert case.passed, failure_text(case)


def test_case_specific_stub_overrides_the_global_one(assistant: Assistant) -> None:
    result = run(assistant, """\
        stub_custom_actions:
          action_lookup:
            events: [{event: slot, name: account, value: global}]
          special::action_lookup:
            events: [{event: slot, name: account, value: special}]
        test_cases:
          - test_case: ordinary
            steps:
              - user: look up
                commands: ["start flow lookup_account"]
              - slot_was_set:
                  - account: global
          - test_case: special
            steps:
              - user: look up
                commands: ["start flow lookup_account"]
              - slot_was_set:
                  - account: special
        """)
    assert [c.passed for c in result.cases] == [True, True], format_report(result)


def test_remote_runner_serves_actions_nobody_else_has(assistant: Assistant) -> None:
    calls: list[str] = []

    class FakeServer:
        def has(self, name: str) -> bool:
            return name == "action_remote"

        def run(self, name: str, tracker: Tracker, domain: dict[str, Any]) -> ActionResult:
            calls.append(name)
            return ActionResult(events=[{"event": "slot", "name": "account", "value": "remote"}],
                                responses=[{"text": "from the server"}])

    case = only(run(assistant, """\
        test_cases:
          - test_case: remote
            steps:
              - user: go
                commands: ["start flow remote_thing"]
              - bot: from the server
              - slot_was_set:
                  - account: remote
        """, remote=FakeServer()))
    assert case.passed, failure_text(case)
    assert calls == ["action_remote"]


# --- assertions ------------------------------------------------------------------------------


def assertion_case(assistant: Assistant, assertions: str, *, before: str = "",
                   commands: str = '["start flow transfer_money"]', order: bool = False) -> CaseResult:
    body = textwrap.indent(textwrap.dedent(assertions), " " * 10)
    flag = "        assertion_order_enabled: true\n" if order else ""
    text = ("test_cases:\n  - test_case: assertions\n    steps:\n" + textwrap.indent(before, "  ")
            + f"      - user: go\n        commands: {commands}\n{flag}        assertions:\n" + body)
    assert assistant.path is not None
    path = write(assistant.path / "tests" / "assertions.yml", text)
    return only(run_tests([path], assistant, no_understanding))


def test_flow_started_assertion(assistant: Assistant) -> None:
    assert assertion_case(assistant, "- flow_started: transfer_money\n").passed
    case = assertion_case(assistant, "- flow_started: check_balance\n")
    [failure] = case.failures
    assert failure.expected == "flow check_balance started"
    assert "flow started: transfer_money" in failure.actual
    assert failure.line == 7


def test_flow_completed_assertion_with_and_without_step(assistant: Assistant) -> None:
    commands = '["start flow check_balance"]'
    assert assertion_case(assistant, """\
        - flow_completed: {flow_id: check_balance}
        - flow_completed:
            flow_id: check_balance
            flow_step_id: check_balance_0_utter_balance
        """, commands=commands).passed
    case = assertion_case(assistant, """\
        - flow_completed: {flow_id: check_balance, flow_step_id: elsewhere}
        - flow_completed: {flow_id: transfer_money}
        """, commands=commands)
    assert [f.expected for f in case.failures] == [
        "flow check_balance completed at step elsewhere", "flow transfer_money completed"]


def test_flow_cancelled_assertion(assistant: Assistant) -> None:
    before = '    - user: send money\n      commands: ["start flow transfer_money"]\n'
    assert assertion_case(assistant, """\
        - flow_cancelled:
            flow_id: transfer_money
            flow_step_id: transfer_money_0_collect_recipient
        - bot_uttered: {utter_name: utter_flow_cancelled_rasa}
        """, before=before, commands='["cancel flow"]').passed
    case = assertion_case(assistant, "- flow_cancelled: {flow_id: check_balance}\n", before=before,
                          commands='["cancel flow"]')
    [failure] = case.failures
    assert "flow cancelled: transfer_money at step transfer_money_0_collect_recipient" in failure.actual


def test_pattern_clarification_contains(assistant: Assistant) -> None:
    commands = '["disambiguate flows transfer_money check_balance"]'
    # as in Rasa, the list form gives the flow *names* offered, all of them
    assert assertion_case(assistant, """\
        - pattern_clarification_contains: [transfer money, check balance]
        - pattern_clarification_contains: {flow_ids: [check_balance, transfer_money], operator: all}
        - pattern_clarification_contains: {flow_ids: [lookup_account, check_balance], operator: any}
        """, commands=commands).passed
    case = assertion_case(assistant, """\
        - pattern_clarification_contains: [transfer money]
        - pattern_clarification_contains: {flow_ids: [transfer_money], operator: all}
        """, commands=commands)
    assert [f.line for f in case.failures] == [7, 8]
    assert "offering the flows named: transfer money" in case.failures[0].expected
    no_clarification = assertion_case(assistant, "- pattern_clarification_contains: [transfer_money]\n")
    assert not no_clarification.passed


def test_action_executed_assertion(assistant: Assistant) -> None:
    before = ('    - user: send\n      commands: ["start flow transfer_money", "set slot recipient john",'
              ' "set slot amount 5"]\n')
    assert assertion_case(assistant, """\
        - action_executed: action_transfer
        - action_executed: utter_can_do_something_else
        - action_executed: action_run_slot_rejections
        - action_executed: action_listen
        """, before=before, commands='["set slot confirm true"]').passed
    case = assertion_case(assistant, "- action_executed: utter_cancelled\n", before=before,
                          commands='["set slot confirm true"]')
    [failure] = case.failures
    assert failure.expected == "action utter_cancelled run"
    assert "action action_transfer" in failure.actual
    # a response a custom action sends is a bot message, not an executed action (as in Rasa)
    assert not assertion_case(assistant, "- action_executed: utter_done\n", before=before,
                              commands='["set slot confirm true"]').passed


def test_slot_assertions(assistant: Assistant) -> None:
    commands = '["start flow transfer_money", "set slot recipient john"]'
    assert assertion_case(assistant, """\
        - slot_was_set:
            - name: recipient
            - name: recipient
              value: john
        - slot_was_not_set:
            - name: amount
            - name: recipient
              value: mary
        """, commands=commands).passed
    case = assertion_case(assistant, """\
        - slot_was_set:
            - name: amount
        - slot_was_not_set:
            - name: recipient
              value: john
        """, commands=commands)
    assert [f.expected for f in case.failures] == ["slot amount set", "slot recipient not set to 'john'"]


def test_bot_uttered_assertion(assistant: Assistant) -> None:
    before = '    - user: send\n      commands: ["start flow transfer_money", "set slot recipient john"]\n'
    commands = '["set slot amount 5"]'
    assert assertion_case(assistant, """\
        - bot_uttered:
            utter_name: utter_ask_confirm
            text_matches: "^Send 5(\\\\.0)? to john\\\\?$"
            buttons:
              - title: "Yes"
                payload: "/SetSlots(confirm=true)"
        """, before=before, commands=commands).passed
    case = assertion_case(assistant, """\
        - bot_uttered: {utter_name: utter_ask_amount}
        - bot_uttered: {text_matches: "to mary"}
        - bot_uttered:
            buttons: [{title: "Yes", payload: "/SetSlots(confirm=false)"}]
        - bot_uttered: {utter_name: utter_ask_confirm, text_matches: "mary"}
        """, before=before, commands=commands)
    assert len(case.failures) == 4
    assert "text matching /to mary/" in case.failures[1].expected
    assert "buttons Yes=/SetSlots(confirm=false)" in case.failures[2].expected
    assert any("buttons: Yes=/SetSlots(confirm=true), No=/SetSlots(confirm=false)" in line
               for line in case.failures[2].actual)


def test_bot_did_not_utter_assertion(assistant: Assistant) -> None:
    assert assertion_case(assistant, """\
        - bot_did_not_utter: {utter_name: utter_ask_amount}
        - bot_did_not_utter: {text_matches: "How much"}
        """).passed
    case = assertion_case(assistant, """\
        - bot_did_not_utter: {utter_name: utter_ask_recipient}
        - bot_did_not_utter: {text_matches: "Who"}
        - bot_did_not_utter: {utter_name: utter_ask_amount, text_matches: "Who"}
        """)
    assert [f.line for f in case.failures] == [7, 8, 9]
    assert case.failures[0].expected.startswith("no bot message with any of: response utter_ask_recipient")


def test_assertion_order_enabled(assistant: Assistant) -> None:
    in_order = """\
        - flow_started: transfer_money
        - bot_uttered: {utter_name: utter_ask_recipient}
        """
    reversed_order = """\
        - bot_uttered: {utter_name: utter_ask_recipient}
        - flow_started: transfer_money
        """
    assert assertion_case(assistant, in_order, order=True).passed
    assert assertion_case(assistant, reversed_order, order=False).passed
    case = assertion_case(assistant, reversed_order, order=True)
    [failure] = case.failures
    assert failure.line == 9
    assert "in the order of the assertions" in failure.expected


def test_generative_assertions_are_skipped_without_failing(assistant: Assistant) -> None:
    case = assertion_case(assistant, """\
        - generative_response_is_relevant: {threshold: 0.9}
        - generative_response_is_grounded: {threshold: 0.8, ground_truth: "x"}
        - flow_started: transfer_money
        """)
    assert case.passed
    assert len(case.skipped) == 2 and "no LLM judge" in case.skipped[0]


# --- bad files -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message", "line"), [
    ("test_cases:\n  - test_case: x\n    steps:\n      - user: [unclosed\n", "invalid YAML", 5),
    ("test_cases:\n  - steps:\n      - user: hi\n", "without a 'test_case' name", 2),
    ("test_cases:\n  - test_case: x\n    steps:\n      - user: hi\n      - bott: hello\n",
     "unknown step kind 'bott'", 5),
    ("test_cases:\n  - test_case: x\n    steps:\n      - user: hi\n      - slot_was_set: [a]\n"
     "        slot_was_not_set: [b]\n", "both 'slot_was_set' and 'slot_was_not_set'", 5),
    ("test_cases:\n  - test_case: x\n    steps:\n      - user: hi\n      - bot: hello\n"
     "        assertions:\n          - flow_started: a\n", "only allowed on user steps", 5),
    ("test_cases:\n  - test_case: x\n    steps:\n      - user: hi\n        assertions:\n"
     "          - flow_was_started: a\n", "unknown assertion 'flow_was_started'", 6),
    ("test_cases:\n  - test_case: x\n    steps:\n      - user: hi\n        assertions:\n"
     "          - bot_uttered: {text_matches: '(oops'}\n", "invalid regular expression", 6),
    ("test_cases:\n  - test_case: x\n    steps:\n      - user: hi\n        assertions:\n"
     "          - bot_uttered: {}\n", "needs at least one of", 6),
    ("test_cases:\n  - test_case: x\n    steps:\n      - user: hi\n        assertions:\n"
     "          - slot_was_set: [{name: a}]\n            slot_was_not_set: [{name: b}]\n",
     "both 'slot_was_set' and 'slot_was_not_set'", 6),
    ("test_cases:\n  - test_case: x\n    steps:\n      - user: hi\n        metdata: m\n",
     "unknown key(s) in a user step: metdata", 4),
    ("fixtures: nope\ntest_cases:\n  - test_case: x\n    steps:\n      - user: hi\n",
     "'fixtures' must be a list", 1),
    ("test_case: x\nsteps: []\n", "needs a top-level 'test_cases' list", 1),
])
def test_bad_test_files_fail_with_file_and_line(assistant: Assistant, text: str, message: str,
                                                 line: int) -> None:
    assert assistant.path is not None
    path = assistant.path / "tests" / "bad.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    result = run_tests([path], assistant, no_understanding)
    assert result.failed >= 1
    failures = [f for c in result.cases for f in c.failures]
    matching = [f for f in failures if message in f.expected]
    assert matching, format_report(result)
    assert matching[0].line == line
    assert f"bad.yml:{line}: error: " in str(matching[0])
    assert f"bad.yml:{line}" in format_report(result)


def test_bad_case_does_not_stop_the_other_cases(assistant: Assistant) -> None:
    result = run(assistant, """\
        test_cases:
          - test_case: broken
            steps:
              - usr: hi
          - test_case: fine
            steps:
              - user: send money
                commands: ["start flow transfer_money"]
              - bot: Who to?
        """)
    assert [(c.name, c.passed) for c in result.cases] == [("broken", False), ("fine", True)]


def test_a_crashing_generator_fails_the_case_not_the_run(assistant: Assistant) -> None:
    def broken(assistant: Assistant) -> NoUnderstanding:
        raise RuntimeError("no model")

    assert assistant.path is not None
    path = write(assistant.path / "tests" / "t.yml", """\
        test_cases:
          - test_case: x
            steps:
              - user: hi
        """)
    case = only(run_tests([path], assistant, broken))
    assert not case.passed and "no model" in failure_text(case)


def test_missing_path_is_a_failed_case(assistant: Assistant, tmp_path: Path) -> None:
    result = run_tests([tmp_path / "nowhere.yml"], assistant, no_understanding)
    assert (result.passed, result.failed) == (0, 1)
    assert "cannot read the test file" in format_report(result)


# --- discovery and report --------------------------------------------------------------------


def test_discover_finds_test_files_recursively(tmp_path: Path) -> None:
    case = "test_cases:\n  - test_case: x\n    steps: []\n"
    a = write(tmp_path / "tests" / "a.yml", case)
    b = write(tmp_path / "tests" / "deep" / "b.yaml", case)
    write(tmp_path / "tests" / "conftest.yml", "fixtures: []\n")
    write(tmp_path / "tests" / "domain.yml", "slots: {}\n")
    write(tmp_path / "tests" / "notes.txt", case)
    write(tmp_path / "tests" / ".hidden" / "c.yml", case)
    explicit = write(tmp_path / "other.yml", "anything: 1\n")
    assert discover([tmp_path / "tests", explicit, a]) == [a, b, explicit]


def test_format_report_lists_cases_and_ends_with_the_summary(assistant: Assistant) -> None:
    result = run(assistant, """\
        test_cases:
          - test_case: good
            steps:
              - user: send money
                commands: ["start flow transfer_money"]
              - bot: Who to?
          - test_case: bad
            steps:
              - user: send money
                commands: ["start flow transfer_money"]
              - bot: Nope
        """)
    report = format_report(result)
    lines = report.splitlines()
    assert lines[0] == "PASSED good"
    assert lines[1].startswith("FAILED bad (") and lines[1].endswith("test.yml:7)")
    assert any('expected: a bot message with text "Nope"' in line for line in lines)
    assert lines[-1] == "1 passed, 1 failed"
    assert result.summary().splitlines()[-1] == "1 passed, 1 failed"
    assert "failed: bad" in result.summary()


def test_each_case_gets_its_own_generator(assistant: Assistant) -> None:
    made: list[Assistant] = []

    def factory(given: Assistant) -> NoUnderstanding:
        made.append(given)
        return NoUnderstanding()

    assert assistant.path is not None
    path = write(assistant.path / "tests" / "t.yml", """\
        test_cases:
          - test_case: one
            steps:
              - user: hi
          - test_case: two
            steps:
              - user: hi
        """)
    result = run_tests([path], assistant, factory)
    assert result.passed == 2
    assert made == [assistant, assistant]
