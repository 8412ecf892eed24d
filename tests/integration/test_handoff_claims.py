"""Claims and automatic assignment under concurrency, through the real API, on SQLite and PostgreSQL."""

from __future__ import annotations

import concurrent.futures
import itertools
from pathlib import Path

import httpx
from sqlalchemy import func, select

from helpdesk.handoff.models import Handoff
from tests.e2e.widget_helpers import serve
from tests.integration.test_handoff_support import (
    add_agent,
    ask_for_human,
    conversation_id,
    handoff_of,
    login,
)


def _claim(base: str, headers: dict[str, str], cid: int) -> tuple[int, int, str]:
    response = httpx.post(f"{base}/api/v1/conversations/{cid}/claim", headers=headers, timeout=60)
    code = response.json()["error"]["code"] if response.status_code != 200 else "ok"
    return cid, response.status_code, code


def test_fifty_concurrent_claims_of_ten_conversations_by_five_agents(db_url: str, tmp_path: Path) -> None:
    with serve(db_url, tmp_path, timers_in_web=False) as server:
        emails = [f"agent{i}@example.com" for i in range(5)]
        ids = {email: add_agent(server.app, email, capacity=2) for email in emails}
        headers = {email: login(server.url, email) for email in emails}
        cids = []
        for n in range(10):
            ask_for_human(server.url, f"customer-{n}")
            cids.append(conversation_id(server.app, f"customer-{n}"))
        jobs = [(email, cid) for cid, email in itertools.product(cids, emails)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=25) as pool:
            results = list(pool.map(lambda job: (job[0], *_claim(server.url, headers[job[0]], job[1])), jobs))

        assert len(results) == 50
        assert {status for *_, status, _code in results} <= {200, 409}
        winners = {(email, cid) for email, cid, status, _ in results if status == 200}
        assert sorted(cid for _, cid in winners) == sorted(cids), "exactly one winner per conversation"
        assert all(code in ("already_assigned", "agent_at_capacity") for *_, s, code in results if s == 409)

        with handoff_of(server.app).db.read_session() as session:
            rows = session.scalars(select(Handoff)).all()
            loads = dict(session.execute(select(Handoff.assignee_id, func.count()).group_by(Handoff.assignee_id)).all())
        assert len(rows) == 10 and all(r.status == "assigned" for r in rows)
        assert {r.conversation_id: r.assignee_id for r in rows} == {cid: ids[email] for email, cid in winners}
        assert sorted(loads.values()) == [2, 2, 2, 2, 2], "capacity 2 each: nobody above it"


def test_a_waiting_conversation_is_assigned_when_capacity_frees(db_url: str, tmp_path: Path) -> None:
    with serve(db_url, tmp_path, timers_in_web=False) as server:
        ann_id = add_agent(server.app, "ann@example.com", capacity=1)
        add_agent(server.app, "bob@example.com", capacity=1)
        ann, bob = login(server.url, "ann@example.com"), login(server.url, "bob@example.com")
        for who in (ann, bob):
            assert httpx.patch(f"{server.url}/api/v1/agents/me", json={"status": "online"}, headers=who,
                               timeout=30).json()["status"] == "online"
        for n in range(3):
            ask_for_human(server.url, f"c{n}")
        first, second, third = (conversation_id(server.app, f"c{n}") for n in range(3))
        queue = httpx.get(f"{server.url}/api/v1/queue", headers=ann, timeout=30).json()["items"]
        assert [i["conversation_id"] for i in queue] == [third], "two went straight to the two agents"
        assert queue[0]["position"] == 1

        with handoff_of(server.app).db.read_session() as session:
            owner = {h.conversation_id: h.assignee_id for h in session.scalars(select(Handoff))}
        assert {owner[first], owner[second]} >= {ann_id}
        freed = ann if owner[first] == ann_id else bob
        assert httpx.post(f"{server.url}/api/v1/conversations/{first}/resolve", headers=freed,
                          timeout=30).status_code == 200
        item = httpx.get(f"{server.url}/api/v1/conversations/{third}", headers=freed, timeout=30).json()
        assert item["status"] == "assigned"
        assert item["assignee"]["id"] == owner[first], "the agent who freed capacity gets it"


def test_automatic_assignment_goes_to_the_least_loaded_online_agent_of_the_team(db_url: str,
                                                                                 tmp_path: Path) -> None:
    with serve(db_url, tmp_path, timers_in_web=False, handoff_default_team="support") as server:
        busy = add_agent(server.app, "busy@example.com", teams=["support"], capacity=5, presence="online")
        idle = add_agent(server.app, "idle@example.com", teams=["support"], capacity=5, presence="online")
        add_agent(server.app, "other@example.com", teams=["billing"], capacity=5, presence="online")
        add_agent(server.app, "away@example.com", teams=["support"], capacity=5, presence="away")
        order = []
        for n in range(4):
            ask_for_human(server.url, f"s{n}")
            with handoff_of(server.app).db.read_session() as session:
                order.append(session.scalar(select(Handoff.assignee_id).where(
                    Handoff.conversation_id == conversation_id(server.app, f"s{n}"))))
        assert sorted(order[:2]) == sorted([busy, idle]), "the first two go to different agents"
        assert order[2] != order[3] and set(order) == {busy, idle}, "then they alternate: least loaded first"


def test_full_agents_leave_conversations_queued_with_positions(db_url: str, tmp_path: Path) -> None:
    with serve(db_url, tmp_path, timers_in_web=False) as server:
        add_agent(server.app, "solo@example.com", capacity=0, presence="online")
        replies = [ask_for_human(server.url, f"w{n}") for n in range(3)]
        assert [r[-1]["text"].split(".")[0] for r in replies] == [
            "You're number 1 in line", "You're number 2 in line", "You're number 3 in line"]
        solo = login(server.url, "solo@example.com")
        denied = httpx.post(f"{server.url}/api/v1/conversations/{conversation_id(server.app, 'w0')}/claim",
                            headers=solo, timeout=30)
        assert denied.status_code == 409 and denied.json()["error"]["code"] == "agent_at_capacity"


def test_waiting_customers_hear_their_new_place_when_the_queue_moves(db_url: str, tmp_path: Path) -> None:
    with serve(db_url, tmp_path, timers_in_web=False) as server:
        add_agent(server.app, "pat@example.com")
        for n in range(3):
            ask_for_human(server.url, f"line{n}")
        first, second, third = (conversation_id(server.app, f"line{n}") for n in range(3))
        seen: list[dict[str, object]] = []
        server.app.extensions["helpdesk"].bus.subscribe(lambda e, d: seen.append(d) if e == "status" else None)
        pat = login(server.url, "pat@example.com")
        assert httpx.post(f"{server.url}/api/v1/conversations/{second}/claim", headers=pat, timeout=30).status_code == 200
        moved = {d["conversation_id"]: d["position"] for d in seen if d.get("status") == "queued"}
        assert moved == {third: 2}, "only the customer whose place changed hears about it"
        assert any(d["conversation_id"] == second and d["status"] == "assigned" for d in seen)
        assert first not in moved
