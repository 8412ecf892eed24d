"""In-process, per-conversation locks for turns, and the conversations' in-process versions."""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

#: conversations whose version is remembered (the least recently changed are forgotten first; a snapshot
#: of a forgotten one is only used while no other is forgotten: it needs to last from store to turn)
VERSIONS_KEPT = 10_000


@dataclass
class _LockEntry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0


class TurnLocks:
    """Per-conversation in-process locks; an entry lives only while someone uses it.

    Every turn that wrote a conversation bumps its *version* once committed (:meth:`changed`): a
    snapshot read together with the version it had (``store_inbound`` reads both in the transaction
    that stores a message) is still what the database holds for this process's writers when the
    version is unchanged. Versions come from one process-wide counter, so a forgotten conversation
    reads as the highest version ever forgotten: never equal to one read before it changed.
    """

    def __init__(self, kept: int = VERSIONS_KEPT) -> None:
        self._guard = threading.Lock()
        self._entries: dict[int, _LockEntry] = {}
        self._versions: OrderedDict[int, int] = OrderedDict()
        self._counter = itertools.count(1)
        self._forgotten = 0
        self._kept = kept

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

    def version(self, conversation_id: int) -> int:
        """The conversation's in-process version (changes with every turn that wrote it)."""
        with self._guard:
            return self._versions.get(conversation_id, self._forgotten)

    def changed(self, conversation_id: int) -> None:
        """A write to the conversation was committed: give it a new version."""
        with self._guard:
            self._versions[conversation_id] = next(self._counter)
            self._versions.move_to_end(conversation_id)
            while len(self._versions) > self._kept:
                _, forgotten = self._versions.popitem(last=False)
                self._forgotten = max(self._forgotten, forgotten)

    def __bool__(self) -> bool:
        """A registry is true even while nothing is locked (``len`` 0): ``locks or TurnLocks()`` must
        not swap it for another one."""
        return True

    def __len__(self) -> int:
        """How many conversations are locked or awaited right now."""
        with self._guard:
            return len(self._entries)
