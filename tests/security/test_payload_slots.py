"""Issue 8.4: a payload a customer types or sends sets only slots the customer could set anyway."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from helpdesk.dialogue.commands import SetSlot, StartFlow
from helpdesk.dialogue.domain import parse_domain
from helpdesk.dialogue.payloads import customer_may_set
from helpdesk.dialogue.tracker import DialogueTracker
from helpdesk.dialogue.yaml_io import read_yaml_text
from helpdesk.handoff.models import PRIORITIES, Handoff
from tests.integration.test_handoff_support import handoff_of
from tests.security.helpers import rest, running

DOMAIN = """\
slots:
  secret_level:
    type: text
    internal: true
  nickname:
    type: text
  verified:
    type: bool
    mappings: [{type: controlled}]
"""


def test_a_typed_set_slots_cannot_jump_the_queue_or_pick_a_team(db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path, handoff_assignment="manual") as server:
        rest(server.url, "mallory", "/SetSlots(handoff_priority=urgent, handoff_team=sales)")
        assert rest(server.url, "mallory", "I want to talk to a human").status_code == 200
        with handoff_of(server.app).db.read_session() as session:
            handoff = session.scalars(select(Handoff)).one()
        assert PRIORITIES[handoff.priority] == "normal" and handoff.team_id is None


def test_a_button_the_assistant_offered_still_sets_its_slot(db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path) as server:
        rest(server.url, "ann", "where is my order")
        asked = rest(server.url, "ann", "A9999").json()
        buttons = [b["payload"] for r in asked for b in r.get("buttons") or []]
        assert "/SetSlots(retry_order_lookup=false)" in buttons, asked
        replies = rest(server.url, "ann", "/SetSlots(retry_order_lookup=false)").json()
        assert replies and "try a different order number" not in " ".join(r["text"] or "" for r in replies)


def test_internal_and_controlled_slots_need_an_offered_button() -> None:
    domain, problems = parse_domain(read_yaml_text(DOMAIN), "domain.yml")
    assert problems == [] and domain.slots["secret_level"].internal
    tracker = DialogueTracker.from_state("s", None, domain)
    typed = [SetSlot("secret_level", "9", "CommandPayloadReader"), SetSlot("nickname", "Al", "CommandPayloadReader"),
             SetSlot("verified", "true", "CommandPayloadReader"), SetSlot("handoff_team", "x", "CommandPayloadReader"),
             StartFlow("some_flow")]
    kept = customer_may_set(typed, tracker, domain, [])
    assert [getattr(c, "name", None) for c in kept] == ["nickname", None], "from_llm slots and flows stay"
    tracker.last_bot_messages = [{"text": "Verified?", "buttons": [
        {"title": "Yes", "payload": "/SetSlots(verified=true, secret_level=9)"}]}]
    kept = customer_may_set(typed, tracker, domain, [])
    assert [getattr(c, "name", None) for c in kept] == ["nickname", "verified", None], \
        "an offered button sets a controlled slot, never an internal one"
