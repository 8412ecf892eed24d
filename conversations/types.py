"""Channel-agnostic message types at the centre of the helpdesk.

Connectors translate their wire formats (socket.io events, Slack JSON, MIME) into
:class:`Inbound` and deliver outgoing payloads through a :class:`Channel`; nothing
else in the system sees channel-specific data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from helpdesk.conversations.outbound import OutboundMessage


@dataclass(frozen=True)
class Inbound:
    """One message received from a customer on some channel."""

    channel: str
    """Channel name, e.g. ``"widget"``, ``"slack"``, ``"email"``, ``"rest"``."""
    thread_key: str
    """Identifies the conversation within its channel (visitor token, Slack thread, email
    thread)."""
    text: str | None
    """The message text; ``None`` for a payload-only message (button click, attachment)."""
    payload: dict[str, Any] | None = None
    """Structured content: button payloads, custom data, attachments."""
    external_id: str | None = None
    """Idempotency key given by the channel (Slack ``event_id``, email ``Message-ID``,
    widget ``client_id``)."""
    author: str | None = None
    """Display name of the sender as the channel knows it."""
    customer_external_id: str | None = None
    """Stable id of the customer within the channel; a customer row is found or created from it."""
    customer_name: str | None = None
    """Customer name, stored when the customer has none yet."""
    customer_email: str | None = None
    """Customer email, stored when the customer has none yet."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Channel metadata (Rasa ``metadata``); stored in the message payload under ``"metadata"``."""
    attachment_ids: tuple[str, ...] = ()
    """Files already saved for this thread (``conversations.attachments.save_attachment``) that the
    message carries; they are linked to it in the transaction that stores it."""
    handled: bool = False
    """The message needs no turn (an email auto-reply): the transaction that stores it also marks it
    handled (``processed_seq``) when the message just before it is handled."""


@dataclass(frozen=True)
class StoredInbound:
    """The outcome of storing an :class:`Inbound`; returned only after commit."""

    conversation_id: int
    message_id: int
    seq: int
    duplicate: bool
    """True when a message with the same external id already existed; nothing was stored."""
    snapshot: ConversationSnapshot | None = None
    """What the storing transaction saw of the conversation, for the turn to start from instead of
    reading it again (None for a duplicate, or when an earlier customer message was still pending)."""


@dataclass(frozen=True)
class ConversationSnapshot:
    """The conversation row and its one pending customer message, as the transaction that stored the
    message saw them (``conversations.store``), with the in-process version of the conversation then
    (``TurnLocks.version``): a turn that finds the version unchanged starts from this instead of a read."""

    conversation: Mapping[str, Any]
    message: Mapping[str, Any]
    version: int


@dataclass(frozen=True)
class OutgoingMessage:
    """A message the system adds to a conversation (bot, agent or system)."""

    role: str
    """``"bot"``, ``"agent"`` or ``"system"`` (``"customer"`` is accepted for imports)."""
    text: str | None
    payload: dict[str, Any] | None = None
    """Buttons, custom data, attachments."""
    author: str | None = None


class Channel(Protocol):
    """The delivery port a store-and-forward connector implements for the outbox worker."""

    name: str
    """The channel name its conversations have (``Conversation.channel``, ``Inbound.channel``)."""

    def deliver(self, message: OutboundMessage) -> None:
        """Send one message; return once the channel accepted it, raise to have the outbox retry.

        Called at least once per message, in ``seq`` order per conversation, from a worker
        thread or process (never inside a transaction). Time out well within the outbox lease.

        An exception with a ``retry_after`` attribute (seconds) sets the next attempt
        time, as a channel's ``Retry-After`` header asks.
        """
        ...
