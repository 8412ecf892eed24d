"""The agent REST API: tokens (401), roles (403), team scoping, transfers, notes, canned responses,
business hours, renaming and deactivating agents (never the last admin), stats and the OpenAPI document."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from helpdesk.handoff.models import Agent, AgentToken, BusinessHours
from tests.e2e.conftest import LiveServer
from tests.e2e.widget_helpers import serve
from tests.integration.test_handoff_support import (
    PASSWORD,
    add_agent,
    ask_for_human,
    conversation_id,
    handoff_of,
    login,
)


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> LiveServer:
    with serve(db_url, tmp_path, timers_in_web=False, handoff_routes="talk_to_human=support") as live:
        add_agent(live.app, "admin@example.com", role="admin")
        add_agent(live.app, "sue@example.com", teams=["support"])
        add_agent(live.app, "bill@example.com", teams=["billing"])
        yield live


def api(server: LiveServer, method: str, path: str, headers: dict[str, str] | None = None,
        **kwargs: object) -> httpx.Response:
    return httpx.request(method, f"{server.url}/api/v1{path}", headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


ENDPOINTS = [("GET", "/queue"), ("GET", "/conversations"), ("GET", "/conversations/1"),
             ("POST", "/conversations/1/claim"), ("POST", "/conversations/1/messages"),
             ("POST", "/conversations/1/transfer"), ("POST", "/conversations/1/release"),
             ("POST", "/conversations/1/resolve"), ("POST", "/agents"), ("PATCH", "/agents/me"),
             ("GET", "/stats"), ("GET", "/agents"), ("PUT", "/business-hours"), ("DELETE", "/business-hours"),
             ("PATCH", "/agents/1")]


def test_requests_without_a_valid_token_get_401(server: LiveServer) -> None:
    for (method, path), headers in itertools.product(ENDPOINTS, (None, {"Authorization": "Bearer nope"},
                                                                 {"Authorization": "Basic YTpi"})):
        response = api(server, method, path, headers, json={})
        assert response.status_code == 401, (method, path)
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_password_and_unknown_email_get_the_same_401(server: LiveServer) -> None:
    wrong = api(server, "POST", "/auth/login", json={"email": "sue@example.com", "password": "nope-nope"})
    unknown = api(server, "POST", "/auth/login", json={"email": "who@example.com", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_expired_and_revoked_tokens_get_401(server: LiveServer) -> None:
    sue = login(server.url, "sue@example.com")
    assert api(server, "GET", "/agents/me", sue).status_code == 200
    service = handoff_of(server.app)
    with service.db.session() as session, session.begin():
        session.execute(update(AgentToken).values(expires_at=service.now() - timedelta(seconds=1)))
    assert api(server, "GET", "/agents/me", sue).status_code == 401
    fresh = login(server.url, "sue@example.com")
    assert api(server, "POST", "/auth/logout", fresh).status_code == 204
    assert api(server, "GET", "/agents/me", fresh).status_code == 401


def test_agents_get_403_on_admin_endpoints(server: LiveServer) -> None:
    sue = login(server.url, "sue@example.com")
    new = {"email": "new@example.com", "name": "New", "password": "long enough"}
    for method, path, body in [("POST", "/agents", new), ("PATCH", "/agents/1", {"capacity": 9}),
                               ("POST", "/teams", {"name": "x"}), ("POST", "/canned-responses",
                                                                   {"shortcut": "hi", "text": "Hello!"}),
                               ("PUT", "/business-hours", {"timezone": "UTC", "schedule": {}}),
                               ("DELETE", "/business-hours?team=support", None)]:
        response = api(server, method, path, sue, json=body)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "admin_required"
    admin = login(server.url, "admin@example.com")
    created = api(server, "POST", "/agents", admin, json={**new, "teams": ["support"], "capacity": 4})
    assert created.status_code == 201
    assert created.json()["teams"] == ["support"] and created.json()["capacity"] == 4
    assert api(server, "POST", "/agents", admin, json=new).status_code == 409
    bad = api(server, "POST", "/agents", admin, json={**new, "email": "x@example.com", "password": "short"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_password"


def test_an_agent_cannot_act_on_another_teams_conversation_unless_admin(server: LiveServer) -> None:
    ask_for_human(server.url, "scoped")
    cid = conversation_id(server.app, "scoped")
    bill, sue, admin = (login(server.url, f"{n}@example.com") for n in ("bill", "sue", "admin"))
    assert api(server, "GET", "/queue", bill).json()["items"] == []
    assert [i["team"] for i in api(server, "GET", "/queue", sue).json()["items"]] == ["support"]
    for method, path, body in [("GET", f"/conversations/{cid}", None), ("POST", f"/conversations/{cid}/claim", None),
                               ("POST", f"/conversations/{cid}/messages", {"text": "hi"}),
                               ("POST", f"/conversations/{cid}/messages", {"text": "hi", "internal": True}),
                               ("POST", f"/conversations/{cid}/resolve", None),
                               ("POST", f"/conversations/{cid}/release", {})]:
        response = api(server, method, path, bill, json=body)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "wrong_team"
    assert api(server, "GET", "/conversations?status=open", bill).json()["items"] == []
    assert api(server, "GET", f"/conversations/{cid}", admin).status_code == 200
    assert api(server, "POST", f"/conversations/{cid}/claim", sue).status_code == 200
    taken = api(server, "POST", f"/conversations/{cid}/claim", admin)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "already_assigned"
    assert api(server, "POST", f"/conversations/{cid}/resolve", admin).status_code == 200


def test_transfers_notes_and_release(server: LiveServer) -> None:
    ask_for_human(server.url, "moving")
    cid = conversation_id(server.app, "moving")
    sue, bill, admin = (login(server.url, f"{n}@example.com") for n in ("sue", "bill", "admin"))
    bill_id = api(server, "GET", "/agents/me", bill).json()["id"]
    api(server, "POST", f"/conversations/{cid}/claim", sue)
    note = api(server, "POST", f"/conversations/{cid}/messages", sue, json={"text": "VIP <b>customer</b>", "internal": True})
    assert note.status_code == 201 and note.json()["kind"] == "note"
    moved = api(server, "POST", f"/conversations/{cid}/transfer", sue, json={"team": "billing"})
    assert moved.status_code == 200
    assert moved.json()["status"] == "queued" and moved.json()["team"] == "billing"
    assert api(server, "GET", f"/conversations/{cid}", sue).status_code == 403, "no longer sue's team"
    assert api(server, "POST", f"/conversations/{cid}/transfer", admin, json={"agent_id": bill_id}).json()[
        "assignee"]["id"] == bill_id
    detail = api(server, "GET", f"/conversations/{cid}", bill).json()
    texts = [m["text"] for m in detail["messages"]]
    assert "You've been transferred to the billing team." in texts
    assert "VIP <b>customer</b>" not in texts, "notes never reach the transcript"
    assert any(n["text"] == "VIP <b>customer</b>" for n in detail["notes"])
    assert detail["summary"].startswith("Reason: the customer asked for a person")
    bad = api(server, "POST", f"/conversations/{cid}/transfer", bill, json={"team": "nowhere"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "unknown_team"
    released = api(server, "POST", f"/conversations/{cid}/release", bill, json={})
    assert released.status_code == 200 and released.json()["status"] == "bot"
    last = api(server, "GET", f"/conversations/{cid}", admin).json()["messages"][-1]
    assert last["role"] == "bot" and "satisfied" in last["text"].lower()
    again = api(server, "POST", f"/conversations/{cid}/release", bill, json={})
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_handed_off"


def test_bad_bodies_get_400_and_change_nothing(server: LiveServer) -> None:
    ask_for_human(server.url, "bodies")
    cid = conversation_id(server.app, "bodies")
    sue = login(server.url, "sue@example.com")
    for body, code in [({"text": ""}, "invalid_text"), ({"text": 5}, "invalid_text"), ({}, "invalid_text"),
                       ({"text": "x" * 5000}, "text_too_long")]:
        response = api(server, "POST", f"/conversations/{cid}/messages", sue, json=body)
        assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert api(server, "GET", f"/conversations/{cid}", sue).json()["status"] == "queued"
    raw = httpx.post(f"{server.url}/api/v1/conversations/{cid}/messages", content=b"{oops",
                     headers={**sue, "Content-Type": "application/json"}, timeout=30)
    assert raw.status_code == 400 and raw.json()["error"]["code"] == "invalid_json"
    assert api(server, "GET", "/conversations/99999", sue).status_code == 404
    assert api(server, "PATCH", "/agents/me", sue, json={"status": "asleep"}).status_code == 400
    assert api(server, "GET", "/conversations?status=weird", sue).status_code == 400


def test_canned_responses_business_hours_stats_and_openapi(server: LiveServer) -> None:
    admin, sue = login(server.url, "admin@example.com"), login(server.url, "sue@example.com")
    assert api(server, "POST", "/canned-responses", admin, json={"shortcut": "hello", "text": "Hi there!"}).status_code == 201
    assert api(server, "POST", "/canned-responses", admin, json={"shortcut": "hello", "text": "x"}).status_code == 409
    assert api(server, "GET", "/canned-responses", sue).json()["items"][0]["text"] == "Hi there!"
    hours = {"timezone": "Europe/Berlin", "schedule": {"mon": [["09:00", "17:00"]]}}
    assert api(server, "PUT", "/business-hours", admin, json=hours).status_code == 200
    got = api(server, "GET", "/business-hours", sue).json()
    assert got["timezone"] == "Europe/Berlin" and "open_now" in got and got["next_opening"]
    bad = api(server, "PUT", "/business-hours", admin, json={"timezone": "Mars/Base", "schedule": {}})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_timezone"
    stats = api(server, "GET", "/stats", sue).json()
    assert {"queue_length", "containment_rate", "handoff_rate", "avg_wait_seconds",
            "avg_first_response_seconds"} <= set(stats)
    spec = httpx.get(f"{server.url}/api/v1/openapi.json", timeout=30).json()
    assert spec["openapi"].startswith("3.")
    for path in ("/auth/login", "/queue", "/conversations", "/conversations/{cid}", "/conversations/{cid}/claim",
                 "/conversations/{cid}/messages", "/conversations/{cid}/transfer", "/conversations/{cid}/release",
                 "/conversations/{cid}/resolve", "/agents", "/agents/me"):
        assert path in spec["paths"], path
    assert "409" in spec["paths"]["/conversations/{cid}/claim"]["post"]["responses"]


def stored_agent(server: LiveServer, email: str) -> tuple[str, str, bool]:
    with handoff_of(server.app).db.read_session() as session:
        agent = session.scalars(select(Agent).where(Agent.email == email)).one()
        return agent.name, agent.role, agent.active


def test_admins_rename_and_deactivate_agents(server: LiveServer) -> None:
    admin, sue = login(server.url, "admin@example.com"), login(server.url, "sue@example.com")
    sue_id = api(server, "GET", "/agents/me", sue).json()["id"]
    renamed = api(server, "PATCH", f"/agents/{sue_id}", admin, json={"name": "  Susan Q.  "})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Susan Q."
    for body, code in [({"name": "   "}, "invalid_name"), ({"name": 7}, "invalid_name"),
                       ({"name": "x" * 256}, "invalid_name"),
                       ({"active": "no"}, "invalid_active"), ({"active": None}, "invalid_active"),
                       ({"name": "Ok", "email": "new@example.com"}, "invalid_field")]:
        bad = api(server, "PATCH", f"/agents/{sue_id}", admin, json=body)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == code, body
    assert stored_agent(server, "sue@example.com") == ("Susan Q.", "agent", True), "bad bodies change nothing"
    assert api(server, "PATCH", "/agents/99999", admin, json={"active": False}).status_code == 404

    gone = api(server, "PATCH", f"/agents/{sue_id}", admin, json={"active": False})
    assert gone.status_code == 200
    assert stored_agent(server, "sue@example.com") == ("Susan Q.", "agent", False)
    assert sue_id not in [a["id"] for a in api(server, "GET", "/agents", admin).json()["items"]]
    assert api(server, "GET", "/agents/me", sue).status_code == 401, "the deactivated agent's token stops working"
    assert httpx.post(f"{server.url}/api/v1/auth/login", json={"email": "sue@example.com", "password": PASSWORD},
                      timeout=30).status_code == 401
    back = api(server, "PATCH", f"/agents/{sue_id}", admin, json={"active": True})
    assert back.status_code == 200 and stored_agent(server, "sue@example.com")[2] is True


def test_the_last_active_admin_can_be_neither_deactivated_nor_demoted(server: LiveServer) -> None:
    admin, bill = login(server.url, "admin@example.com"), login(server.url, "bill@example.com")
    admin_id = api(server, "GET", "/agents/me", admin).json()["id"]
    bill_id = api(server, "GET", "/agents/me", bill).json()["id"]
    for body in ({"active": False}, {"role": "agent"}, {"role": "agent", "active": False},
                 {"active": False, "capacity": 3, "name": "Renamed"}):
        refused = api(server, "PATCH", f"/agents/{admin_id}", admin, json=body)
        assert refused.status_code == 409, body
        assert refused.json()["error"] == {
            "code": "last_admin", "message": "Admin is the last active admin: make another agent an admin first"}
    assert stored_agent(server, "admin@example.com") == ("Admin", "admin", True), "nothing changed"
    assert api(server, "PATCH", f"/agents/{admin_id}", admin, json={"active": True, "role": "admin",
                                                                    "name": "Boss"}).status_code == 200

    # with a second admin, the first may step down (an inactive admin does not count as one)
    assert api(server, "PATCH", f"/agents/{bill_id}", admin, json={"role": "admin"}).status_code == 200
    assert api(server, "PATCH", f"/agents/{admin_id}", admin, json={"active": False}).status_code == 200
    assert api(server, "GET", "/agents/me", admin).status_code == 401
    bill = login(server.url, "bill@example.com")
    last = api(server, "PATCH", f"/agents/{bill_id}", bill, json={"role": "agent"})
    assert last.status_code == 409 and last.json()["error"]["code"] == "last_admin"
    assert stored_agent(server, "bill@example.com") == ("Bill", "admin", True)
    assert api(server, "PATCH", f"/agents/{admin_id}", bill, json={"active": True}).status_code == 200
    assert api(server, "PATCH", f"/agents/{bill_id}", bill, json={"role": "agent"}).status_code == 200
    assert stored_agent(server, "bill@example.com") == ("Bill", "agent", True)


def test_a_team_goes_back_to_the_default_hours(server: LiveServer) -> None:
    admin, sue = login(server.url, "admin@example.com"), login(server.url, "sue@example.com")
    got = api(server, "GET", "/business-hours?team=support", sue).json()
    assert (got["source"], got["always_open"]) == ("settings", True)
    missing = api(server, "DELETE", "/business-hours?team=support", admin)
    assert missing.status_code == 404 and missing.json()["error"] == {
        "code": "hours_not_found", "message": "team support has no hours of its own"}
    default = {"timezone": "Europe/Berlin", "schedule": {"mon": [["09:00", "17:00"]]}}
    own = {"timezone": "Asia/Tokyo", "schedule": {"sat": [["10:00", "12:00"]]}, "team": "support"}
    assert api(server, "PUT", "/business-hours", admin, json=default).status_code == 200
    assert api(server, "PUT", "/business-hours", admin, json=own).status_code == 200
    got = api(server, "GET", "/business-hours?team=support", sue).json()
    assert (got["source"], got["timezone"], got["schedule"]) == ("team", "Asia/Tokyo", own["schedule"])
    assert api(server, "GET", "/business-hours?team=billing", sue).json()["source"] == "default"

    unknown = api(server, "DELETE", "/business-hours?team=nowhere", admin)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unknown_team"
    removed = api(server, "DELETE", "/business-hours?team=support", admin)
    assert removed.status_code == 204 and removed.content == b""
    got = api(server, "GET", "/business-hours?team=support", sue).json()
    assert (got["source"], got["timezone"], got["schedule"]) == ("default", "Europe/Berlin", default["schedule"])
    assert api(server, "DELETE", "/business-hours?team=support", admin).status_code == 404
    with handoff_of(server.app).db.read_session() as session:
        assert [(r.team_id, r.timezone) for r in session.scalars(select(BusinessHours))] == [(None, "Europe/Berlin")]

    # without ?team the stored default goes, and the settings' hours apply again
    assert api(server, "DELETE", "/business-hours", admin).status_code == 204
    got = api(server, "GET", "/business-hours", sue).json()
    assert (got["source"], got["always_open"]) == ("settings", True)
    again = api(server, "DELETE", "/business-hours", admin)
    assert again.status_code == 404 and again.json()["error"]["message"] == "no default hours are stored"
