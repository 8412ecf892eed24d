"""Context summaries written at handoff, shown to agents at the top of the conversation.

Without an API key the summary is deterministic: the reason, the flows on the dialogue stack,
the collected slots, the last customer messages, a word-list sentiment and a suggested next step.
With ``ANTHROPIC_API_KEY`` set, Claude writes it (through the app's one Claude client: the official
``anthropic`` SDK with ``ANTHROPIC_BASE_URL``, ``HELPDESK_LLM_MODEL``, the time budget and retries),
after the handoff has committed; any failure keeps the deterministic one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from helpdesk.conversations.text import strip_bidi
from helpdesk.llm.client import ClaudeClient, LLMCall, LLMError, LLMRequest, MalformedOutput

log = logging.getLogger(__name__)
#: the ``purpose`` of summary calls in ``llm_call`` events and ``/metrics``
PURPOSE = "handoff_summary"

NEGATIVE = ("angry", "annoyed", "terrible", "awful", "useless", "ridiculous", "worst", "upset", "frustrated",
            "disappointed", "unacceptable", "complain", "refund now", "still not", "never arrived", "broken")
POSITIVE = ("thanks", "thank you", "great", "perfect", "awesome", "love", "happy")
REASONS = {
    "customer_request": "the customer asked for a person",
    "cannot_handle_repeated": "the assistant did not understand the customer several times in a row",
    "internal_error": "the assistant ran into an internal error",
    "agent_takeover": "an agent took the conversation over from the assistant",
}
TOOL = {
    "name": "write_handoff_summary",
    "description": "Summarise a support conversation for the human agent taking it over.",
    "input_schema": {
        "type": "object",
        "properties": {
            "goal": {"type": "string", "description": "what the customer wants, one sentence"},
            "bot_actions": {"type": "string", "description": "what the assistant already did"},
            "collected": {"type": "string", "description": "the facts collected (order numbers, emails...)"},
            "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
            "next_step": {"type": "string", "description": "the suggested next step for the agent"},
        },
        "required": ["goal", "bot_actions", "collected", "sentiment", "next_step"],
    },
}
SYSTEM = ("You write handoff notes for customer-support agents. Be short and factual; never invent facts "
          "that are not in the conversation. Answer only by calling the tool.")


@dataclass
class SummaryInput:
    """What a summary is made from."""

    reason: str
    flow: str | None
    slots: dict[str, Any]
    stack_flows: list[str] = field(default_factory=list)
    asked_slot: str | None = None
    transcript: list[tuple[str, str]] = field(default_factory=list)
    """(role, text) pairs, oldest first."""


def reason_text(reason: str) -> str:
    if reason.startswith("link from"):
        return "the customer asked for a person"
    return REASONS.get(reason, reason.replace("_", " "))


def sentiment(texts: list[str]) -> str:
    words = " ".join(texts).lower()
    negative = sum(w in words for w in NEGATIVE) + words.count("!!")
    positive = sum(w in words for w in POSITIVE)
    if negative > positive:
        return "negative"
    return "positive" if positive > negative else "neutral"


def deterministic(data: SummaryInput) -> str:
    """The summary without a model: every line comes from stored facts."""
    customer = [t for role, t in data.transcript if role == "customer"]
    flows = [f for f in data.stack_flows if not f.startswith("pattern_")]
    lines = [f"Reason: {reason_text(data.reason)}."]
    if flows:
        where = f" (waiting for {data.asked_slot})" if data.asked_slot else ""
        lines.append(f"Flows: {', '.join(flows)}{where}.")
    elif data.flow:
        lines.append(f"Flow: {data.flow}.")
    slots = {k: v for k, v in data.slots.items() if k not in _PATTERN_SLOTS and v not in (None, "", [])}
    lines.append("Collected: " + ("; ".join(f"{k} = {v}" for k, v in slots.items()) or "nothing yet") + ".")
    if customer:
        lines.append("Last customer messages: " + " / ".join(f"\u201c{_clip(t)}\u201d" for t in customer[-3:]))
    lines.append(f"Sentiment: {sentiment(customer[-5:])}.")
    lines.append(f"Suggested next step: {_next_step(data, flows, slots)}")
    return strip_bidi("\n".join(lines))


_PATTERN_SLOTS = {"max_clarification_options", "continue_conversation", "confirm_correction",
                  "continue_interrupted_flow_confirmation", "interrupted_flow_to_continue", "csat_score",
                  "handoff_team", "handoff_priority", "language"}


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _next_step(data: SummaryInput, flows: list[str], slots: dict[str, Any]) -> str:
    if data.reason == "internal_error":
        return "apologise for the error and complete the request by hand."
    if flows and data.asked_slot:
        return f"continue {flows[-1]}: the assistant was asking for {data.asked_slot}."
    if flows:
        return f"help the customer finish {flows[-1]}."
    return "greet the customer and ask how you can help."


def format_claude(answer: dict[str, Any]) -> str:
    return strip_bidi("\n".join([
        f"Goal: {answer.get('goal', '').strip()}",
        f"Assistant did: {answer.get('bot_actions', '').strip()}",
        f"Collected: {answer.get('collected', '').strip()}",
        f"Sentiment: {answer.get('sentiment', 'neutral')}",
        f"Suggested next step: {answer.get('next_step', '').strip()}",
    ]))


class ClaudeSummarizer:
    """Writes summaries with Claude through the app's one :class:`ClaudeClient` (the same SDK client,
    time budget, retries, metrics and cost accounting as understanding and answers)."""

    def __init__(self, client: ClaudeClient) -> None:
        self.client = client

    def summarize(self, data: SummaryInput) -> tuple[str | None, LLMCall]:
        """The summary text (``None`` when the call failed or the answer was malformed) and the call's
        figures for the event log."""
        prompt = {"reason": reason_text(data.reason), "flows": data.stack_flows or [data.flow or ""],
                  "slots": data.slots, "transcript": [{"role": r, "text": t} for r, t in data.transcript[-30:]]}
        request = LLMRequest(system=[{"type": "text", "text": SYSTEM}], max_tokens=500, tools=[TOOL],
                             tool_choice={"type": "tool", "name": TOOL["name"]},
                             messages=[{"role": "user", "content": json.dumps(prompt, ensure_ascii=False)}])
        try:
            return self.client.create(PURPOSE, request, _parse)
        except LLMError as exc:  # a summary must never break a handoff: the deterministic one stays
            log.warning("handoff.summary.llm_failed", extra={"outcome": exc.call.outcome, "error": exc.call.error})
            return None, exc.call


def _parse(message: Any) -> str:
    for block in getattr(message, "content", None) or []:
        if getattr(block, "type", None) == "tool_use" and isinstance(block.input, dict):
            return format_claude(block.input)
    raise MalformedOutput(f"no {TOOL['name']} call")
