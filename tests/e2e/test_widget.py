"""The widget protocol end to end: a real server, real python-socketio clients, SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpdesk.conversations.models import Conversation, Message
from helpdesk.conversations.turn import open_turn
from helpdesk.conversations.types import OutgoingMessage
from tests.e2e.conftest import LiveServer
from tests.e2e.widget_helpers import WidgetClient, rows, serve, wait_idle


@pytest.fixture
def client(live_server: LiveServer) -> Any:
    tab = WidgetClient(live_server.url)
    yield tab
    tab.disconnect()


def seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["seq"] for m in messages]


def test_a_new_visitor_gets_an_empty_anonymous_session(client: WidgetClient) -> None:
    session = client.connect()
    assert session["token"] and session["visitor_id"].startswith("anon:")
    assert session["conversation_id"] is None
    assert session["status"] == "bot"
    assert session["messages"] == []


def test_chat_a_flow_to_its_end_then_reconnect_and_get_exactly_the_missed_messages(
        live_server: LiveServer, client: WidgetClient) -> None:
    token = client.connect()["token"]
    acks = [client.send("where is my order")]
    assert set(acks[0]) >= {"id", "seq"} and acks[0]["seq"] == 1
    client.wait_for_bot("order number")
    acks.append(client.send("A1002"))
    question = client.wait_for_bot("anything else")
    assert {"title": "No, thanks", "payload": "/SetSlots(continue_conversation=false)"} in question["buttons"]
    acks.append(client.send(payload="/SetSlots(continue_conversation=false)", title="No, thanks"))
    csat = client.wait_for_bot("how satisfied")
    acks.append(client.send(payload=csat["buttons"][0]["payload"], title=csat["buttons"][0]["title"]))
    client.wait_for_bot("thank you for your feedback")
    wait_idle(live_server)
    seen = client.messages()
    assert all(m["role"] == "bot" for m in seen), "a tab's own messages come back as acks, not events"
    last_seq = max(seqs(seen))
    assert sorted(seqs(seen) + [a["seq"] for a in acks]) == list(range(1, last_seq + 1)), "all once, no gaps"
    clicked = next(m for m in rows(live_server) if m.seq == acks[2]["seq"])
    assert (clicked.text, clicked.payload) == (None, {"payload": "/SetSlots(continue_conversation=false)",
                                                      "title": "No, thanks"})
    client.disconnect()

    other_tab = WidgetClient(live_server.url)
    other_tab.connect({"token": token, "last_seq": last_seq})
    sent = other_tab.send("where is my order")
    reply = other_tab.wait_for_bot("order number")
    wait_idle(live_server)
    other_tab.disconnect()

    again = WidgetClient(live_server.url)
    session = again.connect({"token": token, "last_seq": last_seq})
    assert seqs(session["messages"]) == [last_seq + 1, last_seq + 2] == [sent["seq"], reply["seq"]]
    mine, answer = session["messages"]
    assert (mine["role"], mine["text"], mine["id"]) == ("customer", "where is my order", sent["id"])
    assert answer == reply, "exactly the missed messages, as they were sent live"
    again.send("A1002")
    again.wait_for_bot("anything else")
    wait_idle(live_server)
    live = seqs(again.messages())
    assert len(live) == len(set(live)) and min(live) > last_seq + 3, "no duplicates after the replay"
    again.disconnect()


def test_a_repeated_client_id_is_stored_and_answered_once(live_server: LiveServer, client: WidgetClient) -> None:
    client.connect()
    first = client.send("where is my order", client_id="c-1")
    again = client.send("where is my order", client_id="c-1")
    assert (again["id"], again["seq"]) == (first["id"], first["seq"])
    assert again["duplicate"] is True
    client.wait_for_bot("order number")
    wait_idle(live_server)
    customer = [m for m in rows(live_server) if m.role == "customer"]
    assert len(customer) == 1 and customer[0].external_id == "c-1"
    assert len([m for m in rows(live_server) if m.role == "bot"]) == 1


def test_every_tab_of_a_visitor_sees_the_conversation(live_server: LiveServer, client: WidgetClient) -> None:
    token = client.connect()["token"]
    second = WidgetClient(live_server.url)
    second.connect({"token": token})
    ack = client.send("where is my order", client_id="tab-1-msg")
    echoed = second.wait_for("message", lambda m: m["role"] == "customer")
    assert (echoed["id"], echoed["seq"], echoed["text"], echoed["client_id"]) == (
        ack["id"], ack["seq"], "where is my order", "tab-1-msg")
    second.wait_for_bot("order number")
    client.wait_for_bot("order number")
    assert [m["role"] for m in client.messages()] == ["bot"], "the sending tab is not echoed its own message"
    second.disconnect()


def test_a_reload_replays_the_history(live_server: LiveServer, client: WidgetClient) -> None:
    token = client.connect()["token"]
    client.send("where is my order")
    client.wait_for_bot("order number")
    wait_idle(live_server)
    reloaded = WidgetClient(live_server.url)
    session = reloaded.connect({"token": token})
    assert [m["role"] for m in session["messages"]] == ["customer", "bot"]
    assert session["conversation_id"] == client.messages()[0]["conversation_id"]
    reloaded.disconnect()


@pytest.mark.parametrize(("data", "code"), [
    ({"text": "", "client_id": "x"}, "empty_message"),
    ({"text": "   ", "client_id": "x"}, "empty_message"),
    ({"text": "a" * 4001, "client_id": "x"}, "message_too_long"),
    ({"text": 42, "client_id": "x"}, "invalid_message"),
    ({"text": "hi", "client_id": "y" * 65}, "invalid_client_id"),
    ({"text": "hi", "client_id": 7}, "invalid_client_id"),
    ({"text": "hi", "metadata": "page"}, "invalid_metadata"),
    ({"text": "hi", "attachments": "abc"}, "invalid_attachments"),
    ({"text": "hi", "attachments": ["nope"]}, "unknown_attachment"),
    ({"payload": "  "}, "empty_message"),
    ("just a string", "invalid_message"),
])
def test_bad_messages_get_an_error_event_and_store_nothing(live_server: LiveServer, client: WidgetClient,
                                                           data: Any, code: str) -> None:
    client.connect()
    ack = client.emit("message", data)
    assert ack["error"]["code"] == code and ack["error"]["message"]
    error = client.wait_for("error")
    assert error["code"] == code
    assert rows(live_server) == []


def test_a_message_of_exactly_the_limit_is_accepted(live_server: LiveServer, client: WidgetClient) -> None:
    client.connect()
    assert client.send("a" * 4000)["seq"] == 1


def test_status_events_follow_the_conversation(live_server: LiveServer, client: WidgetClient) -> None:
    client.connect()
    client.send("I want to talk to a human")
    status = client.wait_for("status")
    assert status["status"] == "queued"
    wait_idle(live_server)
    conversation = rows(live_server, Conversation)[0]
    services = live_server.app.extensions["helpdesk"]
    where = {"conversation_id": conversation.id, "channel": "widget", "thread_key": conversation.thread_key}
    services.bus.publish("status", {**where, "status": "assigned", "agent": {"name": "Alex", "id": 3}})
    assigned = client.wait_for("status", lambda s: s["status"] == "assigned")
    assert assigned == {"status": "assigned", "agent": {"name": "Alex"}}


def test_agent_and_system_messages_and_agent_typing_reach_the_visitor(live_server: LiveServer,
                                                                      client: WidgetClient) -> None:
    client.connect()
    client.send("hello")
    wait_idle(live_server)
    services = live_server.app.extensions["helpdesk"]
    conversation = rows(live_server, Conversation)[0]
    where = {"conversation_id": conversation.id, "channel": "widget", "thread_key": conversation.thread_key}
    services.bus.publish("typing", {**where, "role": "agent", "typing": True, "author": {"name": "Alex"}})
    assert client.wait_for("typing", lambda t: t["role"] == "agent") == {
        "typing": True, "role": "agent", "author": {"name": "Alex"}}
    with open_turn(services.db, services.pipeline.locks, conversation.id) as turn:
        agent = turn.append_message(OutgoingMessage("agent", "Hi, I'm Alex <b>from support</b>", author="Alex"))
        system = turn.append_message(OutgoingMessage("system", "Alex joined the conversation"))
        published = [{**where, "id": m.id, "seq": m.seq, "role": m.role, "text": m.text, "buttons": [],
                      "created_at": None} for m in (agent, system)]
        turn.after_commit(lambda: [services.bus.publish("message", p) for p in published])
    got = client.wait_for("message", lambda m: m["role"] == "agent")
    assert got["text"] == "Hi, I'm Alex <b>from support</b>" and got["author"] == {"name": "Alex"}
    assert client.wait_for("message", lambda m: m["role"] == "system")["text"] == "Alex joined the conversation"


def test_the_bot_is_shown_typing_while_a_slow_turn_runs(db_url: str, tmp_path: Path) -> None:
    with serve(db_url, tmp_path, widget_typing_delay=0) as live:
        tab = WidgetClient(live.url)
        tab.connect()
        tab.send("where is my order")
        tab.wait_for_bot("order number")
        tab.wait_for("typing", lambda t: t["typing"] is False)
        assert tab.named("typing") == [{"typing": True, "role": "bot"}, {"typing": False, "role": "bot"}]
        tab.disconnect()


def test_a_fast_turn_shows_no_typing(live_server: LiveServer, client: WidgetClient) -> None:
    client.connect()
    client.send("where is my order")
    client.wait_for_bot("order number")
    client.send("hello")
    client.wait_for("message", lambda m: m["seq"] == 4)
    assert client.named("typing") == []


def test_visitor_typing_is_published_for_agents(live_server: LiveServer, client: WidgetClient) -> None:
    seen: list[dict[str, Any]] = []
    services = live_server.app.extensions["helpdesk"]
    services.bus.subscribe(lambda event, data: seen.append(data) if event == "typing" else None)
    client.connect()
    client.send("hello")
    wait_idle(live_server)
    client.emit("typing", {"typing": True})
    client.emit("typing", {"typing": False})
    assert [(d["role"], d["typing"], d["channel"]) for d in seen] == [("customer", True, "widget"),
                                                                      ("customer", False, "widget")]


def test_messages_are_stored_in_the_order_sent(live_server: LiveServer, client: WidgetClient) -> None:
    client.connect()
    texts = [f"message {i}" for i in range(8)]
    for text in texts:
        client.sio.emit("message", {"text": text, "client_id": text.replace(" ", "-")}, namespace="/widget")
    client.emit("typing", {"typing": False})  # handled after the eight messages: all are stored
    wait_idle(live_server)
    customer = [m for m in rows(live_server) if m.role == "customer"]
    assert [m.text for m in sorted(customer, key=lambda m: m.seq)] == texts
    assert rows(live_server, Conversation)[0].processed_seq == max(m.seq for m in customer)


def test_messages_keep_the_page_metadata(live_server: LiveServer, client: WidgetClient) -> None:
    client.connect()
    client.send("hello", metadata={"page_url": "https://shop.example/checkout"})
    wait_idle(live_server)
    stored: Message = rows(live_server)[0]
    assert stored.payload == {"metadata": {"page_url": "https://shop.example/checkout"}}
