"""The Rasa REST channel end to end: a real server, real HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from helpdesk.conversations.models import Conversation, Message
from tests.e2e.conftest import LiveServer
from tests.e2e.widget_helpers import serve

WEBHOOK = "/webhooks/rest/webhook"


def post(server: LiveServer, body: object, **kwargs: object) -> httpx.Response:
    return httpx.post(server.url + WEBHOOK, json=body, timeout=30, **kwargs)  # type: ignore[arg-type]


def count_messages(server: LiveServer) -> int:
    db = server.app.extensions["helpdesk"].db
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Message)) or 0)


def texts(response: httpx.Response) -> list[str]:
    return [r["text"] for r in response.json()]


def test_order_status_conversation_runs_to_the_end(live_server: LiveServer) -> None:
    first = post(live_server, {"sender": "s1", "message": "where is my order"})
    assert first.status_code == 200
    assert first.json()[0]["recipient_id"] == "s1"
    assert "order number" in texts(first)[0].lower()

    second = post(live_server, {"sender": "s1", "message": "A1002"})
    answer = " ".join(texts(second))
    assert "A1002" in answer
    assert "anything else" in answer.lower()
    assert any(r.get("buttons") for r in second.json())

    third = post(live_server, {"sender": "s1", "message": "no thanks"})
    assert any("satisfied" in t.lower() for t in texts(third))


def test_conversations_of_different_senders_are_separate(live_server: LiveServer) -> None:
    post(live_server, {"sender": "a", "message": "where is my order"})
    other = post(live_server, {"sender": "b", "message": "A1002"})
    assert "A1002" not in " ".join(texts(other))


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"sender": "s", "message": ""}, "empty_message"),
        ({"sender": "s", "message": "   "}, "empty_message"),
        ({"sender": "s", "message": "x" * 4001}, "message_too_long"),
        ({"sender": "s", "message": 42}, "invalid_message"),
        ({"sender": "s"}, "invalid_message"),
        ({"sender": ["s"], "message": "hi"}, "invalid_sender"),
        ({"sender": "", "message": "hi"}, "invalid_sender"),
        ({"sender": "s", "message": "hi", "metadata": "x"}, "invalid_metadata"),
        (["sender", "message"], "bad_request"),
    ],
)
def test_bad_input_gets_a_400_json_error_and_stores_nothing(live_server: LiveServer, body: object,
                                                            code: str) -> None:
    response = post(live_server, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert count_messages(live_server) == 0


def test_invalid_json_gets_a_400(live_server: LiveServer) -> None:
    response = httpx.post(live_server.url + WEBHOOK, content=b"{not json",
                          headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert count_messages(live_server) == 0


def test_a_message_of_exactly_the_limit_is_accepted(live_server: LiveServer) -> None:
    response = post(live_server, {"sender": "s", "message": "a" * 4000})
    assert response.status_code == 200
    assert count_messages(live_server) >= 2


def test_a_repeated_message_id_is_stored_once_and_answered_the_same(live_server: LiveServer) -> None:
    body = {"sender": "d", "message": "where is my order", "message_id": "m-1"}
    first, again = post(live_server, body), post(live_server, body)
    assert first.json() == again.json()
    db = live_server.app.extensions["helpdesk"].db
    with db.session() as session:
        customer = session.scalars(select(Message).where(Message.role == "customer")).all()
    assert len(customer) == 1


def test_unknown_routes_and_methods_answer_json(live_server: LiveServer) -> None:
    assert httpx.get(live_server.url + WEBHOOK, timeout=10).status_code == 405
    missing = httpx.get(live_server.url + "/nope", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert httpx.get(live_server.url + "/healthz", timeout=10).json() == {"status": "ok"}


def test_twenty_concurrent_posts_into_one_conversation(db_url: str, tmp_path: Path) -> None:
    messages = [f"message number {i}" for i in range(20)]
    # a sender may burst 10 messages by default (tests/security); this test is about ordering
    with serve(db_url, tmp_path, sender_rate_per_minute=0) as live_server, \
            concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda m: post(live_server, {"sender": "busy", "message": m}), messages))
        check_twenty(live_server, responses, messages)


def check_twenty(live_server: LiveServer, responses: list[httpx.Response], messages: list[str]) -> None:
    assert all(r.status_code == 200 for r in responses)
    assert all(r.json() for r in responses), "every post is answered"

    db = live_server.app.extensions["helpdesk"].db
    with db.session() as session:
        conversation = session.scalars(select(Conversation)).one()
        rows = session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                               .order_by(Message.seq)).all()
    customer = [m for m in rows if m.role == "customer"]
    assert sorted(m.text for m in customer) == sorted(messages)
    assert [m.seq for m in rows] == list(range(1, len(rows) + 1)), "seqs have no gaps"
    assert conversation.processed_seq == max(m.seq for m in customer)
    assert conversation.last_seq == len(rows)
    by_id = {m.id: m for m in customer}
    for reply in (m for m in rows if m.role == "bot"):
        assert reply.seq > by_id[reply.in_reply_to].seq, "a reply follows the message it answers"
    replied = [m.in_reply_to for m in rows if m.role == "bot"]
    assert set(replied) == set(by_id), "each message answered"
    first_reply_seq = {i: min(m.seq for m in rows if m.in_reply_to == i) for i in by_id}
    answered_order = sorted(by_id, key=lambda i: first_reply_seq[i])
    assert answered_order == sorted(by_id, key=lambda i: by_id[i].seq), "turns ran in seq order"
    assert conversation.state["turn"] == 20


def test_metrics_count_messages_and_turns(live_server: LiveServer) -> None:
    post(live_server, {"sender": "m", "message": "where is my order"})
    body = httpx.get(live_server.url + "/metrics", timeout=10).text
    assert 'helpdesk_messages_received_total{channel="rest"} 1.0' in body
    assert 'helpdesk_turns_total{channel="rest"} 1.0' in body


def test_published_events_follow_the_commit_in_order(live_server: LiveServer) -> None:
    seen: list[tuple[str, dict[str, object]]] = []
    live_server.app.extensions["helpdesk"].bus.subscribe(lambda event, data: seen.append((event, data)))
    post(live_server, {"sender": "p", "message": "talk to a human"})
    messages = [d for e, d in seen if e == "message"]
    assert [m["role"] for m in messages][0] == "customer"
    assert [m["seq"] for m in messages] == sorted(m["seq"] for m in messages)
    assert ("status", {"conversation_id": messages[0]["conversation_id"], "channel": "rest",
                       "thread_key": "p", "status": "queued"}) in seen
