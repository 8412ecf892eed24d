"""The outbox worker: delivery, retries with backoff, Retry-After, failure, concurrency."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from helpdesk.conversations import (
    Database,
    Inbound,
    OutboxWorker,
    RetryPolicy,
    TurnLocks,
    open_turn,
    store_inbound,
)
from helpdesk.conversations.models import Outbox, utcnow
from helpdesk.conversations.outbound import Author, OutboundMessage


class FakeClock:
    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


class FlakyChannel:
    """A Channel that fails its first ``failures`` deliveries, then records them."""

    def __init__(
        self, name: str = "slack", failures: int = 0, error: Exception | None = None
    ) -> None:
        self.name = name
        self.failures = failures
        self.error = error or ConnectionError("connection refused")
        self.delivered: list[tuple[str, dict[str, Any]]] = []
        self.calls = 0
        self._lock = threading.Lock()

    def deliver(self, message: OutboundMessage) -> None:
        with self._lock:
            self.calls += 1
            if self.calls <= self.failures:
                raise self.error
            self.delivered.append((message.thread_key, {"text": message.text}))


def _enqueue(
    db: Database, texts: list[str], thread: str = "C1:1.0", channel: str = "slack"
) -> None:
    cid = store_inbound(db, Inbound(channel, thread, "hi")).conversation_id
    with open_turn(db, TurnLocks(), cid) as turn:
        for seq, text in enumerate(texts, start=2):
            message = OutboundMessage(conversation_id=cid, message_id=seq, seq=seq, channel=channel,
                                      thread_key=thread, author=Author("bot"), text=text)
            turn.enqueue_outbox(channel, thread, message.to_json())


def _rows(db: Database) -> list[Outbox]:
    with db.session() as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


def test_due_rows_are_delivered_and_marked_sent(db: Database) -> None:
    _enqueue(db, ["one", "two"])
    channel = FlakyChannel()
    clock = FakeClock()

    assert OutboxWorker(db, {"slack": channel}, clock=clock).run_once() == 2

    assert channel.delivered == [("C1:1.0", {"text": "one"}), ("C1:1.0", {"text": "two"})]
    rows = _rows(db)
    assert [(r.status, r.attempts, r.sent_at) for r in rows] == [("sent", 1, clock.now)] * 2
    assert OutboxWorker(db, {"slack": channel}, clock=clock).run_once() == 0


def test_failures_back_off_exponentially_then_succeed(db: Database) -> None:
    _enqueue(db, ["hello"])
    channel = FlakyChannel(failures=2)
    clock = FakeClock()
    worker = OutboxWorker(db, {"slack": channel}, clock=clock, policy=RetryPolicy(base_delay=10))

    worker.run_once()
    [row] = _rows(db)
    assert (row.status, row.attempts, row.next_attempt_at) == (
        "pending",
        1,
        clock.now + timedelta(seconds=10),
    )
    assert row.last_error == "ConnectionError: connection refused"

    clock.advance(9)
    assert worker.run_once() == 0
    clock.advance(1)
    worker.run_once()
    assert _rows(db)[0].next_attempt_at == clock.now + timedelta(seconds=20)

    clock.advance(20)
    worker.run_once()
    [row] = _rows(db)
    assert (row.status, row.attempts) == ("sent", 3)
    assert channel.delivered == [("C1:1.0", {"text": "hello"})]


def test_retry_after_is_honoured(db: Database) -> None:
    _enqueue(db, ["hello"])
    clock = FakeClock()
    channel = FlakyChannel(failures=1, error=RateLimited(42))

    OutboxWorker(db, {"slack": channel}, clock=clock).run_once()

    [row] = _rows(db)
    assert row.next_attempt_at == clock.now + timedelta(seconds=42)


def test_delays_are_capped_at_an_hour() -> None:
    policy = RetryPolicy(base_delay=5)
    assert [policy.delay(n, OSError()) for n in (1, 2, 3)] == [5, 10, 20]
    assert policy.delay(20, OSError()) == 3600
    assert policy.delay(1, RateLimited(7200)) == 3600


def test_rows_fail_after_max_attempts(db: Database) -> None:
    _enqueue(db, ["hello"])
    clock = FakeClock()
    channel = FlakyChannel(failures=100)
    worker = OutboxWorker(db, {"slack": channel}, clock=clock, policy=RetryPolicy(max_attempts=3))

    for _ in range(5):
        worker.run_once()
        clock.advance(3600)

    [row] = _rows(db)
    assert (row.status, row.attempts, channel.calls) == ("failed", 3, 3)


def test_rows_of_a_channel_the_worker_does_not_serve_wait_untouched(db: Database) -> None:
    """Another process (one with the email connector) delivers them: claiming them here would only
    burn their attempts on "no channel named 'email'"."""
    _enqueue(db, ["hello"], channel="email", thread="ann@example.org")
    _enqueue(db, ["hi"], thread="C1:1.0")
    clock = FakeClock()
    slack = FlakyChannel()

    assert OutboxWorker(db, {"slack": slack}, clock=clock).run_once() == 1

    email, sent = _rows(db)
    assert (email.channel, email.status, email.attempts, email.last_error) == ("email", "pending", 0, None)
    assert (sent.status, slack.delivered) == ("sent", [("C1:1.0", {"text": "hi"})])


def test_a_failed_row_holds_back_later_rows_of_its_conversation(db: Database) -> None:
    _enqueue(db, ["first", "second"], thread="T1")
    _enqueue(db, ["other"], thread="T2")
    clock = FakeClock()
    channel = FlakyChannel(failures=1)
    worker = OutboxWorker(db, {"slack": channel}, clock=clock, policy=RetryPolicy(base_delay=10))

    assert worker.run_once() == 3
    assert channel.delivered == [("T2", {"text": "other"})]
    assert worker.run_once() == 0

    clock.advance(10)
    worker.run_once()
    assert [p["text"] for _, p in channel.delivered] == ["other", "first", "second"]


class Killed(BaseException):
    """Stands for the process dying in the middle of a delivery."""


def test_a_worker_that_died_mid_delivery_is_retried_after_the_lease(db: Database) -> None:
    _enqueue(db, ["hello"])
    clock = FakeClock()
    policy = RetryPolicy(lease=60)
    channel = FlakyChannel(failures=1, error=Killed())  # type: ignore[arg-type]
    with pytest.raises(Killed):
        OutboxWorker(db, {"slack": channel}, clock=clock, policy=policy).run_once()

    survivor = OutboxWorker(db, {"slack": channel}, clock=clock, policy=policy)
    assert survivor.run_once() == 0
    clock.advance(60)
    assert survivor.run_once() == 1
    assert channel.delivered == [("C1:1.0", {"text": "hello"})]


def test_postgres_workers_skip_locked_rows_and_deliver_each_once(postgres_db: Database) -> None:
    for key in range(10):
        _enqueue(postgres_db, [f"{key}-{n}" for n in range(5)], thread=f"T{key}")
    channel = FlakyChannel()
    clock = FakeClock()
    barrier = threading.Barrier(4)

    def drain() -> None:
        worker = OutboxWorker(postgres_db, {"slack": channel}, clock=clock)
        barrier.wait()
        while worker.run_once(limit=3):
            pass

    workers = [threading.Thread(target=drain) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    texts = [payload["text"] for _, payload in channel.delivered]
    assert sorted(texts) == sorted(f"{t}-{n}" for t in range(10) for n in range(5))
    assert {r.status for r in _rows(postgres_db)} == {"sent"}
    for key in range(10):
        mine = [p["text"] for destination, p in channel.delivered if destination == f"T{key}"]
        assert mine == [f"{key}-{n}" for n in range(5)]


def test_postgres_worker_skips_rows_locked_by_another_worker(postgres_db: Database) -> None:
    _enqueue(postgres_db, ["locked", "behind it"], thread="T1")
    _enqueue(postgres_db, ["free"], thread="T2")
    channel = FlakyChannel()
    first_id = _rows(postgres_db)[0].id
    with postgres_db.session() as other, other.begin():
        other.execute(select(Outbox).where(Outbox.id == first_id).with_for_update())

        assert OutboxWorker(postgres_db, {"slack": channel}, clock=FakeClock()).run_once() == 1

    assert channel.delivered == [("T2", {"text": "free"})]
    assert [r.status for r in _rows(postgres_db)] == ["pending", "pending", "sent"]


def test_the_worker_thread_delivers_until_stopped(db: Database) -> None:
    channel = FlakyChannel()
    worker = OutboxWorker(db, {"slack": channel})
    worker.start(interval=0.05)
    try:
        _enqueue(db, ["hello"])
        worker.notify()
        deadline = threading.Event()
        for _ in range(100):
            if channel.delivered:
                break
            deadline.wait(0.05)
    finally:
        worker.stop()
    assert channel.delivered == [("C1:1.0", {"text": "hello"})]
