"""Summaries at handoff: Claude through the real ``anthropic`` client (a loopback stand-in of the
Messages API), and the deterministic summary kept when the call fails."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from helpdesk.app import create_app
from helpdesk.conversations.models import DialogueEvent
from helpdesk.handoff.models import Note
from tests.e2e.conftest import make_settings
from tests.fakes.anthropic_server import FakeAnthropic, Recorded, Reply, status, tool_use
from tests.integration.test_handoff_support import handoff_of

SUMMARY = {"goal": "Find out where order A1002 is.", "bot_actions": "Asked for the order number.",
           "collected": "order A1002", "sentiment": "negative", "next_step": "Check the carrier."}


def respond(request: Recorded) -> Reply:
    forced = ((request.body or {}).get("tool_choice") or {}).get("name")
    if forced == "write_handoff_summary":
        return tool_use(SUMMARY)
    return tool_use({"commands": [{"command": "human handoff"}]})


def summary_note(app: object, source: str, timeout: float = 20) -> Note:
    deadline = time.monotonic() + timeout
    while True:
        with handoff_of(app).db.read_session() as session:  # type: ignore[arg-type]
            note = session.scalars(select(Note).where(Note.kind == "summary")).first()
        if note is not None and note.source == source:
            return note
        assert time.monotonic() < deadline, f"no {source} summary: {note and note.source}"
        time.sleep(0.05)


def summary_call(app: object, outcome: str, timeout: float = 20) -> dict[str, Any]:
    """The ``llm_call`` event of the summary, once it is logged."""
    deadline = time.monotonic() + timeout
    while True:
        with handoff_of(app).db.read_session() as session:  # type: ignore[arg-type]
            events = [e.data for e in session.scalars(select(DialogueEvent).where(DialogueEvent.type == "llm_call"))
                      if e.data.get("purpose") == "handoff_summary"]
        if events:
            assert [e["outcome"] for e in events] == [outcome]
            return events[0]
        assert time.monotonic() < deadline, "no llm_call event for the summary"
        time.sleep(0.05)


def hand_over(client: FlaskClient) -> None:
    assert client.post("/webhooks/rest/webhook", json={"sender": "s", "message": "talk to a human"}).status_code == 200


def test_claude_writes_the_summary_after_the_handoff(sqlite_url: str, tmp_path: Path) -> None:
    with FakeAnthropic(respond) as fake:
        app = create_app(make_settings(sqlite_url, tmp_path, anthropic_api_key="test-key",
                                       anthropic_base_url=fake.url, timers_in_web=False, log_level="WARNING"))
        try:
            hand_over(app.test_client())
            note = summary_note(app, "claude")
            assert note.text.splitlines() == ["Goal: Find out where order A1002 is.",
                                              "Assistant did: Asked for the order number.",
                                              "Collected: order A1002", "Sentiment: negative",
                                              "Suggested next step: Check the carrier."]
            request = next(r for r in fake.requests if r.body["tool_choice"].get("name") == "write_handoff_summary")
            assert any("test-key" in v for v in request.headers.values()), "the configured key is sent"
            assert request.body["model"] == app.extensions["helpdesk"].settings.llm_model
            assert "talk to a human" in request.body["messages"][0]["content"]
            call = summary_call(app, "ok")
            assert call["model"] == request.body["model"] and call["input_tokens"] > 0 and call["cost_usd"] > 0
            metrics = app.test_client().get("/metrics").get_data(as_text=True)
            assert 'helpdesk_llm_calls_total{outcome="ok",purpose="handoff_summary"} 1.0' in metrics
        finally:
            app.extensions["helpdesk"].close()


def test_a_failing_model_keeps_the_deterministic_summary(sqlite_url: str, tmp_path: Path) -> None:
    def broken(request: Recorded) -> Reply:
        if ((request.body or {}).get("tool_choice") or {}).get("name") == "write_handoff_summary":
            return status(500)
        return respond(request)

    with FakeAnthropic(broken) as fake:
        app = create_app(make_settings(sqlite_url, tmp_path, anthropic_api_key="test-key",
                                       anthropic_base_url=fake.url, timers_in_web=False, log_level="WARNING"))
        try:
            hand_over(app.test_client())
            deadline = time.monotonic() + 20
            while sum(1 for r in fake.requests if r.body.get("tool_choice", {}).get("name") == "write_handoff_summary") < 2:
                assert time.monotonic() < deadline, "the summary call was not retried once"
                time.sleep(0.05)
            assert summary_call(app, "api_error")["error"], "the failed call is in the event log, with why"
            assert summary_note(app, "rules").text.startswith("Reason: the customer asked for a person")
        finally:
            app.extensions["helpdesk"].close()
