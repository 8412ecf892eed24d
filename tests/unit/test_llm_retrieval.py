"""Flow retrieval: BM25 over flow texts picks what enters the prompt when there are many flows."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.llm_prompt_tokens import ESTIMATORS, ours, steady_tracker, synthetic_assistant
from helpdesk.dialogue.assistant import Assistant, load_assistant
from helpdesk.dialogue.generators.llm_prompt import LIVE_FLOWS, PromptBuilder
from helpdesk.dialogue.generators.retrieval import FlowRetriever, select_flows
from helpdesk.dialogue.tracker import DialogueTracker

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return synthetic_assistant(200, tmp_path_factory.mktemp("big"))


@pytest.fixture(scope="module")
def mid(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    return synthetic_assistant(50, tmp_path_factory.mktemp("mid"))


def fresh(assistant: Assistant) -> DialogueTracker:
    return DialogueTracker.from_state("r", None, assistant.domain)


def test_bm25_ranks_the_flow_the_message_is_about_first() -> None:
    flows = load_assistant(REPO / "flows").flows.user_flows()
    retriever = FlowRetriever(flows)
    assert retriever.rank("my parcel arrived damaged")[0][0] == "delivery_issue"
    assert retriever.rank("I forgot my password")[0][0] == "reset_password"
    assert retriever.rank("when are you open on sundays")[0][0] == "store_hours_contact"
    assert retriever.rank("zzz qqq") == []


def test_earlier_turns_help_a_short_message() -> None:
    flows = load_assistant(REPO / "flows").flows.user_flows()
    retriever = FlowRetriever(flows)
    ranked = retriever.rank("yes that one", ["I need to send back the boots, they don't fit"])
    assert ranked[0][0] == "return_request"


def test_select_keeps_required_flows_then_the_best_and_the_assistants_order(big: Assistant) -> None:
    startable = big.flows.user_flows()
    ranked = [(startable[5].id, 9.0), (startable[1].id, 5.0), (startable[7].id, 1.0)]
    chosen = select_flows(startable, [startable[9].id, "no_such_flow"], ranked, 3)
    assert [f.id for f in chosen] == [startable[1].id, startable[5].id, startable[9].id]


def test_at_200_flows_the_prompt_shows_at_most_the_threshold_and_the_right_flow(big: Assistant) -> None:
    prompts = PromptBuilder(big.flows, big.domain, assistant_name="Acme")
    prompt = prompts.build("I'd like to redeem my gift card please", fresh(big))
    assert prompt.retrieved
    assert len(prompt.flow_ids) <= 20
    assert "redeem_gift_card" in prompt.flow_ids
    assert "redeem_gift_card:" in prompt.request.system[1]["text"]


def test_the_threshold_is_configurable_and_small_assistants_show_everything(big: Assistant) -> None:
    small = PromptBuilder(big.flows, big.domain, assistant_name="Acme", retrieval_threshold=500)
    prompt = small.build("redeem my gift card", fresh(big))
    assert not prompt.retrieved and len(prompt.flow_ids) == 200
    tight = PromptBuilder(big.flows, big.domain, assistant_name="Acme", retrieval_threshold=5)
    assert len(tight.build("redeem my gift card", fresh(big)).flow_ids) <= 5


def test_active_and_always_included_flows_are_always_shown(tmp_path: Path) -> None:
    assistant = synthetic_assistant(60, tmp_path)
    pinned = assistant.flows.user_flows()[-1]
    pinned.always_include_in_prompt = True
    prompts = PromptBuilder(assistant.flows, assistant.domain, assistant_name="Acme")
    tracker = steady_tracker(assistant)  # the first flow is running
    prompt = prompts.build("something unrelated entirely", tracker)
    running = assistant.flows.user_flows()[0].id
    assert running in prompt.flow_ids and pinned.id in prompt.flow_ids
    idle = prompts.build("something unrelated entirely", fresh(assistant))
    assert pinned.id in idle.flow_ids


def test_while_a_flow_runs_the_cached_catalogue_stays_and_the_message_adds_flows(big: Assistant) -> None:
    prompts = PromptBuilder(big.flows, big.domain, assistant_name="Acme")
    tracker = steady_tracker(big)
    first = prompts.build("the second option please", tracker)
    second = prompts.build("hmm, can I also appeal my warranty claim?", tracker)
    assert first.request.system == second.request.system  # cached turn after turn
    assert "appeal_warranty_claim" in second.flow_ids
    more = second.dynamic_text.split("More flows:\n", 1)[1].split("\n\n", 1)[0]
    assert "appeal_warranty_claim: The customer wants to appeal their warranty claim" in more
    assert len(second.flow_ids) <= 20
    assert len([f for f in second.flow_ids if f not in first.flow_ids]) <= LIVE_FLOWS


def test_prompt_size_is_flat_beyond_the_threshold(mid: Assistant, big: Assistant) -> None:
    estimate = ESTIMATORS["word pieces"]
    sizes = []
    for assistant in (mid, big):
        prompts = PromptBuilder(assistant.flows, assistant.domain, assistant_name="Acme")
        tracker = steady_tracker(assistant)
        sizes.append(ours(prompts, prompts.build("it's REF-20931", tracker), estimate).total)
    assert abs(sizes[0] - sizes[1]) <= 0.05 * sizes[0]
