"""The Rasa socket.io channel on namespace ``/`` (path ``/socket.io``), with session persistence.

Existing Rasa chat front-ends (rasa-webchat, Rasa's own examples) work unchanged:

* ``session_request {session_id?}`` → ``session_confirm <session_id>`` (a new id when none is
  given); the socket joins the session's room, so reconnecting with the same id continues the
  conversation and every socket of a session gets its replies.
* ``user_uttered {message, session_id, customData?}`` → one ``bot_uttered {text}`` per paragraph
  of each reply (Rasa splits on blank lines), ``quick_replies: [{content_type: "text", title,
  payload}]`` on the last one; images as ``{attachment: {type: "image", payload: {src}}}`` and
  custom payloads as they are. ``customData`` (an object or a JSON string) is the message's metadata,
  as in Rasa (its ``metadata_key`` defaults to ``customData``; rasa-webchat sends its ``customData``
  prop there); a ``metadata`` field is accepted too and wins on a clash.

As in Rasa, the session id is the conversation's key (channel ``socketio``): keep it secret.
Bad input gets an ``error {code, message}`` event (Rasa front-ends ignore it) and stores nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING, Any, TypeGuard

import socketio

from helpdesk.connectors.base import BaseConnector, ConnectorContext
from helpdesk.connectors.limits import client_address
from helpdesk.conversations.models import Message
from helpdesk.conversations.text import json_problem, text_problem
from helpdesk.conversations.types import Inbound

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)
CHANNEL = "socketio"
NAMESPACE = "/"
MAX_SESSION_ID_CHARS = 255
#: where Rasa's SocketIOInput reads a message's metadata (its ``metadata_key`` default)
METADATA_KEY = "customData"
#: most JSON characters of a message's metadata (as the widget's)
MAX_METADATA_CHARS = 2000


def room_for(session_id: str) -> str:
    return "rasa:" + session_id


def bot_uttered(message: Message) -> list[dict[str, Any]]:
    """The ``bot_uttered`` events of one bot (or agent) message, as Rasa's SocketIOOutput sends them."""
    payload = message.payload or {}
    buttons = [b for b in payload.get("buttons") or [] if isinstance(b, dict) and "title" in b]
    out: list[dict[str, Any]] = []
    if message.text or buttons:
        parts = (message.text or "").strip().split("\n\n")
        out = [{"text": part} for part in parts]
        if buttons:
            out[-1]["quick_replies"] = [{"content_type": "text", "title": b["title"],
                                         "payload": b.get("payload", b["title"])} for b in buttons]
    if payload.get("image"):
        out.append({"attachment": {"type": "image", "payload": {"src": payload["image"]}}})
    if isinstance(payload.get("custom"), dict):
        out.append(payload["custom"])
    return out


