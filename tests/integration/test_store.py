"""store_inbound and the read services, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC
from typing import TypeVar

from sqlalchemy import func, select

from helpdesk.conversations import (
    Database,
    Inbound,
    OutgoingMessage,
    TurnLocks,
    get_conversation,
    list_messages,
    open_turn,
    replies_to,
    store_inbound,
)
from helpdesk.conversations.models import Customer, Message

T = TypeVar("T")


def _count(db: Database, model: type[object]) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _run_concurrently(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(i)`` in ``count`` threads released together; re-raise any error."""
    barrier = threading.Barrier(count)
    results: list[T | None] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as error:  # noqa: BLE001 - collected and re-raised below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]
    return [result for result in results if result is not None]


def test_store_inbound_creates_the_conversation_and_the_message(db: Database) -> None:
    stored = store_inbound(
        db, Inbound("widget", "visitor-1", "Hello", external_id="c1", author="Ann")
    )

    assert (stored.seq, stored.duplicate) == (1, False)
    conversation = get_conversation(db, "widget", "visitor-1")
    assert conversation is not None
    assert conversation.id == stored.conversation_id
    assert (conversation.status, conversation.state, conversation.last_seq) == ("bot", {}, 1)
    assert conversation.processed_seq == 0
    assert conversation.created_at.tzinfo == UTC
    [message] = list_messages(db, stored.conversation_id)
    assert (message.id, message.seq, message.role, message.text) == (
        stored.message_id,
        1,
        "customer",
        "Hello",
    )
    assert (message.external_id, message.author) == ("c1", "Ann")
    assert message.created_at.tzinfo == UTC


def test_store_inbound_appends_with_the_next_seq(db: Database) -> None:
    first = store_inbound(db, Inbound("widget", "v", "one"))
    second = store_inbound(db, Inbound("widget", "v", "two"))
    other = store_inbound(db, Inbound("widget", "w", "elsewhere"))

    assert second.conversation_id == first.conversation_id
    assert (first.seq, second.seq, other.seq) == (1, 2, 1)
    assert [m.text for m in list_messages(db, first.conversation_id, after_seq=1)] == ["two"]


def test_duplicate_external_id_is_dropped(db: Database) -> None:
    first = store_inbound(db, Inbound("slack", "C1:1.0", "hi", external_id="Ev1"))
    again = store_inbound(db, Inbound("slack", "C1:1.0", "hi (retry)", external_id="Ev1"))

    assert again.duplicate is True
    assert (again.message_id, again.seq, again.conversation_id) == (
        first.message_id,
        first.seq,
        first.conversation_id,
    )
    assert [m.text for m in list_messages(db, first.conversation_id)] == ["hi"]


def test_external_ids_are_scoped_to_their_conversation(db: Database) -> None:
    store_inbound(db, Inbound("widget", "a", "x", external_id="same"))
    other = store_inbound(db, Inbound("widget", "b", "y", external_id="same"))
    no_id = [store_inbound(db, Inbound("widget", "a", "z")) for _ in range(2)]

    assert other.duplicate is False
    assert [s.duplicate for s in no_id] == [False, False]
    assert _count(db, Message) == 4


def test_payload_and_metadata_are_stored(db: Database) -> None:
    inbound = Inbound(
        "rest", "sender-1", None, payload={"payload": "/greet"}, metadata={"locale": "de"}
    )
    stored = store_inbound(db, inbound)

    [message] = list_messages(db, stored.conversation_id)
    assert message.text is None
    assert message.payload == {"payload": "/greet", "metadata": {"locale": "de"}}


def test_customer_is_found_or_created_and_completed(db: Database) -> None:
    first = store_inbound(db, Inbound("email", "thread-1", "a", customer_external_id="ann@x.org"))
    second = store_inbound(
        db,
        Inbound(
            "email",
            "thread-2",
            "b",
            customer_external_id="ann@x.org",
            customer_name="Ann",
            customer_email="ann@x.org",
        ),
    )

    one = get_conversation(db, "email", "thread-1")
    two = get_conversation(db, "email", "thread-2")
    assert one is not None and two is not None
    assert one.customer_id is not None and one.customer_id == two.customer_id
    assert first.conversation_id != second.conversation_id
    with db.session() as session:
        customer = session.get(Customer, one.customer_id)
        assert customer is not None
        assert (customer.channel, customer.name, customer.email) == ("email", "Ann", "ann@x.org")


def test_concurrent_first_messages_share_one_conversation_without_gaps(db: Database) -> None:
    results = _run_concurrently(
        20,
        lambda i: store_inbound(db, Inbound("widget", "new-thread", f"m{i}", external_id=f"c{i}")),
    )

    assert len(results) == 20
    assert len({r.conversation_id for r in results}) == 1
    assert sorted(r.seq for r in results) == list(range(1, 21))
    messages = list_messages(db, results[0].conversation_id)
    assert [m.seq for m in messages] == list(range(1, 21))
    conversation = get_conversation(db, "widget", "new-thread")
    assert conversation is not None and conversation.last_seq == 20


def test_concurrent_duplicates_store_one_message(db: Database) -> None:
    results = _run_concurrently(
        10, lambda i: store_inbound(db, Inbound("slack", "T", "hi", external_id="Ev-retry"))
    )

    assert sorted(r.duplicate for r in results) == [False] + [True] * 9
    assert {r.message_id for r in results} == {results[0].message_id}
    assert _count(db, Message) == 1


def test_concurrent_customers_are_created_once(db: Database) -> None:
    _run_concurrently(
        10,
        lambda i: store_inbound(
            db, Inbound("email", f"thread-{i}", "x", customer_external_id="bob")
        ),
    )

    assert _count(db, Customer) == 1


def test_replies_to_returns_the_bot_answers_in_order(db: Database) -> None:
    stored = store_inbound(db, Inbound("rest", "u1", "hi"))
    with open_turn(db, TurnLocks(), stored.conversation_id) as turn:
        turn.append_message(OutgoingMessage("bot", "Hello!"), in_reply_to=stored.message_id)
        turn.append_message(OutgoingMessage("system", "note"), in_reply_to=stored.message_id)
        turn.append_message(
            OutgoingMessage("bot", "How can I help?", payload={"buttons": []}),
            in_reply_to=stored.message_id,
        )

    replies = replies_to(db, stored.message_id)
    assert [(m.seq, m.text) for m in replies] == [(2, "Hello!"), (4, "How can I help?")]
    assert replies[1].payload == {"buttons": []}


def test_get_conversation_returns_none_for_an_unknown_thread(db: Database) -> None:
    assert get_conversation(db, "widget", "nobody") is None
    assert list_messages(db, 12345) == []
    assert replies_to(db, 12345) == []
