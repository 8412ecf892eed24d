"""observability.Readiness: a check that never answers fails at the deadline, and checks still
hanging from earlier probes are bounded (no thread pile-up); a raising check names its error."""

from __future__ import annotations

import threading
import time

from helpdesk.observability import Readiness


def test_a_hanging_check_fails_at_its_deadline_and_hanging_threads_are_bounded() -> None:
    release = threading.Event()
    readiness = Readiness({"redis": lambda: release.wait(60) and None}, timeout=0.05, most_waiting=1)
    try:
        ready, checks = readiness.run()
        assert not ready
        assert checks["redis"] == {"status": "failed", "error": "no answer within 0.05 s"}
        # the hanging check still holds the one slot: the next probe fails at once instead of
        # starting another thread
        ready, checks = readiness.run()
        assert checks["redis"] == {"status": "failed", "error": "earlier checks have not answered yet"}
    finally:
        release.set()
    deadline = time.monotonic() + 30
    while not readiness.run()[0]:  # once the hung check returned, probes answer again
        assert time.monotonic() < deadline, readiness.run()


def test_a_failing_check_names_its_error_and_a_stopping_process_is_not_ready() -> None:
    def broken() -> None:
        raise ConnectionError("connection refused\nmore detail")

    readiness = Readiness({"schema": lambda: {"revision": "0006"}, "redis": broken}, timeout=5)
    ready, checks = readiness.run()
    assert not ready
    assert checks == {"schema": {"status": "ok", "revision": "0006"},
                      "redis": {"status": "failed", "error": "connection refused"}}
    readiness = Readiness({"schema": lambda: None}, timeout=5)
    assert readiness.run()[0]
    readiness.stopping = True
    ready, checks = readiness.run()
    assert not ready and checks["process"]["status"] == "failed"