class RasaSocketIONamespace(socketio.Namespace):
    """Rasa's ``SocketIOInput`` protocol over the helpdesk's turn pipeline."""

    def __init__(self, ctx: ConnectorContext, namespace: str = NAMESPACE) -> None:
        super().__init__(namespace)
        self.ctx = ctx
        self.limits = ctx.limits

    def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        self.save_session(sid, {"environ": {"REMOTE_ADDR": environ.get("REMOTE_ADDR")}})
        return True

    def on_session_request(self, sid: str, data: Any = None) -> None:
        session_id = data.get("session_id") if isinstance(data, dict) else None
        if not _valid_session_id(session_id):
            environ = self.get_session(sid).get("environ") or {}
            if self.limits.new_session.allow(client_address(environ)):
                log.warning("rasa_socketio.session.refused", extra={"address": client_address(environ)})
                self.emit("error", {"code": "rate_limited", "message": "too many new sessions from your address; "
                                    "try again in a minute"}, to=sid)
                return
            session_id = uuid.uuid4().hex
        self._join(sid, session_id)
        self.emit("session_confirm", session_id, to=sid)

    def _join(self, sid: str, session_id: str) -> None:
        session = self.get_session(sid)
        if session.get("session_id") != session_id:
            if session.get("session_id"):
                self.leave_room(sid, room_for(session["session_id"]))
            self.enter_room(sid, room_for(session_id))
            session["session_id"] = session_id

    def on_user_uttered(self, sid: str, data: Any = None) -> None:
        try:
            inbound = self._inbound(sid, data)
        except _Refused as exc:
            log.info("rasa_socketio.message.rejected", extra={"code": exc.code})
            self.emit("error", {"code": exc.code, "message": str(exc)}, to=sid)
            return
        self.ctx.inbox.receive(inbound)

    def _inbound(self, sid: str, data: Any) -> Inbound:
        if not isinstance(data, dict):
            raise _Refused("user_uttered needs {message, session_id}", "invalid_message")
        session_id = data.get("session_id") or self.get_session(sid).get("session_id")
        if not _valid_session_id(session_id):
            raise _Refused("a message without a valid session_id was received", "invalid_session_id")
        message = data.get("message")
        if not isinstance(message, str) or not message.strip():
            raise _Refused("'message' must be a non-empty string", "empty_message")
        if len(message) > self.ctx.settings.max_message_chars:
            raise _Refused(f"the message is longer than {self.ctx.settings.max_message_chars} characters",
                           "message_too_long")
        problem = text_problem(message) or text_problem(str(data.get("message_id", "")))
        if problem:
            raise _Refused(f"the message {problem}", "invalid_text")
        metadata = {**_metadata(data.get(METADATA_KEY)), **_metadata(data.get("metadata"))}
        if self.limits.message(session_id, self.get_session(sid).get("environ") or {}):
            raise _Refused("too many messages; wait a moment before sending more", "rate_limited")
        self._join(sid, session_id)
        message_id = data.get("message_id", metadata.get("message_id"))
        return Inbound(channel=CHANNEL, thread_key=session_id, text=message, customer_external_id=session_id,
                       external_id=str(message_id)[:255] if message_id is not None else None, metadata=metadata)

    def on_bus_event(self, event: str, data: dict[str, Any]) -> None:
        """Bus subscriber: bot, agent and system messages of a session become ``bot_uttered``."""
        if event != "message" or data.get("channel") != CHANNEL or data.get("role") == "customer":
            return
        with self.ctx.db.read_session() as session:
            message = session.get(Message, data.get("id"))
        if message is None:
            return
        for out in bot_uttered(message):
            self.emit("bot_uttered", out, room=room_for(str(data.get("thread_key"))))


class _Refused(ValueError):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _valid_session_id(value: Any) -> TypeGuard[str]:
    return (isinstance(value, str) and len(value.strip()) > 0 and len(value) <= MAX_SESSION_ID_CHARS
            and text_problem(value) is None)


def _metadata(value: Any) -> dict[str, Any]:
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise _Refused("'customData' (or 'metadata') must be a JSON object", "invalid_metadata") from exc
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise _Refused("'customData' (or 'metadata') must be a JSON object", "invalid_metadata")
    if len(json.dumps(value, default=str)) > MAX_METADATA_CHARS:
        raise _Refused(f"'customData' (or 'metadata') must be at most {MAX_METADATA_CHARS} characters of JSON",
                       "invalid_metadata")
    problem = json_problem(value)
    if problem:
        raise _Refused(f"'customData' (or 'metadata') {problem}", "invalid_metadata")
    return value


class RasaSocketIOConnector(BaseConnector):
    """Rasa's socket.io channel: a live channel (replies are emitted from the bus after commit)."""

    name = CHANNEL

    def mount(self, app: Flask, ctx: ConnectorContext) -> None:
        """Register the namespace and its bus subscription."""
        namespace = RasaSocketIONamespace(ctx)
        ctx.sio.register_namespace(namespace)
        ctx.bus.subscribe(namespace.on_bus_event)
