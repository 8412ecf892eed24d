"""The connector interface: what a channel implements and what it is given.

A connector is one sub-package (or module) of ``connectors/`` that turns a channel's wire format
into :class:`~conversations.types.Inbound` messages and back. It is registered with one entry in
``connectors/registry.py`` and mounted by ``Helpdesk.init_app``::

    class Connector(Protocol):
        name: str
        def mount(self, app: Flask, ctx: ConnectorContext) -> None: ...   # routes, namespaces, bus
        def channel(self) -> Channel | None: ...  # store-and-forward: delivers outbox rows; live: None
        def start(self) -> None: ...              # background work (polling a mailbox, Socket Mode)
        def stop(self) -> None: ...               # end it; called once, in reverse mounting order

Inbound: call ``ctx.inbox.receive(Inbound(...))`` — it returns once the message is committed
(acknowledge after that), dedupes by ``Inbound.external_id``, counts it and schedules its turn.

Outbound: a **live** connector subscribes to ``ctx.bus`` (``message``/``status``/``typing`` events,
typed in ``conversations.outbound``) and emits to its sockets. A **store-and-forward** connector
returns a :class:`~conversations.types.Channel` from :meth:`Connector.channel`; every bot, agent
and system message of its conversations then gets an outbox row in the transaction that writes
it, and ``Channel.deliver(OutboundMessage)`` is called (with retries, in order, at least once —
dedupe on ``message.message_id`` where the channel allows) by the outbox worker: a background
thread of the web process (HELPDESK_OUTBOX_IN_WEB, the default) or ``helpdesk worker``.
Optional hooks, found by name: ``forward(turn, messages) -> bool`` carries other channels'
messages too (email follow-ups of widget conversations), ``notice(turn, event, data) -> bool``
keeps a notice of a handoff elsewhere (the Slack agents' card) — both add outbox rows to the
turn's transaction (``conversations.outbound.Delivery``).

A connector imports only ``conversations``, this module, the shared ``connectors/*.py`` modules
(turn runner, origin policy, limits, errors) and its own package — never another connector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import socketio
    from flask import Flask, Request

    from helpdesk.connectors.limits import ChannelLimits
    from helpdesk.connectors.origins import OriginPolicy
    from helpdesk.connectors.turns import TurnRunner
    from helpdesk.conversations.attachments import Attachment
    from helpdesk.conversations.bus import EventBus
    from helpdesk.conversations.db import Database
    from helpdesk.conversations.inbound import Inbox
    from helpdesk.conversations.types import Channel
    from helpdesk.settings import Settings

#: True when the request comes from an agent allowed to see the attachment's conversation
AgentCheck = Callable[["Request", "Attachment"], bool]


class Metrics(Protocol):
    """The counters a connector may touch (``observability.Metrics``)."""

    messages_in: Any


@dataclass(frozen=True)
class ConnectorContext:
    """What a connector is given — and all it may use of the helpdesk."""

    settings: Settings
    db: Database
    inbox: Inbox
    """The one way in: ``inbox.receive(Inbound) -> Receipt``."""
    bus: EventBus
    """After-commit events: ``message``, ``status``, ``typing`` (``conversations.outbound``)."""
    sio: socketio.Server
    """The app's socket.io server (register namespaces on it)."""
    secret_key: str
    """Signs tokens: the helpdesk's one secret (``services.secret_key``), never a host app's SECRET_KEY."""
    limits: ChannelLimits
    """The rate limits every channel applies (per visitor/sender, per client address, new sessions;
    in Redis when HELPDESK_REDIS_URL is set)."""
    origins: OriginPolicy
    """HELPDESK_ALLOWED_ORIGINS."""
    turns: TurnRunner
    """The shared turn runner (``inbox.receive`` schedules on it; ``turns.wait_idle()`` in tests)."""
    agent_may_see: AgentCheck
    """The agent side's check for attachment downloads."""
    desk: Callable[[str], Any] | None = None
    """The agent inbox for chat connectors (Slack): ``desk(channel)`` → a ``handoff.desk.ChatDesk``
    (agents found by email or name, claim, reply or note, resolve, hand over); None without handoff."""


@runtime_checkable
class Connector(Protocol):
    """A channel plug-in (see the module docstring). :class:`BaseConnector` gives no-op defaults."""

    name: str

    def mount(self, app: Flask, ctx: ConnectorContext) -> None: ...

    def channel(self) -> Channel | None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


class BaseConnector:
    """Defaults: no routes, a live channel (no outbox), no background work."""

    name = "base"

    def mount(self, app: Flask, ctx: ConnectorContext) -> None:
        return None

    def channel(self) -> Channel | None:
        return None

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None
