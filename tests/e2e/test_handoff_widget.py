"""The acceptance path with a widget customer: ask for a human → handoff message and queue position →
an agent sees it with a summary, claims it and replies → the customer gets the reply in the widget,
the bot stays silent → the agent releases → the bot resumes."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import LiveServer
from tests.e2e.widget_helpers import WidgetClient, wait_idle
from tests.integration.test_handoff_support import AgentSocket, add_agent, login, token_of


def test_widget_customer_is_handed_to_an_agent_and_back(live_server: LiveServer) -> None:
    base = live_server.url
    add_agent(live_server.app, "alice@example.com", name="Alice")
    headers = login(base, "alice@example.com")
    agent, customer = AgentSocket(base), WidgetClient(base)
    agent.connect(token_of(headers), status="away")
    customer.connect()
    try:
        customer.send("where is my order")
        customer.wait_for_bot("order number")
        customer.send("I want to talk to a human")
        customer.wait_for_bot("support specialists")
        position = customer.wait_for("message", lambda m: m["role"] == "system" and "in line" in (m["text"] or ""))
        assert position["text"].startswith("You're number 1 in line")
        assert customer.wait_for("status", lambda s: s["status"] == "queued" and "position" in s)["position"] == 1

        item = agent.wait_for("conversation", lambda d: d["type"] == "queued")["item"]
        cid = item["conversation_id"]
        assert item["channel"] == "widget"
        assert "Flows: check_order_status (waiting for order_number)" in item["summary"]
        assert "\u201cwhere is my order\u201d" in item["summary"]
        assert httpx.post(f"{base}/api/v1/conversations/{cid}/claim", headers=headers, timeout=30).status_code == 200
        assert customer.wait_for("status", lambda s: s["status"] == "assigned")["agent"]["name"] == "Alice"
        customer.wait_for("message", lambda m: m["role"] == "system" and m["text"] == "Alice joined the conversation.")

        assert agent.call("join", {"conversation_id": cid}) == {"ok": True}
        customer.emit("typing", {"typing": True})
        assert agent.wait_for("typing", lambda t: t["role"] == "customer")["typing"] is True
        assert agent.call("typing", {"conversation_id": cid, "typing": True}) == {"ok": True}
        assert customer.wait_for("typing", lambda t: t["role"] == "agent")["author"]["name"] == "Alice"

        httpx.post(f"{base}/api/v1/conversations/{cid}/messages", json={"text": "Hi! Which order is it?"},
                   headers=headers, timeout=30)
        reply = customer.wait_for("message", lambda m: m["role"] == "agent")
        assert reply["text"] == "Hi! Which order is it?" and reply["author"]["name"] == "Alice"

        customer.send("A1002")
        agent.wait_for("message", lambda m: m["role"] == "customer" and m["text"] == "A1002")
        wait_idle(live_server)
        assert not [m for m in customer.messages() if m["role"] == "bot" and "A1002" in (m["text"] or "")], \
            "the bot stays silent while the agent has the conversation"

        httpx.post(f"{base}/api/v1/conversations/{cid}/release", json={}, headers=headers, timeout=30)
        assert customer.wait_for("status", lambda s: s["status"] == "bot")
        csat = customer.wait_for_bot("how satisfied")
        customer.send(payload=csat["buttons"][0]["payload"], title=csat["buttons"][0]["title"])
        customer.wait_for_bot("thank you for your feedback")
    finally:
        customer.disconnect()
        agent.close()


def test_agents_of_the_team_can_open_a_customers_attachment(live_server: LiveServer) -> None:
    from tests.e2e.test_widget_attachments import fetch, png, upload

    add_agent(live_server.app, "in@example.com", teams=["support"])
    add_agent(live_server.app, "out@example.com", teams=["elsewhere"])
    customer = WidgetClient(live_server.url)
    token = customer.connect()["token"]
    try:
        attachment = upload(live_server, token, "tear.png", png()).json()["attachment"]
        customer.send("here is a photo", attachments=[attachment["id"]])
        customer.send("I want to talk to a human")
        customer.wait_for_bot("support specialists")
        wait_idle(live_server)
        move_handoffs_to(live_server, "support")
        inside = token_of(login(live_server.url, "in@example.com"))
        outside = token_of(login(live_server.url, "out@example.com"))
        assert fetch(live_server, attachment["id"], inside).content == png()
        assert fetch(live_server, attachment["id"], outside).status_code == 404, "another team's agent: no"
        assert fetch(live_server, attachment["id"], "bogus").status_code == 404
    finally:
        customer.disconnect()


def move_handoffs_to(server: LiveServer, team: str) -> None:
    from sqlalchemy import select, update

    from helpdesk.handoff.models import Handoff, Team

    service = server.app.extensions["helpdesk"].handoff
    with service.db.session() as session, session.begin():
        team_id = session.scalar(select(Team.id).where(Team.name == team))
        assert team_id is not None
        session.execute(update(Handoff).values(team_id=team_id))
