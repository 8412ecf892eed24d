"""Visitor isolation, identities, rate limits and allowed origins of the widget."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from helpdesk.connectors.widget.tokens import SALT, Visitor, VisitorTokens, identity_hash
from helpdesk.conversations.models import Conversation, Customer
from tests.e2e.conftest import LiveServer
from tests.e2e.widget_helpers import WidgetClient, rows, serve, wait_idle

SITE_SECRET = "site-secret-for-tests"


class _OldSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 10 * 24 * 3600


def forge(secret: str, payload: dict[str, Any], *, signer: type[TimestampSigner] = TimestampSigner) -> str:
    return URLSafeTimedSerializer(secret, salt=SALT, signer=signer).dumps(payload)


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Any:
    with serve(db_url, tmp_path, widget_site_secret=SITE_SECRET, widget_token_max_age=3600) as live:
        yield live


@pytest.fixture
def tabs(server: LiveServer) -> Any:
    opened: list[WidgetClient] = []

    def open_tab() -> WidgetClient:
        opened.append(WidgetClient(server.url))
        return opened[-1]

    yield open_tab
    for tab in opened:
        tab.disconnect()


def visitor_a_chats(server: LiveServer, tabs: Any) -> tuple[WidgetClient, dict[str, Any]]:
    a = tabs()
    session = a.connect()
    a.send("where is my order")
    a.wait_for_bot("order number")
    a.send("A1002 is my secret order")
    wait_idle(server)
    return a, session


def tamper(token: str, index: int) -> str:
    """``token`` with the character at ``index`` replaced by a different one."""
    chars = list(token)
    chars[index] = "A" if chars[index] != "A" else "B"
    return "".join(chars)


def same_signature_spellings(token: str) -> list[str]:
    """Other spellings of ``token`` whose base64 signature decodes to the very same bytes."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused_bits = (len(token.rpartition(".")[2]) * 6) % 8
    value = alphabet.index(token[-1])
    siblings = {alphabet[(value & ~((1 << unused_bits) - 1)) | low] for low in range(1 << unused_bits)}
    return [token[:-1] + c for c in sorted(siblings - {token[-1]})]


def forged_auths(session: dict[str, Any], other_token: str) -> list[dict[str, Any]]:
    """Every token or id a visitor could make up to reach ``session``'s conversation."""
    visitor = session["visitor_id"]
    head, _, rest = other_token.partition(".")
    swapped = base64.urlsafe_b64encode(json.dumps({"v": visitor}).encode()).decode().rstrip("=") + "." + rest
    return [
        {"token": forge("another-secret", {"v": visitor})},
        {"token": forge("test-secret", {"v": visitor}, signer=_OldSigner)},
        {"token": swapped},
        {"token": tamper(session["token"], -5)},
        *({"token": t} for t in same_signature_spellings(session["token"])),
        {"token": visitor},
        {"visitor_id": visitor, "conversation_id": session.get("conversation_id"), "thread_key": visitor},
        {"token": None, "last_seq": 0, "identity": {"id": visitor, "hash": "0" * 64}},
        {"token": ["not", "a", "string"], "last_seq": "1"},
    ]


def test_no_forged_token_or_id_reaches_another_visitors_conversation(server: LiveServer, tabs: Any) -> None:
    a, session = visitor_a_chats(server, tabs)
    conversation = rows(server, Conversation)[0]
    a_session = {**session, "conversation_id": conversation.id}
    b = tabs()
    b_token = b.connect()["token"]
    b.disconnect()
    for auth in forged_auths(a_session, b_token):
        intruder = tabs()
        session = intruder.connect(auth)
        assert session["visitor_id"] != a_session["visitor_id"], auth
        assert session["messages"] == [] and session["conversation_id"] is None, auth
        intruder.send("hello", conversation_id=conversation.id, thread_key=conversation.thread_key)
        intruder.wait_for("message", lambda m: m["role"] == "bot")
        assert all("secret" not in (m["text"] or "") for m in intruder.messages())
        intruder.disconnect()
    wait_idle(server)
    a_rows = [m for m in rows(server) if m.conversation_id == conversation.id]
    assert [m.text for m in a_rows if m.role == "customer"] == ["where is my order", "A1002 is my secret order"]
    assert not [e for e in a.named("message") if e["text"] == "hello"], "A's room got nothing of theirs"


def test_an_expired_token_starts_a_new_anonymous_session(server: LiveServer, tabs: Any) -> None:
    _a, session = visitor_a_chats(server, tabs)
    expired = forge("test-secret", {"v": session["visitor_id"]}, signer=_OldSigner)
    fresh = tabs().connect({"token": expired, "last_seq": 0})
    assert fresh["visitor_id"].startswith("anon:") and fresh["visitor_id"] != session["visitor_id"]
    assert fresh["messages"] == []


