"""Small in-memory helpers of the live widget: bot typing indicators and recently stored messages."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Emit = Callable[[str, bool], None]


class BotTyping:
    """Shows the bot typing in a room while a turn runs — only once it has run for ``delay`` seconds.

    Fast turns (offline understanding: milliseconds) send nothing; slow ones (an LLM, an action
    server) show the indicator until they end. One watchdog thread serves every turn. ``delay``
    0 shows it at the start of every turn.
    """

    def __init__(self, emit: Emit, delay: float) -> None:
        self._emit = emit
        self.delay = delay
        self._lock = threading.Condition()
        self._active: dict[object, tuple[str, float, bool]] = {}
        self._watchdog: threading.Thread | None = None
        self._closed = False

    @contextmanager
    def during(self, room: str) -> Iterator[None]:
        if self.delay <= 0:
            self._emit(room, True)
            try:
                yield
            finally:
                self._emit(room, False)
            return
        token = object()
        with self._lock:
            idle = not self._active
            self._active[token] = (room, time.monotonic() + self.delay, False)
            self._start_watchdog()
            if idle:
                # the watchdog sleeps until a turn starts; otherwise it already wakes up by the
                # earliest due time, and this turn's comes later (same delay): waking it for every
                # turn cost a thread hand-off per message
                self._lock.notify_all()
        try:
            yield
        finally:
            with self._lock:
                _room, _due, shown = self._active.pop(token)
            if shown:
                self._emit(room, False)

    def _start_watchdog(self) -> None:
        if self._watchdog is None and not self._closed:
            self._watchdog = threading.Thread(target=self._watch, name="widget-typing", daemon=True)
            self._watchdog.start()

    def _watch(self) -> None:
        while True:
            with self._lock:
                while not self._active and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                now = time.monotonic()
                due = [(t, room) for t, (room, at, shown) in self._active.items() if not shown and at <= now]
                for token, room in due:
                    self._active[token] = (room, 0.0, True)
                wake = min((at for _r, at, shown in self._active.values() if not shown), default=now + self.delay)
            for _token, room in due:
                self._emit(room, True)
            with self._lock:
                if not self._closed:
                    self._lock.wait(max(0.01, wake - time.monotonic()))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        if self._watchdog is not None:
            self._watchdog.join(timeout=5)


class RecentMessages:
    """What a customer message's ``message`` event needs beyond the bus event (title, files,
    client id, the sending socket), by message id, from storing until its turn publishes it.
    Bounded: a lost entry only costs one database read."""

    def __init__(self, limit: int = 10_000) -> None:
        self._items: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def put(self, message_id: int, extras: dict[str, Any]) -> None:
        with self._lock:
            self._items[message_id] = {k: v for k, v in extras.items() if v is not None}
            while len(self._items) > self._limit:
                self._items.popitem(last=False)

    def pop(self, message_id: Any) -> dict[str, Any] | None:
        with self._lock:
            return self._items.pop(message_id, None)
