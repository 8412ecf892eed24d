"""The Rasa socket.io channel (namespace ``/``), driven by a real python-socketio client as a
Rasa web chat widget drives it: session_request → session_confirm, user_uttered → bot_uttered."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import socketio

from helpdesk.connectors.rasa_socketio import bot_uttered
from helpdesk.conversations.models import Conversation, Message
from tests.e2e.conftest import LiveServer
from tests.e2e.widget_helpers import agent_says, rows, wait_idle


class RasaChat:
    """A Rasa web chat front-end: one socket on ``/``."""

    def __init__(self, url: str) -> None:
        self.sio = socketio.Client(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._changed = threading.Condition()
        for name in ("session_confirm", "bot_uttered", "error"):
            self.sio.on(name, self._recorder(name))
        self.sio.connect(url, transports=["websocket"], wait_timeout=10)

    def _recorder(self, name: str) -> Callable[[Any], None]:
        def record(data: Any = None) -> None:
            with self._changed:
                self.events.append((name, data))
                self._changed.notify_all()
        return record

    def session(self, session_id: str | None = None) -> str:
        with self._changed:
            self.events = [(e, d) for e, d in self.events if e != "session_confirm"]
        self.sio.emit("session_request", {"session_id": session_id})
        return str(self.wait("session_confirm"))

    def say(self, message: str, session_id: str, **extra: Any) -> None:
        self.sio.emit("user_uttered", {"message": message, "session_id": session_id, **extra})

    def wait(self, name: str, predicate: Callable[[Any], bool] = lambda _d: True, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event, data in self.events:
                    if event == name and predicate(data):
                        return data
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise AssertionError(f"no {name!r} event; got {self.events!r}")

    def wait_text(self, text: str) -> dict[str, Any]:
        return self.wait("bot_uttered", lambda d: text.lower() in (d.get("text") or "").lower())  # type: ignore[no-any-return]

    def close(self) -> None:
        ws = getattr(self.sio.eio, "ws", None)
        if ws is not None:
            ws.close = lambda *a, **k: type(ws).close(ws, timeout=0.1)
        self.sio.disconnect()


@pytest.fixture
def chat(live_server: LiveServer) -> Iterator[RasaChat]:
    front_end = RasaChat(live_server.url)
    yield front_end
    front_end.close()


def test_session_request_without_an_id_gets_a_new_one(chat: RasaChat) -> None:
    first = chat.session()
    assert len(first) == 32 and int(first, 16) >= 0
    assert chat.session(None) != first


def test_user_uttered_gets_bot_uttered_with_quick_replies(live_server: LiveServer, chat: RasaChat) -> None:
    session_id = chat.session()
    chat.say("where is my order", session_id)
    chat.wait_text("order number")
    chat.say("A1002", session_id)
    chat.wait_text("A1002")
    question = chat.wait_text("anything else")
    assert question["quick_replies"] == [
        {"content_type": "text", "title": "Yes", "payload": "/SetSlots(continue_conversation=true)"},
        {"content_type": "text", "title": "No, thanks", "payload": "/SetSlots(continue_conversation=false)"},
    ]
    chat.say(question["quick_replies"][1]["payload"], session_id)
    chat.wait_text("have a great day")
    wait_idle(live_server)
    conversation = rows(live_server, Conversation)[0]
    assert (conversation.channel, conversation.thread_key) == ("socketio", session_id)


def test_reconnecting_with_the_same_session_id_continues_the_conversation(live_server: LiveServer,
                                                                          chat: RasaChat) -> None:
    session_id = chat.session("my-session-1234")
    assert session_id == "my-session-1234"
    chat.say("where is my order", session_id)
    chat.wait_text("order number")
    chat.close()
    reopened = RasaChat(live_server.url)
    assert reopened.session(session_id) == session_id
    reopened.say("A1002", session_id)
    assert "delivered" in reopened.wait_text("A1002")["text"]
    other = RasaChat(live_server.url)
    other.say("A1002", other.session())
    assert "A1002" not in other.wait("bot_uttered")["text"], "another session starts from scratch"
    reopened.close()
    other.close()


def test_every_socket_of_a_session_gets_the_replies(live_server: LiveServer, chat: RasaChat) -> None:
    session_id = chat.session()
    second = RasaChat(live_server.url)
    second.session(session_id)
    chat.say("where is my order", session_id)
    second.wait_text("order number")
    second.close()


def test_metadata_is_stored_with_the_message(live_server: LiveServer, chat: RasaChat) -> None:
    session_id = chat.session()
    chat.say("hello", session_id, metadata=json.dumps({"locale": "en-GB"}))
    chat.wait("bot_uttered")
    wait_idle(live_server)
    assert rows(live_server)[0].payload == {"metadata": {"locale": "en-GB"}}


def test_custom_data_is_the_metadata_as_in_rasa(live_server: LiveServer, chat: RasaChat) -> None:
    """Rasa reads a message's metadata from ``customData`` (SocketIOInput's ``metadata_key``), where
    rasa-webchat sends its ``customData`` prop with every ``user_uttered``; found with rasa-webchat 1.0.1,
    whose customData was dropped while only ``metadata`` was read."""
    session_id = chat.session()
    chat.say("hello", session_id, customData={"language": "en", "page": "/checkout"})
    chat.wait("bot_uttered")
    chat.say("where is my order", session_id, customData=json.dumps({"language": "de"}), metadata={"locale": "de-CH"})
    chat.wait_text("order number")
    wait_idle(live_server)
    customer = [m for m in rows(live_server) if m.role == "customer"]
    assert [m.payload for m in customer] == [
        {"metadata": {"language": "en", "page": "/checkout"}},
        {"metadata": {"language": "de", "locale": "de-CH"}},
    ]


@pytest.mark.parametrize(("data", "code"), [
    ({"message": "hello"}, "invalid_session_id"),
    ({"message": "", "session_id": "s1"}, "empty_message"),
    ({"message": "x" * 4001, "session_id": "s1"}, "message_too_long"),
    ({"message": "hi", "session_id": "s1", "metadata": "{not json"}, "invalid_metadata"),
    ({"message": "hi", "session_id": "s1", "customData": ["en"]}, "invalid_metadata"),
    ({"session_id": "s1", "customData": {"language": "en"}}, "empty_message"),
    ("hello", "invalid_message"),
])
def test_bad_input_gets_an_error_event_and_stores_nothing(live_server: LiveServer, chat: RasaChat,
                                                          data: Any, code: str) -> None:
    chat.sio.emit("user_uttered", data)
    assert chat.wait("error")["code"] == code
    assert rows(live_server) == []


def test_agent_messages_reach_the_rasa_front_end(live_server: LiveServer, chat: RasaChat) -> None:
    session_id = chat.session()
    chat.say("hello", session_id)
    chat.wait("bot_uttered")
    wait_idle(live_server)
    agent_says(live_server, rows(live_server, Conversation)[0].id, "Hi, Alex here.\n\nHow can I help?")
    chat.wait_text("How can I help?")
    assert {"text": "Hi, Alex here."} in [d for e, d in chat.events if e == "bot_uttered"]


def test_replies_are_split_into_paragraphs_with_buttons_on_the_last() -> None:
    message = Message(text="First part.\n\nSecond part.", role="bot", seq=1, payload={
        "buttons": [{"title": "OK", "payload": "/ok"}], "image": "https://x.example/a.png",
        "custom": {"kind": "card"}})
    assert bot_uttered(message) == [
        {"text": "First part."},
        {"text": "Second part.", "quick_replies": [{"content_type": "text", "title": "OK", "payload": "/ok"}]},
        {"attachment": {"type": "image", "payload": {"src": "https://x.example/a.png"}}},
        {"kind": "card"},
    ]
    assert bot_uttered(Message(text=None, role="bot", seq=2, payload={})) == []
