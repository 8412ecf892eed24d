"""Issue 8.2, 8.3 and offline claims: password changes, revoked tokens, login throttling."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_handoff_support import PASSWORD, AgentSocket, add_agent, ask_for_human, \
    conversation_id, token_of
from tests.security.helpers import app_only, running


def api(base: str, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{base}/api/v1{path}", headers=headers, timeout=30, **kwargs)


def sign_in(base: str, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = api(base, "POST", "/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_a_password_change_needs_the_current_password_and_signs_out_everywhere_else(
        db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path) as server:
        add_agent(server.app, "sue@example.com", name="Sue")
        laptop, stolen = sign_in(server.url, "sue@example.com"), sign_in(server.url, "sue@example.com")
        socket = AgentSocket(server.url)
        socket.connect(token_of(stolen))
        try:
            missing = api(server.url, "PATCH", "/agents/me", stolen, json={"password": "attacker-pass-1"})
            assert missing.status_code == 400 and missing.json()["error"]["code"] == "current_password_required"
            wrong = api(server.url, "PATCH", "/agents/me", stolen,
                        json={"password": "attacker-pass-1", "current_password": "guess-guess"})
            assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "wrong_password"
            sign_in(server.url, "sue@example.com")  # unchanged

            changed = api(server.url, "PATCH", "/agents/me", laptop,
                          json={"password": "new-password-2", "current_password": PASSWORD})
            assert changed.status_code == 200, changed.text
            assert api(server.url, "GET", "/agents/me", laptop).status_code == 200, "the changing token stays"
            assert api(server.url, "GET", "/agents/me", stolen).status_code == 401, "other tokens are revoked"
            deadline = time.monotonic() + 10
            while socket.sio.connected and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not socket.sio.connected, "the other token's /agent socket was closed"
            assert api(server.url, "POST", "/auth/login",
                       json={"email": "sue@example.com", "password": PASSWORD}).status_code == 401
            sign_in(server.url, "sue@example.com", "new-password-2")
        finally:
            if socket.sio.connected:
                socket.close()


def test_deactivation_revokes_every_token_and_closes_sockets(db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path) as server:
        add_agent(server.app, "admin@example.com", role="admin")
        add_agent(server.app, "bob@example.com", name="Bob")
        admin, bob = sign_in(server.url, "admin@example.com"), sign_in(server.url, "bob@example.com")
        socket = AgentSocket(server.url)
        socket.connect(token_of(bob))
        bob_id = api(server.url, "GET", "/agents/me", bob).json()["id"]
        assert api(server.url, "PATCH", f"/agents/{bob_id}", admin, json={"active": False}).status_code == 200
        assert api(server.url, "GET", "/agents/me", bob).status_code == 401
        deadline = time.monotonic() + 10
        while socket.sio.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not socket.sio.connected


def test_a_revoked_socket_in_another_process_is_closed_at_its_next_heartbeat(db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path) as one, running(db_url, tmp_path) as two:
        add_agent(one.app, "sue@example.com", name="Sue")
        here, there = sign_in(one.url, "sue@example.com"), sign_in(two.url, "sue@example.com")
        socket = AgentSocket(two.url)
        socket.connect(token_of(there))
        assert socket.call("heartbeat", {}) == {"ok": True}
        assert api(one.url, "PATCH", "/agents/me", here,
                   json={"password": "new-password-2", "current_password": PASSWORD}).status_code == 200
        assert socket.call("heartbeat", {})["error"]["code"] == "unauthorized"
        deadline = time.monotonic() + 10
        while socket.sio.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not socket.sio.connected


def test_failed_logins_are_throttled_per_account_across_processes(
        db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with app_only(db_url, tmp_path) as one, app_only(db_url, tmp_path) as two:
        add_agent(one, "sue@example.com", name="Sue")
        clients = [one.test_client(), two.test_client()]
        statuses = []
        for attempt in range(8):  # alternate processes: the count lives in the database
            response = clients[attempt % 2].post("/api/v1/auth/login",
                                                 json={"email": "sue@example.com", "password": "wrong-wrong"})
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["Retry-After"]) >= 1
                assert response.json["error"]["code"] == "too_many_attempts"
        assert statuses[:5] == [401] * 5 and 429 in statuses[5:], statuses
        # while throttled even the right password waits; the other process agrees
        right = clients[1].post("/api/v1/auth/login", json={"email": "sue@example.com", "password": PASSWORD})
        assert right.status_code == 429
        assert any(r.message == "handoff.login.throttled" for r in caplog.records)


def test_failed_logins_are_throttled_per_client_address(db_url: str, tmp_path: Path) -> None:
    with app_only(db_url, tmp_path, login_max_failures=2) as app:
        client = app.test_client()
        statuses = [client.post("/api/v1/auth/login", json={"email": f"u{i}@example.com", "password": "x" * 9},
                                environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code for i in range(12)]
        assert statuses[:8] == [401] * 8 and statuses[8:].count(429) >= 3, statuses
        other = client.post("/api/v1/auth/login", json={"email": "u99@example.com", "password": "x" * 9},
                            environ_base={"REMOTE_ADDR": "198.51.100.7"})
        assert other.status_code == 401, "another address is not throttled"


def test_an_offline_agent_cannot_claim_but_an_admin_may(db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path) as server:
        add_agent(server.app, "sue@example.com", name="Sue")
        add_agent(server.app, "admin@example.com", role="admin")
        ask_for_human(server.url, "c1")
        ask_for_human(server.url, "c2")
        sue = sign_in(server.url, "sue@example.com")
        first, second = conversation_id(server.app, "c1"), conversation_id(server.app, "c2")
        refused = api(server.url, "POST", f"/conversations/{first}/claim", sue)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "agent_offline"
        assert "offline" in refused.json()["error"]["message"]
        assert api(server.url, "PATCH", "/agents/me", sue, json={"status": "away"}).status_code == 200
        assert api(server.url, "POST", f"/conversations/{first}/claim", sue).status_code == 200
        admin = sign_in(server.url, "admin@example.com")
        assert api(server.url, "POST", f"/conversations/{second}/claim", admin).status_code == 200
