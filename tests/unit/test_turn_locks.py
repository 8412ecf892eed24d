"""TurnLocks' in-process versions of conversations (what a turn's snapshot is checked against)."""

from __future__ import annotations

from helpdesk.conversations.locks import TurnLocks


def test_a_change_always_gives_a_version_not_seen_before_even_once_forgotten() -> None:
    locks = TurnLocks(kept=2)
    before = locks.version(1)
    locks.changed(1)
    assert locks.version(1) != before
    read = locks.version(1)
    locks.changed(2)
    locks.changed(3)  # 1 is forgotten: it reads as the highest version forgotten, still unchanged
    assert locks.version(1) == read, "nothing changed 1 since: a snapshot read then is still current"
    locks.changed(1)  # changed while forgotten, then forgotten again
    assert locks.version(1) != read
    read_again = locks.version(1)
    locks.changed(4)
    locks.changed(5)
    assert locks.version(1) not in (read, before)
    assert locks.version(1) == read_again, "the floor is 1's own last version: not changed since"


def test_forgetting_another_conversation_makes_snapshots_of_unknown_ones_stale() -> None:
    locks = TurnLocks(kept=1)
    unknown = locks.version(9)
    locks.changed(1)
    assert locks.version(9) == unknown
    locks.changed(2)  # forgets 1: the floor moves and 9 reads differently (its snapshot is read again: safe)
    assert locks.version(9) != unknown
