"""Handoff triggers besides asking: repeated "cannot handle", internal errors, an agent taking over."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from helpdesk.app import create_app
from helpdesk.handoff.models import Handoff, Note, Team
from tests.e2e.conftest import make_settings
from tests.integration.test_handoff_support import PASSWORD, add_agent, handoff_of


@pytest.fixture
def app(db_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = create_app(make_settings(db_url, tmp_path, timers_in_web=False, log_level="WARNING",
                                           handoff_cannot_handle_limit=3))
    yield application
    application.extensions["helpdesk"].close()


def say(app: Flask, text: str, sender: str = "t") -> list[dict[str, str]]:
    return app.test_client().post("/webhooks/rest/webhook", json={"sender": sender, "message": text}).json  # type: ignore[no-any-return]


def handoffs(app: Flask) -> list[Handoff]:
    with handoff_of(app).db.read_session() as session:
        return list(session.scalars(select(Handoff)))


def test_three_cannot_handle_turns_in_a_row_hand_over(app: Flask) -> None:
    gibberish = "/SetSlots(no_such_slot=1)"  # a payload the assistant cannot use: cannot handle
    say(app, gibberish)
    say(app, gibberish)
    assert handoffs(app) == []
    replies = say(app, gibberish)
    assert [r["text"] for r in replies][-2].startswith("I'm connecting you with a member of our team")
    assert replies[-1]["text"].startswith("You're number 1 in line")
    (row,) = handoffs(app)
    assert row.reason == "cannot_handle_repeated" and row.status == "queued"


def test_a_streak_broken_by_an_understood_message_does_not_hand_over(app: Flask) -> None:
    gibberish = "/SetSlots(no_such_slot=1)"
    for text in (gibberish, gibberish, "where is my order", gibberish, gibberish):
        say(app, text)
    assert handoffs(app) == []


def test_an_agent_takes_over_a_live_bot_conversation(app: Flask) -> None:
    add_agent(app, "max@example.com", name="Max")
    client = app.test_client()
    say(app, "where is my order")
    token = client.post("/api/v1/auth/login", json={"email": "max@example.com", "password": PASSWORD}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.patch("/api/v1/agents/me", json={"status": "away"}, headers=headers).status_code == 200
    bots = client.get("/api/v1/conversations?status=bot", headers=headers).json["items"]
    cid = bots[0]["conversation_id"]
    taken = client.post(f"/api/v1/conversations/{cid}/claim", headers=headers)
    assert taken.status_code == 200 and taken.json["status"] == "assigned"
    (row,) = handoffs(app)
    assert row.reason == "agent_takeover" and row.flow == "check_order_status"
    assert say(app, "A1002") == [], "the bot stays silent after the takeover"
    client.post(f"/api/v1/conversations/{cid}/release", json={"flow": ""}, headers=headers)
    replies = say(app, "A1002")
    assert any("A1002" in r["text"] for r in replies), "the assistant continues its flow where it was"


def test_the_create_agent_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from helpdesk.cli import cli

    monkeypatch.setenv("HELPDESK_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    runner = CliRunner()
    ok = runner.invoke(cli, ["create-agent", "Boss@Example.com", "--name", "Boss", "--password", "long enough",
                             "--admin", "--team", "support", "--team", "billing"])
    assert ok.exit_code == 0, ok.output
    assert "boss@example.com (admin, teams: support, billing)" in ok.output
    again = runner.invoke(cli, ["create-agent", "boss@example.com", "--name", "B", "--password", "long enough"])
    assert again.exit_code == 1 and "exists" in again.output
    short = runner.invoke(cli, ["create-agent", "x@example.com", "--name", "X", "--password", "short"])
    assert short.exit_code == 1 and "at least 8" in short.output


BROKEN_ASSISTANT = {
    "domain.yml": 'version: "3.1"\nresponses:\n  utter_working: [{text: "Let me check that."}]\n',
    "flows.yml": """version: "3.1"
flows:
  check_stock:
    description: Check whether an item is in stock
    metadata: {examples: [is the jacket in stock, check stock for me]}
    steps:
      - action: utter_working
      - action: action_check_stock
""",
    "actions.py": """from helpdesk.dialogue.sdk import Action


class CheckStock(Action):
    def name(self) -> str:
        return "action_check_stock"

    def run(self, dispatcher, tracker, domain):
        raise RuntimeError("the stock service is down")
""",
}


def test_an_internal_error_hands_over(sqlite_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "assistant"
    folder.mkdir()
    for name, content in BROKEN_ASSISTANT.items():
        (folder / name).write_text(content)
    settings = make_settings(sqlite_url, tmp_path, timers_in_web=False, log_level="WARNING")
    application = create_app(settings.model_copy(update={"assistant": str(folder)}))
    try:
        replies = [r["text"] for r in say(application, "is the jacket in stock")]
        assert replies[0] == "Let me check that."
        assert any(t.startswith("I'm connecting you with a member of our team") for t in replies)
        (row,) = handoffs(application)
        assert row.reason == "internal_error"
        with handoff_of(application).db.read_session() as session:
            summary = session.scalar(select(Note.text).where(Note.kind == "summary"))
        assert summary is not None and summary.startswith("Reason: the assistant ran into an internal error.")
    finally:
        application.extensions["helpdesk"].close()


ROUTED_ASSISTANT = {
    "domain.yml": 'version: "3.1"\nresponses:\n  utter_human_handoff: [{text: "Passing you to billing."}]\n',
    "flows.yml": """version: "3.1"
flows:
  billing_dispute:
    description: The customer disputes a charge on their bill
    metadata: {examples: [I was charged twice, dispute a charge on my bill]}
    steps:
      - set_slots:
          - handoff_team: billing
          - handoff_priority: urgent
      - link: pattern_human_handoff
""",
}


def test_a_flow_routes_its_handoff_to_a_team_with_a_priority(sqlite_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "routed"
    folder.mkdir()
    for name, content in ROUTED_ASSISTANT.items():
        (folder / name).write_text(content)
    settings = make_settings(sqlite_url, tmp_path, timers_in_web=False, log_level="WARNING")
    application = create_app(settings.model_copy(update={"assistant": str(folder)}))
    try:
        add_agent(application, "bill@example.com", teams=["billing"])  # creates the team
        replies = [r["text"] for r in say(application, "I was charged twice")]
        assert replies[0] == "Passing you to billing."
        (row,) = handoffs(application)
        assert (row.priority, row.flow, row.slots["handoff_team"]) == (3, "billing_dispute", "billing")
        with handoff_of(application).db.read_session() as session:
            assert session.scalar(select(Team.name).where(Team.id == row.team_id)) == "billing"
    finally:
        application.extensions["helpdesk"].close()
