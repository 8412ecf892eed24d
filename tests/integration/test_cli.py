"""The `helpdesk validate` and `helpdesk test` commands on real folders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpdesk.cli import cli

REPO = Path(__file__).resolve().parents[2]

DOMAIN = """
slots:
  name: {type: text}
  answer: {type: text}
responses:
  utter_ask_name: [{text: "Name?"}]
  utter_ask_answer: [{text: "Answer?"}]
  utter_hi: [{text: "Hi {name}."}]
"""

BROKEN = {
    "unknown_next.yml": """flows:
  f_next:
    description: unknown next target
    steps:
      - id: one
        action: utter_hi
        next: nowhere
""",
    "unreachable.yml": """flows:
  f_unreachable:
    description: unreachable step
    steps:
      - id: one
        action: utter_hi
        next: END
      - id: lonely
        action: utter_hi
""",
    "no_else.yml": """flows:
  f_no_else:
    description: if without else
    steps:
      - collect: name
        next:
          - if: slots.name = "x"
            then: END
""",
    "link_not_last.yml": """flows:
  f_link:
    description: link not last
    steps:
      - id: jump
        link: f_next
        next: END
""",
    "unknown_slot.yml": """flows:
  f_slot:
    description: unknown slot
    steps:
      - id: ask_ghost
        collect: ghost
""",
    "unknown_response.yml": """flows:
  f_response:
    description: unknown response
    steps:
      - id: say
        action: utter_missing
""",
    "bare_word.yml": """flows:
  f_bare:
    description: bare word in a condition
    steps:
      - id: ask
        collect: answer
        next:
          - if: slots.answer = Yes
            then: END
          - else: END
""",
    "duplicate_ids.yml": """flows:
  f_dupes:
    description: duplicate step ids
    steps:
      - id: same
        action: utter_hi
      - id: same
        action: utter_hi
""",
    "invalid.yml": "flows:\n  f_bad:\n    description: [unclosed\n",
}

EXPECTED = [
    (r"unknown_next\.yml:\d+, flow 'f_next', step 'one': .*nowhere", "unknown next target"),
    (r"unreachable\.yml:\d+, flow 'f_unreachable', step 'lonely': .*unreachable", "unreachable step"),
    (r"no_else\.yml:\d+, flow 'f_no_else', step '[^']+': .*else", "if without else"),
    (r"link_not_last\.yml:\d+, flow 'f_link', step 'jump': .*", "link not last"),
    (r"unknown_slot\.yml:\d+, flow 'f_slot', step 'ask_ghost': .*ghost", "unknown slot"),
    (r"unknown_response\.yml:\d+, flow 'f_response', step 'say': .*utter_missing", "unknown response"),
    (r"bare_word\.yml:\d+, flow 'f_bare', step 'ask': .*Yes", "bare word"),
    (r"duplicate_ids\.yml:\d+, flow 'f_dupes', step 'same': .*more than once", "duplicate step ids"),
    (r"invalid\.yml:\d+: invalid YAML", "invalid YAML"),
]


def test_validate_passes_on_the_default_assistant() -> None:
    result = CliRunner().invoke(cli, ["validate", "--assistant", str(REPO / "flows")])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    (tmp_path / "domain.yml").write_text(DOMAIN)
    for name, text in BROKEN.items():
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(("pattern", "what"), EXPECTED, ids=[w for _, w in EXPECTED])
def test_validate_names_file_line_flow_step_and_reason(broken: Path, pattern: str, what: str) -> None:
    result = CliRunner().invoke(cli, ["validate", "--assistant", str(broken)])
    assert result.exit_code == 1
    assert re.search(pattern, result.output), f"{what} not reported:\n{result.output}"


def test_validate_reports_the_line_of_the_problem(broken: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", "--assistant", str(broken)])
    assert re.search(r"unknown_slot\.yml:5, flow 'f_slot', step 'ask_ghost'", result.output), result.output


def test_the_default_assistant_passes_its_e2e_tests() -> None:
    result = CliRunner().invoke(cli, ["test", "--assistant", str(REPO / "flows"), str(REPO / "flows" / "tests")])
    assert result.exit_code == 0, result.output
    match = re.search(r"^(\d+) passed, 0 failed$", result.output, re.M)
    assert match and int(match.group(1)) >= 15


def test_a_failing_e2e_case_exits_1_with_a_diff(tmp_path: Path) -> None:
    case = tmp_path / "wrong.yml"
    case.write_text("""test_cases:
  - test_case: wrong_expectation
    steps:
      - user: where is my order
      - bot: "Your order has been teleported."
