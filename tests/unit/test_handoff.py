"""Pure parts of the handoff: status model, business hours, summaries, triggers, texts, scoping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from helpdesk.handoff import hours, texts, triggers
from helpdesk.handoff.errors import Invalid
from helpdesk.handoff.lifecycle import HUMAN_STATUSES, allowed
from helpdesk.handoff.openapi import document
from helpdesk.handoff.summarizers import SummaryInput, deterministic, format_claude, reason_text, sentiment
from helpdesk.handoff.types import AgentRef, HandoffRequest, Pending


def test_the_status_model() -> None:
    assert {"queued", "assigned"} == HUMAN_STATUSES
    for before, after in [("bot", "queued"), ("queued", "assigned"), ("assigned", "resolved"), ("assigned", "bot"),
                          ("assigned", "queued"), ("resolved", "bot"), ("bot", "assigned"), ("queued", "queued")]:
        assert allowed(before, after), (before, after)
    for before, after in [("bot", "closed"), ("nope", "bot")]:
        assert not allowed(before, after)


BERLIN = hours.parse_short("mon-fri 09:00-17:00; sat 10:00-12:00", "Europe/Berlin")


@pytest.mark.parametrize(("when", "is_open"), [
    (datetime(2026, 3, 2, 8, 0, tzinfo=UTC), True),     # Monday 09:00 Berlin
    (datetime(2026, 3, 2, 7, 59, tzinfo=UTC), False),
    (datetime(2026, 3, 2, 16, 0, tzinfo=UTC), False),   # 17:00 Berlin: closed
    (datetime(2026, 3, 7, 9, 30, tzinfo=UTC), True),    # Saturday 10:30 Berlin
    (datetime(2026, 3, 8, 12, 0, tzinfo=UTC), False),   # Sunday
])
def test_business_hours_follow_the_time_zone(when: datetime, is_open: bool) -> None:
    assert BERLIN.is_open(when) is is_open


def test_next_opening_and_its_description() -> None:
    sunday = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    assert BERLIN.next_opening(sunday) == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    assert BERLIN.describe_opening(sunday) == "on Monday at 09:00 (Europe/Berlin)"
    summer = hours.parse_short("mon 09:00-17:00", "Europe/Berlin")
    assert summer.next_opening(datetime(2026, 7, 5, 12, 0, tzinfo=UTC)) == datetime(2026, 7, 6, 7, 0, tzinfo=UTC)
    assert hours.parse_short("", "UTC").is_open(sunday)
    assert hours.Hours("UTC", {}).next_opening(sunday) is None


@pytest.mark.parametrize(("text", "zone"), [("weekdays 9-5", "UTC"), ("mon 17:00-09:00", "UTC"),
                                            ("mon 09:00-17:00", "Nowhere/City"), ("xyz-fri 09:00-10:00", "UTC")])
def test_bad_business_hours_are_refused(text: str, zone: str) -> None:
    with pytest.raises(Invalid):
        hours.parse_short(text, zone)


def test_validate_checks_days_and_ranges() -> None:
    assert hours.validate("UTC", {"mon": [["09:00", "24:00"]]}).is_open(datetime(2026, 3, 2, 23, 59, tzinfo=UTC))
    for schedule in ({"monday": []}, {"mon": [["9:00", "10:00"]]}, {"mon": "09:00-10:00"}, []):
        with pytest.raises(Invalid):
            hours.validate("UTC", schedule)


def test_the_deterministic_summary() -> None:
    data = SummaryInput(reason="customer_request", flow="check_order_status",
                        slots={"order_number": "A1002", "max_clarification_options": 3, "email": None,
                               "language": "en"},
                        stack_flows=["check_order_status", "pattern_collect_information"], asked_slot="email",
                        transcript=[("customer", "where is my order"), ("bot", "Which one?"),
                                    ("customer", "A1002, this is ridiculous!!")])
    assert deterministic(data).splitlines() == [
        "Reason: the customer asked for a person.",
        "Flows: check_order_status (waiting for email).",
        "Collected: order_number = A1002.",
        "Last customer messages: \u201cwhere is my order\u201d / \u201cA1002, this is ridiculous!!\u201d",
        "Sentiment: negative.",
        "Suggested next step: continue check_order_status: the assistant was asking for email.",
    ]
    assert reason_text("link from talk_to_human") == "the customer asked for a person"
    assert reason_text("cannot_handle_repeated").startswith("the assistant did not understand")
    assert sentiment(["thanks, great"]) == "positive" and sentiment(["ok"]) == "neutral"
    assert format_claude({"goal": "g", "sentiment": "neutral"}).startswith("Goal: g\n")


def test_internal_errors_but_not_bad_input_trigger_a_handoff() -> None:
    assert triggers.internal_error([{"event": "error", "error_type": "rasa_internal_error_default"}], [])
    assert triggers.internal_error([{"event": "error", "error_type": "step_limit"}], [])
    assert triggers.internal_error([], [{"command": "error", "error_type": "rasa_internal_error_default"}])
    assert not triggers.internal_error([], [{"command": "error", "error_type": "rasa_internal_error_user_input_empty"}])
    assert not triggers.internal_error([{"event": "bot", "text": "hi"}], [{"command": "chitchat"}])
    assert triggers.commands_of({"parse_data": {"commands": [{"command": "cannot handle"}]}}) == ["cannot handle"]


def test_texts() -> None:
    assert texts.position_text(2, 150) == "You're number 2 in line. The estimated wait is about 2 minutes."
    assert texts.position_text(1, None).endswith("Someone will be with you shortly.")
    assert [texts.wait_phrase(s) for s in (20, 60, 5400, 7200)] == ["less than a minute", "about 1 minute",
                                                                    "about 2 hours", "about 2 hours"]
    assert texts.position_text(1, 10).endswith("The estimated wait is less than a minute."), "never 'about less'"
    assert texts.find_email("write to Jo.Doe+x@Mail.Example.org please") == "jo.doe+x@mail.example.org"
    assert texts.find_email("no address here @ all") is None


def test_team_scoping_and_requests() -> None:
    agent = AgentRef(1, "A", "a@x.io", "agent", frozenset({5}))
    admin = AgentRef(2, "B", "b@x.io", "admin")
    assert agent.may_see(5) and agent.may_see(None) and agent.may_see(6, assignee_id=1)
    assert not agent.may_see(6) and admin.may_see(6)
    assert HandoffRequest(priority="urgent").priority_level == 3
    assert HandoffRequest(priority="whatever").priority_level == 1


def test_pending_publishes_in_order_then_runs_follow_ups() -> None:
    seen: list[object] = []
    pending = Pending(lambda event, data: seen.append((event, data["n"])))
    pending.add("a", {"n": 1})
    pending.then(lambda: seen.append("after"))
    pending.then(lambda: 1 / 0)  # a failing follow-up is logged, not raised
    pending.add("b", {"n": 2})
    pending.flush()
    assert seen == [("a", 1), ("b", 2), "after"]


def test_the_openapi_document_names_every_operation() -> None:
    spec = document()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "security" not in spec["paths"]["/auth/login"]["post"]
    assert spec["paths"]["/conversations/{cid}/claim"]["post"]["parameters"][0]["name"] == "cid"
    assert spec["paths"]["/auth/logout"]["post"]["responses"]["204"]["description"] == "OK"
