"""Knowledge and chitchat answerers without a model: the best passage with its source, or nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from helpdesk.dialogue.domain import Domain
from helpdesk.dialogue.generators.answers import ChitchatAnswerer, KnowledgeAnswerer, Voice, citation, question_of
from helpdesk.dialogue.tracker import DialogueTracker


@dataclass(frozen=True)
class Passage:
    title: str
    source: str
    heading: str
    text: str
    coverage: float


REFUNDS = Passage("Returns and refunds", "returns.md", "Returns and refunds › Refunds",
                  "We issue your refund within 5 business days of receiving the return.", 1.0)
WARRANTY = Passage("Warranty", "warranty.md", "Warranty", "Everything we sell is covered for 2 years.", 0.42)


def tracker(text: str, history: list[dict[str, Any]] | None = None) -> DialogueTracker:
    t = DialogueTracker.from_state("k", {"history": history or []}, Domain())
    t.latest_message = {"text": text}
    return t


def test_offline_the_best_passage_is_sent_as_it_is_with_its_source() -> None:
    asked: list[tuple[str, int]] = []

    def search(question: str, limit: int) -> list[Passage]:
        asked.append((question, limit))
        return [WARRANTY, REFUNDS]

    t = tracker("when will I get my refund?")
    [message] = KnowledgeAnswerer(search)(t)
    assert message.text == f"{REFUNDS.text}\n\nSource: Returns and refunds (returns.md)"
    assert asked == [("when will I get my refund?", 4)]
    assert t.events[-1] == {"event": "knowledge_answer", "mode": "passage", "answered": True,
                            "question": "when will I get my refund?", "sources": ["returns.md"]}


def test_offline_nothing_relevant_means_the_domains_i_dont_know() -> None:
    t = tracker("do you sell bikes?")
    assert KnowledgeAnswerer(lambda q, k: [WARRANTY])(t) == []
    assert t.events[-1]["answered"] is False
    assert KnowledgeAnswerer(lambda q, k: [])(tracker("what is the meaning of life")) == []


def test_a_broken_index_is_an_honest_i_dont_know() -> None:
    def broken(question: str, limit: int) -> list[Passage]:
        raise RuntimeError("index gone")

    assert KnowledgeAnswerer(broken)(tracker("when will I get my refund?")) == []


def test_a_short_follow_up_is_read_with_the_previous_question() -> None:
    history = [{"user": "do you ship to canada?", "bot": ["Yes, in 5-10 business days."]}]
    assert question_of(tracker("and alaska?", history)) == "do you ship to canada? and alaska?"
    assert question_of(tracker("how long does shipping to alaska take?", history)) == \
        "how long does shipping to alaska take?"
    assert question_of(tracker("ok", [{"user": "/SetSlots(x=1)", "bot": []}])) == "ok"


def test_citations_name_each_document_once() -> None:
    assert citation([REFUNDS, REFUNDS]) == "Source: Returns and refunds (returns.md)"
    assert citation([REFUNDS, WARRANTY]) == "Sources: Returns and refunds (returns.md); Warranty (warranty.md)"


def test_chitchat_offline_leaves_the_canned_response() -> None:
    assert ChitchatAnswerer(None)(tracker("how are you?")) == []


def test_voice_from_the_assistant_config() -> None:
    voice = Voice.from_config({"name": "Northwind", "tone": "warm,\n  concise", "topics": "orders"})
    assert voice == Voice("Northwind", "warm, concise", "orders")
    assert Voice.from_config({}) == Voice()
