"""``POST /slack/events`` (Events API) and ``POST /slack/interactions`` (interactivity).

Every request is verified first (401 and nothing stored otherwise); a body that is not what
Slack sends is a 400; a message that could not be stored is a 503 (Slack retries it). The
answer comes as soon as the message is stored — the turn runs in the background.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from helpdesk.connectors.errors import error_response
from helpdesk.connectors.slack.dispatch import Dispatcher
from helpdesk.connectors.slack.verify import RequestVerifier

log = logging.getLogger(__name__)
EXTENSION = "helpdesk.slack"
_PROBLEMS = {
    "missing_headers": "X-Slack-Signature and X-Slack-Request-Timestamp are required",
    "bad_timestamp": "X-Slack-Request-Timestamp is not a Unix time",
    "stale_timestamp": "the request is more than 5 minutes old (or the clocks disagree)",
    "bad_signature": "the signature does not match the signing secret",
}


@dataclass(frozen=True)
class SlackHttp:
    """What the views need (kept in ``app.extensions``)."""

    verifier: RequestVerifier
    dispatcher: Dispatcher


def blueprint() -> Blueprint:
    bp = Blueprint("slack", __name__)
    bp.add_url_rule("/slack/events", "events", _events, methods=["POST"])
    bp.add_url_rule("/slack/interactions", "interactions", _interactions, methods=["POST"])
    return bp


def _verified() -> tuple[SlackHttp, bytes, Any]:
    slack: SlackHttp = current_app.extensions[EXTENSION]
    body = request.get_data(cache=True)
    problem = slack.verifier.problem(body, dict(request.headers))
    if problem is not None:
        log.warning("slack.request.refused", extra={"reason": problem, "path": request.path})
        return slack, body, error_response(problem, _PROBLEMS[problem], 401)
    return slack, body, None


def _events() -> Any:
    slack, body, refused = _verified()
    if refused is not None:
        return refused
    try:
        data = json.loads(body)
    except ValueError:
        return error_response("invalid_json", "the body must be a JSON Events API payload", 400)
    if not isinstance(data, dict):
        return error_response("invalid_body", "the body must be a JSON object", 400)
    return _run(lambda: slack.dispatcher.event(data))


def _interactions() -> Any:
    slack, _body, refused = _verified()
    if refused is not None:
        return refused
    raw = request.form.get("payload")
    if raw is None:
        return error_response("missing_payload", "interactions are form-encoded with a 'payload' field", 400)
    try:
        payload = json.loads(raw)
    except ValueError:
        return error_response("invalid_json", "the 'payload' field must be JSON", 400)
    if not isinstance(payload, dict):
        return error_response("invalid_body", "the 'payload' field must be a JSON object", 400)
    return _run(lambda: slack.dispatcher.interaction(payload))


def _run(handle: Any) -> Any:
    try:
        answer = handle()
    except Exception:  # noqa: BLE001 - not stored: say so, and Slack retries
        log.exception("slack.event.failed")
        return error_response("not_stored", "the event could not be stored; retry", 503)
    if answer is None:
        return Response(status=200)
    return jsonify(answer)
