"""The channel-agnostic conversation core: storage, turn unit of work, outbox.

See DESIGN.md §2 ("One turn, end to end").
"""

from __future__ import annotations

from helpdesk.conversations.db import Database
from helpdesk.conversations.inbound import Inbox, Receipt
from helpdesk.conversations.locks import TurnLocks
from helpdesk.conversations.models import (
    Conversation,
    Customer,
    DialogueEvent,
    Message,
    Outbox,
)
from helpdesk.conversations.outbound import Author, Button, Delivery, FileRef, OutboundMessage
from helpdesk.conversations.outbox import OutboxWorker, RetryPolicy
from helpdesk.conversations.store import (
    get_conversation,
    list_messages,
    replies_to,
    store_inbound,
)
from helpdesk.conversations.turn import ConversationNotFound, Turn, TurnConflict, open_turn
from helpdesk.conversations.types import Channel, Inbound, OutgoingMessage, StoredInbound

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
