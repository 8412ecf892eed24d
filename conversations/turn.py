"""The unit of work for one turn of a conversation.

``with open_turn(db, locks, conversation_id) as turn:`` serialises the turns of one
conversation and commits everything a turn writes (messages, state, status, events,
outbox rows) together. It is the one after-commit mechanism: callbacks registered with
:meth:`Turn.after_commit` (bus events, worker wake-ups) run only after that commit
succeeded, those of :meth:`Turn.after_release` once the turn lock is released too.

A turn has two phases, so that slow work between reading and writing (the LLM call,
custom actions) holds no database lock, transaction or connection:

* **read phase** (from opening): the in-process lock of the conversation is held (the only
  lock held while the turn computes). The conversation and its pending customer messages are
  read in a short read transaction (on SQLite a plain deferred one, which takes no write lock)
  that :meth:`Turn.pending_customer_messages` ends: from then on the turn holds no transaction
  and no pooled connection. Opened with the :class:`ConversationSnapshot` of the message just
  stored (``store_inbound`` read the row anyway), a turn whose conversation's in-process version
  (``TurnLocks.version``) has not changed since starts from that instead, without reading.
* **write phase** (from the first write method, or the first use of :attr:`Turn.session`):
  the conversation row is locked ``FOR UPDATE`` on PostgreSQL; on SQLite ``BEGIN IMMEDIATE``
  takes the write lock. The conversation is reloaded (``last_seq`` may have grown with new
  customer messages meanwhile). Keep this phase short: compute first, then write.

Across processes (several web processes on PostgreSQL, or a second process on SQLite) turns of
one conversation are optimistic: should another process have run a turn of the same
conversation meanwhile (``processed_seq`` moved), or changed its status (an agent claimed,
released or resolved it, a timer auto-resolved it), the write phase raises :class:`TurnConflict`
instead of answering twice or overwriting that change, and the pipeline runs the turn again from
fresh state.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from helpdesk.conversations.db import READ_ONLY_OPTION
from helpdesk.conversations.locks import TurnLocks
from helpdesk.conversations.models import (
    CONVERSATION_STATUSES,
    MESSAGE_ROLES,
    Conversation,
    DialogueEvent,
    Message,
    Outbox,
    utcnow,
)
from helpdesk.conversations.types import ConversationSnapshot, OutgoingMessage

if TYPE_CHECKING:
    from helpdesk.conversations.db import Database
    from helpdesk.conversations.outbound import Delivery

logger = logging.getLogger(__name__)


_EVENTS_INSERT = insert(cast(Table, DialogueEvent.__table__))
_messages = cast(Table, Message.__table__)
#: a turn's replies in one statement, their ids returned in the order given
_MESSAGES_INSERT = insert(_messages).returning(_messages.c.id, sort_by_parameter_order=True)


class ConversationNotFound(LookupError):
    """No conversation has the given id."""


class TurnConflict(RuntimeError):
    """Another turn of the conversation ran meanwhile, or its status changed (in another process)."""


_LOAD = select(Conversation).where(Conversation.id == bindparam("conversation_id")).execution_options(
    populate_existing=True)
_LOAD_FOR_UPDATE = _LOAD.with_for_update()
_PENDING = (
    select(Message)
    .where(Message.conversation_id == bindparam("conversation_id"), Message.role == "customer",
           Message.seq > bindparam("processed_seq"))
    .order_by(Message.seq)
)


_conversations = Conversation.__table__
#: what may have changed since the read phase (state is the turn's own: it is replaced, not merged)
_RELOCK = (
    select(_conversations.c.status, _conversations.c.customer_id, _conversations.c.last_seq,
           _conversations.c.processed_seq, _conversations.c.updated_at)
    .where(_conversations.c.id == bindparam("conversation_id"))
    .with_for_update()
)


def load_conversation(session: Session, conversation_id: int, *, for_update: bool) -> Conversation:
    """Load (or reload) a conversation row, optionally locked ``FOR UPDATE`` (not on SQLite)."""
    query = _LOAD_FOR_UPDATE if for_update else _LOAD
    conversation = session.scalars(query, {"conversation_id": conversation_id}).one_or_none()
    if conversation is None:
        raise ConversationNotFound(conversation_id)
    return conversation


def _next_message(conversation: Conversation, message: OutgoingMessage, in_reply_to: int | None,
                  now: datetime, external_id: str | None = None) -> Message:
    """The conversation's next message row (not added to any session); moves ``last_seq`` on."""
    if message.role not in MESSAGE_ROLES:
        raise ValueError(f"unknown message role {message.role!r}")
    conversation.last_seq += 1
    conversation.updated_at = now
    return Message(conversation_id=conversation.id, seq=conversation.last_seq, role=message.role, text=message.text,
                   payload=copy.deepcopy(message.payload), author=message.author, external_id=external_id,
                   in_reply_to=in_reply_to, created_at=now)


