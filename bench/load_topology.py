"""Benchmark: the whole production topology under 1,000 widget visitors and 20 agents.

The topology (``deploy/topology.py``): nginx (``deploy/nginx.conf``) in front of 2 web processes
(``helpdesk serve``) and 1 ``helpdesk worker``, on a fresh database of the running PostgreSQL and a
redis-server of its own. ``--clients`` visitors (1,000; python-socketio asyncio clients on
``/widget``, websocket transport, spread over ``--client-procs`` processes so the load client is not
the limit) chat the order-status flow with the offline assistant, each sending a message every
``--think`` seconds (±50 %) and timing the first reply (``tests/production/visitors.py``: the
same client as the fault tests, which resends un-acked messages with their client_id). Meanwhile
``--agents`` (20) agents hold the dashboard socket (``/agent``) in another process, and a probe
posts "I want to talk to a human" to the REST channel every second: handoff-to-agent latency is
from that POST until the last of the agents' sockets has the conversation.

The same load runs, in the same run, against the single-process embedded default (``helpdesk
run``, SQLite, ``bench/servers.py``) and against the bare python-socketio echo server in the same
server stack (werkzeug threads), and the table gives the ratios. Afterwards every visitor's
conversation is read back from the database: each acknowledged message stored once, answered,
and not answered twice (``lost`` / ``duplicated``). CPU (% of one core, and per message) and RSS of
each process are read from ``/proc`` over the active window.

    python bench/load_topology.py [--clients 1000] [--think 5] [--duration 30] [--agents 20]
                                  [--client-procs 4] [--only topology,embedded,echo]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from benchutil import cpu_seconds, median, percentile, rss_mb  # noqa: E402
from servers import start, stop  # noqa: E402

PASSWORD = "benchmark password"
SERVER_ENV = {"HELPDESK_WIDGET_RATE_PER_MINUTE": "0", "HELPDESK_ADDRESS_RATE_PER_MINUTE": "0",
              "HELPDESK_NEW_SESSIONS_PER_MINUTE": "0", "HELPDESK_SENDER_RATE_PER_MINUTE": "0",
              "HELPDESK_KNOWLEDGE_RELOAD_SECONDS": "0", "HELPDESK_LOG_LEVEL": "WARNING",
              "HELPDESK_HANDOFF_ASSIGNMENT": "manual"}


# --- the load clients (child processes) --------------------------------------------------

def visitors_process(url: str, count: int, seed: int, think: float, reply_timeout: float, ready: Any,
                     go: Any, stop_at: Any, results: Any) -> None:
    """Connect ``count`` visitors, report ready, chat from ``go`` until ``stop_at``, send the results back."""
    from tests.production.visitors import Visitor

    async def run() -> list[dict[str, Any]]:
        visitors = [Visitor(url) for _ in range(count)]
        connected: list[Visitor] = []
        for batch in range(0, count, 25):  # as visitors arrive, not all at one instant
            group = visitors[batch:batch + 25]
            outcomes = await asyncio.gather(*(v.connect() for v in group), return_exceptions=True)
            connected += [v for v, outcome in zip(group, outcomes, strict=True) if outcome is None]
        ready.put(("visitors", len(connected)))
        await asyncio.to_thread(go.wait)
        rng = random.Random(seed)
        await asyncio.gather(*(v.chat_until(stop_at.value, think, random.Random(rng.random()), reply_timeout)
                               for v in connected), return_exceptions=True)
        await asyncio.gather(*(v.close() for v in connected), return_exceptions=True)
        return [{"conversation_id": v.conversation_id, "acked": list(v.acked), "timings": v.timings,
                 "unanswered": len(v.unanswered), "conflicts": len(v.conflicts), "reconnects": v.reconnects}
                for v in connected]

    results.put(asyncio.run(run()))


def agents_process(url: str, tokens: list[str], ready: Any, go: Any, stop_at: Any, results: Any) -> None:
    """The agents' sockets and the handoff probe: one handoff per second until ``stop_at``."""
    import socketio

    seen: list[dict[int, float]] = [{} for _ in tokens]
    changed = threading.Condition()

    def receiver(index: int) -> Any:
        def on_conversation(data: dict[str, Any]) -> None:
            if data.get("type") == "queued":
                with changed:
                    seen[index].setdefault(int(data["item"]["conversation_id"]), time.monotonic())
                    changed.notify_all()

        client = socketio.Client(reconnection=True)
        client.on("conversation", on_conversation, namespace="/agent")
        client.connect(url, namespaces=["/agent"], auth={"token": tokens[index], "status": "away"},
                       transports=["websocket"], wait_timeout=30)
        return client

    clients = [receiver(i) for i in range(len(tokens))]
    ready.put(("agents", len(clients)))
    go.wait()
    latencies, missed, n = [], 0, 0
    with httpx.Client(timeout=60) as http:
        while time.monotonic() < stop_at.value:
            known = set.intersection(*(set(s) for s in seen))
            began = time.monotonic()
            response = http.post(url + "/webhooks/rest/webhook",
                                 json={"sender": f"handoff-{os.getpid()}-{n}", "message": "I want to talk to a human"})
            n += 1
            if response.status_code != 200:
                missed += 1
                continue
            with changed:
                arrived = changed.wait_for(lambda: set.intersection(*(set(s) for s in seen)) - known, timeout=30)
            if not arrived:
                missed += 1
                continue
            [cid] = sorted(arrived)[:1]
            latencies.append(max(s[cid] for s in seen) - began)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
    for client in clients:
        client.disconnect()
    results.put({"handoffs": latencies, "missed": missed})


