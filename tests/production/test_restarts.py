"""Restart PostgreSQL, then Redis, while visitors chat through nginx (a throwaway PostgreSQL server
and a redis-server of the topology's own, so nobody else's tests notice): the service recovers by
itself and nothing is lost — every message stored once and answered once, every reply received.
The rate limits are on (in Redis, generous) so that their Redis client goes through the restart too;
while Redis is down they hold in each process, and a new visitor is served."""

from __future__ import annotations

import asyncio
import time

from tests.production.conftest import StartTopology, visitor_problems
from tests.production.visitors import Visitor

VISITORS = 8
LIMITS_IN_REDIS = {"HELPDESK_WIDGET_RATE_PER_MINUTE": "6000", "HELPDESK_WIDGET_RATE_BURST": "1000",
                   "HELPDESK_ADDRESS_RATE_PER_MINUTE": "60000", "HELPDESK_ADDRESS_RATE_BURST": "10000",
                   "HELPDESK_NEW_SESSIONS_PER_MINUTE": "6000", "HELPDESK_NEW_SESSIONS_BURST": "1000"}


def test_postgres_then_redis_restart_during_traffic(start_topology: StartTopology) -> None:
    with start_topology(web=2, workers=1, own_postgres=True, env=LIMITS_IN_REDIS) as topology:
        assert topology.postgres is not None
        visitors = [Visitor(topology.url) for _ in range(VISITORS)]
        timeline: list[str] = []

        async def scenario() -> None:
            await asyncio.gather(*(v.connect() for v in visitors))
            chats = [asyncio.create_task(v.chat(3, think=0.3)) for v in visitors]
            await asyncio.sleep(2.0)
            began = time.monotonic()
            await asyncio.to_thread(topology.postgres.restart)  # type: ignore[union-attr]
            timeline.append(f"postgres restarted in {time.monotonic() - began:.1f} s")
            await asyncio.sleep(3.0)
            began = time.monotonic()
            await asyncio.to_thread(topology.redis.stop)
            during = Visitor(topology.url)  # connects and is answered while Redis is down
            await during.connect()
            await during.send({"text": "where is my order"}, reply_timeout=10)
            assert during.unanswered == [] and not topology.redis.child.alive()
            visitors.append(during)
            timeline.append(f"a new visitor answered with Redis down in {time.monotonic() - began:.1f} s")
            await asyncio.to_thread(topology.redis.start)
            await asyncio.gather(*chats)
            late = Visitor(topology.url)  # a new visitor after both restarts
            await late.connect()
            await late.chat(1, think=0.0)
            visitors.append(late)
            await asyncio.gather(*(v.close() for v in visitors))

        asyncio.run(asyncio.wait_for(scenario(), 150))
        problems = visitor_problems(topology.database_url, visitors)
        assert problems == [], "\n".join(problems + timeline)
        assert all(child.alive() for child in topology.web + topology.workers)
        print("; ".join(timeline), f"; {sum(v.resends for v in visitors)} resends")
