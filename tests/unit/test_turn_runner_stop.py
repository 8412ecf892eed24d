"""Graceful shutdown of the shared turn runner (connectors/turns.py): once it stops accepting, a
turn running goes on to the end and ``wait_idle`` waits for it; a new one is not started."""

from __future__ import annotations

import threading

from helpdesk.connectors.turns import TurnRunner


def test_a_stopping_runner_finishes_the_turn_in_flight_and_takes_no_new_one() -> None:
    runner = TurnRunner(4)
    started, release, ran = threading.Event(), threading.Event(), []

    def slow() -> None:
        started.set()
        release.wait(30)
        ran.append("slow")

    try:
        runner.submit(1, slow)
        assert started.wait(30)
        runner.stop_accepting()
        runner.submit(2, lambda: ran.append("new"))  # refused: stored messages wait for recovery
        assert not runner.wait_idle(0.05)  # the slow turn still runs
        release.set()
        assert runner.wait_idle(30)
        assert ran == ["slow"]
    finally:
        release.set()
        runner.close()
    assert ran == ["slow"]