def add_message(
    session: Session,
    conversation: Conversation,
    message: OutgoingMessage,
    *,
    external_id: str | None = None,
    in_reply_to: int | None = None,
    flush: bool = True,
) -> Message:
    """Append a message with the next seq; the conversation row must be locked.

    With ``flush=False`` the row gets its id at the next flush, so that several messages of
    one turn are inserted in one batch."""
    row = _next_message(conversation, message, in_reply_to, utcnow(), external_id)
    session.add(row)
    if flush:
        session.flush()
    return row


class Turn:
    """One turn's unit of work; use it through :func:`open_turn`.

    Leaving the ``with`` block normally commits and then runs the after-commit
    callbacks in order; an exception rolls back and discards them.
    """

    def __init__(
        self, db: Database, locks: TurnLocks, conversation_id: int, *, write: bool = False,
        delivery: Delivery | None = None, snapshot: ConversationSnapshot | None = None,
    ) -> None:
        self.conversation_id = conversation_id
        self._snapshot = snapshot
        self._from_snapshot = False  # the turn started from the snapshot (no read phase)
        self._delivery = delivery
        self._appended: list[Message] = []
        self._taken: list[Message] = []
        self._eager_write = write
        self._db = db
        self._locks = locks
        self._stack: ExitStack | None = None
        self._session: Session | None = None
        self._writing = False
        self._processed_seq_read = 0
        self._status_read = ""
        self._callbacks: list[Callable[[], object]] = []
        self._released: list[Callable[[], object]] = []
        self.conversation: Conversation
        """The conversation row; change it through the write methods."""

    def __enter__(self) -> Turn:
        with ExitStack() as stack:
            stack.enter_context(self._locks.hold(self.conversation_id))
            session = stack.enter_context(self._db.session())
            snapshot = self._snapshot
            if self._eager_write:
                # fast understanding: take the write lock now instead of reading first
                self.conversation = load_conversation(session, self.conversation_id, for_update=True)
                self._writing = True
            elif snapshot is not None and self._locks.version(self.conversation_id) == snapshot.version:
                # nothing of this process wrote the conversation since the store read it
                self.conversation = _detached(Conversation, snapshot.conversation)
                self._taken = [_detached(Message, snapshot.message)]
                self._from_snapshot = True
            else:
                self._begin_read_phase(session)
                self.conversation = load_conversation(
                    session, self.conversation_id, for_update=False
                )
            self._processed_seq_read = self.conversation.processed_seq
            self._status_read = self.conversation.status
            self._session = session
            self._stack = stack.pop_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        answered = [m for m in self._taken if m.seq <= self.conversation.processed_seq] if exc_type is None else []
        if exc_type is None and self._delivery is not None and (self._appended or answered):
            try:
                # outbox rows join the transaction: the new messages' and the customer messages' of this turn
                self._delivery.before_commit(self, answered + self._appended)
            except BaseException as error:
                self.__exit__(type(error), error, error.__traceback__)
                raise
        stack, session = self._stack, self._open_session()
        self._stack, self._session = None, None
        with stack or ExitStack():
            if exc_type is not None:
                session.rollback()
                self._callbacks.clear()
                self._released.clear()
                return
            session.commit()
            session.close()
            if self._writing:
                self._locks.changed(self.conversation_id)  # a snapshot read before this is stale now
            self._run(self._callbacks)
        self._run(self._released)  # the turn lock is free now

    @property
    def session(self) -> Session:
        """The turn's session in its write phase, for other packages' repositories
        (handoff) to join the turn's transaction."""
        return self._writable()

    def _open_session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the turn is not open")
        return self._session

    def _begin_read_phase(self, session: Session) -> None:
        if self._db.dialect_name == "sqlite":
            session.connection(execution_options={READ_ONLY_OPTION: True})

    def _end_read_phase(self) -> None:
        """End the read transaction: the slow part of the turn holds no snapshot, lock or
        pooled connection (commit, unlike rollback, expires nothing the caller holds)."""
        if not self._writing:
            self._open_session().commit()

    def _writable(self) -> Session:
        """Enter the write phase once: take the database write lock, reload the row."""
        session = self._open_session()
        if self._writing:
            return session
        # end the read transaction, if still open; the next statement begins the write one
        # (on SQLite with BEGIN IMMEDIATE)
        if self._from_snapshot:
            session.add(self.conversation)  # no read transaction; the row joins the session now
        else:
            session.commit()
        self._reload_counters(session)
        if self.conversation.processed_seq != self._processed_seq_read:
            raise TurnConflict(f"conversation {self.conversation_id} had a turn meanwhile")
        if self.conversation.status != self._status_read:
            raise TurnConflict(f"conversation {self.conversation_id} became {self.conversation.status!r} meanwhile")
        self._writing = True
        return session

    def _reload_counters(self, session: Session) -> None:
        """Lock the row (PostgreSQL) and refresh the columns others may have changed since the
        read phase (a Core query: no second decoding of the state document)."""
        row = session.execute(_RELOCK, {"conversation_id": self.conversation_id}).one_or_none()
        if row is None:
            raise ConversationNotFound(self.conversation_id)
        for key, value in row._mapping.items():
            set_committed_value(self.conversation, key, value)

    def pending_customer_messages(self) -> list[Message]:
        """Customer messages whose turn hasn't run yet (seq > processed_seq), by seq.

        In the read phase this ends the read transaction: compute the turn, then write."""
        if self._from_snapshot and not self._writing:
            return list(self._taken)
        params = {"conversation_id": self.conversation.id, "processed_seq": self.conversation.processed_seq}
        pending = list(self._open_session().scalars(_PENDING, params))
        self._taken = pending
        self._end_read_phase()
        return pending

    def append_message(
        self, message: OutgoingMessage, in_reply_to: int | None = None, *, flush: bool = True
    ) -> Message:
        """Add a message with the next seq; ``in_reply_to`` is the answered customer message id.

        ``flush=False`` defers the INSERT (and the id) to the next flush or the commit."""
        session = self._writable()
        row = add_message(
            session, self.conversation, message, in_reply_to=in_reply_to, flush=flush
        )
        self._appended.append(row)
        return row

    def append_messages(self, messages: Iterable[tuple[OutgoingMessage, int | None]]) -> list[Message]:
        """Add several messages (each with the id of the customer message it answers, or None) with
        the next seqs, inserted at once by one Core statement (no unit of work): the returned rows
        have their ids, and are not attached to the turn's session (read them, don't change them)."""
        session = self._writable()
        conversation = self.conversation
        now = utcnow()
        rows = [_next_message(conversation, message, in_reply_to, now) for message, in_reply_to in messages]
        if not rows:
            return rows
        params = [{"conversation_id": r.conversation_id, "seq": r.seq, "role": r.role, "text": r.text,
                   "payload": r.payload, "author": r.author, "external_id": None, "in_reply_to": r.in_reply_to,
                   "created_at": now} for r in rows]
        ids = session.connection().execute(_MESSAGES_INSERT, params).scalars().all()
        for row, message_id in zip(rows, ids, strict=True):
            row.id = message_id
        self._appended.extend(rows)
        return rows

    def external_ids(self, message_ids: Iterable[int]) -> dict[int, str]:
        """The channels' external ids of some messages of this conversation (those that have one)."""
        ids = list(message_ids)
        if not ids:
            return {}
        query = select(Message.id, Message.external_id).where(
            Message.id.in_(ids), Message.external_id.is_not(None))
        return {row.id: row.external_id for row in self._open_session().execute(query)}

    def latest_customer_external_id(self) -> str | None:
        """The external id of the conversation's latest customer message that has one."""
        query = (select(Message.external_id)
                 .where(Message.conversation_id == self.conversation_id, Message.role == "customer",
                        Message.external_id.is_not(None))
                 .order_by(Message.seq.desc()).limit(1))
        return self._open_session().scalars(query).first()

    def mark_processed(self, seq: int) -> None:
        """Record that the turn for customer messages up to ``seq`` has run."""
        self._writable()
        self.conversation.processed_seq = max(self.conversation.processed_seq, seq)

    def save_state(self, state: Mapping[str, Any]) -> None:
        """Replace the dialogue state document."""
        self._writable()
        # a new document each turn (the engine never reuses it), so no copy is needed
        self.conversation.state = dict(state)

    def set_status(self, status: str) -> None:
        """Set the status: bot, queued, assigned or resolved."""
        if status not in CONVERSATION_STATUSES:
            raise ValueError(f"unknown conversation status {status!r}")
        self._writable()
        self.conversation.status = status

    def add_events(
        self, events: Iterable[Mapping[str, Any]], message_id: int | None = None
    ) -> None:
        """Append dialogue events; each has its type under ``"event"``, the rest is data."""
        session = self._writable()
        rows = []
        now = utcnow()  # the events of one call happen together
        for event in events:
            data = dict(event)
            event_type = data.pop("event", None)
            if not isinstance(event_type, str):
                raise ValueError(f"dialogue event without an 'event' type: {event!r}")
            rows.append({"conversation_id": self.conversation_id, "message_id": message_id, "type": event_type,
                         "data": data, "created_at": now})
        if rows:
            # one Core executemany on the turn's connection (no ORM bulk machinery, no
            # autoflush): a turn logs ~20 events
            session.connection().execute(_EVENTS_INSERT, rows)

    def enqueue_outbox(
        self,
        channel: str,
        destination: str,
        payload: Mapping[str, Any],
        message_id: int | None = None,
        *,
        not_before: datetime | None = None,
    ) -> Outbox:
        """Queue one external delivery, committed with the turn."""
        session = self._writable()
        row = Outbox(
            conversation_id=self.conversation.id,
            message_id=message_id,
            channel=channel,
            destination=destination,
            payload=copy.deepcopy(dict(payload)),
            next_attempt_at=not_before or utcnow(),
        )
        session.add(row)
        session.flush()
        return row

    def after_commit(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` after a successful commit, in the order registered (bus events,
        worker wake-ups). The turn lock is still held: keep it quick."""
        self._callbacks.append(callback)

    def after_release(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` after a successful commit once the turn lock is released, after every
        :meth:`after_commit` callback (follow-up work that may open this conversation's turn again)."""
        self._released.append(callback)

    def _run(self, callbacks: list[Callable[[], object]]) -> None:
        due = list(callbacks)
        callbacks.clear()
        for callback in due:
            try:
                callback()
            except Exception:
                logger.exception(
                    "conversations.turn.after_commit_failed",
                    extra={"conversation_id": self.conversation_id},
                )


def _detached(model: type[Any], columns: Mapping[str, Any]) -> Any:
    """A row as if loaded and detached: every column set and committed, no session (it joins the
    turn's session in the write phase)."""
    row = model(**columns)
    make_transient_to_detached(row)
    return row


def open_turn(
    db: Database, locks: TurnLocks, conversation_id: int, *, write: bool = False,
    delivery: Delivery | None = None, snapshot: ConversationSnapshot | None = None,
) -> Turn:
    """Open the unit of work of one turn: ``with open_turn(db, locks, cid) as turn:``.

    ``delivery`` decides, just before the commit, how the turn's new bot/agent/system messages
    leave (``conversations.outbound``: outbox rows for store-and-forward channels).

    ``write=True`` skips the read phase and takes the write lock at once: right when the work
    between reading and writing is short (offline understanding, agent actions). ``snapshot`` (of
    the message just stored) skips it too when still current, without taking any lock early.

    Raises:
        ConversationNotFound: on entering, when no conversation has that id.
    """
    return Turn(db, locks, conversation_id, write=write, delivery=delivery, snapshot=snapshot)
