"""Storage services of the conversation core.

``store_inbound`` is step 2 of a turn (DESIGN.md §2): one transaction that finds or
creates the conversation, drops duplicates and appends the message with the next
sequence number. The unit of work for running a turn lives in ``conversations.turn``
and is re-exported here.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from conversations.locks import TurnLocks
from conversations.models import Conversation, Customer, Message
from conversations.turn import (
    ConversationNotFound,
    Turn,
    TurnConflict,
    add_message,
    open_turn,
)
from conversations.types import Inbound, OutgoingMessage, StoredInbound

if TYPE_CHECKING:
    from conversations.db import Database

#: How often a transaction that lost a uniqueness race is tried again.
_ATTEMPTS = 3


def store_inbound(db: Database, inbound: Inbound) -> StoredInbound:
    """Store one inbound message in one transaction; return once it is committed.

    Finds or creates the customer (when ``customer_external_id`` is given) and the
    conversation by (channel, thread key), safely under concurrency; a message whose
    external id the conversation already has is dropped and reported as a duplicate.
    Non-empty ``metadata`` is stored in the message payload under ``"metadata"``.
    """
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with db.session() as session, session.begin():
                return _store(session, inbound)
        except IntegrityError:
            if attempt == _ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _store(session: Session, inbound: Inbound) -> StoredInbound:
    customer_id = _customer_id(session, inbound) if inbound.customer_external_id else None
    conversation = _conversation_for_update(session, inbound.channel, inbound.thread_key)
    if conversation.customer_id is None and customer_id is not None:
        conversation.customer_id = customer_id
    if inbound.external_id is not None:
        existing = session.scalars(
            select(Message).where(
                Message.conversation_id == conversation.id,
                Message.external_id == inbound.external_id,
            )
        ).one_or_none()
        if existing is not None:
            return StoredInbound(conversation.id, existing.id, existing.seq, duplicate=True)
    outgoing = OutgoingMessage("customer", inbound.text, _payload(inbound), inbound.author)
    message = add_message(session, conversation, outgoing, external_id=inbound.external_id)
    return StoredInbound(conversation.id, message.id, message.seq, duplicate=False)


def _payload(inbound: Inbound) -> dict[str, Any] | None:
    if not inbound.metadata:
        return inbound.payload
    payload = copy.deepcopy(inbound.payload) if inbound.payload else {}
    payload.setdefault("metadata", copy.deepcopy(inbound.metadata))
    return payload


def _conversation_for_update(session: Session, channel: str, thread_key: str) -> Conversation:
    query = (
        select(Conversation)
        .where(Conversation.channel == channel, Conversation.thread_key == thread_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    conversation = session.scalars(query).one_or_none()
    if conversation is not None:
        return conversation
    try:
        # A savepoint, so that losing the race to a concurrent first message keeps
        # the transaction usable (PostgreSQL aborts it on any error otherwise).
        with session.begin_nested():
            conversation = Conversation(channel=channel, thread_key=thread_key, state={})
            session.add(conversation)
    except IntegrityError:
        return session.scalars(query).one()
    return conversation


def _customer_id(session: Session, inbound: Inbound) -> int:
    query = select(Customer).where(
        Customer.channel == inbound.channel,
        Customer.external_id == inbound.customer_external_id,
    )
    customer = session.scalars(query).one_or_none()
    if customer is None:
        try:
            with session.begin_nested():
                customer = Customer(
                    channel=inbound.channel, external_id=inbound.customer_external_id
                )
                session.add(customer)
        except IntegrityError:
            customer = session.scalars(query).one()
    if customer.name is None and inbound.customer_name:
        customer.name = inbound.customer_name
    if customer.email is None and inbound.customer_email:
        customer.email = inbound.customer_email
    return customer.id


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
