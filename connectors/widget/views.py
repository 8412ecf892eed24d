"""HTTP side of the widget: ``GET /`` (demo shop page), ``GET /widget.js`` and attachments.

``POST /widget/attachments`` (multipart ``file``, ``Authorization: Bearer <visitor token>``)
stores an image or PDF for the visitor and answers ``201 {"attachment": {id, name,
content_type, size}}``; a ``message`` event then carries its id. ``GET
/widget/attachments/<id>`` returns the file to the visitor who sent it (same bearer token) or
to an agent (the injectable ``authorize_agent`` check); everyone else gets 404.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from flask import Blueprint, Request, Response, current_app, jsonify, render_template, request

from helpdesk.connectors.errors import BadRequest, error_response
from helpdesk.connectors.limits import ChannelLimits
from helpdesk.connectors.origins import OriginPolicy
from helpdesk.connectors.turns import TurnRunner
from helpdesk.connectors.widget.tokens import Visitor, VisitorTokens
from helpdesk.conversations.attachments import Attachment, AttachmentRejected, load_attachment, save_attachment

if TYPE_CHECKING:
    from helpdesk.conversations.db import Database
    from helpdesk.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"
CHANNEL = "widget"
#: room for the multipart envelope around the file
MULTIPART_OVERHEAD = 64 * 1024
AgentCheck = Callable[[Request, Attachment], bool]


def deny_agents(_request: Request, _attachment: Attachment) -> bool:
    """The default agent check until the agent side exists: nobody."""
    return False


@dataclass
class WidgetHttp:
    """What the widget's HTTP views share; ``app.extensions["helpdesk.widget"]`` holds it.

    ``authorize_agent(request, attachment)`` decides whether a request comes from an agent
    allowed to see a conversation's files (the connector context's ``agent_may_see``).
    """

    tokens: VisitorTokens
    limits: ChannelLimits
    runner: TurnRunner
    origins: OriginPolicy
    db: Database
    settings: Settings
    authorize_agent: AgentCheck = deny_agents
    _bundle: tuple[bytes, str] | None = field(default=None, repr=False)

    def bundle(self) -> tuple[bytes, str]:
        """``widget.js``: the vendored socket.io client, kept out of the page's globals, and the widget."""
        if self._bundle is None:
            client = (STATIC / "socket.io.min.js").read_text(encoding="utf-8")
            widget = (STATIC / "widget.js").read_text(encoding="utf-8")
            body = ("/*! Helpdesk website widget; includes the Socket.IO client (MIT License). */\n"
                    "(function () {\nvar module = { exports: {} }, exports = module.exports, define;\n"
                    f"{client}\nvar io = module.exports;\n{widget}\n}}());\n").encode()
            self._bundle = (body, hashlib.sha256(body).hexdigest()[:32])
        return self._bundle


def _widget() -> WidgetHttp:
    widget: WidgetHttp = current_app.extensions["helpdesk.widget"]
    return widget


def blueprint() -> Blueprint:
    bp = Blueprint("widget", __name__, template_folder="templates")
    bp.add_url_rule("/", "demo", _demo)
    bp.add_url_rule("/widget.js", "script", _script)
    bp.add_url_rule("/widget/attachments", "upload", _upload, methods=["POST"])
    bp.add_url_rule("/widget/attachments/<attachment_id>", "attachment", _download)
    bp.before_request(_check_origin)
    bp.after_request(_cors)
    return bp


def _demo() -> str:
    return render_template("demo.html", max_attachment_bytes=_widget().settings.max_attachment_bytes)


def _script() -> Response:
    body, etag = _widget().bundle()
    response = Response(body, mimetype="application/javascript")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.make_conditional(request)  # turns it into a 304 in place when the etag matches
    return response


def _check_origin() -> None:
    if request.path.startswith("/widget/") and not _widget().origins.allows(request.origin, request.host):
        raise BadRequest("this page's origin may not use the widget", code="origin_not_allowed", status=403)


def _cors(response: Response) -> Response:
    origin = request.origin
    if request.path.startswith("/widget/") and origin and _widget().origins.allows(origin, request.host):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Max-Age"] = "600"
        response.vary.add("Origin")
    return response


def _bearer_visitor() -> Visitor | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return _widget().tokens.verify(token.strip())


def _upload() -> tuple[Response, int]:
    visitor = _bearer_visitor()
    if visitor is None:
        raise BadRequest("a valid visitor token is required (Authorization: Bearer <token>)",
                         code="invalid_token", status=401)
    max_bytes = _widget().settings.max_attachment_bytes
    if (request.content_length or 0) > max_bytes + MULTIPART_OVERHEAD:
        raise BadRequest(f"the file is larger than {max_bytes} bytes", code="attachment_too_large", status=413)
    request.max_content_length = max_bytes + MULTIPART_OVERHEAD
    limits = _widget().limits
    wait = limits.message(visitor.key, request.environ, per=limits.visitor)
    if wait:
        return _too_many(wait)
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("send the file as the multipart field 'file'", code="no_file")
    data = upload.stream.read(max_bytes + 1)
    settings = _widget().settings
    try:
        info = save_attachment(_widget().db, channel=CHANNEL, thread_key=visitor.key, name=upload.filename,
                               data=data, max_bytes=max_bytes, max_pending=settings.max_pending_uploads)
    except AttachmentRejected as exc:
        status = {"attachment_too_large": 413, "unsupported_attachment": 415,
                  "too_many_pending_uploads": 429}.get(exc.code, 400)
        raise BadRequest(str(exc), code=exc.code, status=status) from exc
    return jsonify({"attachment": info.as_json()}), 201


def _too_many(wait: float) -> tuple[Response, int]:
    response, status = error_response("rate_limited", "too many uploads; wait a moment before sending more", 429)
    response.headers["Retry-After"] = str(math.ceil(wait))
    return response, status


def _download(attachment_id: str) -> Response:
    visitor = _bearer_visitor()
    attachment = load_attachment(_widget().db, attachment_id) if len(attachment_id) <= 32 else None
    allowed = attachment is not None and (
        (visitor is not None and attachment.channel == CHANNEL and attachment.thread_key == visitor.key)
        or _widget().authorize_agent(request, attachment))
    if attachment is None or not allowed:
        if visitor is None and "Authorization" not in request.headers:
            raise BadRequest("a visitor or agent token is required", code="invalid_token", status=401)
        raise BadRequest("no such attachment", code="not_found", status=404)
    return _file_response(attachment)


def _file_response(attachment: Attachment) -> Response:
    response = Response(attachment.data, mimetype=attachment.content_type)
    disposition = "inline" if attachment.content_type.startswith("image/") else "attachment"
    response.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(attachment.name)}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
