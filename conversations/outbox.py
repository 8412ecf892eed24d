"""Delivery of outbox rows to their channels, with retries and backoff.

Rows are *claimed* in a short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
so concurrent workers never take the same row): their ``next_attempt_at`` moves a
lease into the future. Delivery then happens outside any transaction, and each
outcome is recorded in its own short transaction. A worker that dies mid-delivery
leaves its rows to be retried when the lease ends (at-least-once delivery).

Rows of one conversation to one destination go out in id order: a row waits while an older row
of its conversation, channel and destination is still pending (backing off, leased, or being
claimed by another worker); a row that finally fails stops holding the others back. Rows of other
destinations (the Slack agents' card of a conversation, its customer's thread) don't wait for it.

A row is an :class:`OutboundMessage` for ``Channel.deliver``, or — when its payload has a
``"notice"`` key — a channel's own notice (the handoff card in the Slack agents' channel) for
the channel's ``deliver_notice(payload)``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, exists, select, update
from sqlalchemy.orm import Session, aliased

from helpdesk.conversations.logcontext import conversation_context
from helpdesk.conversations.models import Outbox, utcnow
from helpdesk.conversations.outbound import OutboundMessage
from helpdesk.conversations.types import Channel

if TYPE_CHECKING:
    from helpdesk.conversations.db import Database

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How the outbox retries failed deliveries."""

    max_attempts: int = 8
    """Attempts before a row is marked failed."""
    base_delay: float = 5.0
    """Seconds before the first retry; doubled for each further one."""
    max_delay: float = 3600.0
    """Upper bound of any delay, ``retry_after`` included."""
    lease: float = 300.0
    """Seconds a claimed row stays invisible to other workers while it is delivered;
    channels must time out well within it, or a row may be delivered twice."""

    def delay(self, attempts: int, error: BaseException) -> float:
        """Seconds to wait after the ``attempts``-th failure."""
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and not isinstance(retry_after, bool):
            seconds = max(float(retry_after), 0.0)
        else:
            seconds = self.base_delay * 2 ** (attempts - 1)
        return min(seconds, self.max_delay)


@dataclass(frozen=True)
class _Claimed:
    id: int
    conversation_id: int
    channel: str
    destination: str
    payload: dict[str, Any]
    attempts: int

    @property
    def queue(self) -> tuple[int, str, str]:
        """Rows with the same queue go out in id order."""
        return self.conversation_id, self.channel, self.destination


