"""A python-socketio client of the ``/widget`` namespace that records what the server sends."""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import socketio
from sqlalchemy import select

from helpdesk.app import create_app
from helpdesk.conversations.models import Message
from helpdesk.conversations.turn import open_turn
from helpdesk.conversations.types import OutgoingMessage
from helpdesk.handoff.serializers import message_json
from tests.e2e.conftest import LiveServer, make_settings, serve_app

NAMESPACE = "/widget"
Event = tuple[str, Any]


class WidgetClient:
    """One browser tab, as the widget protocol sees it."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.sio = socketio.Client(reconnection=False)
        self.events: list[Event] = []
        self._changed = threading.Condition()
        for name in ("session", "message", "status", "typing", "error"):
            self.sio.on(name, self._recorder(name), namespace=NAMESPACE)

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(data: Any = None) -> None:
            with self._changed:
                self.events.append((name, data))
                self._changed.notify_all()
        return record

    def connect(self, auth: dict[str, Any] | None = None, transports: list[str] | None = None) -> dict[str, Any]:
        """Connect and return the ``session`` event."""
        self.sio.connect(self.url, namespaces=[NAMESPACE], auth=auth or {}, headers=self.headers,
                         transports=transports or ["websocket"], wait_timeout=10)
        return self.wait_for("session")

    def disconnect(self) -> None:
        ws = getattr(self.sio.eio, "ws", None)
        if ws is not None:
            # werkzeug's dev server answers the closing handshake with an HTTP 400 instead of a
            # close frame; websocket-client would wait 3 s for one
            ws.close = functools.partial(ws.close, timeout=0.1)
        self.sio.disconnect()

    def send(self, text: str | None = None, **fields: Any) -> dict[str, Any]:
        """Emit ``message`` and return the ack."""
        data: dict[str, Any] = {"client_id": uuid.uuid4().hex, **fields}
        if text is not None:
            data["text"] = text
        return self.emit("message", data)

    def emit(self, event: str, data: Any) -> Any:
        return self.sio.call(event, data, namespace=NAMESPACE, timeout=30)

    def named(self, name: str) -> list[Any]:
        with self._changed:
            return [data for event, data in self.events if event == name]

    def messages(self) -> list[dict[str, Any]]:
        return self.named("message")

    def wait_for(self, name: str, predicate: Callable[[Any], bool] = lambda _d: True,
                 timeout: float = 20) -> Any:
        """The first recorded ``name`` event matching ``predicate`` (waiting for it)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event, data in self.events:
                    if event == name and predicate(data):
                        return data
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {name!r} event matched within {timeout}s; got {self.events!r}")
                self._changed.wait(left)

    def wait_for_bot(self, text: str, timeout: float = 20) -> dict[str, Any]:
        """The bot message containing ``text`` (case-insensitive)."""
        return self.wait_for("message", lambda m: m["role"] == "bot" and text.lower() in (m["text"] or "").lower(),
                             timeout)  # type: ignore[no-any-return]

    def clear(self) -> None:
        with self._changed:
            self.events.clear()


@contextlib.contextmanager
def serve(db_url: str, tmp_path: Path, **overrides: Any) -> Iterator[LiveServer]:
    """A real threaded server for an app built with setting overrides (like the ``live_server`` fixture)."""
    overrides.setdefault("log_level", "WARNING")
    app = create_app(make_settings(db_url, tmp_path, **overrides))
    try:
        with serve_app(app) as server:
            yield server
    finally:
        app.extensions["helpdesk"].close()


def wait_idle(server: LiveServer) -> None:
    """Wait until every submitted turn has run (and so has been published)."""
    assert server.app.extensions["helpdesk.widget"].runner.wait_idle(20)


def rows(server: LiveServer, model: type[Any] = Message) -> list[Any]:
    db = server.app.extensions["helpdesk"].db
    with db.read_session() as session:
        return list(session.scalars(select(model).order_by(model.id)))


def agent_says(server: LiveServer, conversation_id: int, text: str, author: str = "Alex") -> dict[str, Any]:
    """An agent's message in a conversation, published on the bus after the commit as the agent API does
    (returns the published event)."""
    services = server.app.extensions["helpdesk"]
    with open_turn(services.db, services.pipeline.locks, conversation_id) as turn:
        message = turn.append_message(OutgoingMessage("agent", text, author=author))
        event = message_json(turn.conversation, message)
        turn.after_commit(lambda: services.bus.publish("message", event))
    return event
