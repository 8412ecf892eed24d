"""Remembering the ids Slack sent recently, to answer its retries at once.

Slack retries an event it got no 2xx for within 3 seconds (``X-Slack-Retry-Num`` 1 to 3, after
about 1 s, 1 min and 5 min). The durable guard is the message store (a Slack message's id is the
stored message's ``external_id``, so a retry never stores twice, in any process); this bounded,
in-process memory of event ids only lets a retry be acknowledged without any work.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class RecentIds:
    """The last ``size`` ids seen (thread-safe)."""

    def __init__(self, size: int = 20_000) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, key: str) -> bool:
        """True when ``key`` was seen before; remembers it otherwise."""
        if not key:
            return False
        with self._lock:
            if key in self._ids:
                self._ids.move_to_end(key)
                return True
            self._ids[key] = None
            if len(self._ids) > self._size:
                self._ids.popitem(last=False)
            return False

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._ids

    def add(self, key: str) -> None:
        """Remember ``key`` (something done once: later deliveries of it are skipped)."""
        self.seen(key)

    def forget(self, key: str) -> None:
        """Drop ``key`` (its handling failed: Slack's retry must be processed)."""
        with self._lock:
            self._ids.pop(key, None)
