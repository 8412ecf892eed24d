"""Issue 8.6: bad input gets a 4xx (or an error ack / event), nothing is stored, never a 500.

One table over the channels: the REST channel, the widget, the Rasa socket.io channel and the
agent API, each fed a lone surrogate, a NUL byte, JSON nested 5,000 deep, ids beyond 64 bits,
``last_seq=10**30`` and a widget ``message`` without data.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpdesk.conversations.models import Message
from tests.e2e.conftest import LiveServer
from tests.e2e.widget_helpers import WidgetClient, rows
from tests.integration.test_handoff_support import PASSWORD, add_agent
from tests.security.helpers import RasaClient, running

SURROGATE, NUL = "\ud800", "a\x00b"
DEEP = "[" * 5000 + "]" * 5000


def _json(text: str) -> bytes:
    """A JSON document as a client would send it (``\\u`` escapes for a lone surrogate)."""
    return text.encode("ascii")


def post_raw(server: LiveServer, path: str, body: bytes, token: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(server.url + path, content=body, headers=headers, timeout=30)


def agent_token(server: LiveServer) -> str:
    add_agent(server.app, "sue@example.com", name="Sue", presence="away")
    response = httpx.post(f"{server.url}/api/v1/auth/login", json={"email": "sue@example.com",
                                                                  "password": PASSWORD}, timeout=30)
    return str(response.json()["token"])


def rest_case(body: bytes) -> Callable[[LiveServer], tuple[int, Any]]:
    def run(server: LiveServer) -> tuple[int, Any]:
        response = post_raw(server, "/webhooks/rest/webhook", body)
        return response.status_code, response.json()
    return run


def agent_case(method: str, path: str, body: bytes | None = None) -> Callable[[LiveServer], tuple[int, Any]]:
    def run(server: LiveServer) -> tuple[int, Any]:
        token = agent_token(server)
        response = httpx.request(method, server.url + "/api/v1" + path, content=body,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                                 timeout=30)
        return response.status_code, response.json()
    return run


def widget_case(data: Any, *, with_data: bool = True) -> Callable[[LiveServer], tuple[int, Any]]:
    def run(server: LiveServer) -> tuple[int, Any]:
        tab = WidgetClient(server.url)
        tab.connect()
        try:
            if with_data:
                ack = tab.emit("message", data)
            else:
                ack = tab.sio.call("message", namespace="/widget", timeout=10)
            return 400 if "error" in ack else 200, ack
        finally:
            tab.disconnect()
    return run


def widget_connect_case(server: LiveServer) -> tuple[int, Any]:
    tab = WidgetClient(server.url)
    first = tab.connect()
    tab.send("where is my order")
    tab.wait_for_bot("order number")
    tab.disconnect()
    again = WidgetClient(server.url)
    session = again.connect({"token": first["token"], "last_seq": 10**30})
    again.disconnect()
    assert session["visitor_id"] == first["visitor_id"] and session["messages"] == []
    return 400, session  # connected (not refused), nothing replayed; its one customer message is counted below


def rasa_case(message: Any) -> Callable[[LiveServer], tuple[int, Any]]:
    def run(server: LiveServer) -> tuple[int, Any]:
        client = RasaClient(server.url)
        client.connect()
        try:
            _, session_id = client.session()
            client.sio.emit("user_uttered", {"message": message, "session_id": session_id})
            event = client.wait_for(lambda e: e[0] in ("error", "bot_uttered"))
            return 400 if event[0] == "error" else 200, event[1]
        finally:
            client.close()
    return run


#: case → (what it does, returning (status or 400 for an error ack/event, body); customer messages stored)
CASES: dict[str, tuple[Callable[[LiveServer], tuple[int, Any]], int]] = {
    "rest lone surrogate": (rest_case(_json('{"sender": "s", "message": "hi \\ud800"}')), 0),
    "rest NUL": (rest_case(_json('{"sender": "s", "message": "a\\u0000b"}')), 0),
    "rest NUL in sender": (rest_case(_json('{"sender": "s\\u0000", "message": "hi"}')), 0),
    "rest NUL in metadata": (rest_case(_json('{"sender": "s", "message": "hi", "metadata": {"a": "\\u0000"}}')), 0),
    "rest 5000 deep": (rest_case(_json(DEEP)), 0),
    "rest deep metadata": (rest_case(_json('{"sender": "s", "message": "hi", "metadata": {"a": ' + DEEP + "}}")), 0),
    "agent 5000 deep": (agent_case("PATCH", "/agents/me", _json(DEEP)), 0),
    "agent id beyond 64 bits": (agent_case("GET", f"/conversations/{2**70}"), 0),
    "agent claim beyond 64 bits": (agent_case("POST", f"/conversations/{2**64}/claim"), 0),
    "agent NUL in name": (agent_case("PATCH", "/agents/me", _json('{"name": "S\\u0000ue"}')), 0),
    "widget lone surrogate": (widget_case({"text": SURROGATE, "client_id": "c1"}), 0),
    "widget NUL": (widget_case({"text": NUL, "client_id": "c1"}), 0),
    "widget surrogate title": (widget_case({"payload": "/restart", "title": SURROGATE}), 0),
    "widget surrogate metadata": (widget_case({"text": "hi", "metadata": {"k": SURROGATE}}), 0),
    "widget message without data": (widget_case(None, with_data=False), 0),
    "widget last_seq 10**30": (widget_connect_case, 1),
    "rasa lone surrogate": (rasa_case("hi " + SURROGATE), 0),
    "rasa NUL": (rasa_case(NUL), 0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_and_nothing_is_stored(db_url: str, tmp_path: Path, case: str) -> None:
    run, stored = CASES[case]
    with running(db_url, tmp_path) as server:
        status, body = run(server)
        assert 400 <= status < 500, (status, body)
        if isinstance(body, dict) and "error" in body:
            error = body["error"]
            assert error.get("code") and error.get("message"), body
        assert len([m for m in rows(server, Message) if m.role == "customer"]) == stored, case
