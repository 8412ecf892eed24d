"""Handoff end to end with real clients: REST customers, agents on the API and the ``/agent`` socket."""

from __future__ import annotations

import httpx
import pytest
import socketio

from tests.e2e.conftest import LiveServer
from tests.integration.test_handoff_support import (
    AgentSocket,
    add_agent,
    ask_for_human,
    login,
    token_of,
)


def test_rest_customer_to_agent_and_back_to_the_bot(live_server: LiveServer) -> None:
    base = live_server.url
    add_agent(live_server.app, "alice@example.com", name="Alice")
    headers = login(base, "alice@example.com")
    agent = AgentSocket(base)
    agent.connect(token_of(headers), status="away")  # away: nothing is assigned automatically
    try:
        replies = [r["text"] for r in ask_for_human(base, "rest-1")]
        assert "support specialists" in replies[0]
        assert replies[1] == "You're number 1 in line. Someone will be with you shortly."
        queued = agent.wait_for("conversation", lambda d: d["type"] == "queued")
        item = queued["item"]
        cid = item["conversation_id"]
        assert (item["status"], item["channel"], item["position"]) == ("queued", "rest", 1)
        assert item["summary"].startswith("Reason: the customer asked for a person")
        assert queued["alert"] is True, "a new waiting conversation: the dashboard plays its sound"
        claimed = httpx.post(f"{base}/api/v1/conversations/{cid}/claim", headers=headers, timeout=30)
        assert claimed.status_code == 200 and claimed.json()["assignee"]["name"] == "Alice"
        agent.wait_for("conversation", lambda d: d["type"] == "assigned")
        assert agent.call("join", {"conversation_id": cid}) == {"ok": True}
        sent = httpx.post(f"{base}/api/v1/conversations/{cid}/messages", json={"text": "Hi, Alice here."},
                          headers=headers, timeout=30)
        assert sent.status_code == 201
        silent = httpx.post(f"{base}/webhooks/rest/webhook", json={"sender": "rest-1", "message": "where is my order"},
                            timeout=30)
        assert silent.json() == [], "the bot stays silent while an agent has the conversation"
        heard = agent.wait_for("message", lambda m: m["role"] == "customer" and m["text"] == "where is my order")
        assert heard["conversation_id"] == cid
        released = httpx.post(f"{base}/api/v1/conversations/{cid}/release", json={}, headers=headers, timeout=30)
        assert released.json()["status"] == "bot"
        agent.wait_for("message", lambda m: m["role"] == "bot" and "satisfied" in m["text"].lower())
        after = httpx.post(f"{base}/webhooks/rest/webhook",
                           json={"sender": "rest-1", "message": "/SetSlots(csat_score=satisfied)"}, timeout=30)
        assert "glad we could help" in after.json()[0]["text"], "the assistant resumed where it was"
    finally:
        agent.close()


def test_agent_socket_refuses_a_bad_token_and_scopes_joins(live_server: LiveServer) -> None:
    base = live_server.url
    with pytest.raises(socketio.exceptions.ConnectionError):
        AgentSocket(base).connect("not-a-token")
    add_agent(live_server.app, "team@example.com", teams=["billing"])
    ask_for_human(base, "scoped")
    headers = login(base, "team@example.com")
    agent = AgentSocket(base)
    agent.connect(token_of(headers), status="away")
    try:
        assert agent.call("join", {"conversation_id": "x"})["error"]["code"] == "invalid_conversation_id"
        assert agent.call("heartbeat", {}) == {"ok": True}
        assert agent.call("presence", {"status": "asleep"})["error"]["code"] == "invalid_status"
        assert agent.call("presence", {"status": "online"})["ok"] is True
    finally:
        agent.close()
