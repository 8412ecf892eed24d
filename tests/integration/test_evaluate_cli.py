"""``helpdesk evaluate``: offline understanding scored on labelled messages, and Claude on the same
set through the real ``anthropic`` SDK against the loopback Messages API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpdesk.cli import cli
from tests.fakes.anthropic_server import FakeAnthropic, Recorded, Reply, tool_use

REPO = Path(__file__).resolve().parents[2]
ASSISTANT = str(REPO / "flows")
NO_KEY = {"ANTHROPIC_API_KEY": "", "HELPDESK_DATABASE_URL": "sqlite://"}

CASES = """
cases:
  - text: "hi, where's my order A1003?"
    expect: check_order_status
    slots: {order_number: A1003}
  - text: "my parcel A1001 never arrived"
    expect: delivery_issue
    slots: {order_number: A1001, delivery_problem: missing}
  - text: "do you sell kayaks?"
    expect: out_of_scope
  - before: ["where is my order"]
    text: "never mind"
    expect: cancel
  - text: "I forgot my password"
    expect: change_email
"""


@pytest.fixture
def cases(tmp_path: Path) -> Path:
    path = tmp_path / "cases.yml"
    path.write_text(CASES)
    return path


def test_offline_report_has_scores_confusion_and_misses(cases: Path) -> None:
    result = CliRunner().invoke(cli, ["evaluate", "--assistant", ASSISTANT, str(cases)], env=NO_KEY)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "== offline understanding: 5 messages ==" in out
    # the last case is labelled wrongly on purpose: 4 of 5 right, every slot value right
    assert "right flow/outcome: 80.0%   slot values: 100.0%   out-of-scope false starts: 0.0%" in out
    assert "precision  recall     F1  support" in out
    table = out.split("precision  recall     F1  support")[1].split("confusion")[0]
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines() if line.strip()}
    assert rows["delivery_issue"] == ["1.00", "1.00", "1.00", "1"]
    assert rows["change_email"] == ["0.00", "0.00", "0.00", "1"]
    assert "confusion (rows: expected, columns: predicted)" in out
    assert "misses (1)" in out
    assert "'I forgot my password': expected change_email, got reset_password" in out
    line = CASES.splitlines().index('  - text: "I forgot my password"') + 1
    assert f"{cases}:{line}: 'I forgot my password'" in out
    assert "Claude: skipped (ANTHROPIC_API_KEY is not set)" in out


def test_bad_case_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("cases:\n  - text: hello\n    expect: out_of_scope\n  - text: ''\n    expect: x\n")
    result = CliRunner().invoke(cli, ["evaluate", "--assistant", ASSISTANT, str(path)], env=NO_KEY)
    assert result.exit_code == 1
    assert f"{path}:4" in result.output
    assert "non-empty 'text'" in result.output


def _claude(request: Recorded) -> Reply:
    """A scripted Claude: reads the customer's latest message from the request it got."""
    content = json.dumps(request.body["messages"][-1]["content"])
    last = content.rsplit("<message>", 1)[-1]
    if "A1003" in last:
        return tool_use({"commands": [{"command": "start flow", "flow": "check_order_status"},
                                      {"command": "set slot", "slot": "order_number", "value": "A1003"}]})
    if "password" in last:
        return tool_use({"commands": [{"command": "start flow", "flow": "reset_password"}]})
    if "where is my order" in last:
        return tool_use({"commands": [{"command": "start flow", "flow": "check_order_status"}]})
    if "never mind" in last:
        return tool_use({"commands": [{"command": "cancel flow"}]})
    if "parcel" in last:  # the wrong flow, and no slots
        return tool_use({"commands": [{"command": "start flow", "flow": "check_order_status"}]})
    return tool_use({"commands": [{"command": "chitchat"}]})


def test_claude_is_scored_on_the_same_set(cases: Path) -> None:
    with FakeAnthropic(_claude) as server:
        env = {**NO_KEY, "ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": server.url}
        result = CliRunner().invoke(cli, ["evaluate", "--assistant", ASSISTANT, str(cases)], env=env)
        calls = len(server.message_requests())
    assert result.exit_code == 0, result.output
    offline, claude = result.output.split("== Claude (")
    assert "right flow/outcome: 80.0%" in offline
    # parcel case: wrong flow and both slots missing; the mislabelled case is wrong for Claude too
    assert "right flow/outcome: 60.0%   slot values: 33.3%   out-of-scope false starts: 0.0%" in claude
    assert "'my parcel A1001 never arrived': expected delivery_issue, got check_order_status" in claude
    assert calls >= 6  # one understanding call per message, the 'before' message included
