"""Load-time validation of flows against themselves, the domain and each other."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from helpdesk import dialogue
from helpdesk.dialogue.domain import Domain, parse_domain
from helpdesk.dialogue.flow_parser import parse_flow
from helpdesk.dialogue.flows import Flow
from helpdesk.dialogue.validation import BUILTIN_ACTIONS, format_problems, validate_assistant
from helpdesk.dialogue.yaml_io import Problem, read_yaml, read_yaml_text

FILE = "flows/test.yml"
DEFAULT_PATTERNS = Path(dialogue.__file__).parent / "patterns" / "default_patterns.yml"

DOMAIN = """\
slots:
  answer: {type: text}
  email: {type: text}
  confirmed: {type: bool}
  plan: {type: categorical, values: [basic, Premium]}
  tags: {type: list}
  attempts: {type: float, initial_value: 0}
responses:
  utter_ask_answer: [{text: "Answer?"}]
  utter_ask_email: [{text: "Email?"}]
  utter_ask_confirmed: [{text: "Sure?"}]
  utter_ask_plan: [{text: "Which plan?"}]
  utter_ask_tags: [{text: "Tags?"}]
  utter_done: [{text: "Done."}]
  utter_invalid_email: [{text: "That is not an email address."}]
actions: [action_declared]
"""

CLEAN = """\
flows:
  sign_up:
    description: The customer signs up for a plan.
    if: slots.confirmed is not true
    persisted_slots: [email]
    steps:
      - collect: email
        rejections:
          - if: not (slots.email matches "@")
            utter: utter_invalid_email
      - collect: plan
        next:
          - if: slots.plan = "premium" and slots.attempts > 2
            then:
              - set_slots:
                  - confirmed: true
                next: finish
          - if: slots.plan is "basic"
            then: finish
          - else:
              - action: action_custom
              - link: pattern_human_handoff
      - id: finish
        action: utter_done
      - call: helper
  helper:
    description: A helper flow that is only called.
    if: false
    steps:
      - noop: true
        next:
          - if: slots.confirmed
            then:
              - action: action_declared
                next: END
          - else: END
  pattern_human_handoff:
    description: Hand over to a person.
    steps:
      - action: action_human_handoff
