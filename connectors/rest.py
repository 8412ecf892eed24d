"""The Rasa REST channel: ``POST /webhooks/rest/webhook {sender, message, metadata?}``.

Answers with the bot's replies to that message: ``[{recipient_id, text, buttons?, image?, custom?}]``.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request

from helpdesk.connectors.base import BaseConnector, ConnectorContext
from helpdesk.connectors.errors import BadRequest, error_response
from helpdesk.conversations.models import Message
from helpdesk.conversations.text import json_problem, text_problem
from helpdesk.conversations.types import Inbound

if TYPE_CHECKING:
    from flask import Flask

CHANNEL = "rest"
MAX_SENDER_CHARS = 255
#: most JSON characters of a message's metadata (as the widget's)
MAX_METADATA_CHARS = 2000


def parse_rest_body(body: Any, max_chars: int) -> Inbound:
    """Validate a REST channel body and turn it into an :class:`Inbound`."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object like {\"sender\": \"id\", \"message\": \"text\"}")
    sender = body.get("sender", "default")
    message = body.get("message")
    metadata = body.get("metadata") or {}
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        raise BadRequest(f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS} characters",
                         code="invalid_sender")
    if not isinstance(message, str):
        raise BadRequest("'message' must be a string", code="invalid_message")
    if not message.strip():
        raise BadRequest("'message' must not be empty", code="empty_message")
    if len(message) > max_chars:
        raise BadRequest(f"'message' is longer than {max_chars} characters", code="message_too_long")
    if not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be a JSON object", code="invalid_metadata")
    if len(json.dumps(metadata, default=str)) > MAX_METADATA_CHARS:
        raise BadRequest(f"'metadata' must be at most {MAX_METADATA_CHARS} characters of JSON",
                         code="metadata_too_large")
    message_id = body.get("message_id", metadata.get("message_id"))
    if message_id is not None and (not isinstance(message_id, (str, int)) or len(str(message_id)) > 255):
        raise BadRequest("'message_id' must be a string of at most 255 characters", code="invalid_message_id")
    for name, value in (("sender", sender), ("message", message), ("message_id", str(message_id or ""))):
        problem = text_problem(value)
        if problem:
            raise BadRequest(f"'{name}' {problem}", code="invalid_text")
    problem = json_problem(metadata)
    if problem:
        raise BadRequest(f"'metadata' {problem}", code="invalid_metadata")
    return Inbound(channel=CHANNEL, thread_key=sender, text=message, external_id=_opt(message_id),
                   customer_external_id=sender, metadata=metadata)


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def reply_json(sender: str, message: Message) -> dict[str, Any]:
    payload = message.payload or {}
    out: dict[str, Any] = {"recipient_id": sender, "text": message.text}
    if payload.get("buttons"):
        out["buttons"] = payload["buttons"]
    for key in ("image", "custom"):
        if payload.get(key):
            out[key] = payload[key]
    return out


class RestConnector(BaseConnector):
    """Rasa's REST channel: a live channel that answers in the HTTP response."""

    name = CHANNEL

    def mount(self, app: Flask, ctx: ConnectorContext) -> None:
        app.register_blueprint(blueprint(ctx))


def blueprint(ctx: ConnectorContext) -> Blueprint:
    bp = Blueprint("rest_channel", __name__)

    @bp.post("/webhooks/rest/webhook")
    def webhook() -> Response:
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # nested thousands deep: json refuses it this way, not with a ValueError
            raise BadRequest("the body is nested too deeply", code="invalid_json") from None
        if body is None:
            raise BadRequest("the body must be valid JSON (Content-Type: application/json)", code="invalid_json")
        inbound = parse_rest_body(body, ctx.settings.max_message_chars)
        wait = ctx.limits.message(inbound.thread_key, request.environ)
        if wait:
            response, status = error_response("rate_limited", "too many messages; wait a moment", 429)
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response, status  # type: ignore[return-value]
        receipt = ctx.inbox.receive(inbound, answer=True)
        return jsonify([reply_json(inbound.thread_key, m) for m in receipt.replies])

    @bp.get("/webhooks/rest/")
    def health() -> Response:
        return jsonify({"status": "ok"})

    return bp
