"""RemoteActionClient against a real rasa-sdk action server (and a loopback server for broken answers)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from helpdesk.dialogue.actions.remote import (
    ActionRejected,
    ActionServerError,
    RemoteActionClient,
    RemoteActionResult,
)

DOMAIN: dict[str, Any] = {
    "version": "3.1",
    "slots": {"account": {"type": "text"}, "balance": {"type": "float"}, "email": {"type": "text"}},
    "responses": {"utter_greet": [{"text": "Hello {name}!"}]},
    "actions": ["action_check_balance", "action_describe_call"],
}
DIGEST = hashlib.sha256(json.dumps(DOMAIN, sort_keys=True).encode()).hexdigest()


def make_tracker(
    sender_id: str = "conv-1", *, slots: dict[str, Any] | None = None, text: str = "hi"
) -> dict[str, Any]:
    """A tracker dict in the shape the engine sends (Rasa's ``tracker.current_state()``)."""
    stack = [{"frame_id": "F1", "flow_id": "check_balance", "step_id": "START", "type": "flow"}]
    return {
        "sender_id": sender_id,
        "slots": {"account": None, "balance": None, "email": None, **(slots or {})},
        "latest_message": {"text": text, "intent": {}, "entities": [], "commands": []},
        "latest_event_time": 1700000000.0,
        "followup_action": None,
        "paused": False,
        "events": [
            {"event": "action", "name": "action_listen", "timestamp": 1699999999.0},
            {"event": "user", "text": text, "timestamp": 1700000000.0, "parse_data": {}},
        ],
        "latest_input_channel": "webchat",
        "active_loop": {},
        "latest_action": {"action_name": "action_listen"},
        "latest_action_name": "action_listen",
        "stack": stack,
    }


def run(client: RemoteActionClient, action: str, *, digest: str = DIGEST, **slots: Any) -> RemoteActionResult:
    return client.run(
        action, sender_id="conv-1", tracker=make_tracker(slots=slots), domain=DOMAIN, domain_digest=digest
    )


class RecordingTransport(httpx.BaseTransport):
    """The real network transport, noting each request body and the status that answered it."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()
        self.exchanges: list[tuple[dict[str, Any], int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        self.exchanges.append((json.loads(request.content), response.status_code))
        return response

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def client(action_server: str) -> Iterator[RemoteActionClient]:
    with RemoteActionClient(action_server, timeout=10) as remote:
        yield remote


@pytest.fixture
def recorded(action_server: str) -> Iterator[tuple[RemoteActionClient, RecordingTransport]]:
    transport = RecordingTransport()
    with RemoteActionClient(action_server, transport=transport) as remote:
        yield remote, transport


def test_slot_events_and_text_come_back(client: RemoteActionClient) -> None:
    result = run(client, "action_check_balance", account="ACC-7")

    assert result.events == [
        {"event": "slot", "timestamp": None, "name": "balance", "value": 42.5},
        {"event": "slot", "timestamp": None, "name": "checked_account", "value": "ACC-7"},
    ]
    assert [message["text"] for message in result.responses] == ["Your balance is 42.5"]


def test_new_digest_gets_449_then_the_domain_once(
    recorded: tuple[RemoteActionClient, RecordingTransport],
) -> None:
    remote, transport = recorded
    digest = f"digest-{uuid.uuid4()}"

    first = run(remote, "action_describe_call", digest=digest)
    second = run(remote, "action_describe_call", digest=digest)

    sent = [("domain" in body, body["domain_digest"], status) for body, status in transport.exchanges]
    assert sent == [(False, digest, 449), (True, digest, 200), (False, digest, 200)]
    assert transport.exchanges[1][0]["domain"] == DOMAIN
    seen_slots = {event["name"]: event["value"] for event in first.events}["seen_domain_slots"]
    assert seen_slots == sorted(DOMAIN["slots"])
    assert first == second


def test_server_holding_another_digest_asks_again(
    recorded: tuple[RemoteActionClient, RecordingTransport],
) -> None:
    """rasa-sdk keeps one domain per process: a digest it held before must be sent again."""
    remote, transport = recorded
    digest_a, digest_b = f"a-{uuid.uuid4()}", f"b-{uuid.uuid4()}"
    for digest in (digest_a, digest_b, digest_a):
        run(remote, "action_check_balance", digest=digest)

    statuses = [(body["domain_digest"], status) for body, status in transport.exchanges]
    assert statuses == [
        (digest_a, 449), (digest_a, 200), (digest_b, 449), (digest_b, 200), (digest_a, 449), (digest_a, 200),
    ]


def test_tracker_reaches_the_server(client: RemoteActionClient) -> None:
    result = client.run(
        "action_describe_call", sender_id="conv-9", tracker=make_tracker("conv-9", text="my balance?"),
        domain=DOMAIN, domain_digest=DIGEST,
    )

    seen = {event["name"]: event["value"] for event in result.events}
    assert seen["seen_sender"] == "conv-9"
    assert seen["seen_text"] == "my balance?"
    assert seen["seen_flows"] == ["check_balance"]


def test_buttons_and_response_name_come_back(client: RemoteActionClient) -> None:
    [message] = run(client, "action_buttons").responses

    assert message["response"] == "utter_greet"
    assert message["buttons"] == [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
    assert message["name"] == "Ada"  # extra kwargs are template variables for the named response


def test_validate_action_resets_an_invalid_slot(client: RemoteActionClient) -> None:
    invalid = run(client, "validate_email", email="not-an-email")
    valid = run(client, "validate_email", email="Ada@Example.org")

    assert invalid.events == [{"event": "slot", "timestamp": None, "name": "email", "value": None}]
    assert invalid.responses[0]["response"] == "utter_invalid_email"
    assert invalid.responses[0]["value"] == "not-an-email"
    assert valid.events == [{"event": "slot", "timestamp": None, "name": "email", "value": "ada@example.org"}]
    assert valid.responses == []


def test_several_event_kinds_come_back_unchanged(client: RemoteActionClient) -> None:
    result = run(client, "action_many_events")

    assert [event["event"] for event in result.events] == ["slot", "bot", "followup"]
    assert result.events[1] == {
        "event": "bot", "timestamp": None, "text": "Ticket T-1 created",
        "data": {"ticket": "T-1"}, "metadata": None,
    }
    assert result.events[2]["name"] == "action_listen"


def test_failing_action_is_a_server_error(client: RemoteActionClient) -> None:
    with pytest.raises(ActionServerError) as caught:
        run(client, "action_fail")

    assert caught.value.status_code == 500
    assert caught.value.reason == "HTTP 500: database unreachable"
    assert caught.value.action_name == "action_fail"
    assert "conv-1" not in str(caught.value)  # rasa-sdk echoes the request; keep it out


def test_slow_action_times_out_and_the_client_recovers(action_server: str) -> None:
    with RemoteActionClient(action_server, timeout=1) as remote:
        run(remote, "action_check_balance")  # the domain is settled before timing
        started = time.monotonic()
        with pytest.raises(ActionServerError, match="timeout") as caught:
            run(remote, "action_slow")
        assert time.monotonic() - started < 2.5
        assert caught.value.reason.startswith("timeout after 1s")

        assert run(remote, "action_check_balance").events  # the pool dropped the stuck connection


def test_rejection_is_action_rejected(client: RemoteActionClient) -> None:
    with pytest.raises(ActionRejected) as caught:
        run(client, "action_reject")

    assert caught.value.action_name == "action_reject"
    assert caught.value.message == "account is locked"


def test_unknown_action_is_not_found(client: RemoteActionClient) -> None:
    with pytest.raises(ActionServerError) as caught:
        run(client, "action_nobody_wrote")

    assert caught.value.reason == "not found"
    assert caught.value.status_code == 404
    assert "No registered action found" in str(caught.value)


def test_health_and_list_actions(client: RemoteActionClient) -> None:
    assert client.health() is True
    assert set(client.list_actions()) == {
        "action_check_balance", "action_buttons", "action_fail", "action_slow", "action_reject",
        "validate_email", "action_many_events", "action_describe_call", "action_ten_seconds",
    }


def test_server_down_is_a_server_error() -> None:
    with RemoteActionClient(f"http://127.0.0.1:{_unused_port()}/webhook", timeout=2) as remote:
        with pytest.raises(ActionServerError, match="cannot connect") as caught:
            run(remote, "action_check_balance")
        assert caught.value.status_code is None
        assert remote.health() is False
        with pytest.raises(ActionServerError):
            remote.list_actions()


def test_url_must_be_absolute_http() -> None:
    with pytest.raises(ValueError, match="absolute http"):
        RemoteActionClient("localhost:5055/webhook")


# --- Broken answers no real rasa-sdk gives: a loopback server plays them back. ---


class ScriptedServer(ThreadingHTTPServer):
    """Answers every request with ``answer`` = (status, content type, body) and notes the paths and bodies."""

    daemon_threads = True
    answer: tuple[int, str, bytes] = (200, "application/json", b"{}")
    requests: list[tuple[str, bytes]]


class ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.requests.append((self.path, self.rfile.read(length)))
        status, content_type, body = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer(("127.0.0.1", 0), ScriptedHandler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def scripted_client(server: ScriptedServer, path: str = "/webhook") -> RemoteActionClient:
    return RemoteActionClient(f"http://127.0.0.1:{server.server_address[1]}{path}", timeout=5)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((200, "application/json", b"{not json"), "invalid JSON in response (HTTP 200)"),
        ((200, "application/json", _json([])), "invalid response: expected a JSON object, got list"),
        ((200, "application/json", _json({"events": [{"name": "x"}]})), "invalid response: events[0] is not"),
        ((200, "application/json", _json({"events": {}, "responses": []})), "invalid response: 'events' and"),
        ((200, "application/json", _json({"responses": ["hi"]})), "invalid response: responses[0]"),
        ((502, "text/html", b"<h1>Bad Gateway</h1>"), "HTTP 502: Bad Gateway"),
        ((503, "application/json", _json({"error": "overloaded"})), "HTTP 503: overloaded"),
    ],
)
def test_broken_answers_are_server_errors(
    scripted: ScriptedServer, answer: tuple[int, str, bytes], reason: str
) -> None:
    scripted.answer = answer
    with scripted_client(scripted) as remote, pytest.raises(ActionServerError) as caught:
        run(remote, "action_x")

    assert caught.value.reason.startswith(reason)


def test_missing_lists_read_as_empty(scripted: ScriptedServer) -> None:
    scripted.answer = (200, "application/json", _json({"events": None}))
    with scripted_client(scripted) as remote:
        assert run(remote, "action_x") == RemoteActionResult(events=[], responses=[])


def test_domain_is_sent_once_even_if_449_repeats(scripted: ScriptedServer) -> None:
    missing = {"error": "Missing domain context", "action_name": "action_x"}
    scripted.answer = (449, "application/json", _json(missing))
    with scripted_client(scripted) as remote, pytest.raises(ActionServerError) as caught:
        run(remote, "action_x")

    assert caught.value.status_code == 449
    bodies = [json.loads(body) for _, body in scripted.requests]
    assert ["domain" in body for body in bodies] == [False, True]
    assert bodies[0] == {
        "next_action": "action_x", "sender_id": "conv-1", "tracker": make_tracker(), "version": "3.21.0",
        "domain_digest": DIGEST,
    }


def test_rejection_without_a_message(scripted: ScriptedServer) -> None:
    scripted.answer = (400, "text/plain", b"")
    with scripted_client(scripted) as remote, pytest.raises(ActionRejected) as caught:
        run(remote, "action_x")

    assert caught.value.message == "Custom action 'action_x' rejected execution."


def test_health_and_actions_are_siblings_of_the_webhook(scripted: ScriptedServer) -> None:
    scripted.answer = (200, "application/json", _json([{"name": "action_a"}, {"name": "action_b"}]))
    with scripted_client(scripted, "/bots/support/webhook?token=t") as remote:
        assert remote.health() is True
        assert remote.list_actions() == ["action_a", "action_b"]

    assert [path for path, _ in scripted.requests] == ["/bots/support/health", "/bots/support/actions"]


def _unused_port() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = int(server.server_address[1])
    server.server_close()
    return port
