"""Which conversation a Slack message belongs to.

A conversation's ``thread_key`` is ``"<channel id>:<root ts>"``: a Slack thread is one
conversation. A customer's *top-level* message joins their open conversation in the same channel
when their last message there is younger than the grouping window (default 10 minutes) — people
write three short messages in a row rather than one long one — otherwise it starts a new one,
whose thread the assistant answers in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select

from helpdesk.conversations.db import Database
from helpdesk.conversations.models import Conversation, Customer, Message, utcnow

CHANNEL = "slack"


def thread_key(channel: str, root_ts: str) -> str:
    """The conversation key of a Slack thread."""
    return f"{channel}:{root_ts}"


def split_thread_key(key: str) -> tuple[str, str]:
    """``"C1:123.45"`` → ``("C1", "123.45")``.

    Raises:
        ValueError: not a Slack thread key.
    """
    channel, sep, root_ts = key.partition(":")
    if not sep or not channel or not root_ts:
        raise ValueError(f"not a Slack thread key: {key!r}")
    return channel, root_ts


class Grouping:
    """Finds the conversation a customer's top-level message joins.

    Args:
        db: the database.
        window: seconds after a customer's last message during which a new top-level message
            of theirs joins the same conversation (0: every top-level message starts one).
        clock: the current aware UTC time.
    """

    def __init__(self, db: Database, window: float = 600.0, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._window = timedelta(seconds=window)
        self._clock = clock
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def groups(self) -> bool:
        """Whether top-level messages are grouped at all (a window above 0)."""
        return bool(self._window)

    def lock(self, channel: str, user: str) -> threading.Lock:
        """Held while a customer's top-level message is grouped and stored, so that two quick
        messages of theirs don't both start a conversation (in this process)."""
        with self._guard:
            if len(self._locks) > 10_000:
                self._locks.clear()
            return self._locks.setdefault((channel, user), threading.Lock())

    def key_for(self, channel: str, user: str, ts: str, thread_ts: str | None) -> str:
        """The thread key a message by ``user`` (a customer) goes to."""
        if thread_ts:
            return thread_key(channel, thread_ts)
        if self._window:
            # a redelivery (Slack's retry reaching another process, or this one after a restart)
            # goes where the message was stored, or the duplicate check of that conversation
            # would not see it: the customer's open conversation may have changed since
            joined = self.stored_in(channel, user, ts) or self.open_thread(channel, user)
            if joined is not None:
                return joined
        return thread_key(channel, ts)

    def stored_in(self, channel: str, user: str, ts: str) -> str | None:
        """The key of the customer's conversation that already holds the message ``ts``, if any
        (through the customer's conversations: indexed, unlike a search by message id alone)."""
        query = (select(Conversation.thread_key)
                 .join(Customer, Customer.id == Conversation.customer_id)
                 .join(Message, Message.conversation_id == Conversation.id)
                 .where(Customer.channel == CHANNEL, Customer.external_id == user, Conversation.channel == CHANNEL,
                        Message.external_id == f"slack:{channel}:{ts}")
                 .limit(1))
        with self._db.read_session() as session:
            return session.scalars(query).first()

    def open_thread(self, channel: str, user: str) -> str | None:
        """The key of the customer's open conversation in ``channel`` whose latest customer
        message is inside the window, or None."""
        since = self._clock() - self._window
        last_message = (select(func.max(Message.created_at))
                        .where(Message.conversation_id == Conversation.id, Message.role == "customer")
                        .scalar_subquery())
        query = (
            select(Conversation.thread_key, last_message.label("last_at"))
            .join(Customer, Customer.id == Conversation.customer_id)
            .where(Customer.channel == CHANNEL, Customer.external_id == user,
                   Conversation.channel == CHANNEL, Conversation.thread_key.startswith(f"{channel}:"),
                   Conversation.status != "resolved")
            .order_by(Conversation.updated_at.desc())
            .limit(1)
        )
        with self._db.read_session() as session:
            row = session.execute(query).first()
        if row is None or row.last_at is None or row.last_at < since:
            return None
        return str(row.thread_key)


def thread_of_message(db: Database, message_key: str) -> str | None:
    """The thread key of the Slack conversation holding the message stored as ``message_key``."""
    query = (select(Conversation.thread_key).join(Message, Message.conversation_id == Conversation.id)
             .where(Conversation.channel == CHANNEL, Message.external_id == message_key).limit(1))
    with db.read_session() as session:
        return session.scalars(query).first()
