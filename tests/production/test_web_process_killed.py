"""kill -9 a web process in the middle of turns: its visitors reconnect through nginx to the other
process, and every customer message is stored once and answered exactly once (checked in the
database and in what each visitor received). Also: socket.io long-polling through nginx stays on
one process (the sticky cookie of deploy/nginx.conf)."""

from __future__ import annotations

import asyncio
import time

import socketio

from tests.production.conftest import StartTopology, answered_once, messages, visitor_problems
from tests.production.visitors import NAMESPACE, SCRIPT, Visitor

VISITORS = 12
ROUNDS = 2


def test_visitors_survive_a_web_process_killed_mid_turn(start_topology: StartTopology) -> None:
    with start_topology(web=2, workers=1) as topology:
        visitors = [Visitor(topology.url) for _ in range(VISITORS)]

        async def scenario() -> None:
            await asyncio.gather(*(v.connect() for v in visitors))
            chats = [asyncio.create_task(v.chat(ROUNDS, think=0.3)) for v in visitors]
            await asyncio.sleep(2.0)  # turns are in flight on both processes
            topology.kill_web(0)
            await asyncio.gather(*chats)
            await asyncio.gather(*(v.close() for v in visitors))

        began = time.monotonic()
        asyncio.run(asyncio.wait_for(scenario(), 90))
        assert not topology.web[0].alive()
        assert sum(v.reconnects for v in visitors) > 0, "no visitor was on the killed process"
        problems = visitor_problems(topology.database_url, visitors)
        assert problems == [], "\n".join(problems)
        assert len(visitors[0].acked) == ROUNDS * len(SCRIPT)
        print(f"{VISITORS} visitors, {sum(v.reconnects for v in visitors)} reconnects, "
              f"{sum(v.resends for v in visitors)} resends, {time.monotonic() - began:.1f} s")


def test_long_polling_sticks_to_one_process_through_nginx(start_topology: StartTopology) -> None:
    with start_topology(web=2, workers=0) as topology:
        replies: list[dict[str, object]] = []
        clients = []
        for _ in range(4):  # with 2 processes and no stickiness, some would land on the wrong one
            client = socketio.Client(reconnection=False)  # requests: keeps nginx's cookie
            client.on("message", replies.append, namespace=NAMESPACE)
            client.connect(topology.url, namespaces=[NAMESPACE], transports=["polling"], wait_timeout=20)
            clients.append(client)
        for client in clients:
            ack = client.call("message", {"text": "where is my order", "client_id": f"poll-{id(client)}"},
                              namespace=NAMESPACE, timeout=20)
            assert "seq" in ack, ack
        deadline = time.monotonic() + 30
        while sum(1 for r in replies if r.get("role") == "bot") < len(clients) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sum(1 for r in replies if r.get("role") == "bot") >= len(clients)
        for client in clients:
            assert client.transport() == "polling"
            client.disconnect()


def test_a_message_stored_by_a_process_that_died_before_its_turn_is_answered(start_topology: StartTopology) -> None:
    """What a kill -9 between the ack and the turn's commit leaves behind: a stored customer message
    with no turn. The worker answers it while everything keeps running (maintenance.py), not only
    when some process starts again."""
    from helpdesk.conversations.db import Database
    from helpdesk.conversations.store import store_inbound
    from helpdesk.conversations.types import Inbound

    with start_topology(web=1, workers=1) as topology:
        time.sleep(1.0)  # the worker's start-up recovery has run: what follows is left while it runs
        db = Database(topology.database_url)
        try:
            stored = store_inbound(db, Inbound(channel="widget", thread_key="left-behind", text="where is my order",
                                               external_id="c-1", customer_external_id="left-behind"))
        finally:
            db.dispose()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rows = messages(topology.database_url, stored.conversation_id)
            if any(m.in_reply_to == stored.message_id for m in rows):
                break
            time.sleep(0.5)
        assert answered_once(messages(topology.database_url, stored.conversation_id), ["c-1"]) == []
