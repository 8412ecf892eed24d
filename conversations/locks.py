"""In-process, per-conversation locks for turns."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class _LockEntry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


class TurnLocks:
    """Per-conversation in-process locks; an entry lives only while someone uses it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._entries: dict[int, _LockEntry] = {}

    @contextmanager
    def hold(self, conversation_id: int) -> Iterator[None]:
        """Hold the lock of one conversation (not re-entrant)."""
        with self._guard:
            entry = self._entries.setdefault(conversation_id, _LockEntry())
            entry.users += 1
        try:
            with entry.lock:
                yield
        finally:
            with self._guard:
                entry.users -= 1
                if entry.users == 0:
                    del self._entries[conversation_id]

    def __len__(self) -> int:
        """How many conversations are locked or awaited right now."""
        with self._guard:
            return len(self._entries)
