"""With HELPDESK_REDIS_URL, what one process publishes reaches visitors connected to another."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import redis

from helpdesk.conversations.models import Conversation
from helpdesk.conversations.turn import open_turn
from helpdesk.conversations.types import OutgoingMessage
from tests.e2e.widget_helpers import WidgetClient, rows, serve, wait_idle

REDIS_URL = os.environ.get("HELPDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at {REDIS_URL} (set HELPDESK_TEST_REDIS_URL): {error}")
    finally:
        client.close()
    return REDIS_URL


def test_an_agent_message_sent_by_another_process_reaches_the_visitor(sqlite_url: str, tmp_path: Path,
                                                                      redis_url: str) -> None:
    deployment = f"test-{uuid.uuid4().hex[:12]}"  # one deployment: the same HELPDESK_REDIS_PREFIX
    with serve(sqlite_url, tmp_path / "a", redis_url=redis_url, redis_prefix=deployment) as first, \
            serve(sqlite_url, tmp_path / "b", redis_url=redis_url, redis_prefix=deployment) as second:
        tab = WidgetClient(first.url)
        tab.connect()
        tab.send("hello")
        wait_idle(first)
        conversation = rows(first, Conversation)[0]
        services = second.app.extensions["helpdesk"]
        where = {"conversation_id": conversation.id, "channel": "widget", "thread_key": conversation.thread_key}
        with open_turn(services.db, services.pipeline.locks, conversation.id) as turn:
            agent = turn.append_message(OutgoingMessage("agent", "Hello from the other process", author="Bo"))
            event = {**where, "id": agent.id, "seq": agent.seq, "role": "agent", "text": agent.text}
            turn.after_commit(lambda: services.bus.publish("message", event))
        got = tab.wait_for("message", lambda m: m["role"] == "agent")
        assert (got["text"], got["author"]) == ("Hello from the other process", {"name": "Bo"})
        tab.disconnect()


def test_two_deployments_sharing_one_redis_do_not_hear_each_other(tmp_path: Path, redis_url: str) -> None:
    """socket.io's pub/sub channel is global to the Redis server: each deployment's is prefixed with its
    HELPDESK_REDIS_PREFIX, or a broadcast (or an emit to a room both have, such as ``agents``) of one
    would reach the clients of the other."""
    with serve(f"sqlite:///{tmp_path / 'a.db'}", tmp_path / "a", redis_url=redis_url) as ours, \
            serve(f"sqlite:///{tmp_path / 'b.db'}", tmp_path / "b", redis_url=redis_url) as theirs:
        tab = WidgetClient(ours.url)
        tab.connect()
        try:
            # published in this order on one Redis server: had the other deployment's emit crossed over,
            # it would reach the tab before our own
            theirs.app.extensions["helpdesk"].sio.emit("typing", {"from": "theirs"}, namespace="/widget")
            ours.app.extensions["helpdesk"].sio.emit("typing", {"from": "ours"}, namespace="/widget")
            tab.wait_for("typing", lambda d: d == {"from": "ours"})
            assert tab.named("typing") == [{"from": "ours"}]
        finally:
            tab.disconnect()