# --- one run -----------------------------------------------------------------------------

@dataclass
class Run:
    """One server under the load."""

    name: str
    url: str
    processes: dict[str, int]
    database_url: str | None
    visitors: list[dict[str, Any]] = field(default_factory=list)
    handoffs: list[float] = field(default_factory=list)
    handoffs_missed: int = 0
    window: tuple[float, float] = (0.0, 0.0)
    cpu: dict[str, float] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)
    #: acknowledged messages not stored, or stored and never answered (read from the database)
    lost: int = 0
    #: stored twice, or answered twice
    duplicated: int = 0
    #: messages whose reply did not reach the visitor within --reply-timeout
    timeouts: int = 0
    connected: int = 0

    @property
    def in_window(self) -> list[float]:
        began, ended = self.window
        return [(a - s) * 1000 for v in self.visitors for s, a in v["timings"] if began <= a <= ended]

    @property
    def rate(self) -> float:
        return len(self.in_window) / (self.window[1] - self.window[0])


def create_agents(database_url: str, count: int, url: str) -> list[str]:
    from helpdesk.conversations.db import Database
    from helpdesk.handoff import auth

    db = Database(database_url)
    try:
        with db.session() as session, session.begin():
            for n in range(count):
                auth.create_agent(session, f"agent{n}@bench.example", f"Agent {n}", PASSWORD, capacity=100)
    finally:
        db.dispose()
    return [httpx.post(f"{url}/api/v1/auth/login", json={"email": f"agent{n}@bench.example", "password": PASSWORD},
                       timeout=60).json()["token"] for n in range(count)]


def drive(run: Run, args: argparse.Namespace, tokens: list[str]) -> None:
    """Connect everyone, open the window, collect the results into ``run``."""
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    stop_at = context.Value("d", float("inf"))
    share = [args.clients // args.client_procs + (i < args.clients % args.client_procs)
             for i in range(args.client_procs)]
    children = [context.Process(target=visitors_process, daemon=True,
                                args=(run.url, n, i, args.think, args.reply_timeout, ready, go, stop_at, results))
                for i, n in enumerate(share)]
    if tokens:
        children.append(context.Process(target=agents_process, daemon=True,
                                        args=(run.url, tokens, ready, go, stop_at, results)))
    for child in children:
        child.start()
    counts = [ready.get(timeout=600) for _ in children]
    run.connected = sum(n for kind, n in counts if kind == "visitors")
    time.sleep(1.0)
    began = time.monotonic()
    before = {name: cpu_seconds(pid) for name, pid in run.processes.items()}
    stop_at.value = began + args.duration
    go.set()
    time.sleep(args.duration)
    ended = time.monotonic()
    run.cpu = {name: cpu_seconds(pid) - before[name] for name, pid in run.processes.items()}
    run.rss = {name: rss_mb(pid) for name, pid in run.processes.items()}
    run.window = (began, ended)
    for _ in children:
        got = results.get(timeout=args.reply_timeout + 120)
        if isinstance(got, dict):
            run.handoffs, run.handoffs_missed = got["handoffs"], got["missed"]
        else:
            run.visitors += got
    for child in children:
        child.join(30)


def check_database(run: Run) -> None:
    """Every acknowledged message stored once and answered once (lost / duplicated)."""
    run.timeouts = sum(v["unanswered"] for v in run.visitors)
    if run.database_url is None:  # the echo server stores nothing: what the clients saw
        run.lost = run.timeouts
        return
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from helpdesk.conversations.models import Message

    wanted = {v["conversation_id"]: v["acked"] for v in run.visitors if v["conversation_id"]}
    engine = create_engine(run.database_url)
    try:
        with Session(engine) as session:
            rows = list(session.scalars(select(Message).where(Message.conversation_id.in_(list(wanted)))))
    finally:
        engine.dispose()
    by_conversation: dict[int, list[Any]] = {}
    for row in rows:
        by_conversation.setdefault(row.conversation_id, []).append(row)
    for cid, acked in wanted.items():
        messages = by_conversation.get(cid, [])
        stored = [m.external_id for m in messages if m.role == "customer"]
        run.duplicated += len(stored) - len(set(stored))
        run.lost += len(set(acked) - set(stored))
        for message in (m for m in messages if m.role == "customer"):
            replies = [(m.role, m.text) for m in messages if m.in_reply_to == message.id]
            run.lost += not replies
            run.duplicated += len(replies) != len(set(replies))


