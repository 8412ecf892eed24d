"""A rolling restart: SIGTERM to one of two web processes (``helpdesk serve``) while visitors chat
through nginx. It exits 0 after finishing its turns in flight; its visitors reconnect through nginx
to the other process; the process starts again and serves. Every customer message is stored once
and answered exactly once (database and what each visitor received), as after a kill -9."""

from __future__ import annotations

import asyncio

import httpx

from tests.production.conftest import StartTopology, visitor_problems
from tests.production.visitors import SCRIPT, Visitor

VISITORS = 12
ROUNDS = 2
STOP_TIMEOUT = 90.0  # HELPDESK_GRACEFUL_TIMEOUT (30 s) plus a loaded machine's margin


def test_a_web_process_stopped_with_sigterm_loses_and_repeats_nothing(start_topology: StartTopology) -> None:
    with start_topology(web=2, workers=1) as topology:
        visitors = [Visitor(topology.url) for _ in range(VISITORS)]
        stopping = topology.web[0]
        assert stopping.process is not None
        process = stopping.process

        async def scenario() -> int:
            await asyncio.gather(*(v.connect() for v in visitors))
            chats = [asyncio.create_task(v.chat(ROUNDS, think=0.3)) for v in visitors]
            while sum(len(v.acked) for v in visitors) < VISITORS:  # turns are in flight on both processes
                await asyncio.sleep(0.05)
            process.terminate()  # SIGTERM, as a process manager's rolling restart sends it
            returncode = await asyncio.to_thread(process.wait, STOP_TIMEOUT)
            stopping.start()  # the new version of it, on the same port
            await asyncio.to_thread(topology.wait_web, 0)
            await asyncio.gather(*chats)
            await asyncio.gather(*(v.close() for v in visitors))
            return returncode

        returncode = asyncio.run(asyncio.wait_for(scenario(), 300))
        assert returncode == 0, stopping.tail(60)
        assert sum(v.reconnects for v in visitors) > 0, "no visitor was on the stopped process"
        problems = visitor_problems(topology.database_url, visitors)
        assert problems == [], "\n".join(problems)
        assert all(len(v.acked) == ROUNDS * len(SCRIPT) for v in visitors)
        assert httpx.get(topology.web_url(0) + "/readyz", timeout=10).json()["status"] == "ready"
