"""Helpers for the handoff tests (no tests here): a controlled clock, agents, tokens, an agent
socket client and handing a REST conversation over."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import socketio
from flask import Flask

from helpdesk.handoff import auth
from helpdesk.handoff.service import HandoffService
from helpdesk.services import Services

PASSWORD = "correct horse battery"


class Clock:
    """A controlled clock: ``clock()`` is now; ``clock.advance(seconds=…)`` moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def services_of(app: Flask) -> Services:
    return app.extensions["helpdesk"]  # type: ignore[no-any-return]


def handoff_of(app: Flask) -> HandoffService:
    service = services_of(app).handoff
    assert service is not None
    return service


def add_agent(app: Flask, email: str, *, name: str | None = None, role: str = "agent",
              teams: list[str] | None = None, capacity: int = 3, presence: str = "offline") -> int:
    service = handoff_of(app)
    with service.db.session() as session, session.begin():
        agent = auth.create_agent(session, email, name or email.split("@")[0].title(), PASSWORD, role=role,
                                  teams=teams or [], capacity=capacity)
        agent.presence, agent.last_seen_at = presence, service.now()
        return agent.id


def login(base: str, email: str) -> dict[str, str]:
    """Authorization headers of a fresh token (the agent is "away": present, may claim, gets no auto-assignment)."""
    response = httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
    assert response.status_code == 200, response.text
    headers = {"Authorization": f"Bearer {response.json()['token']}"}
    if response.json()["agent"]["status"] == "offline":
        away = httpx.patch(f"{base}/api/v1/agents/me", json={"status": "away"}, headers=headers, timeout=30)
        assert away.status_code == 200, away.text
    return headers


def ask_for_human(base: str, sender: str, text: str = "I want to talk to a human") -> list[dict[str, Any]]:
    response = httpx.post(f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def conversation_id(app: Flask, sender: str, channel: str = "rest") -> int:
    from helpdesk.conversations.store import get_conversation

    conversation = get_conversation(services_of(app).db, channel, sender)
    assert conversation is not None
    return conversation.id


class AgentSocket:
    """A python-socketio client of ``/agent`` that records every event."""

    NAMES = ("conversation", "message", "note", "status", "typing", "agent")

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.Client(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._changed = threading.Condition()
        for name in self.NAMES:
            self.sio.on(name, functools.partial(self._record, name), namespace="/agent")

    def _record(self, name: str, data: Any = None) -> None:
        with self._changed:
            self.events.append((name, data))
            self._changed.notify_all()

    def connect(self, token: str | None, **auth_extra: Any) -> None:
        self.sio.connect(self.url, namespaces=["/agent"], auth={"token": token, **auth_extra},
                         transports=["websocket"], wait_timeout=10)

    def call(self, event: str, data: Any) -> Any:
        return self.sio.call(event, data, namespace="/agent", timeout=20)

    def wait_for(self, name: str, predicate: Callable[[Any], bool] = lambda _d: True, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event, data in self.events:
                    if event == name and predicate(data):
                        return data
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {name!r} event matched in {timeout}s: {self.events!r}")
                self._changed.wait(left)

    def named(self, name: str) -> list[Any]:
        with self._changed:
            return [d for e, d in self.events if e == name]

    def close(self) -> None:
        ws = getattr(self.sio.eio, "ws", None)
        if ws is not None:
            ws.close = functools.partial(ws.close, timeout=0.1)
        self.sio.disconnect()


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].split(" ", 1)[1]