def run_topology(args: argparse.Namespace) -> Run:
    from deploy.topology import Topology, TopologyConfig, missing

    reason = missing(postgres_url=args.postgres)
    if reason:
        raise SystemExit(f"topology: {reason}")
    with Topology(TopologyConfig(web=2, workers=1, postgres_url=args.postgres, env=SERVER_ENV)) as topology:
        processes = {f"web {i}": c.pid for i, c in enumerate(topology.web)}
        processes |= {f"worker {i}": c.pid for i, c in enumerate(topology.workers)}
        assert topology.nginx is not None
        processes |= {"nginx": topology.nginx.pid, "redis": topology.redis.child.pid}
        run = Run("topology (nginx, 2 web, 1 worker, PostgreSQL, Redis)", topology.url, processes,
                  topology.database_url)
        tokens = create_agents(topology.database_url, args.agents, topology.url)
        drive(run, args, tokens)
        check_database(run)
        return run


def run_single(kind: str, args: argparse.Namespace, folder: str) -> Run:
    process, url = start(kind, "threading", folder, connections=args.clients + 100, env=SERVER_ENV)
    try:
        time.sleep(1.0)
        database_url = f"sqlite:///{folder}/bench.db" if kind == "helpdesk" else None
        name = "embedded default (1 process, SQLite)" if kind == "helpdesk" else "echo (bare python-socketio)"
        run = Run(name, url, {"server": process.pid}, database_url)
        tokens = create_agents(database_url, args.agents, url) if database_url else []
        drive(run, args, tokens)
        check_database(run)
        return run
    finally:
        stop(process)


# --- the report --------------------------------------------------------------------------

def report(args: argparse.Namespace, runs: list[Run]) -> None:
    load = os.getloadavg()
    print(f"\nload_topology: {args.clients:,} visitors, a message every {args.think:g} s (±50 %), "
          f"{args.agents} agents, window {args.duration:g} s, {os.cpu_count()} cores, "
          f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, {args.client_procs} client processes")
    print("| server | visitors | replies | msg/s | p50 ms | p99 ms | handoff p50 / p99 ms | lost | duplicated | reply timeouts |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for run in runs:
        ms = run.in_window
        handoff = (f"{median(run.handoffs) * 1000:,.0f} / {percentile(run.handoffs, 99) * 1000:,.0f}"
                   f"{f' ({run.handoffs_missed} missed)' if run.handoffs_missed else ''}" if run.handoffs else "—")
        print(f"| {run.name} | {run.connected:,} | {len(ms):,} | {run.rate:,.1f} | {median(ms):,.0f} | "
              f"{percentile(ms, 99):,.0f} | {handoff} | {run.lost} | {run.duplicated} | {run.timeouts} |")
    print("\n| server | process | CPU % of a core | CPU ms / message | RSS MB |")
    print("| --- | --- | ---: | ---: | ---: |")
    for run in runs:
        wall, count = run.window[1] - run.window[0], max(1, len(run.in_window))
        for name in run.processes:
            print(f"| {run.name} | {name} | {run.cpu[name] / wall * 100:.0f} | {run.cpu[name] * 1000 / count:.2f} | "
                  f"{run.rss[name]:.0f} |")
    by = {run.name.split()[0]: run for run in runs}
    topology = by.get("topology")
    for other in ("embedded", "echo"):
        if topology and other in by and by[other].rate:
            base = by[other]
            print(f"topology / {other}: msg/s {topology.rate / base.rate:.2f}, "
                  f"p99 {percentile(topology.in_window, 99) / percentile(base.in_window, 99):.2f}x, "
                  f"CPU per message {_cpu_per_message(topology) / _cpu_per_message(base):.2f}x")
    print("targets: p99 reply <= 150 ms at 1,000 clients, zero lost or duplicated, <= 150 MB per process, "
          "capacity >= 0.3x the echo server")


def _cpu_per_message(run: Run) -> float:
    return sum(run.cpu.values()) / max(1, len(run.in_window))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--think", type=float, default=5.0, help="seconds between a visitor's messages (±50 %%)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of the active window")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--client-procs", type=int, default=4)
    parser.add_argument("--reply-timeout", type=float, default=60.0)
    parser.add_argument("--only", default="topology,embedded,echo")
    parser.add_argument("--postgres", default=os.environ.get("HELPDESK_TEST_POSTGRES_URL",
                                                             "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    runs: list[Run] = []
    for which in args.only.split(","):
        with tempfile.TemporaryDirectory() as folder:
            run = run_topology(args) if which == "topology" else run_single(
                "helpdesk" if which == "embedded" else "echo", args, folder)
        runs.append(run)
        print(f"{run.name}: {len(run.in_window):,} replies, {run.rate:.1f} msg/s, lost {run.lost}, "
              f"duplicated {run.duplicated}", file=sys.stderr, flush=True)
    report(args, runs)


if __name__ == "__main__":
    main()
