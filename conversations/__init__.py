"""The channel-agnostic conversation core: storage, turn unit of work, outbox.

See DESIGN.md §2 ("One turn, end to end").
"""

from __future__ import annotations

from conversations.db import Database
from conversations.inbound import Inbox, Receipt
from conversations.locks import TurnLocks
from conversations.models import (
    Conversation,
    Customer,
    DialogueEvent,
    Message,
    Outbox,
)
from conversations.outbound import Author, Button, Delivery, FileRef, OutboundMessage
from conversations.outbox import OutboxWorker, RetryPolicy
from conversations.store import (
    get_conversation,
    list_messages,
    replies_to,
    store_inbound,
)
from conversations.turn import ConversationNotFound, Turn, TurnConflict, open_turn
from conversations.types import Channel, Inbound, OutgoingMessage, StoredInbound

__all__ = [
    "Author",
    "Button",
    "Channel",
    "Conversation",
    "ConversationNotFound",
    "Customer",
    "Database",
    "Delivery",
    "FileRef",
    "Inbox",
    "DialogueEvent",
    "Inbound",
    "Message",
    "OutboundMessage",
    "Outbox",
    "OutboxWorker",
    "OutgoingMessage",
    "Receipt",
    "RetryPolicy",
    "StoredInbound",
    "Turn",
    "TurnConflict",
    "TurnLocks",
    "get_conversation",
    "list_messages",
    "open_turn",
    "replies_to",
    "store_inbound",
]