""")
    result = CliRunner().invoke(cli, ["test", "--assistant", str(REPO / "flows"), str(case)])
    assert result.exit_code == 1
    assert "FAILED wrong_expectation" in result.output
    assert "teleported" in result.output and "order number" in result.output
    assert "0 passed, 1 failed" in result.output


RASA_PROJECT = {
    "config.yml": "recipe: default.v1\nlanguage: en\npipeline:\n  - name: CompactLLMCommandGenerator\n",
    "endpoints.yml": "action_endpoint:\n  actions_module: actions\n",
    "credentials.yml": "rest:\nsocketio:\n  user_message_evt: user_uttered\n",
    "domain/slots.yml": """version: "3.1"
intents: [greet, session_start]
entities: [city]
slots:
  city:
    type: text
    mappings:
      - type: from_llm
""",
    "domain/responses.yml": """version: "3.1"
responses:
  utter_ask_city: [{text: "Which city?"}]
  utter_weather: [{text: "It is sunny in {city}."}]
  utter_welcome: [{text: "Welcome! Ask me about the weather."}]
""",
    "data/flows/weather.yml": """flows:
  weather:
    description: tell the weather forecast for a city
    steps:
      - collect: city
      - action: utter_weather
  pattern_session_start:
    description: greet the user
    steps:
      - action: utter_welcome
""",
    "data/nlu.yml": "version: \"3.1\"\nnlu:\n  - intent: greet\n    examples: |\n      - hi\n",
    "tests/e2e_test_cases/weather.yml": """test_cases:
  - test_case: weather_in_paris
    steps:
      - user: /session_start
      - utter: utter_welcome
      - user: what is the weather like
        assertions:
          - flow_started: weather
          - bot_uttered:
              utter_name: utter_ask_city
      - user: Paris
      - bot: It is sunny in Paris.
""",
}


def test_a_rasa_project_folder_loads_and_runs_as_it_is(tmp_path: Path) -> None:
    for name, text in RASA_PROJECT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    validated = CliRunner().invoke(cli, ["validate", "--assistant", str(tmp_path)])
    assert validated.exit_code == 0, validated.output
    result = CliRunner().invoke(cli, ["test", "--assistant", str(tmp_path), str(tmp_path / "tests")])
    assert result.exit_code == 0, result.output
    assert "1 passed, 0 failed" in result.output


def test_chat_holds_a_console_conversation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPDESK_DATABASE_URL", f"sqlite:///{tmp_path}/chat.db")
    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("HELPDESK_ASSISTANT", str(REPO / "flows"))
    result = CliRunner().invoke(cli, ["chat", "--sender", "me"], input="where is my order\nA1002\n")
    assert result.exit_code == 0, result.output
    assert "order number" in result.output.lower()
    assert "A1002" in result.output and "[/SetSlots(continue_conversation=false)]" in result.output


def test_db_upgrade_migrates_an_empty_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPDESK_DATABASE_URL", f"sqlite:///{tmp_path}/up.db")
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "up.db").stat().st_size > 0


def test_e2e_tests_run_with_scripted_commands(tmp_path: Path) -> None:
    """--commands: an overlay gives each user step its commands (how tests/compat runs Rasa's projects)."""
    case = tmp_path / "tests" / "hours.yml"
    case.parent.mkdir()
    case.write_text("""test_cases:
  - test_case: hours
    steps:
      - user: "when can I reach you?"
      - utter: utter_store_hours_contact
""")
    overlay = tmp_path / "overlay.yml"
    overlay.write_text("hours:\n  - when can I reach you?: [start flow store_hours_contact]\n")
    result = CliRunner().invoke(cli, ["test", "--assistant", str(REPO / "flows"), "--commands", str(overlay),
                                      str(case)])
    assert result.exit_code == 0, result.output
    assert "1 passed, 0 failed" in result.output
    overlay.write_text("hours:\n  - when can I reach you?: [start flow nowhere]\n  - oops\n")
    bad = CliRunner().invoke(cli, ["test", "--assistant", str(REPO / "flows"), "--commands", str(overlay),
                                   str(case)])
    assert bad.exit_code == 1
    assert f"{overlay}:3" in bad.output and "each step must be one '- user text: [commands]'" in bad.output
