"""SQLite writers of one process queue on an in-process lock, held from BEGIN IMMEDIATE to the end
of the transaction, instead of polling in SQLite's busy handler."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
from sqlalchemy import text

from helpdesk.conversations.db import Database, _writer_queue, urgent_writes

DEADLINE = 10.0


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "writers.db"


@pytest.fixture
def db(path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{path}")
    with database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    yield database
    database.dispose()


def _write_in_thread(db: Database, started: threading.Event, done: threading.Event) -> threading.Thread:
    def write() -> None:
        started.set()
        with db.engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (2)"))
        done.set()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_a_second_writer_waits_for_the_first_to_commit_then_proceeds(db: Database, path: Path) -> None:
    started, done = threading.Event(), threading.Event()
    queue = _writer_queue(str(path))
    with db.engine.begin() as connection:
        assert queue.locked(), "BEGIN IMMEDIATE took the in-process lock"
        connection.execute(text("INSERT INTO t VALUES (1)"))
        thread = _write_in_thread(db, started, done)
        assert started.wait(DEADLINE)
        assert not done.wait(0.3), "the second writer must wait while the first holds the write lock"
    assert done.wait(DEADLINE), "the second writer proceeds once the first committed"
    thread.join(DEADLINE)
    assert not queue.locked()
    with db.read_session() as session:
        assert session.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 2]


def test_a_rolled_back_writer_releases_the_queue(db: Database) -> None:
    with pytest.raises(RuntimeError), db.engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("the turn failed")
    started, done = threading.Event(), threading.Event()
    _write_in_thread(db, started, done).join(DEADLINE)
    assert done.is_set()
    with db.read_session() as session:
        assert session.execute(text("SELECT n FROM t")).scalars().all() == [2]


def test_an_abandoned_write_transaction_is_released_when_the_pool_resets_it(db: Database) -> None:
    connection = db.engine.connect()
    connection.begin()
    connection.execute(text("INSERT INTO t VALUES (1)"))
    connection.close()  # no commit, no rollback: the pool's reset rolls it back
    started, done = threading.Event(), threading.Event()
    _write_in_thread(db, started, done).join(DEADLINE)
    assert done.is_set()


def test_readers_do_not_queue_behind_a_writer(db: Database, path: Path) -> None:
    read = threading.Event()

    def reader() -> None:
        with db.read_session() as session:
            session.connection()
            assert _writer_queue(str(path)).locked(), "the writer still holds the lock"
            session.execute(text("SELECT count(*) FROM t")).scalar_one()
        read.set()

    with db.engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
        threading.Thread(target=reader, daemon=True).start()
        assert read.wait(DEADLINE), "a reader finished while the writer held the lock"


def test_two_handles_on_one_file_share_one_queue(db: Database, path: Path) -> None:
    other = Database(f"sqlite:///{path}")
    try:
        assert _writer_queue(str(path)) is _writer_queue(str(path.parent / "." / path.name))
        started, done = threading.Event(), threading.Event()
        with db.engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
            _write_in_thread(other, started, done)
            assert started.wait(DEADLINE) and not done.wait(0.3)
        assert done.wait(DEADLINE)
    finally:
        other.dispose()


def test_many_threads_write_without_database_is_locked(db: Database) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(20):
                with db.engine.begin() as connection:
                    connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
                    time.sleep(0.0005)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with db.read_session() as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 16 * 20


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def _queued_writer(db: Database, label: str, *, urgent: bool, errors: list[BaseException]) -> threading.Thread:
    def write() -> None:
        try:
            with urgent_writes() if urgent else nullcontext(), db.engine.begin() as connection:
                connection.execute(text("INSERT INTO w (label) VALUES (:label)"), {"label": label})
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_an_urgent_writer_goes_before_waiting_ordinary_writers_and_nothing_is_lost(db: Database, path: Path) -> None:
    """A webhook's inbound insert (urgent) waits only for the transaction holding the lock, not for
    the turns queued before it; every queued writer still commits, in the end."""
    with db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE w (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT)"))
    queue = _writer_queue(str(path))
    errors: list[BaseException] = []
    threads = []
    with db.engine.begin() as connection:
        connection.execute(text("INSERT INTO w (label) VALUES ('holder')"))
        for n in range(8):
            threads.append(_queued_writer(db, f"turn{n}", urgent=False, errors=errors))
        _wait_for(lambda: queue.waiting() == 8, "eight turns queue for the write lock")
        threads.append(_queued_writer(db, "inbound", urgent=True, errors=errors))
        _wait_for(lambda: queue.waiting() == 9, "the inbound insert queues behind them")
    for thread in threads:
        thread.join(DEADLINE)
    assert errors == []
    with db.read_session() as session:
        labels = session.execute(text("SELECT label FROM w ORDER BY id")).scalars().all()
    assert labels[:2] == ["holder", "inbound"], labels
    assert sorted(labels[2:]) == [f"turn{n}" for n in range(8)]
    assert not queue.locked() and queue.waiting() == 0


def test_urgent_writers_take_turns_with_each_other(db: Database, path: Path) -> None:
    with db.engine.begin() as connection:
        connection.execute(text("CREATE TABLE w (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT)"))
    queue = _writer_queue(str(path))
    errors: list[BaseException] = []
    with db.engine.begin() as connection:
        connection.execute(text("INSERT INTO w (label) VALUES ('holder')"))
        threads = [_queued_writer(db, f"inbound{n}", urgent=True, errors=errors) for n in range(5)]
        _wait_for(lambda: queue.waiting() == 5, "five inbound inserts queue")
    for thread in threads:
        thread.join(DEADLINE)
    assert errors == []
    with db.read_session() as session:
        assert session.execute(text("SELECT count(*) FROM w")).scalar_one() == 6