class OutboxWorker:
    """Delivers due outbox rows through the registered channels.

    Only rows of the channels it was given are claimed: rows of a channel no process serves
    wait (pending) instead of burning their attempts.

    Args:
        db: the database.
        channels: channel name (``Outbox.channel``) to the channel that delivers it.
        clock: returns the current aware UTC time.
        policy: retries and backoff.
    """

    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        *,
        clock: Callable[[], datetime] = utcnow,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._db = db
        self._channels = dict(channels)
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, limit: int = 50) -> int:
        """Try to deliver up to ``limit`` due rows; return how many were tried."""
        rows = self._claim(limit)
        held_back: set[tuple[int, str, str]] = set()
        for row in rows:
            if row.queue in held_back:
                self._release(row)  # keep the order behind the failed row
            elif not self._deliver(row):
                held_back.add(row.queue)
        return len(rows)

    def start(self, interval: float = 1.0) -> None:
        """Run :meth:`run_once` every ``interval`` seconds in a daemon thread."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the outbox worker is already running")
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(interval,), name="outbox-worker", daemon=True
        )
        self._thread.start()

    def notify(self) -> None:
        """Wake the worker thread now (call after committing outbox rows)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker thread and wait for it to finish its current batch."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self, interval: float) -> None:
        limit = 50
        while not self._stopping.is_set():
            try:
                if self.run_once(limit) == limit:
                    continue  # more may be due: don't wait
            except Exception:
                logger.exception("conversations.outbox.run_failed")
            self._wake.wait(interval)
            self._wake.clear()

    def _claim(self, limit: int) -> list[_Claimed]:
        now = self._clock()
        lease_end = now + timedelta(seconds=self._policy.lease)
        with self._db.session() as session, session.begin():
            rows = _in_order(session, list(session.scalars(self._due_query(now, limit))))
            for row in rows:
                row.next_attempt_at = lease_end
            return [
                _Claimed(r.id, r.conversation_id, r.channel, r.destination, r.payload, r.attempts)
                for r in rows
            ]

    def _due_query(self, now: datetime, limit: int) -> Select[Outbox]:
        """Due pending rows, without those behind an older row that waits or is leased."""
        older = aliased(Outbox)
        waiting = exists().where(
            older.conversation_id == Outbox.conversation_id,
            older.channel == Outbox.channel,
            older.destination == Outbox.destination,
            older.status == "pending",
            older.id < Outbox.id,
            older.next_attempt_at > now,
        )
        query = (
            select(Outbox)
            .where(Outbox.status == "pending", Outbox.next_attempt_at <= now, ~waiting,
                   Outbox.channel.in_(sorted(self._channels)))
            .order_by(Outbox.id)
            .limit(limit)
        )
        if self._db.dialect_name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Outbox)
        return query

    def _deliver(self, row: _Claimed) -> bool:
        channel = self._channels.get(row.channel)
        with conversation_context(row.conversation_id, row.channel):
            try:
                if channel is None:
                    raise LookupError(f"no channel named {row.channel!r} is registered")
                if "notice" in row.payload:
                    deliver_notice = getattr(channel, "deliver_notice", None)
                    if deliver_notice is None:
                        raise LookupError(f"the channel {row.channel!r} delivers no notices")
                    deliver_notice(dict(row.payload))
                else:
                    channel.deliver(OutboundMessage.from_json(row.payload))
            except Exception as error:  # noqa: BLE001 - any failure of a channel is recorded and retried
                self._record_failure(row, error)
                return False
            self._update(row, status="sent", sent_at=self._clock(), attempts=row.attempts + 1)
        return True

    def _record_failure(self, row: _Claimed, error: Exception) -> None:
        attempts = row.attempts + 1
        message = f"{type(error).__name__}: {error}"[:2000]
        if attempts >= self._policy.max_attempts:
            logger.error(
                "conversations.outbox.delivery_failed",
                extra={"outbox_id": row.id, "attempts": attempts, "error": message},
            )
            self._update(row, status="failed", attempts=attempts, last_error=message)
            return
        delay = self._policy.delay(attempts, error)
        logger.warning(
            "conversations.outbox.delivery_retry",
            extra={"outbox_id": row.id, "attempts": attempts, "delay": delay, "error": message},
        )
        next_attempt = self._clock() + timedelta(seconds=delay)
        self._update(row, attempts=attempts, last_error=message, next_attempt_at=next_attempt)

    def _release(self, row: _Claimed) -> None:
        self._update(row, next_attempt_at=self._clock())

    def _update(self, row: _Claimed, **values: object) -> None:
        with self._db.session() as session, session.begin():
            session.execute(update(Outbox).where(Outbox.id == row.id).values(**values))


def _in_order(session: Session, rows: list[Outbox]) -> list[Outbox]:
    """Keep only rows with no older pending row of their queue (conversation, channel,
    destination) outside ``rows``.

    ``SKIP LOCKED`` hides the rows another worker is claiming right now, so the due
    query alone could hand out a conversation's later rows before its earlier ones.
    """
    if not rows:
        return rows
    mine = {row.id for row in rows}
    older = session.execute(
        select(Outbox.conversation_id, Outbox.channel, Outbox.destination, Outbox.id).where(
            Outbox.status == "pending",
            Outbox.conversation_id.in_({row.conversation_id for row in rows}),
            Outbox.id < max(mine),
        )
    )
    first_foreign: dict[tuple[int, str, str], int] = {}
    for conversation_id, channel, destination, outbox_id in older:
        if outbox_id not in mine:
            queue = (conversation_id, channel, destination)
            first_foreign[queue] = min(first_foreign.get(queue, outbox_id), outbox_id)
    return [row for row in rows
            if row.id < first_foreign.get((row.conversation_id, row.channel, row.destination), row.id + 1)]
