"""Which conversation the code running now is about, for the log records it writes.

Set around the work done for one conversation (storing an inbound message, running its turn,
delivering an outbox row); the log handler the composition root installs adds the fields to every
record (``observability.configure_logging``). Context variables are per thread (and per task), so
two turns running at once never see each other's ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_conversation_id: ContextVar[int | None] = ContextVar("conversation_id", default=None)
_channel: ContextVar[str | None] = ContextVar("channel", default=None)


@contextmanager
def conversation_context(conversation_id: int | None = None, channel: str | None = None) -> Iterator[None]:
    """Log records written inside carry ``conversation_id`` and ``channel`` (those given)."""
    conversation_token = _conversation_id.set(conversation_id) if conversation_id is not None else None
    channel_token = _channel.set(channel) if channel is not None else None
    try:
        yield
    finally:
        if channel_token is not None:
            _channel.reset(channel_token)
        if conversation_token is not None:
            _conversation_id.reset(conversation_token)


def current() -> dict[str, object]:
    """The fields set here now (none outside any conversation)."""
    fields: dict[str, object] = {}
    if (conversation_id := _conversation_id.get()) is not None:
        fields["conversation_id"] = conversation_id
    if (channel := _channel.get()) is not None:
        fields["channel"] = channel
    return fields
