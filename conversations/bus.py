"""In-process publish/subscribe for things that happened to conversations (after commit).

The turn pipeline and agent actions publish; connectors (widget, Rasa socket.io) and the agent
namespace subscribe and turn events into socket.io emits. Across processes, socket.io's Redis
client manager carries the emits, so this bus never needs to leave the process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
Subscriber = Callable[[str, dict[str, Any]], None]


class EventBus:
    """Calls every subscriber with ``(event, data)``; a failing subscriber never stops the others."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, event: str, data: dict[str, Any]) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event, data)
            except Exception:  # noqa: BLE001 - one broken subscriber must not stop delivery
                log.exception("bus.subscriber.failed", extra={"bus_event": event})
