"""Issue 8.5: abuse limits that hold — per address, per new session, per sender, across processes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis
import socketio
from sqlalchemy import select

from helpdesk.connectors.limits import RedisRateLimiter
from helpdesk.conversations.attachments import Attachment, expire_unsent
from helpdesk.conversations.models import Message, utcnow
from helpdesk.maintenance import expire_uploads
from tests.e2e.widget_helpers import WidgetClient, rows
from tests.security.helpers import RasaClient, rest, running

REDIS_URL = "redis://127.0.0.1:6379/0"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def redis_or_skip() -> str:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:  # pragma: no cover - Redis runs in CI
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


def test_rest_metadata_is_capped_and_nothing_is_stored(db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path) as server:
        big = rest(server.url, "s1", "hello", metadata={"blob": "x" * 100_000})
        assert big.status_code == 400 and big.json()["error"]["code"] == "metadata_too_large"
        assert rest(server.url, "s1", "hello", metadata={"page": "/shop"}).status_code == 200
        assert [m.text for m in rows(server) if m.role == "customer"] == ["hello"]


def test_rest_senders_and_addresses_are_rate_limited(db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path, sender_rate_burst=3, sender_rate_per_minute=1,
                 address_rate_burst=6, address_rate_per_minute=1) as server:
        same = [rest(server.url, "one", f"hi {i}") for i in range(5)]
        assert [r.status_code for r in same] == [200, 200, 200, 429, 429]
        assert int(same[3].headers["Retry-After"]) >= 1 and same[3].json()["error"]["code"] == "rate_limited"
        # fresh senders from the same address: the address limit holds
        fresh = [rest(server.url, uuid.uuid4().hex, "hi").status_code for _ in range(6)]
        assert fresh.count(200) == 3 and fresh[-1] == 429, fresh
        assert len([m for m in rows(server) if m.role == "customer"]) == 6


def test_rasa_socketio_senders_are_rate_limited(db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path, sender_rate_burst=2, sender_rate_per_minute=1) as server:
        client = RasaClient(server.url)
        client.connect()
        try:
            _, session_id = client.session()
            for i in range(4):
                client.sio.emit("user_uttered", {"message": f"hello {i}", "session_id": session_id})
            client.wait_for(lambda e: e[0] == "error" and e[1]["code"] == "rate_limited")
        finally:
            client.close()
        assert len([m for m in rows(server) if m.role == "customer"]) == 2


def test_new_widget_visitors_per_address_are_limited(db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path, new_sessions_burst=5, new_sessions_per_minute=1) as server:
        accepted, refused = [], 0
        for _ in range(8):
            tab = WidgetClient(server.url)
            try:
                accepted.append(tab.connect())
                tab.disconnect()
            except socketio.exceptions.ConnectionError:
                refused += 1
        assert len(accepted) == 5 and refused == 3
        # a returning visitor (valid token) is not a new session
        back = WidgetClient(server.url)
        assert back.connect({"token": accepted[0]["token"]})["visitor_id"] == accepted[0]["visitor_id"]
        back.disconnect()


def test_widget_messages_per_address_are_limited_whatever_the_visitor(db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path, address_rate_burst=4, address_rate_per_minute=1) as server:
        acks = []
        for _ in range(3):
            tab = WidgetClient(server.url)
            tab.connect()
            acks += [tab.send("hello"), tab.send("hello again")]
            tab.disconnect()
        assert [("error" in a) for a in acks].count(False) == 4
        assert acks[-1]["error"]["code"] == "rate_limited"


def test_limits_hold_across_processes_with_redis(db_url: str, tmp_path: Path) -> None:
    url = redis_or_skip()
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings = dict(redis_url=url, redis_prefix=prefix, sender_rate_burst=4, sender_rate_per_minute=1)
    with running(db_url, tmp_path, **settings) as one, running(db_url, tmp_path, **settings) as two:
        statuses = [rest((one, two)[i % 2].url, "shared", f"hi {i}").status_code for i in range(6)]
        assert statuses == [200, 200, 200, 200, 429, 429]
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{prefix}:limit:*"))
    assert keys and all(client.pttl(k) > 0 for k in keys), "buckets expire"
    client.delete(*keys)


def test_the_redis_bucket_refills() -> None:
    url = redis_or_skip()
    now = [1000.0]
    limiter = RedisRateLimiter(redis.Redis.from_url(url), f"test-{uuid.uuid4().hex}:", 2, 60, clock=lambda: now[0])
    assert [limiter.allow("k") for _ in range(3)][:2] == [0.0, 0.0]
    assert limiter.allow("k") == pytest.approx(1.0, abs=0.01)
    now[0] += 1.0
    assert limiter.allow("k") == 0.0


def test_pending_uploads_are_capped_and_unsent_ones_expire(db_url: str, tmp_path: Path) -> None:
    with running(db_url, tmp_path, max_pending_uploads=2) as server:
        tab = WidgetClient(server.url)
        token = tab.connect()["token"]

        def upload() -> httpx.Response:
            return httpx.post(f"{server.url}/widget/attachments", files={"file": ("a.png", PNG, "image/png")},
                              headers={"Authorization": f"Bearer {token}"}, timeout=30)

        first, second, third = upload(), upload(), upload()
        assert (first.status_code, second.status_code, third.status_code) == (201, 201, 429)
        assert third.json()["error"]["code"] == "too_many_pending_uploads"
        sent = first.json()["attachment"]["id"]
        assert "error" not in tab.send("here", attachments=[sent])
        assert upload().status_code == 201, "a sent upload no longer counts"
        tab.disconnect()

        services = server.app.extensions["helpdesk"]
        assert expire_uploads(services) == 0, "young uploads stay"
        assert expire_unsent(services.db, older_than_seconds=3600, now=utcnow() + timedelta(hours=2)) == 2
        with services.db.read_session() as session:
            assert list(session.scalars(select(Attachment.id))) == [sent]
            assert session.scalar(select(Message.id).where(Message.text == "here")) is not None
