"""How many threads do the CPU part of turns at once.

Turns wait most of their time on remote calls (the LLM, the action server): many threads may
wait, but only a few (about the number of cores) compute at a time. A thread computes inside
:func:`working`; a remote call inside :func:`waiting` gives its place up while it waits and takes
one again afterwards. Threads outside :func:`working` (the web server's request threads, which
acknowledge webhooks) are never held: they compete with at most that few turn threads for the
interpreter, instead of with every turn whose LLM call just returned.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_SLOTS = max(2, os.cpu_count() or 2)
_slots = threading.BoundedSemaphore(_SLOTS)
_local = threading.local()


@contextmanager
def working() -> Iterator[None]:
    """Compute as one of the few (re-entrant: an inner call holds no second place)."""
    if getattr(_local, "held", False):
        yield
        return
    _slots.acquire()
    _local.held = True
    try:
        yield
    finally:
        _local.held = False
        _slots.release()


@contextmanager
def waiting() -> Iterator[None]:
    """Wait on something remote without holding a place (no-op outside :func:`working`)."""
    if not getattr(_local, "held", False):
        yield
        return
    _local.held = False
    _slots.release()
    try:
        yield
    finally:
        _slots.acquire()
        _local.held = True
