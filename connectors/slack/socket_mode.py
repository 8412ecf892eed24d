"""Socket Mode: Slack's events over a WebSocket the helpdesk opens (no public URL needed).

Used when ``SLACK_APP_TOKEN`` (an ``xapp-`` app-level token with ``connections:write``) is set.
``slack_sdk.socket_mode.SocketModeClient`` keeps the connection (reconnects, pings); each
envelope goes to the same :class:`~connectors.slack.dispatch.Dispatcher` as the Events API
requests, and is acknowledged only once it was handled — stored — so an envelope whose message
could not be stored is redelivered by Slack, exactly like an HTTP request answered 5xx.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from helpdesk.connectors.slack.dispatch import Dispatcher

log = logging.getLogger(__name__)


def handle_envelope(dispatcher: Dispatcher, request: SocketModeRequest) -> dict[str, Any] | None:
    """Route one envelope; the response payload (if any). Raises when the event wasn't stored."""
    if request.type == "events_api":
        return dispatcher.event(request.payload)
    if request.type == "interactive":
        return dispatcher.interaction(request.payload)
    log.info("slack.socket_mode.ignored", extra={"type": request.type})
    return None


class SocketModeTransport:
    """Receives Slack's events over Socket Mode.

    Args:
        app_token: the ``xapp-`` token.
        api_url: HELPDESK_SLACK_API_URL (``apps.connections.open`` is called there).
        dispatcher: the shared event handler.
    """

    def __init__(self, app_token: str, api_url: str, dispatcher: Dispatcher) -> None:
        self._app_token = app_token
        self._api_url = api_url if api_url.endswith("/") else api_url + "/"
        self._dispatcher = dispatcher
        self._client: SocketModeClient | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected()

    def start(self) -> None:
        """Connect (the SDK's threads keep the connection and reconnect)."""
        if self._client is not None:
            return
        client = SocketModeClient(app_token=self._app_token, web_client=WebClient(base_url=self._api_url),
                                  concurrency=4)
        client.socket_mode_request_listeners.append(self._on_request)
        self._client = client
        client.connect()
        log.info("slack.socket_mode.connected")

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _on_request(self, client: BaseSocketModeClient, request: SocketModeRequest) -> None:
        try:
            answer = handle_envelope(self._dispatcher, request)
        except Exception:  # noqa: BLE001 - not stored: no ack, Slack redelivers
            log.exception("slack.socket_mode.not_stored", extra={"envelope_id": request.envelope_id})
            return
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id, payload=answer))
