"""Knowledge answers and small talk through the whole helpdesk (REST channel, real index).

Offline the best passage is sent as it is with its source; with Claude (a loopback Messages API)
the answer comes from the top passages only and cites them; a question the documents do not
answer gets an honest "I don't know" with an offer of a human either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from helpdesk.conversations.models import DialogueEvent
from tests.e2e.conftest import make_settings
from tests.fakes.anthropic_server import FakeAnthropic, status, text_reply, tool_use
from tests.fakes.helpdesk_server import RunningHelpdesk, running_helpdesk

DONT_KNOW = "I don't have an answer to that one."
KNOWLEDGE = tool_use({"commands": [{"command": "knowledge"}]})
CHITCHAT = tool_use({"commands": [{"command": "chitchat"}]})


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def offline(db_url: str, tmp_path: Path) -> Iterator[RunningHelpdesk]:
    with running_helpdesk(make_settings(db_url, tmp_path, knowledge_reload_seconds=0)) as helpdesk:
        yield helpdesk


@pytest.fixture
def with_claude(fake: FakeAnthropic, db_url: str, tmp_path: Path) -> Iterator[RunningHelpdesk]:
    settings = make_settings(db_url, tmp_path, knowledge_reload_seconds=0, anthropic_api_key="test-key",
                             anthropic_base_url=fake.url, llm_timeout=1.5)
    with running_helpdesk(settings) as helpdesk:
        yield helpdesk


def text_of(replies: list[dict[str, object]]) -> str:
    return "\n".join(str(r["text"]) for r in replies)


def events(helpdesk: RunningHelpdesk, kind: str) -> list[dict[str, object]]:
    with helpdesk.app.extensions["helpdesk"].db.read_session() as session:
        return [e.data for e in session.scalars(select(DialogueEvent).where(DialogueEvent.type == kind)
                                               .order_by(DialogueEvent.id))]


# --- offline ---------------------------------------------------------------------------------------


def test_offline_the_best_passage_is_the_answer_with_its_source(offline: RunningHelpdesk) -> None:
    answer = text_of(offline.post("q1", "Can I pay with PayPal?"))
    assert "PayPal, Apple Pay and Google Pay" in answer
    assert "Source: Payment (payment.md)" in answer
    assert events(offline, "knowledge_answer")[-1]["sources"] == ["payment.md"]


def test_offline_a_question_outside_the_documents_gets_i_dont_know_and_a_human(offline: RunningHelpdesk) -> None:
    answer = text_of(offline.post("q2", "Do you sell bikes?"))
    assert DONT_KNOW in answer and "connect you with our team" in answer
    assert "Source" not in answer


# --- with Claude --------------------------------------------------------------------------------------


def test_claude_answers_from_the_top_passages_and_the_reply_cites_them(
        with_claude: RunningHelpdesk, fake: FakeAnthropic) -> None:
    fake.script(KNOWLEDGE, tool_use({"answered": True, "sources": [1],
                                     "answer": "Yes! We ship to Canada in 5-10 business days for a flat $19.95."}))
    answer = text_of(with_claude.post("c1", "Do you deliver to Canada, and how long does it take?"))
    assert answer == ("Yes! We ship to Canada in 5-10 business days for a flat $19.95.\n\n"
                      "Source: Shipping and delivery (shipping.md)")
    understanding, answering = fake.message_requests()
    body = answering.body
    assert body["tool_choice"]["name"] == "answer" and [t["name"] for t in body["tools"]] == ["answer"]
    assert "Warm, upbeat and concise" in body["system"][0]["text"]  # the tone of flows/assistant.yml
    prompt = body["messages"][0]["content"]
    assert prompt.startswith("Passages:\n[1] Shipping and delivery › Where we ship (shipping.md)\n")
    assert "Canada take 5-10 business days" in prompt
    assert prompt.endswith("<message>Do you deliver to Canada, and how long does it take?</message>")
    purposes = [e["purpose"] for e in events(with_claude, "llm_call")]
    assert purposes == ["understanding", "knowledge"]


def test_when_the_passages_do_not_answer_claude_says_so_and_a_human_is_offered(
        with_claude: RunningHelpdesk, fake: FakeAnthropic) -> None:
    fake.script(KNOWLEDGE, tool_use({"answered": False, "answer": "", "sources": []}))
    answer = text_of(with_claude.post("c2", "Is the Ridgeline jacket made from recycled fabric?"))
    assert DONT_KNOW in answer and "connect you with our team" in answer
    assert events(with_claude, "knowledge_answer")[-1]["answered"] is False


def test_nothing_in_the_documents_means_no_answer_call(with_claude: RunningHelpdesk, fake: FakeAnthropic) -> None:
    fake.script(KNOWLEDGE)
    answer = text_of(with_claude.post("c3", "What is the meaning of life?"))
    assert DONT_KNOW in answer
    assert len(fake.message_requests()) == 1


def test_an_answer_citing_no_given_passage_is_not_trusted(with_claude: RunningHelpdesk, fake: FakeAnthropic) -> None:
    fake.script(KNOWLEDGE, tool_use({"answered": True, "answer": "We ship to Mars.", "sources": [9]}))
    answer = text_of(with_claude.post("c4", "Do you ship to Canada?"))
    assert "Mars" not in answer
    assert "We ship to all 50 US states" in answer and "Source: Shipping and delivery (shipping.md)" in answer


def test_a_failed_answer_call_falls_back_to_the_best_passage(with_claude: RunningHelpdesk, fake: FakeAnthropic) -> None:
    fake.script(KNOWLEDGE, *[status(500)] * 3)
    answer = text_of(with_claude.post("c5", "Can I pay with PayPal?"))
    assert "PayPal, Apple Pay and Google Pay" in answer and "Source: Payment (payment.md)" in answer
    assert [e["outcome"] for e in events(with_claude, "llm_call")] == ["ok", "api_error"]


def test_chitchat_gets_a_short_on_brand_reply(with_claude: RunningHelpdesk, fake: FakeAnthropic) -> None:
    fake.script(CHITCHAT, text_reply("Doing great, thanks for asking! Anything I can help with on an order?"))
    answer = text_of(with_claude.post("c6", "how are you today?"))
    assert answer == "Doing great, thanks for asking! Anything I can help with on an order?"
    system = fake.message_requests()[1].body["system"][0]["text"]
    assert "Northwind Outfitters" in system and "Warm, upbeat and concise" in system
    assert "orders, returns, deliveries" in system  # topics to steer back to


def test_chitchat_falls_back_to_the_canned_reply(with_claude: RunningHelpdesk, fake: FakeAnthropic) -> None:
    fake.script(CHITCHAT, *[status(500)] * 3)
    answer = text_of(with_claude.post("c7", "how are you today?"))
    assert "Northwind Outfitters support assistant" in answer or "really here for orders" in answer


def test_offline_chitchat_is_the_canned_reply(offline: RunningHelpdesk) -> None:
    answer = text_of(offline.post("c8", "how are you today?"))
    assert "Northwind Outfitters support assistant" in answer or "really here for orders" in answer
