"""A loopback Socket Mode endpoint: the WebSocket that ``apps.connections.open`` hands out.

A real WebSocket server (werkzeug + simple-websocket) on 127.0.0.1. On connect it says
``hello`` as Slack does; :meth:`FakeSocketMode.send` pushes an envelope
(``{"envelope_id", "type": "events_api"|"interactive", "payload", "accepts_response_payload",
"retry_attempt", "retry_reason"}``) to every connected client, and the client's acknowledgements
(``{"envelope_id", "payload"?}``) are recorded in :attr:`FakeSocketMode.acks`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import simple_websocket
from werkzeug.serving import make_server


class FakeSocketMode:
    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []
        self._clients: list[simple_websocket.Server] = []
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.server_port}/link/?ticket=test"

    def __enter__(self) -> FakeSocketMode:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            clients = list(self._clients)
        for ws in clients:
            ws.close()
        self._server.shutdown()

    def _app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        ws = simple_websocket.Server(environ)
        with self._lock:
            self._clients.append(ws)
        ws.send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"},
                            "connection_info": {"app_id": "A_APP"}}))
        try:
            while True:
                message = ws.receive()
                if message is None:
                    continue
                with self._lock:
                    self.acks.append(json.loads(message))
        except simple_websocket.ConnectionClosed:
            pass
        with self._lock:
            self._clients.remove(ws)
        return []

    def wait_connected(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._clients:
                    return
            time.sleep(0.02)
        raise AssertionError("no Socket Mode client connected")

    def send(self, payload: dict[str, Any], *, kind: str = "events_api", retry_attempt: int = 0,
             envelope_id: str | None = None) -> str:
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": kind == "interactive", "retry_attempt": retry_attempt,
                    "retry_reason": "timeout" if retry_attempt else ""}
        with self._lock:
            clients = list(self._clients)
        for ws in clients:
            ws.send(json.dumps(envelope))
        return envelope_id

    def acked(self, envelope_id: str) -> bool:
        with self._lock:
            return any(a.get("envelope_id") == envelope_id for a in self.acks)

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for ack in self.acks:
                    if ack.get("envelope_id") == envelope_id:
                        return ack
            time.sleep(0.02)
        raise AssertionError(f"envelope {envelope_id} was not acknowledged")
