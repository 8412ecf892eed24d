"""HTTP side of the email channel.

* ``POST /email/inbound``: one raw RFC 822 message as the body, ``Authorization: Bearer
  <HELPDESK_EMAIL_INBOUND_TOKEN>``; ``202 {status, conversation_id, seq, duplicate, …}`` once stored.
* ``GET /email/messages/<id>/original``: the raw message as received, as plain text (never rendered),
  for agents who may see the conversation (agent bearer token).
"""

from __future__ import annotations

import hmac
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from flask import Blueprint, Response, jsonify, request

from helpdesk.connectors.email import records
from helpdesk.connectors.email.inbound import MessageTooLarge
from helpdesk.connectors.email.parsing import NotAnEmail
from helpdesk.connectors.errors import BadRequest
from helpdesk.conversations.models import Message

if TYPE_CHECKING:
    from helpdesk.connectors.base import ConnectorContext
    from helpdesk.connectors.email.inbound import EmailInbound


def blueprint(ctx: ConnectorContext, inbound: EmailInbound) -> Blueprint:
    bp = Blueprint("email_channel", __name__)
    settings = ctx.settings

    @bp.post("/email/inbound")
    def receive() -> tuple[Response, int]:
        _check_token(settings.email_inbound_token)
        if (request.content_length or 0) > settings.email_max_bytes:
            raise BadRequest(f"the message is larger than {settings.email_max_bytes} bytes",
                             code="message_too_large", status=413)
        request.max_content_length = settings.email_max_bytes  # instead of the app-wide request limit
        raw = request.get_data(cache=False)
        try:
            received = inbound.receive(raw)
        except MessageTooLarge as error:
            raise BadRequest(str(error), code="message_too_large", status=413) from error
        except NotAnEmail as error:
            raise BadRequest(f"{error}: send one raw message as the request body", code="not_an_email") from error
        return jsonify(received.as_json()), 202 if received.status == "stored" else 200

    @bp.get("/email/messages/<int:message_id>/original")
    def original(message_id: int) -> Response:
        with ctx.db.read_session() as session:
            conversation_id = session.scalar(Message.__table__.select().with_only_columns(
                Message.conversation_id).where(Message.id == message_id))
            raw = records.raw_original(session, message_id) if conversation_id is not None else None
        if raw is None or not ctx.agent_may_see(request, cast(Any, SimpleNamespace(conversation_id=conversation_id))):
            if "Authorization" not in request.headers:
                raise BadRequest("an agent token is required", code="invalid_token", status=401)
            raise BadRequest("no such message", code="not_found", status=404)
        response = Response(raw, mimetype="text/plain")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response.headers["Cache-Control"] = "private, no-store"
        return response

    return bp


def _check_token(expected: str | None) -> None:
    if not expected:
        raise BadRequest("the inbound webhook is off: set HELPDESK_EMAIL_INBOUND_TOKEN", code="webhook_disabled",
                         status=403)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise BadRequest("a valid bearer token is required", code="invalid_token", status=401)
