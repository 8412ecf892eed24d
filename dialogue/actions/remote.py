"""Client for a Rasa action server (``rasa-sdk``) over its HTTP webhook protocol.

One ``POST <url>`` per action run, with the body Rasa sends::

    {"next_action", "sender_id", "tracker", "version", "domain_digest"[, "domain"]}

The domain is left out at first. rasa-sdk keeps one domain per server process, keyed by its
digest, and answers **449** when the digest it holds differs (or it holds none yet); the
client then repeats the request once with the domain, exactly as Rasa does. Because the
first request never carries the domain, nothing needs remembering between runs: after the
server has accepted a digest the next run is the same domain-less request, and a server
that restarted, or was handed another digest meanwhile, answers 449 again.

Answers: 200 ``{"events": [...], "responses": [...]}``; 400 = ``ActionExecutionRejection``
(→ :class:`ActionRejected`); 404 = unknown action; anything else, and every transport
failure, is an :class:`ActionServerError`. See RASA-NOTES.md §6.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from helpdesk.llm import gate

logger = logging.getLogger(__name__)

#: The Rasa version announced to the server; rasa-sdk warns when major.minor differ.
RASA_VERSION = "3.21.0"

HTTP_OK = 200
HTTP_REJECTED = 400
HTTP_NOT_FOUND = 404
HTTP_DOMAIN_MISSING = 449

_MAX_DETAIL_CHARS = 300


class ActionServerError(Exception):
    """The action server could not run the action (unreachable, slow, broken or unknown action)."""

    def __init__(
        self,
        action_name: str,
        reason: str,
        *,
        status_code: int | None = None,
        detail: str | None = None,
    ) -> None:
        self.action_name = action_name
        #: Short cause: ``"not found"``, ``"timeout after 10s"``, ``"HTTP 500: ..."``, ...
        self.reason = reason
        #: The HTTP status of the answer, or None when there was no usable answer.
        self.status_code = status_code
        #: The server's own explanation (its ``error`` field), when it gave one.
        self.detail = detail
        target = f"action '{action_name}'" if action_name else "request"
        suffix = f" ({detail})" if detail and detail not in reason else ""
        super().__init__(f"action server failed {target}: {reason}{suffix}")


class ActionRejected(Exception):
    """The action refused to run (``ActionExecutionRejection``, HTTP 400)."""

    def __init__(self, action_name: str, message: str) -> None:
        self.action_name = action_name
        self.message = message
        super().__init__(f"action '{action_name}' rejected execution: {message}")


@dataclass(frozen=True)
class RemoteActionResult:
    """What an action server returned for one successful run."""

    events: list[dict[str, Any]]
    """Rasa event dicts exactly as returned, e.g. ``{"event": "slot", "name": ..., "value": ...}``."""
    responses: list[dict[str, Any]]
    """Bot messages: ``text``, ``buttons``, ``image``, ``custom``, ``response: "utter_x"``, kwargs."""


class RemoteActionClient:
    """Runs custom actions on one action server through a keep-alive HTTP connection pool.

    Example::

        client = RemoteActionClient("http://localhost:5055/webhook", timeout=5)
        result = client.run("action_check_balance", sender_id="c-1", tracker=tracker,
                            domain=domain, domain_digest=digest)
        client.close()
    """

    def __init__(
        self, url: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        """Prepare the client; nothing is sent until the first call.

        Args:
            url: The server's webhook URL, e.g. ``http://localhost:5055/webhook``.
            timeout: Seconds allowed for connecting and for each read or write.
            transport: An httpx transport to use instead of the network one.

        Raises:
            ValueError: ``url`` is not an absolute http(s) URL.
        """
        webhook = httpx.URL(url)
        if webhook.scheme not in ("http", "https") or not webhook.host:
            raise ValueError(f"action server URL must be an absolute http(s) URL, got {url!r}")
        self._webhook_url = webhook
        self._timeout = timeout
        self._client = httpx.Client(timeout=timeout, transport=transport)

    @property
    def url(self) -> str:
        """The webhook URL actions are posted to."""
        return str(self._webhook_url)

    def run(
        self,
        action_name: str,
        *,
        sender_id: str,
        tracker: dict[str, Any],
        domain: dict[str, Any],
        domain_digest: str,
    ) -> RemoteActionResult:
        """Run one action on the server.

        Args:
            action_name: The action to run (``next_action``).
            sender_id: The conversation id.
            tracker: The tracker state in Rasa's JSON shape.
            domain: The domain as a dict; sent only when the server asks for it (HTTP 449).
            domain_digest: A fingerprint that changes whenever ``domain`` changes.

        Returns:
            The events and bot responses the action produced.

        Raises:
            ActionRejected: The action raised ``ActionExecutionRejection`` (HTTP 400).
            ActionServerError: Any other failure, including an unknown action.
        """
        payload = {
            "next_action": action_name,
            "sender_id": sender_id,
            "tracker": tracker,
            "version": RASA_VERSION,
            "domain_digest": domain_digest,
        }
        response = self._post(action_name, payload)
        if response.status_code == HTTP_DOMAIN_MISSING:
            logger.debug(
                "action_server.domain_requested",
                extra={"action_name": action_name, "domain_digest": domain_digest},
            )
            response = self._post(action_name, {**payload, "domain": domain})
        _raise_for_status(action_name, response)
        return _parse_result(action_name, response)

    def health(self) -> bool:
        """Whether ``GET /health`` (beside the webhook) answers 200; never raises."""
        try:
            response = self._client.get(self._sibling_url("health"))
        except httpx.HTTPError:
            return False
        return response.status_code == HTTP_OK

    def list_actions(self) -> list[str]:
        """The names of the actions the server has registered (``GET /actions``).

        Raises:
            ActionServerError: The server is unreachable or answered badly.
        """
        response = self._send("", "GET", self._sibling_url("actions"))
        _raise_for_status("", response)
        body = _json_body("", response)
        if not isinstance(body, list):
            raise ActionServerError("", "invalid response: /actions did not return a list")
        names = [item.get("name") if isinstance(item, dict) else item for item in body]
        if not all(isinstance(name, str) for name in names):
            raise ActionServerError("", "invalid response: /actions entries lack a name")
        return [str(name) for name in names]

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def __enter__(self) -> RemoteActionClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _sibling_url(self, name: str) -> httpx.URL:
        parent = self._webhook_url.path.rstrip("/").rsplit("/", 1)[0]
        return self._webhook_url.copy_with(path=f"{parent}/{name}", query=None)

    def _post(self, action_name: str, payload: dict[str, Any]) -> httpx.Response:
        try:
            body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise ActionServerError(action_name, f"request is not valid JSON: {exc}") from exc
        headers = {"Content-Type": "application/json"}
        return self._send(action_name, "POST", self._webhook_url, content=body, headers=headers)

    def _send(
        self, action_name: str, method: str, url: httpx.URL, **kwargs: Any
    ) -> httpx.Response:
        try:
            with gate.waiting():  # the thread's CPU place goes to another turn meanwhile
                return self._client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            reason = f"timeout after {self._timeout:g}s ({type(exc).__name__})"
            raise ActionServerError(action_name, reason) from exc
        except httpx.ConnectError as exc:
            reason = f"cannot connect to {url}: {exc}"
            raise ActionServerError(action_name, reason) from exc
        except httpx.HTTPError as exc:
            reason = f"HTTP error talking to {url}: {type(exc).__name__}: {exc}"
            raise ActionServerError(action_name, reason) from exc


def _raise_for_status(action_name: str, response: httpx.Response) -> None:
    status = response.status_code
    if status == HTTP_OK:
        return
    detail = _error_detail(response)
    if status == HTTP_REJECTED:
        message = detail or f"Custom action '{action_name}' rejected execution."
        raise ActionRejected(action_name, message)
    if status == HTTP_NOT_FOUND:
        raise ActionServerError(action_name, "not found", status_code=status, detail=detail)
    if status == HTTP_DOMAIN_MISSING:
        reason = "HTTP 449: the server still asks for the domain after it was sent"
    else:
        reason = f"HTTP {status}: {detail or response.reason_phrase or 'no explanation'}"
    raise ActionServerError(action_name, reason, status_code=status, detail=detail)


def _error_detail(response: httpx.Response) -> str | None:
    """The ``error`` text of an error answer (rasa-sdk also echoes the whole request; skip that)."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, str) or not error:
        return None
    return error[:_MAX_DETAIL_CHARS]


def _json_body(action_name: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        reason = f"invalid JSON in response (HTTP {response.status_code})"
        raise ActionServerError(action_name, reason, status_code=response.status_code) from exc


def _parse_result(action_name: str, response: httpx.Response) -> RemoteActionResult:
    body = _json_body(action_name, response)
    if not isinstance(body, dict):
        raise _invalid(action_name, f"expected a JSON object, got {type(body).__name__}")
    events = body.get("events", [])
    responses = body.get("responses", [])
    # Rasa reads a missing list as empty; a null one is treated the same way.
    events = [] if events is None else events
    responses = [] if responses is None else responses
    if not isinstance(events, list) or not isinstance(responses, list):
        raise _invalid(action_name, "'events' and 'responses' must be lists")
    for index, event in enumerate(events):
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            raise _invalid(action_name, f"events[{index}] is not an event dict with an 'event' key")
    for index, message in enumerate(responses):
        if not isinstance(message, dict):
            raise _invalid(action_name, f"responses[{index}] is not a dict")
    return RemoteActionResult(events=events, responses=responses)


def _invalid(action_name: str, problem: str) -> ActionServerError:
    return ActionServerError(action_name, f"invalid response: {problem}", status_code=HTTP_OK)
