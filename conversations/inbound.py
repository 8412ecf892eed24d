"""One way in: every connector hands its customer messages to :meth:`Inbox.receive`.

``receive`` stores the message in one transaction (conversation found or created, duplicate
external ids dropped, attachments linked), counts it once, and schedules the conversation's turn.
It returns only after the commit, so a connector may acknowledge (answer its webhook 2xx, ack the
socket event) as soon as it returns — nothing acknowledged is ever lost.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from helpdesk.conversations.logcontext import conversation_context
from helpdesk.conversations.store import Version, replies_to, store_inbound
from helpdesk.conversations.types import ConversationSnapshot, Inbound, StoredInbound

if TYPE_CHECKING:
    from helpdesk.conversations.db import Database
    from helpdesk.conversations.models import Message

#: runs the turns of every stored, unanswered customer message of a conversation, from the snapshot of
#: the one just stored when it is still current (``TurnPipeline.run_pending``)
RunTurn = Callable[[int, "ConversationSnapshot | None"], "dict[int, list[Message]]"]
#: runs ``job`` for a conversation soon, one job per conversation at a time (``connectors.turns.TurnRunner.submit``)
Schedule = Callable[[int, Callable[[], object]], None]
#: counts a newly stored message of a channel (metrics)
Count = Callable[[str], None]


@dataclass(frozen=True)
class Receipt:
    """What :meth:`Inbox.receive` returns once the message is committed."""

    conversation_id: int
    message_id: int
    seq: int
    duplicate: bool
    """The channel's external id was seen before: nothing was stored and no turn was scheduled."""
    replies: list[Message] = field(default_factory=list)
    """With ``answer=True``: the bot's replies to this message (empty otherwise)."""

    @classmethod
    def of(cls, stored: StoredInbound, replies: list[Message] | None = None) -> Receipt:
        return cls(stored.conversation_id, stored.message_id, stored.seq, stored.duplicate, replies or [])


class Inbox:
    """The single entry point for inbound customer messages (see the module docstring)."""

    def __init__(self, db: Database, run_turn: RunTurn, schedule: Schedule, count: Count,
                 version: Version | None = None) -> None:
        self._db = db
        self._version = version
        self._run_turn = run_turn
        self._schedule = schedule
        self._count = count

    def receive(self, inbound: Inbound, *, answer: bool = False,
                on_stored: Callable[[Receipt], object] | None = None,
                around_turn: Callable[[], AbstractContextManager[object]] | None = None) -> Receipt:
        """Store ``inbound`` (committed when this returns), count it, and run or schedule its turn.

        Args:
            answer: run the turn in this thread and return the replies in :attr:`Receipt.replies`
                (request/response channels: Rasa REST, the console); otherwise the turn is
                scheduled on the shared turn runner and the replies leave through the bus or the outbox.
            on_stored: called after the commit, before the turn is scheduled (a connector's
                bookkeeping that the turn's events rely on); not called for duplicates.
            around_turn: a context manager factory wrapped around the turn (a typing indicator).
        """
        with conversation_context(channel=inbound.channel):
            stored = store_inbound(self._db, inbound, version=self._version)
        receipt = Receipt.of(stored)
        if not stored.duplicate:
            self._count(inbound.channel)
            if on_stored is not None:
                on_stored(receipt)
        cid, snapshot = stored.conversation_id, stored.snapshot
        wrap = around_turn or nullcontext

        def turn() -> dict[int, list[Message]]:
            with conversation_context(cid, inbound.channel), wrap():
                return self._run_turn(cid, snapshot)

        if not answer:
            # a duplicate schedules too: its first delivery may have been stored by a process
            # that died before running the turn; running a turn with nothing pending is a no-op
            self._schedule(cid, turn)
            return receipt
        answered = turn()
        replies = answered.get(stored.message_id)
        if replies is None:
            replies = replies_to(self._db, stored.message_id)
        return Receipt.of(stored, replies)