def test_a_verified_identity_links_the_conversation_to_the_customer(server: LiveServer, tabs: Any) -> None:
    identity = {"id": "u-42", "name": "Ada Lovelace", "email": "ada@example.com",
                "hash": identity_hash(SITE_SECRET, "u-42", "Ada Lovelace", "ada@example.com")}
    laptop = tabs()
    session = laptop.connect({"identity": identity})
    assert session["visitor_id"] == "user:u-42"
    laptop.send("where is my order")
    laptop.wait_for_bot("order number")
    wait_idle(server)
    phone = tabs()
    on_phone = phone.connect({"identity": identity})
    assert [m["text"] for m in on_phone["messages"]][0] == "where is my order", "same customer, same conversation"
    customer = rows(server, Customer)[0]
    assert (customer.channel, customer.external_id, customer.name, customer.email) == (
        "widget", "u-42", "Ada Lovelace", "ada@example.com")
    assert rows(server, Conversation)[0].customer_id == customer.id
    assert rows(server)[0].author == "Ada Lovelace"


@pytest.mark.parametrize("claim", [
    {"id": "u-42", "hash": "0" * 64},
    {"id": "u-42", "hash": identity_hash("wrong-secret", "u-42")},
    {"id": "u-42"},
    {"id": "", "hash": identity_hash(SITE_SECRET, "")},
    "u-42",
])
def test_an_unverified_identity_is_refused(server: LiveServer, tabs: Any, claim: Any) -> None:
    owner = tabs()
    owner.connect({"identity": {"id": "u-42", "hash": identity_hash(SITE_SECRET, "u-42")}})
    owner.send("my private question")
    wait_idle(server)
    intruder = tabs()
    session = intruder.connect({"identity": claim})
    assert intruder.wait_for("error")["code"] == "identity_rejected"
    assert session["visitor_id"].startswith("anon:") and session["messages"] == []


def test_a_user_token_without_its_identity_does_not_continue(server: LiveServer, tabs: Any) -> None:
    identity = {"id": "u-7", "hash": identity_hash(SITE_SECRET, "u-7")}
    signed_in = tabs()
    token = signed_in.connect({"identity": identity})["token"]
    signed_in.send("hello")
    wait_idle(server)
    logged_out = tabs().connect({"token": token})
    assert logged_out["visitor_id"].startswith("anon:") and logged_out["messages"] == []


def test_identities_need_a_site_secret(live_server: LiveServer) -> None:
    tab = WidgetClient(live_server.url)
    session = tab.connect({"identity": {"id": "u-1", "hash": identity_hash("anything", "u-1")}})
    assert tab.wait_for("error")["code"] == "identity_not_configured"
    assert session["visitor_id"].startswith("anon:")
    tab.disconnect()


def test_sending_too_fast_is_refused_with_a_rate_limit_error(db_url: str, tmp_path: Path) -> None:
    with serve(db_url, tmp_path, widget_rate_burst=3, widget_rate_per_minute=1) as live:
        tab = WidgetClient(live.url)
        tab.connect()
        acks = [tab.send(f"message {i}") for i in range(4)]
        assert all("seq" in a and "error" not in a for a in acks[:3])
        assert acks[3]["error"]["code"] == "rate_limited" and acks[3]["error"]["retry_after"] >= 1
        assert tab.wait_for("error")["code"] == "rate_limited"
        wait_idle(live)
        assert [m.text for m in rows(live) if m.role == "customer"] == ["message 0", "message 1", "message 2"]
        tab.disconnect()


def test_socket_connections_only_from_allowed_origins(db_url: str, tmp_path: Path) -> None:
    with serve(db_url, tmp_path, allowed_origins="https://shop.example, https://www.shop.example") as live:
        for origin in ("https://shop.example", "https://www.shop.example", live.url, None):
            # long-polling: websocket-client would add an Origin header of its own
            tab = WidgetClient(live.url, headers={"Origin": origin} if origin else None)
            assert tab.connect(transports=["polling"])["token"]
            tab.disconnect()
        refused = WidgetClient(live.url, headers={"Origin": "https://evil.example"})
        with pytest.raises(socketio.exceptions.ConnectionError):
            refused.connect(transports=["polling"])


def test_http_endpoints_only_from_allowed_origins(db_url: str, tmp_path: Path) -> None:
    with serve(db_url, tmp_path, allowed_origins="https://shop.example") as live:
        preflight = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization"}
        allowed = httpx.options(live.url + "/widget/attachments", headers=preflight, timeout=10)
        assert allowed.status_code == 200
        assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
        assert "authorization" in allowed.headers["Access-Control-Allow-Headers"].lower()
        evil = httpx.options(live.url + "/widget/attachments", timeout=10,
                             headers={**preflight, "Origin": "https://evil.example"})
        assert evil.status_code == 403 and evil.json()["error"]["code"] == "origin_not_allowed"
        assert "Access-Control-Allow-Origin" not in evil.headers
        script = httpx.get(live.url + "/widget.js", headers={"Origin": "https://evil.example"}, timeout=10)
        assert script.status_code == 200, "any page may load the script; its socket is what is checked"


def test_a_token_is_accepted_only_as_issued() -> None:
    tokens = VisitorTokens("test-secret", max_age=3600)
    token = tokens.issue(Visitor(key="anon:abc", user_id=None))
    assert tokens.verify(token) == Visitor(key="anon:abc", user_id=None)
    spellings = same_signature_spellings(token)
    assert spellings, "a 20-byte signature leaves unused bits in its last base64 character"
    for other in [*spellings, tamper(token, -5), tamper(token, 3), token + "=", " " + token]:
        assert tokens.verify(other) is None, other
