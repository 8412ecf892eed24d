"""The turn unit of work: locking, commit, rollback and after-commit callbacks."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from sqlalchemy import func, select

from helpdesk.conversations import (
    ConversationNotFound,
    Database,
    Inbound,
    OutgoingMessage,
    TurnConflict,
    TurnLocks,
    get_conversation,
    list_messages,
    open_turn,
    store_inbound,
)
from helpdesk.conversations.models import DialogueEvent, Outbox


def _new_conversation(db: Database, text: str = "hi") -> int:
    return store_inbound(db, Inbound("widget", "v-1", text)).conversation_id


def test_a_turn_commits_messages_state_status_events_and_outbox(db: Database) -> None:
    cid = _new_conversation(db)
    store_inbound(db, Inbound("widget", "v-1", "anyone there?"))
    locks = TurnLocks()

    with open_turn(db, locks, cid) as turn:
        pending = turn.pending_customer_messages()
        assert [(m.seq, m.text) for m in pending] == [(1, "hi"), (2, "anyone there?")]
        reply = turn.append_message(OutgoingMessage("bot", "Hello"), in_reply_to=pending[-1].id)
        turn.mark_processed(pending[-1].seq)
        turn.save_state({"slots": {"name": "Ann"}})
        turn.set_status("queued")
        turn.add_events([{"event": "slot", "name": "name", "value": "Ann"}], reply.id)
        turn.enqueue_outbox("widget", "v-1", {"text": "Hello"}, reply.id)
        assert reply.seq == 3

    assert pending[0].text == "hi"  # what the turn read stays usable after it
    conversation = get_conversation(db, "widget", "v-1")
    assert conversation is not None
    assert (conversation.last_seq, conversation.processed_seq) == (3, 2)
    assert (conversation.status, conversation.state) == ("queued", {"slots": {"name": "Ann"}})
    assert [m.role for m in list_messages(db, cid)] == ["customer", "customer", "bot"]
    with db.session() as session:
        event = session.scalars(select(DialogueEvent)).one()
        assert (event.type, event.data, event.message_id) == (
            "slot",
            {"name": "name", "value": "Ann"},
            reply.id,
        )
        outbox = session.scalars(select(Outbox)).one()
        assert (outbox.status, outbox.destination, outbox.message_id) == (
            "pending",
            "v-1",
            reply.id,
        )
    assert len(locks) == 0
    with open_turn(db, locks, cid) as turn:
        assert turn.pending_customer_messages() == []


def test_an_exception_rolls_back_and_discards_after_commit_callbacks(db: Database) -> None:
    cid = _new_conversation(db)
    calls: list[str] = []
    locks = TurnLocks()

    with pytest.raises(RuntimeError, match="boom"), open_turn(db, locks, cid) as turn:
        turn.append_message(OutgoingMessage("bot", "never"))
        turn.mark_processed(1)
        turn.add_events([{"event": "bot_uttered"}])
        turn.after_commit(lambda: calls.append("emit"))
        raise RuntimeError("boom")

    assert calls == []
    assert [m.text for m in list_messages(db, cid)] == ["hi"]
    conversation = get_conversation(db, "widget", "v-1")
    assert conversation is not None and (conversation.last_seq, conversation.processed_seq) == (
        1,
        0,
    )
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(DialogueEvent)) == 0
    assert len(locks) == 0


def test_after_commit_callbacks_run_in_order_once_committed(db: Database) -> None:
    cid = _new_conversation(db)
    seen: list[object] = []

    with open_turn(db, TurnLocks(), cid) as turn:
        message = turn.append_message(OutgoingMessage("bot", "Hello"))
        turn.after_commit(lambda: seen.append([m.text for m in list_messages(db, cid)]))
        turn.after_commit(lambda: seen.append("second"))
        assert seen == []

    assert seen == [["hi", "Hello"], "second"]
    assert message.id is not None


def test_a_failing_callback_is_logged_and_the_rest_still_run(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    cid = _new_conversation(db)
    seen: list[str] = []

    def fail() -> None:
        raise ValueError("socket gone")

    with (
        caplog.at_level(logging.ERROR, logger="helpdesk.conversations.turn"),
        open_turn(db, TurnLocks(), cid) as turn,
    ):
        turn.after_commit(fail)
        turn.after_commit(lambda: seen.append("after"))

    assert seen == ["after"]
    assert [r.getMessage() for r in caplog.records] == ["conversations.turn.after_commit_failed"]


def test_invalid_values_are_rejected(db: Database) -> None:
    cid = _new_conversation(db)
    with open_turn(db, TurnLocks(), cid) as turn:
        with pytest.raises(ValueError, match="status"):
            turn.set_status("closed")
        with pytest.raises(ValueError, match="role"):
            turn.append_message(OutgoingMessage("robot", "x"))
        with pytest.raises(ValueError, match="event"):
            turn.add_events([{"name": "x"}])


def test_opening_an_unknown_conversation_raises_and_releases_the_lock(db: Database) -> None:
    locks = TurnLocks()
    with pytest.raises(ConversationNotFound), open_turn(db, locks, 999):
        pass
    assert len(locks) == 0


def _hold_turn_then_reply(
    db: Database, locks: TurnLocks, cid: int, entered: threading.Event
) -> None:
    with open_turn(db, locks, cid) as turn:
        entered.set()
        time.sleep(0.3)
        turn.append_message(OutgoingMessage("bot", "first turn"))
        turn.mark_processed(1)


def test_turns_of_one_conversation_are_serialised_in_a_process(db: Database) -> None:
    cid = _new_conversation(db)
    locks = TurnLocks()
    entered = threading.Event()
    first = threading.Thread(target=_hold_turn_then_reply, args=(db, locks, cid, entered))
    first.start()
    assert entered.wait(10)

    started = time.monotonic()
    with open_turn(db, locks, cid) as turn:
        waited = time.monotonic() - started
        assert turn.conversation.processed_seq == 1
        assert turn.pending_customer_messages() == []
        assert turn.append_message(OutgoingMessage("bot", "second turn")).seq == 3
    first.join(10)

    assert waited >= 0.2
    assert [m.text for m in list_messages(db, cid)] == ["hi", "first turn", "second turn"]


def test_turns_of_one_conversation_in_two_processes_are_optimistic(db: Database) -> None:
    """No cross-process lock is held while a turn computes: the turn that read before the other
    committed conflicts when it writes (and the pipeline runs it again)."""
    cid = _new_conversation(db)
    entered = threading.Event()
    first = threading.Thread(target=_hold_turn_then_reply, args=(db, TurnLocks(), cid, entered))
    first.start()
    assert entered.wait(10)

    with pytest.raises(TurnConflict), open_turn(db, TurnLocks(), cid) as late:
        # read while the other turn runs: no waiting for it
        assert [m.seq for m in late.pending_customer_messages()] == [1]
        first.join(10)
        late.append_message(OutgoingMessage("bot", "twice"))
    assert [m.text for m in list_messages(db, cid)] == ["hi", "first turn"]


def test_sqlite_turn_from_another_process_conflicts(sqlite_db: Database) -> None:
    cid = _new_conversation(sqlite_db)
    with open_turn(sqlite_db, TurnLocks(), cid) as late:
        with open_turn(sqlite_db, TurnLocks(), cid) as early:
            early.mark_processed(1)
        with pytest.raises(TurnConflict):
            late.append_message(OutgoingMessage("bot", "twice"))


def test_an_open_turn_does_not_block_storing_new_messages(db: Database) -> None:
    cid = _new_conversation(db)
    with open_turn(db, TurnLocks(), cid) as turn:
        [pending] = turn.pending_customer_messages()
        stored: list[int] = []
        writer = threading.Thread(
            target=lambda: stored.append(store_inbound(db, Inbound("widget", "v-1", "more")).seq)
        )
        writer.start()
        writer.join(5)
        assert stored == [2], "store_inbound waited for the turn"
        reply = turn.append_message(OutgoingMessage("bot", "answer"), in_reply_to=pending.id)
        turn.mark_processed(pending.seq)

    assert (reply.seq, pending.text) == (3, "hi")  # still readable after the turn
    with open_turn(db, TurnLocks(), cid) as turn:
        assert [m.text for m in turn.pending_customer_messages()] == ["more"]


def test_turns_of_different_conversations_do_not_wait_for_each_other(db: Database) -> None:
    one = store_inbound(db, Inbound("widget", "a", "x")).conversation_id
    two = store_inbound(db, Inbound("widget", "b", "y")).conversation_id
    locks = TurnLocks()
    with open_turn(db, locks, one):
        done = threading.Event()

        def other_turn() -> None:
            with open_turn(db, locks, two) as turn:
                turn.pending_customer_messages()
            done.set()

        threading.Thread(target=other_turn).start()
        assert done.wait(5)


# --- the snapshot of the message just stored (the turn's read, done by store_inbound) ---------------


def _statements(db: Database) -> list[str]:
    from sqlalchemy import event

    seen: list[str] = []
    for engine in {db.engine, db.urgent_engine}:
        event.listen(engine, "before_cursor_execute",
                     lambda _c, _cur, statement, *_: seen.append(statement.split()[0].upper()))
    return seen


def test_a_turn_starts_from_the_snapshot_of_the_message_just_stored_without_reading(db: Database) -> None:
    locks = TurnLocks()
    first = store_inbound(db, Inbound("widget", "v-1", "hi", customer_external_id="v-1"), version=locks.version)
    assert first.snapshot is not None
    assert (first.snapshot.message["id"], first.snapshot.conversation["processed_seq"]) == (first.message_id, 0)
    seen = _statements(db)
    with open_turn(db, locks, first.conversation_id, snapshot=first.snapshot) as turn:
        [pending] = turn.pending_customer_messages()
        assert (pending.id, pending.text, turn.conversation.customer_id) == (first.message_id, "hi", 1)
        assert seen == [], "no read phase"
        turn.append_message(OutgoingMessage("bot", "hello"), in_reply_to=pending.id)
        turn.mark_processed(pending.seq)
        turn.save_state({"slots": {"x": 1}})
    assert [s for s in seen if s != "BEGIN"][0] == "SELECT", "the write phase still locks and re-reads the counters"
    conversation = get_conversation(db, "widget", "v-1")
    assert conversation is not None
    assert (conversation.processed_seq, conversation.last_seq, conversation.state) == (1, 2, {"slots": {"x": 1}})

    second = store_inbound(db, Inbound("widget", "v-1", "again"), version=locks.version)
    assert second.snapshot is not None
    assert second.snapshot.conversation["state"] == {"slots": {"x": 1}}, "the snapshot has what the turn wrote"


def test_a_snapshot_is_not_used_once_a_turn_of_this_process_changed_the_conversation(db: Database) -> None:
    locks = TurnLocks()
    stored = store_inbound(db, Inbound("widget", "v-1", "hi"), version=locks.version)
    with open_turn(db, locks, stored.conversation_id) as other:  # e.g. an agent's claim, in between
        other.set_status("assigned")
    with open_turn(db, locks, stored.conversation_id, snapshot=stored.snapshot) as turn:
        assert turn.conversation.status == "assigned", "read again, not taken from the stale snapshot"
        assert [m.seq for m in turn.pending_customer_messages()] == [1]


def test_a_stale_snapshot_from_another_process_conflicts_when_the_turn_writes(db: Database) -> None:
    locks = TurnLocks()
    stored = store_inbound(db, Inbound("widget", "v-1", "hi"), version=locks.version)
    with open_turn(db, TurnLocks(), stored.conversation_id) as elsewhere:  # another process's turn
        elsewhere.mark_processed(1)
    with pytest.raises(TurnConflict), open_turn(db, locks, stored.conversation_id, snapshot=stored.snapshot) as turn:
        assert [m.seq for m in turn.pending_customer_messages()] == [1]  # the snapshot: not yet known
        turn.append_message(OutgoingMessage("bot", "twice"))
    assert [m.text for m in list_messages(db, stored.conversation_id)] == ["hi"]


def test_no_snapshot_while_an_earlier_customer_message_waits_for_its_turn(db: Database) -> None:
    locks = TurnLocks()
    store_inbound(db, Inbound("widget", "v-1", "one"), version=locks.version)
    second = store_inbound(db, Inbound("widget", "v-1", "two"), version=locks.version)
    assert second.snapshot is None
    assert store_inbound(db, Inbound("widget", "v-2", "x")).snapshot is None, "only when asked (a version)"


def test_a_duplicate_is_found_by_the_unique_index_and_stores_nothing(db: Database) -> None:
    locks = TurnLocks()
    first = store_inbound(db, Inbound("slack", "C1:1.0", "hi", external_id="Ev1"), version=locks.version)
    again = store_inbound(db, Inbound("slack", "C1:1.0", "hi (retry)", external_id="Ev1"), version=locks.version)
    assert (again.duplicate, again.message_id, again.seq, again.snapshot) == (True, first.message_id, 1, None)
    conversation = get_conversation(db, "slack", "C1:1.0")
    assert conversation is not None and conversation.last_seq == 1, "the failed attempt's seq was rolled back"
    assert store_inbound(db, Inbound("slack", "C1:1.0", "next", external_id="Ev2")).seq == 2


def test_a_handled_message_is_marked_in_the_transaction_that_stores_it(db: Database) -> None:
    stored = store_inbound(db, Inbound("email", "t", "Out of office", handled=True), version=TurnLocks().version)
    assert stored.snapshot is None
    with open_turn(db, TurnLocks(), stored.conversation_id) as turn:
        assert turn.pending_customer_messages() == []


def test_the_pipeline_shares_the_locks_it_is_given_even_while_empty() -> None:
    from helpdesk.routing import TurnPipeline

    locks = TurnLocks()
    assert len(locks) == 0 and locks, "true while nothing is locked"
    assert TurnPipeline(None, None, locks=locks).locks is locks  # type: ignore[arg-type]
