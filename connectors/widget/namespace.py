"""The ``/widget`` socket.io namespace: the website widget's protocol (DESIGN §4).

Connect with ``auth={"token"?, "last_seq"?, "identity"?}`` → ``session`` event. ``message``
events are checked, rate limited, stored (the ack carries ``{id, seq}``) and their turn runs on
the :class:`~connectors.turns.TurnRunner`. Everything visitors see after that — their
own messages, bot replies, agent and system messages, status changes, agent typing — comes from
the event bus (published after commit) as emits to the visitor's room, so every tab and every
reconnect gets it; with HELPDESK_REDIS_URL the emits cross processes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import socketio
from socketio.exceptions import ConnectionRefusedError as Refused

from helpdesk.connectors.base import ConnectorContext
from helpdesk.connectors.limits import ChannelLimits, Limiter, client_address
from helpdesk.connectors.widget import protocol
from helpdesk.connectors.widget.live import BotTyping, RecentMessages
from helpdesk.connectors.widget.protocol import ProtocolError, room_for
from helpdesk.connectors.widget.tokens import (
    Identity,
    IdentityRejected,
    Visitor,
    VisitorTokens,
    resolve_visitor,
    verify_identity,
)
from helpdesk.conversations.attachments import AttachmentRejected, owned_attachments
from helpdesk.conversations.inbound import Receipt
from helpdesk.conversations.models import Conversation, Message
from helpdesk.conversations.store import get_conversation, list_messages
from helpdesk.conversations.types import Inbound

log = logging.getLogger(__name__)
CHANNEL = "widget"
NAMESPACE = "/widget"
#: most messages replayed to a reconnecting client
MAX_REPLAY = 1000


@dataclass(frozen=True)
class WidgetParts:
    """What the namespace needs besides the connector context."""

    tokens: VisitorTokens
    limits: ChannelLimits
    typing_limiter: Limiter


class WidgetNamespace(socketio.Namespace):
    """One instance per app; handlers run inline per connection (``async_handlers=False``),
    so one visitor's messages are stored in the order they were sent."""

    def __init__(self, ctx: ConnectorContext, parts: WidgetParts, namespace: str = NAMESPACE) -> None:
        super().__init__(namespace)
        self.ctx = ctx
        self.parts = parts
        self.recent = RecentMessages()
        self.typing = BotTyping(self._emit_bot_typing, ctx.settings.widget_typing_delay)

    # connecting -------------------------------------------------------------------------

    def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        auth = auth if isinstance(auth, dict) else {}
        identity = self._identity(sid, auth.get("identity"))
        from_token = self.parts.tokens.verify(auth.get("token"))
        visitor = resolve_visitor(from_token, identity)
        continued = from_token is not None and from_token.key == visitor.key
        if not continued and identity is None and self.parts.limits.new_session.allow(client_address(environ)):
            log.warning("widget.session.refused", extra={"address": client_address(environ)})
            raise Refused(protocol.error("rate_limited", "too many new conversations from your address; "
                                         "try again in a minute"))
        self.save_session(sid, {"visitor": visitor, "environ": {"REMOTE_ADDR": environ.get("REMOTE_ADDR")}})
        self.enter_room(sid, room_for(visitor.key))
        last_seq = auth.get("last_seq") if continued else 0
        self.emit("session", self._session(visitor, last_seq), to=sid)
        log.info("widget.session.started", extra={"continued": continued, "identified": identity is not None})

    def _identity(self, sid: str, claim: Any) -> Identity | None:
        if claim is None:
            return None
        try:
            return verify_identity(claim, self.ctx.settings.widget_site_secret)
        except IdentityRejected as exc:
            log.warning("widget.identity.rejected", extra={"code": exc.code})
            self.emit("error", protocol.error(exc.code, str(exc)), to=sid)
            return None

    def _session(self, visitor: Visitor, last_seq: Any) -> dict[str, Any]:
        conversation = get_conversation(self.ctx.db, CHANNEL, visitor.key)
        out: dict[str, Any] = {"token": self.parts.tokens.issue(visitor), "visitor_id": visitor.key,
                               "conversation_id": None, "status": "bot", "messages": [], "has_earlier": False}
        if conversation is not None:
            after = self._replay_from(conversation, last_seq)
            rows = list_messages(self.ctx.db, conversation.id, after_seq=after)
            out.update(conversation_id=conversation.id, status=conversation.status,
                       messages=[protocol.message_from_row(m) for m in rows],
                       has_earlier=after > 0 and not _positive_int(last_seq))
        return out

    def _replay_from(self, conversation: Conversation, last_seq: Any) -> int:
        if _positive_int(last_seq):
            return max(min(int(last_seq), conversation.last_seq), conversation.last_seq - MAX_REPLAY)
        return max(0, conversation.last_seq - self.ctx.settings.widget_history_limit)

    # messages ---------------------------------------------------------------------------

    def on_message(self, sid: str, data: Any = None) -> dict[str, Any]:
        session = self.get_session(sid)
        visitor: Visitor = session["visitor"]
        try:
            message = protocol.parse_message(data, self.ctx.settings.max_message_chars)
            wait = self.parts.limits.message(visitor.key, session["environ"], per=self.parts.limits.visitor)
            if wait:
                raise _RateLimited(wait)
            attachments = self._attachments(visitor, message.attachments)
        except ProtocolError as exc:
            return self._refuse(sid, exc.code, str(exc), protocol.client_id_of(data))
        except _RateLimited as exc:
            return self._refuse(sid, "rate_limited", "too many messages; wait a moment before sending more",
                                protocol.client_id_of(data), retry_after=math.ceil(exc.wait))
        stored = self._store(sid, visitor, message, attachments)
        return {"id": stored.message_id, "seq": stored.seq, "conversation_id": stored.conversation_id,
                "duplicate": stored.duplicate}

    def _attachments(self, visitor: Visitor, ids: list[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        try:
            infos = owned_attachments(self.ctx.db, ids, channel=CHANNEL, thread_key=visitor.key)
        except AttachmentRejected as exc:
            raise ProtocolError(str(exc), code=exc.code) from exc
        return [info.as_json() for info in infos]

    def _store(self, sid: str, visitor: Visitor, message: protocol.ClientMessage,
               attachments: list[dict[str, Any]]) -> Receipt:
        inbound = Inbound(channel=CHANNEL, thread_key=visitor.key, text=message.text,
                          payload=message.stored_payload(attachments), external_id=message.client_id,
                          author=visitor.name, customer_external_id=visitor.user_id or visitor.key,
                          customer_name=visitor.name, customer_email=visitor.email, metadata=message.metadata,
                          attachment_ids=tuple(a["id"] for a in attachments))

        def remember(receipt: Receipt) -> None:  # before the turn publishes the message
            self.recent.put(receipt.message_id, {
                "text": message.text if message.payload is None else (message.title or message.payload),
                "attachments": attachments, "client_id": message.client_id, "sender": sid})

        return self.ctx.inbox.receive(inbound, on_stored=remember,
                                           around_turn=lambda: self.typing.during(room_for(visitor.key)))

    def _refuse(self, sid: str, code: str, message: str, client_id: str | None, **extra: Any) -> dict[str, Any]:
        log.info("widget.message.rejected", extra={"code": code})
        error = protocol.error(code, message, client_id=client_id, **extra)
        self.emit("error", error, to=sid)
        return {"error": error}

    def _emit_bot_typing(self, room: str, typing: bool) -> None:
        self.emit("typing", {"typing": typing, "role": "bot"}, room=room)

    def on_typing(self, sid: str, data: Any = None) -> None:
        visitor: Visitor = self.get_session(sid)["visitor"]
        if self.parts.typing_limiter.allow(visitor.key):
            return
        conversation = get_conversation(self.ctx.db, CHANNEL, visitor.key)
        if conversation is not None:
            self.ctx.bus.publish("typing", {"conversation_id": conversation.id, "channel": CHANNEL,
                                                 "thread_key": visitor.key, "role": "customer",
                                                 "typing": protocol.parse_typing(data)})

    # the bus → visitors -------------------------------------------------------------------

    def on_bus_event(self, event: str, data: dict[str, Any]) -> None:
        """Bus subscriber: forward a widget conversation's messages, status and typing to its room."""
        if data.get("channel") != CHANNEL or not isinstance(data.get("thread_key"), str):
            return
        room = room_for(data["thread_key"])
        if event == "message":
            message, sender = self._wire_message(data)
            # the sending tab has its message already (the ack gave it its id and seq)
            self.emit("message", message, room=room, skip_sid=sender)
        elif event == "status":
            self.emit("status", protocol.status_from_event(data), room=room)
        elif event == "typing" and data.get("role") != "customer":
            self.emit("typing", protocol.typing_from_event(data), room=room)

    def _wire_message(self, data: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The ``message`` event, and the socket that sent it (if it was sent here)."""
        # bot replies are complete on the bus; a customer message stored here is completed from
        # what was stored; anything else (agents, other processes) is read back
        extras = self.recent.pop(data.get("id"))
        if extras is not None:
            sender = extras.pop("sender", None)
            return {**protocol.message_from_event(data), **extras}, sender
        if data.get("role") != "bot" and isinstance(data.get("id"), int):
            with self.ctx.db.read_session() as session:
                row = session.get(Message, data["id"])
            if row is not None:
                return protocol.message_from_row(row), None
        return protocol.message_from_event(data), None


class _RateLimited(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