"""


def load_flows(text: str, *, file: str = FILE, default: bool = False) -> list[Flow]:
    node = read_yaml_text(text, file)
    flows = [parse_flow(str(flow_id), flow_node, file) for flow_id, flow_node in node["flows"].items()]
    for flow in flows:
        flow.is_default = default
    return flows


def load_domain(text: str = DOMAIN) -> Domain:
    domain, problems = parse_domain(read_yaml_text(text, "domain.yml"), "domain.yml")
    assert problems == []
    return domain


def check(text: str, custom: Iterable[str] = ("action_custom",)) -> list[Problem]:
    return validate_assistant(load_flows(text), load_domain(), set(custom))


def only(problems: list[Problem], containing: str) -> Problem:
    """The single problem whose message contains ``containing`` (and fail loudly otherwise)."""
    matching = [p for p in problems if containing in p.message]
    assert len(matching) == 1, format_problems(problems)
    return matching[0]


def steps(body: str, *, flow: str = "f") -> str:
    """A one-flow file whose steps (indented by six spaces) start on line 5."""
    return f"flows:\n  {flow}:\n    description: A test flow.\n    steps:\n{body}"


# ----------------------------------------------------------------------------- clean inputs


def test_clean_assistant_has_no_problems() -> None:
    assert check(CLEAN) == []


def test_default_patterns_validate_cleanly() -> None:
    node = read_yaml(DEFAULT_PATTERNS)
    domain, problems = parse_domain({k: v for k, v in node.items() if k != "flows"}, str(DEFAULT_PATTERNS))
    assert problems == []
    flows = [parse_flow(str(fid), fnode, str(DEFAULT_PATTERNS)) for fid, fnode in node["flows"].items()]
    for flow in flows:
        flow.is_default = True
    assert validate_assistant(flows, domain, set()) == []


def test_builtin_actions_are_the_documented_ones() -> None:
    assert len(BUILTIN_ACTIONS) == 20
    assert {"action_listen", "action_human_handoff", "action_trigger_search"} <= BUILTIN_ACTIONS


# ----------------------------------------------------------------------------- next and structure


def test_unknown_next_target_is_reported_on_its_step() -> None:
    problems = check(steps("      - collect: answer\n        next: nowhere\n"))
    found = only(problems, "unknown step 'nowhere'")
    assert (found.file, found.line, found.flow, found.step) == (FILE, 5, "f", "f_0_collect_answer")


def test_unknown_target_inside_if_branch() -> None:
    text = steps("      - collect: confirmed\n"
                 "        next:\n"
                 "          - if: slots.confirmed\n"
                 "            then: finsh\n"
                 "          - else: END\n"
                 "      - id: finish\n"
                 "        action: utter_done\n")
    assert only(check(text), "unknown step 'finsh'").line == 5


def test_unreachable_step() -> None:
    text = steps("      - collect: answer\n        next: END\n      - id: orphan\n        action: utter_done\n")
    found = only(check(text), "unreachable")
    assert (found.line, found.step) == (7, "orphan")


def test_steps_after_a_link_in_a_branch_are_unreachable_but_call_continues() -> None:
    text = steps("      - call: other\n      - action: utter_done\n") + (
        "  other:\n    description: Another flow.\n    steps:\n      - action: utter_done\n")
    assert check(text) == []
    linked = steps("      - link: other\n      - action: utter_done\n") + (
        "  other:\n    description: Another flow.\n    steps:\n      - action: utter_done\n")
    assert only(check(linked), "unreachable").line == 6


def test_if_without_else() -> None:
    text = steps("      - collect: confirmed\n"
                 "        next:\n"
                 "          - if: slots.confirmed\n"
                 "            then: END\n")
    found = only(check(text), "has no 'else'")
    assert found.line == 5 and "slots.confirmed" in found.message


def test_else_not_last() -> None:
    text = steps("      - collect: confirmed\n"
                 "        next:\n"
                 "          - else: END\n"
                 "          - if: slots.confirmed\n"
                 "            then: END\n")
    problems = check(text)
    assert only(problems, "'else' must be the last").line == 5
    assert only(problems, "has no 'else'").line == 5


def test_link_with_next() -> None:
    text = steps("      - link: other\n        next: END\n") + (
        "  other:\n    description: Another flow.\n    steps:\n      - action: utter_done\n")
    found = only(check(text), "cannot have 'next'")
    assert (found.line, found.step) == (5, "f_0_link_other")


def test_link_may_be_followed_by_a_jump_target() -> None:
    """As in Rasa (finance template's list_transactions): a link, then another step reached by a jump."""
    text = steps("      - collect: confirmed\n"
                 "        next:\n"
                 "          - if: slots.confirmed\n"
                 "            then: go_other\n"
                 "          - else: go_third\n"
                 "      - id: go_other\n"
                 "        link: other\n"
                 "      - id: go_third\n"
                 "        link: other\n") + (
        "  other:\n    description: Another flow.\n    steps:\n      - action: utter_done\n")
    assert check(text) == []


def test_step_after_a_link_that_nothing_reaches() -> None:
    text = steps("      - collect: confirmed\n"
                 "        next:\n"
                 "          - if: slots.confirmed\n"
                 "            then:\n"
                 "              - link: other\n"
                 "              - action: utter_done\n"
                 "                next: END\n"
                 "          - else: END\n") + (
        "  other:\n    description: Another flow.\n    steps:\n      - action: utter_done\n")
    assert only(check(text), "unreachable").line == 10


def test_last_step_of_nested_branch_needs_next() -> None:
    text = steps("      - collect: confirmed\n"
                 "        next:\n"
                 "          - if: slots.confirmed\n"
                 "            then:\n"
                 "              - action: utter_done\n"
                 "          - else: END\n")
    found = only(check(text), "the last step of a nested branch must say 'next' explicitly")
    assert (found.line, found.step) == (9, "f_1_utter_done")


def test_nested_branch_ending_in_link_needs_no_next() -> None:
    text = steps("      - collect: confirmed\n"
                 "        next:\n"
                 "          - if: slots.confirmed\n"
                 "            then:\n"
                 "              - link: pattern_human_handoff\n"
                 "          - else: END\n") + (
        "  pattern_human_handoff:\n    description: Hand over.\n    steps:\n      - action: action_human_handoff\n")
    assert check(text) == []


def test_noop_without_next() -> None:
    text = steps("      - noop: true\n      - action: utter_done\n")
    found = only(check(text), "noop step must have 'next'")
    assert (found.line, found.step) == (5, "f_0_noop")


def test_duplicate_step_ids() -> None:
    text = steps("      - id: ask\n        collect: answer\n      - id: ask\n        collect: email\n")
    found = only(check(text), "used more than once")
    assert (found.line, found.step) == (7, "ask") and "first on line 5" in found.message


@pytest.mark.parametrize("step_id", ["START", "END", "NEXT:x"])
def test_reserved_step_ids(step_id: str) -> None:
    text = steps(f"      - id: \"{step_id}\"\n        action: utter_done\n")
    found = only(check(text), "is reserved")
    assert (found.line, found.step) == (5, step_id)


# ----------------------------------------------------------------------------- slots


def test_collect_of_unknown_slot() -> None:
    text = steps("      - collect: colour\n        utter: utter_done\n")
    found = only(check(text), "unknown slot 'colour' is collected")
    assert (found.line, found.step) == (5, "f_0_collect_colour")


def test_set_slots_of_unknown_slot() -> None:
    text = steps("      - action: utter_done\n      - set_slots:\n          - colour: red\n")
    assert only(check(text), "unknown slot 'colour' is set").line == 6


def test_condition_with_unknown_slot() -> None:
    text = steps("      - collect: answer\n"
                 "        next:\n"
                 "          - if: slots.anser = \"x\"\n"
                 "            then: END\n"
                 "          - else: END\n")
    found = only(check(text), "unknown slot 'anser'")
    assert (found.line, found.step) == (5, "f_0_collect_answer")


def test_guard_with_unknown_slot_is_reported_at_the_flow() -> None:
    text = "flows:\n  f:\n    description: A test flow.\n    if: slots.vip\n    steps:\n      - action: utter_done\n"
    found = only(check(text), "unknown slot 'vip'")
    assert (found.line, found.flow, found.step) == (3, "f", None)


def test_templated_condition_is_not_checked_for_slots() -> None:
    text = steps("      - collect: answer\n"
                 "        next:\n"
                 "          - if: \"slots.{{ context.collect }} is not null\"\n"
                 "            then: END\n"
                 "          - else: END\n")
    assert check(text) == []


def test_persisted_slot_not_filled_by_the_flow() -> None:
    text = ("flows:\n  f:\n    description: A test flow.\n    persisted_slots: [answer, email]\n"
            "    steps:\n      - collect: answer\n")
    found = only(check(text), "persisted slot 'email'")
    assert (found.line, found.step) == (3, None)


@pytest.mark.parametrize(("body", "verb"), [
    ("      - collect: tags\n", "collected"),
    ("      - set_slots:\n          - tags: []\n", "set"),
])
def test_list_slots_cannot_be_collected_or_set(body: str, verb: str) -> None:
    assert only(check(steps(body)), f"list slot 'tags' cannot be {verb}").line == 5


# ----------------------------------------------------------------------------- responses and actions


def test_collect_without_question_response() -> None:
    domain = DOMAIN.replace('  utter_ask_email: [{text: "Email?"}]\n', "")
    problems = validate_assistant(load_flows(steps("      - collect: email\n")), load_domain(domain), set())
    found = only(problems, "unknown response 'utter_ask_email'")
    assert (found.line, found.step) == (5, "f_0_collect_email")


def test_collect_question_from_custom_action_or_initial_value() -> None:
    domain = load_domain(DOMAIN.replace('  utter_ask_email: [{text: "Email?"}]\n', ""))
    flows = load_flows(steps("      - collect: email\n"))
    assert validate_assistant(flows, domain, {"action_ask_email"}) == []
    initial = DOMAIN.replace("email: {type: text}", "email: {type: text, initial_value: a@b.c}")
    initial = initial.replace('  utter_ask_email: [{text: "Email?"}]\n', "")
    assert validate_assistant(flows, load_domain(initial), set()) == []


def test_collect_with_unknown_explicit_utter() -> None:
    text = steps("      - collect: answer\n        utter: utter_ask_answr\n")
    assert only(check(text), "unknown response 'utter_ask_answr'").line == 5


def test_action_step_with_unknown_response() -> None:
    text = steps("      - action: utter_dne\n")
    found = only(check(text), "unknown response 'utter_dne'")
    assert (found.line, found.step) == (5, "f_0_utter_dne")


def test_unknown_action() -> None:
    text = steps("      - action: action_custom\n      - action: action_declared\n"
                 "      - action: action_listen\n      - action: action_typo\n")
    found = only(check(text), "unknown action 'action_typo'")
    assert found.line == 8 and len(check(text)) == 1


def test_templated_action_is_accepted() -> None:
    assert check(steps("      - action: \"{{ context.utter }}\"\n")) == []


def test_rejection_with_unknown_response() -> None:
    text = steps("      - collect: email\n"
                 "        rejections:\n"
                 "          - if: not (slots.email matches \"@\")\n"
                 "            utter: utter_bad_email\n")
    found = only(check(text), "unknown response 'utter_bad_email'")
    assert (found.line, found.step) == (5, "f_0_collect_email")


# ----------------------------------------------------------------------------- conditions


def test_bare_word_in_next_condition() -> None:
    text = steps("      - collect: answer\n"
                 "        next:\n"
                 "          - if: slots.answer = Yes\n"
                 "            then: END\n"
                 "          - else: END\n")
    found = only(check(text), "unquoted value")
    assert found.message == 'unquoted value \'Yes\' in condition "slots.answer = Yes": write "Yes" with quotes'
    assert found.line == 5


def test_bare_word_in_guard_and_rejection() -> None:
    text = ("flows:\n  f:\n    description: A test flow.\n    if: slots.answer = maybe\n    steps:\n"
            "      - collect: email\n"
            "        rejections:\n"
            "          - if: slots.email = nobody\n"
            "            utter: utter_invalid_email\n")
    problems = check(text)
    assert only(problems, "'maybe'").line == 3
    assert only(problems, "'nobody'").line == 6


def test_misspelt_namespace_is_not_called_a_value() -> None:
    text = steps("      - collect: answer\n"
                 "        next:\n"
                 "          - if: slot.answer\n"
                 "            then: END\n"
                 "          - else: END\n")
    assert "names must start with 'slots.' or 'context.'" in only(check(text), "slot.answer").message


def test_categorical_comparison_with_unknown_value() -> None:
    text = steps("      - collect: plan\n"
                 "        next:\n"
                 "          - if: slots.plan = \"gold\" or \"PREMIUM\" != slots.plan\n"
                 "            then: END\n"
                 "          - else: END\n")
    found = only(check(text), "categorical slot 'plan'")
    assert found.line == 5 and '"gold"' in found.message and "PREMIUM\" is not" not in found.message


def test_bool_slot_compared_with_string() -> None:
    text = steps("      - collect: confirmed\n"
                 "        next:\n"
                 "          - if: slots.confirmed is \"true\"\n"
                 "            then: END\n"
                 "          - else: END\n")
    found = only(check(text), "bool slot 'confirmed'")
    assert found.line == 5 and "without quotes" in found.message


def test_bool_and_text_slots_with_matching_literals_pass() -> None:
    text = steps("      - collect: confirmed\n"
                 "        next:\n"
                 "          - if: slots.confirmed = false or slots.answer = \"true\"\n"
                 "            then: END\n"
                 "          - else: END\n")
    assert check(text) == []


# ----------------------------------------------------------------------------- links and calls


HELPERS = """\
  linker:
    description: A flow that links.
    steps:
      - link: target
  target:
    description: A plain flow.
    steps:
      - action: utter_done
  pattern_search:
    description: Search.
    steps:
      - action: action_trigger_search
  pattern_chitchat:
    description: Chitchat.
    steps:
      - action: action_trigger_chitchat
  pattern_completed:
    description: Completed.
    steps:
      - action: utter_done
"""


def test_link_and_call_to_missing_flow() -> None:
    problems = check(steps("      - call: ghost\n      - link: phantom\n") + HELPERS)
    assert only(problems, "call target flow 'ghost' does not exist").line == 5
    assert only(problems, "link target flow 'phantom' does not exist").line == 6


def test_call_of_a_pattern_and_of_a_linking_flow() -> None:
    problems = check(steps("      - call: pattern_search\n      - call: linker\n") + HELPERS)
    assert only(problems, "pattern 'pattern_search' cannot be called").line == 5
    assert only(problems, "called flow 'linker' contains link steps").line == 6


def test_link_to_allowed_and_forbidden_patterns() -> None:
    assert check(steps("      - link: pattern_search\n") + HELPERS) == []
    found = only(check(steps("      - link: pattern_completed\n") + HELPERS), "cannot link to pattern")
    assert (found.line, found.step) == (5, "f_0_link_pattern_completed")


def test_chitchat_pattern_linkable_only_from_patterns() -> None:
    assert only(check(steps("      - link: pattern_chitchat\n") + HELPERS), "pattern_chitchat").line == 5
    assert check(steps("      - link: pattern_chitchat\n", flow="pattern_cannot_handle") + HELPERS) == []


def test_internal_error_pattern_may_not_link() -> None:
    text = steps("      - link: pattern_search\n", flow="pattern_internal_error") + HELPERS
    assert only(check(text), "pattern_internal_error may not link").line == 5


def one_flow(flow_id: str, step: str, *, file: str, default: bool = False) -> list[Flow]:
    text = f"flows:\n  {flow_id}:\n    description: Flow {flow_id}.\n    steps:\n      - {step}\n"
    return load_flows(text, file=file, default=default)


def test_assistant_flow_overrides_default_pattern_for_targets() -> None:
    caller = load_flows(steps("      - call: target\n"))
    search = one_flow("pattern_search", "action: action_trigger_search", file="defaults.yml", default=True)
    default_target = one_flow("target", "action: utter_done", file="defaults.yml", default=True)
    own_target = one_flow("target", "link: pattern_search", file="mine.yml")
    assert validate_assistant(caller + search + default_target, load_domain(), set()) == []
    for order in (own_target + default_target, default_target + own_target):
        problems = validate_assistant(caller + search + order, load_domain(), set())
        assert only(problems, "called flow 'target' contains link steps").line == 5


# ----------------------------------------------------------------------------- across flows


def test_duplicate_flow_descriptions() -> None:
    text = ("flows:\n  a:\n    description: Track an order.\n    steps:\n      - action: utter_done\n"
            "  b:\n    description: \"Track  an   order.\"\n    steps:\n      - action: utter_done\n")
    found = only(check(text), "same description")
    assert (found.flow, found.line) == ("b", 7) and "flow 'a'" in found.message


def test_duplicate_descriptions_among_patterns_are_allowed() -> None:
    text = ("flows:\n  pattern_a:\n    description: Same.\n    steps:\n      - action: utter_done\n"
            "  pattern_b:\n    description: Same.\n    steps:\n      - action: utter_done\n")
    assert check(text) == []


def test_duplicate_flow_names() -> None:
    text = ("flows:\n  order_status:\n    description: One.\n    steps:\n      - action: utter_done\n"
            "  order-status:\n    description: Two.\n    steps:\n      - action: utter_done\n")
    assert only(check(text), "same name").flow == "order-status"


# ----------------------------------------------------------------------------- output


def test_problems_are_sorted_by_file_and_line() -> None:
    text = steps("      - action: utter_x\n      - action: utter_y\n      - collect: nope\n        utter: utter_done\n")
    problems = check(text)
    assert [p.line for p in problems] == [5, 6, 7]


def test_format_problems() -> None:
    problems = [
        Problem("flows/x.yml", 12, "reason one", "a", "b"),
        Problem("flows/x.yml", 3, "reason two", "a"),
        Problem("domain.yml", None, "reason three"),
    ]
    assert format_problems(problems).splitlines() == [
        "flows/x.yml:12: flow 'a', step 'b': reason one",
        "flows/x.yml:3: flow 'a': reason two",
        "domain.yml: reason three",
    ]
