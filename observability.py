"""Prometheus metrics of the helpdesk, on one registry served at ``GET /metrics``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from llm.client import LLMCall

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


@dataclass
class Metrics:
    """The metric objects; one instance per app (tests build several apps in one process)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.messages_in = Counter("helpdesk_messages_received", "Customer messages stored", ["channel"], registry=r)
        self.turns = Counter("helpdesk_turns", "Bot turns run", ["channel"], registry=r)
        self.turn_seconds = Histogram("helpdesk_turn_seconds", "Time to run one bot turn (engine only)",
                                      buckets=(0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10), registry=r)
        self.handoffs = Counter("helpdesk_handoffs", "Conversations handed over to people", ["reason", "channel"],
                                registry=r)
        waits = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
        self.handoff_wait_seconds = Histogram("helpdesk_handoff_wait_seconds",
                                              "From the handoff to the first agent joining", buckets=waits, registry=r)
        self.first_response_seconds = Histogram("helpdesk_first_response_seconds",
                                                "From the handoff to the first agent reply", buckets=waits, registry=r)
        self.escalations = Counter("helpdesk_handoff_escalations", "Queued conversations escalated past the SLA",
                                   registry=r)

        self.llm_calls = Counter("helpdesk_llm_calls", "LLM calls by purpose and outcome",
                                 ["purpose", "outcome"], registry=r)
        self.llm_seconds = Histogram("helpdesk_llm_latency_seconds", "Time of one LLM call, retries included",
                                     ["purpose"], buckets=(0.25, 0.5, 1, 1.5, 2, 3, 5, 7.5, 10, 20), registry=r)
        self.llm_tokens = Counter("helpdesk_llm_tokens", "LLM tokens (kind: input, output, cache_read, cache_write)",
                                  ["purpose", "kind"], registry=r)
        self.llm_cost = Counter("helpdesk_llm_cost_usd", "Estimated LLM cost in USD", ["purpose"], registry=r)

    def observe_llm(self, call: LLMCall) -> None:
        """Record one LLM call (the observer of ``llm.client.ClaudeClient``)."""
        self.llm_calls.labels(call.purpose, call.outcome).inc()
        self.llm_seconds.labels(call.purpose).observe(call.latency_ms / 1000)
        for kind in ("input", "output", "cache_read", "cache_write"):
            self.llm_tokens.labels(call.purpose, kind).inc(getattr(call, f"{kind}_tokens"))
        self.llm_cost.labels(call.purpose).inc(call.cost_usd)

    def render(self) -> bytes:
        return generate_latest(self.registry)
