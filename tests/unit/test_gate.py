"""llm.gate: a few threads compute at once; a thread waiting on a remote call gives its place up."""

from __future__ import annotations

import threading

from helpdesk.llm import gate


def test_waiting_gives_the_place_to_a_thread_that_computes() -> None:
    slots = gate._SLOTS  # noqa: SLF001
    go_wait, leave, entered = threading.Event(), threading.Event(), threading.Event()
    inside = threading.Barrier(slots + 1)
    order: list[str] = []

    def holder(first: bool) -> None:
        with gate.working():
            inside.wait(30)
            if first:
                go_wait.wait(30)
                with gate.waiting():  # a remote call: the place is free meanwhile
                    entered.wait(30)
                    order.append("remote call returned")
                order.append("computing again")
            leave.wait(30)

    def extra() -> None:
        with gate.working():
            order.append("extra computes")
            entered.set()

    holders = [threading.Thread(target=holder, args=(i == 0,)) for i in range(slots)]
    for thread in holders:
        thread.start()
    inside.wait(30)  # every place is taken
    late = threading.Thread(target=extra)
    late.start()
    assert not entered.wait(0.3)  # no place for it…
    go_wait.set()
    assert entered.wait(30)  # …until a holder waits on something remote
    late.join(30)
    leave.set()
    for thread in holders:
        thread.join(30)
    assert order == ["extra computes", "remote call returned", "computing again"]


def test_waiting_outside_working_and_nested_working_hold_nothing() -> None:
    with gate.waiting():  # a request thread's call: no place to give up
        pass
    with gate.working(), gate.working():  # re-entrant: one place
        with gate.waiting():
            pass
    acquired = [gate._slots.acquire(blocking=False) for _ in range(gate._SLOTS)]  # noqa: SLF001
    assert all(acquired)  # every place is free again
    for _ in acquired:
        gate._slots.release()  # noqa: SLF001
