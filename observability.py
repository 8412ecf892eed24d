"""Prometheus metrics of the helpdesk, on one registry served at ``GET /metrics``."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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
        self.handoffs = Counter("helpdesk_handoffs", "Conversations handed over to people", ["reason"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
