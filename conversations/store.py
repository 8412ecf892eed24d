"""Storage services of the conversation core.

``store_inbound`` is step 2 of a turn (DESIGN.md §2): one transaction that finds or
creates the conversation, drops duplicates and appends the message with the next
sequence number. The unit of work for running a turn lives in ``conversations.turn``
and is re-exported here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from helpdesk.conversations.attachments import Attachment
from helpdesk.conversations.db import urgent_writes
from helpdesk.conversations.locks import TurnLocks
from helpdesk.conversations.models import Conversation, Customer, Message, utcnow
from helpdesk.conversations.turn import (
    ConversationNotFound,
    Turn,
    TurnConflict,
    open_turn,
)
from helpdesk.conversations.types import ConversationSnapshot, Inbound, StoredInbound

if TYPE_CHECKING:
    from helpdesk.conversations.db import Database

#: How often a transaction that lost a uniqueness race is tried again.
_ATTEMPTS = 3
#: a conversation's in-process version (``TurnLocks.version``): a snapshot is taken only with one
Version = Callable[[int], int]


def store_inbound(db: Database, inbound: Inbound, *, version: Version | None = None) -> StoredInbound:
    """Store one inbound message in one transaction; return once it is committed.

    Finds or creates the conversation by (channel, thread key) and, when ``customer_external_id`` is
    given, its customer (for a conversation that has one, only to fill in a name or email the
    message brings), safely under concurrency; a message whose external id the conversation
    already has is dropped and reported as a duplicate.
    Non-empty ``metadata`` is stored in the message payload under ``"metadata"``; the
    ``attachment_ids`` are linked to the message in the same transaction.

    This is on every message's path, so it is a handful of Core statements (no ORM unit of
    work): the conversation's ``last_seq`` is taken with one ``UPDATE … RETURNING`` (which
    also row-locks it on PostgreSQL and returns the rest of the row), then the message is inserted;
    a duplicate is found by the unique (conversation, external id) index refusing it (duplicates are
    rare: only then is it looked up, in a second attempt).

    With ``version`` (``TurnLocks.version``), the result carries a :class:`ConversationSnapshot`
    when no earlier customer message is pending: the conversation as this transaction saw it, its
    version read while the row was locked, and the message — the turn's read, already done.
    """
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            # a webhook waits for this commit to acknowledge: a connection of its own pool (never
            # one of the turns queued for the write lock), and on SQLite it goes before queued turns
            with urgent_writes(), db.urgent_engine.begin() as connection:
                return _store(connection, inbound, check_duplicate=attempt > 1, version=version)
        except IntegrityError:
            if attempt == _ATTEMPTS:
                raise
    raise AssertionError("unreachable")


_conversations = cast(Table, Conversation.__table__)
_messages = cast(Table, Message.__table__)
_customers = cast(Table, Customer.__table__)
_thread = ((_conversations.c.channel == bindparam("b_channel"))
           & (_conversations.c.thread_key == bindparam("b_thread_key")))
# built once: constructing a statement costs more than executing it
_FIND_DUPLICATE = (
    select(_messages.c.conversation_id, _messages.c.id, _messages.c.seq)
    .join(_conversations, _conversations.c.id == _messages.c.conversation_id)
    .where(_thread, _messages.c.external_id == bindparam("external_id"))
)
_NEXT_SEQ = (
    update(_conversations).where(_thread)
    .values(last_seq=_conversations.c.last_seq + 1, updated_at=bindparam("now"))
    .returning(*_conversations.c)
)
#: is a customer message before this one still waiting for its turn?
_EARLIER_PENDING = (
    select(_messages.c.id)
    .where(_messages.c.conversation_id == bindparam("b_conversation_id"), _messages.c.role == "customer",
           _messages.c.seq > bindparam("b_processed_seq"), _messages.c.seq < bindparam("b_seq"))
    .limit(1)
)
_MARK_HANDLED = (update(_conversations)
                 .where(_conversations.c.id == bindparam("b_id"), _conversations.c.processed_seq == bindparam("b_after"))
                 .values(processed_seq=bindparam("b_seq")))
_NEW_CONVERSATION = insert(_conversations).returning(_conversations.c.id)
_LINK_CUSTOMER = (update(_conversations).where(_conversations.c.id == bindparam("b_id"))
                  .values(customer_id=bindparam("b_customer_id")))
_NEW_MESSAGE = insert(_messages).returning(_messages.c.id)
_attachments = cast(Table, Attachment.__table__)
#: the message that carries the files (the first one wins)
_LINK_ATTACHMENTS = (
    update(_attachments)
    .where(_attachments.c.id.in_(bindparam("b_ids", expanding=True)), _attachments.c.message_id.is_(None))
    .values(conversation_id=bindparam("b_conversation_id"), message_id=bindparam("b_message_id"))
)


def _store(connection: Connection, inbound: Inbound, *, check_duplicate: bool,
           version: Version | None) -> StoredInbound:
    thread = {"b_channel": inbound.channel, "b_thread_key": inbound.thread_key}
    if check_duplicate and inbound.external_id is not None:
        existing = connection.execute(_FIND_DUPLICATE, {**thread, "external_id": inbound.external_id}).first()
        if existing is not None:
            return StoredInbound(existing.conversation_id, existing.id, existing.seq, duplicate=True)
    now = utcnow()
    row = connection.execute(_NEXT_SEQ, {**thread, "now": now}).first()
    # the customer is looked up (found or created) unless the conversation has one and there is no
    # name or email to complete: most messages of a conversation skip it
    wanted = row is None or row.customer_id is None or inbound.customer_name or inbound.customer_email
    customer_id = _customer_id(connection, inbound) if inbound.customer_external_id and wanted else None
    if row is None:
        # the first message: a concurrent first message makes this INSERT fail on the unique
        # (channel, thread_key), and store_inbound tries again (then the UPDATE finds the row)
        conversation: dict[str, Any] = {
            "channel": inbound.channel, "thread_key": inbound.thread_key, "state": {}, "status": "bot", "last_seq": 1,
            "processed_seq": 0, "customer_id": customer_id, "created_at": now, "updated_at": now}
        conversation["id"] = connection.execute(_NEW_CONVERSATION, conversation).scalar_one()
    else:
        conversation = dict(row._mapping)
        if row.customer_id is None and customer_id is not None:
            connection.execute(_LINK_CUSTOMER, {"b_id": row.id, "b_customer_id": customer_id})
            conversation["customer_id"] = customer_id
    conversation_id, seq = int(conversation["id"]), int(conversation["last_seq"])
    message: dict[str, Any] = {
        "conversation_id": conversation_id, "seq": seq, "role": "customer", "text": inbound.text,
        "payload": _payload(inbound), "author": inbound.author, "external_id": inbound.external_id,
        "in_reply_to": None, "created_at": now}
    message["id"] = connection.execute(_NEW_MESSAGE, message).scalar_one()
    if inbound.attachment_ids:
        connection.execute(_LINK_ATTACHMENTS, {"b_ids": list(inbound.attachment_ids),
                                               "b_conversation_id": conversation_id, "b_message_id": message["id"]})
    if inbound.handled:
        connection.execute(_MARK_HANDLED, {"b_id": conversation_id, "b_after": seq - 1, "b_seq": seq})
    snapshot = None
    if version is not None and not inbound.handled and _alone(connection, conversation):
        snapshot = ConversationSnapshot(conversation, message, version(conversation_id))
    return StoredInbound(conversation_id, message["id"], seq, duplicate=False, snapshot=snapshot)


def _alone(connection: Connection, conversation: dict[str, Any]) -> bool:
    """No customer message before the last one waits for its turn."""
    processed, seq = conversation["processed_seq"], conversation["last_seq"]
    if processed >= seq - 1:
        return True
    earlier = {"b_conversation_id": conversation["id"], "b_processed_seq": processed, "b_seq": seq}
    return connection.execute(_EARLIER_PENDING, earlier).first() is None


def _payload(inbound: Inbound) -> dict[str, Any] | None:
    if not inbound.metadata:
        return copy.deepcopy(inbound.payload)
    payload = copy.deepcopy(inbound.payload) if inbound.payload else {}
    payload.setdefault("metadata", copy.deepcopy(inbound.metadata))
    return payload


_FIND_CUSTOMER = (select(_customers.c.id, _customers.c.name, _customers.c.email)
                  .where((_customers.c.channel == bindparam("b_channel"))
                         & (_customers.c.external_id == bindparam("b_external_id"))))


def _customer_id(connection: Connection, inbound: Inbound) -> int:
    # the statement is built once (every message of an identified or widget customer runs it)
    params = {"b_channel": inbound.channel, "b_external_id": inbound.customer_external_id}
    customer = connection.execute(_FIND_CUSTOMER, params).first()
    if customer is None:
        try:
            # a savepoint, so that losing the race to a concurrent first message keeps the
            # transaction usable (PostgreSQL aborts it on any error otherwise)
            with connection.begin_nested():
                connection.execute(insert(_customers).values(
                    channel=inbound.channel, external_id=inbound.customer_external_id,
                    name=inbound.customer_name, email=inbound.customer_email, created_at=utcnow()))
        except IntegrityError:
            pass
        customer = connection.execute(_FIND_CUSTOMER, params).one()
    fill = {}
    if customer.name is None and inbound.customer_name:
        fill["name"] = inbound.customer_name
    if customer.email is None and inbound.customer_email:
        fill["email"] = inbound.customer_email
    if fill:
        connection.execute(update(_customers).where(_customers.c.id == customer.id).values(**fill))
    return int(customer.id)


def get_conversation(db: Database, channel: str, thread_key: str) -> Conversation | None:
    """The conversation of a channel thread, or ``None``."""
    with db.read_session() as session:
        return session.scalars(
            select(Conversation).where(
                Conversation.channel == channel, Conversation.thread_key == thread_key
            )
        ).one_or_none()


def list_messages(db: Database, conversation_id: int, after_seq: int = 0) -> list[Message]:
    """The messages of a conversation with seq > ``after_seq``, by seq."""
    with db.read_session() as session:
        return list(
            session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id, Message.seq > after_seq)
                .order_by(Message.seq)
            )
        )


def replies_to(db: Database, message_id: int) -> list[Message]:
    """The bot messages answering one customer message, by seq."""
    with db.read_session() as session:
        return list(
            session.scalars(
                select(Message)
                .where(Message.in_reply_to == message_id, Message.role == "bot")
                .order_by(Message.seq)
            )
        )


__all__ = [
    "ConversationNotFound",
    "Turn",
    "TurnConflict",
    "TurnLocks",
    "get_conversation",
    "list_messages",
    "open_turn",
    "replies_to",
    "store_inbound",
]
