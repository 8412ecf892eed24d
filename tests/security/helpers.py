"""Helpers of the security suite (no tests here): servers with settings, raw socket.io clients."""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import socketio
from flask import Flask

from helpdesk.app import create_app
from helpdesk.settings import Settings
from tests.e2e.conftest import REPO, LiveServer, serve_app


def settings_for(db_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings like the e2e suite's, but every field may be overridden (``secret_key`` too)."""
    values: dict[str, Any] = dict(database_url=db_url, instance_path=str(tmp_path / "instance"),
                                  assistant=str(REPO / "flows"), secret_key="test-secret", auto_migrate=True,
                                  log_level="WARNING", timers_in_web=False,
                                  redis_prefix=f"test-{uuid.uuid4().hex[:12]}")
    values.update(overrides)
    return Settings(**values)


@contextlib.contextmanager
def running(db_url: str, tmp_path: Path, **overrides: Any) -> Iterator[LiveServer]:
    app = create_app(settings_for(db_url, tmp_path, **overrides))
    try:
        with serve_app(app) as server:
            yield server
    finally:
        app.extensions["helpdesk"].close()


@contextlib.contextmanager
def app_only(db_url: str, tmp_path: Path, **overrides: Any) -> Iterator[Flask]:
    app = create_app(settings_for(db_url, tmp_path, **overrides))
    try:
        yield app
    finally:
        app.extensions["helpdesk"].close()


class RasaClient:
    """A Rasa socket.io channel client (namespace ``/``) recording what the server sends."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.Client(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._changed = threading.Condition()
        for name in ("session_confirm", "bot_uttered", "error"):
            self.sio.on(name, functools.partial(self._record, name))

    def _record(self, name: str, data: Any = None) -> None:
        with self._changed:
            self.events.append((name, data))
            self._changed.notify_all()

    def connect(self) -> None:
        self.sio.connect(self.url, transports=["websocket"], wait_timeout=10)

    def session(self, session_id: str | None = None) -> Any:
        self.sio.emit("session_request", {"session_id": session_id} if session_id else {})
        return self.wait_for(lambda e: e[0] in ("session_confirm", "error"))

    def wait_for(self, predicate: Callable[[tuple[str, Any]], bool], timeout: float = 20) -> tuple[str, Any]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching event in {timeout}s: {self.events!r}")
                self._changed.wait(left)

    def clear(self) -> None:
        with self._changed:
            self.events.clear()

    def close(self) -> None:
        ws = getattr(self.sio.eio, "ws", None)
        if ws is not None:
            ws.close = functools.partial(ws.close, timeout=0.1)
        self.sio.disconnect()


def rest(base: str, sender: str, message: Any, **extra: Any) -> httpx.Response:
    return httpx.post(f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": message, **extra},
                      timeout=30)
