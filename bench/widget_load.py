"""Benchmark: widget visitors against the helpdesk vs a bare python-socketio echo server.

Each visitor is a python-socketio asyncio client on ``/widget`` (websocket transport) that chats
the order-status flow with the offline assistant over and over: send a message, time the first
bot reply (the first message whose seq is above the acknowledged one), think, repeat. The helpdesk
runs in its own process (SQLite file, offline understanding, rate limit off) in a server stack
(``--modes``: see ``bench/servers.py``); the baseline is a bare python-socketio server in the
same stack that acknowledges every message and emits one reply, measured in the same run with the
same clients.

Two loads, both against both servers:

* **saturation** (the headline): ``--clients`` visitors (100) sending nonstop, as soon as each
  is answered. Messages/s is the capacity; the ratio helpdesk / echo is the headline figure.
* **paced**: ``--paced`` visitors (500 and 1000) each writing a message every ``--think``
  seconds (±50 %): p99 reply latency at a realistic load.

Messages/s counts replies received within the active window only (from the moment every visitor
is connected and told to start until ``--duration`` later; connecting and the tail are left
out). The CPU time of the server's process tree and of the load client (this process, on the same
cores) is read from ``/proc`` at both ends of the window: server CPU per message is what a message
costs; a client near 100 % of a core would mean the client, not the server, is the limit.
Server RSS is read idle (started, no client) and at the end of the window.

    python bench/widget_load.py [--clients 100] [--paced 500,1000] [--think 10] [--duration 20]
                                [--modes threading,gevent,gunicorn-gthread,gunicorn-gevent]
                                [--database-url URL] [--only saturation|paced]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import CpuWindow, median, percentile, rss_mb  # noqa: E402
from servers import MODES, NAMESPACE, start, stop  # noqa: E402

SCRIPT: list[dict[str, str]] = [
    {"text": "where is my order"}, {"text": "A1002"},
    {"payload": "/SetSlots(continue_conversation=false)", "title": "No, thanks"},
    {"payload": "/SetSlots(csat_score=satisfied)", "title": "Satisfied"},
]


@dataclass
class Result:
    """One load against one server."""

    server: str
    mode: str
    load: str
    clients: int
    connected: int = 0
    #: (sent, answered) of every answered message, perf_counter seconds
    timings: list[tuple[float, float]] = field(default_factory=list)
    errors: int = 0
    window: tuple[float, float] = (0.0, 0.0)
    cpu: CpuWindow | None = None
    rss_idle: float = 0.0
    rss_loaded: float = 0.0
    #: what each visitor says, over and over
    script: list[dict[str, str]] = field(default_factory=lambda: SCRIPT)

    @property
    def in_window(self) -> list[tuple[float, float]]:
        began, ended = self.window
        return [(s, a) for s, a in self.timings if began <= a <= ended]

    @property
    def rate(self) -> float:
        began, ended = self.window
        return len(self.in_window) / (ended - began) if ended > began else 0.0

    def cpu_ms(self, which: str) -> float:
        count = len(self.in_window)
        if not self.cpu or not count:
            return float("nan")
        return getattr(self.cpu, which) * 1000 / count

    def row(self) -> str:
        ms = [(a - s) * 1000 for s, a in self.in_window]
        client_load = self.cpu.client / self.cpu.wall * 100 if self.cpu and self.cpu.wall else float("nan")
        return (f"| {self.mode} | {self.load} | {self.server} | {self.connected:,} | {len(ms):,} | {self.rate:,.1f} | "
                f"{median(ms):,.1f} | {percentile(ms, 99):,.1f} | {self.cpu_ms('server'):.2f} | "
                f"{self.cpu_ms('client'):.2f} ({client_load:.0f} %) | {self.rss_idle:.0f} / {self.rss_loaded:.0f} | "
                f"{self.errors} |")


HEADER = ("| stack | load | server | clients | replies | msg/s | p50 ms | p99 ms | server CPU ms/msg | "
          "client CPU ms/msg (of a core) | RSS MB idle / loaded | errors |\n"
          "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


async def visitor(url: str, result: Result, start_event: asyncio.Event, stop_at: list[float], think: float,
                  rng: random.Random, spread: float) -> None:
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    replies: list[tuple[int, float]] = []
    arrived = asyncio.Event()

    async def on_message(data: dict[str, Any]) -> None:
        if data.get("role") != "customer":
            replies.append((int(data["seq"]), time.perf_counter()))
            arrived.set()

    client.on("message", on_message, namespace=NAMESPACE)
    try:
        await client.connect(url, namespaces=[NAMESPACE], transports=["websocket"], wait_timeout=60)
    except Exception:  # noqa: BLE001 - counted, the run goes on
        result.errors += 1
        return
    result.connected += 1
    await start_event.wait()
    await asyncio.sleep(rng.uniform(0, spread))  # visitors do not all write at the same instant
    step = 0
    try:
        while time.perf_counter() < stop_at[0]:
            await _one_message(client, replies, arrived, result.script[step % len(result.script)], result)
            step += 1
            if think:
                await asyncio.sleep(think * rng.uniform(0.5, 1.5))
    finally:
        await client.disconnect()


async def _one_message(client: Any, replies: list[tuple[int, float]], arrived: asyncio.Event,
                       message: dict[str, str], result: Result) -> None:
    """Send one message; time the first reply after it (a reply's seq is above the message's)."""
    import socketio

    sent = time.perf_counter()
    try:
        ack = await client.call("message", {**message, "client_id": uuid.uuid4().hex}, namespace=NAMESPACE,
                                timeout=30)
        while True:
            answer = next((at for seq, at in replies if seq > ack["seq"]), None)
            if answer is not None:
                result.timings.append((sent, answer))
                replies.clear()
                return
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), timeout=30)
    except (TimeoutError, KeyError, socketio.exceptions.SocketIOError):
        result.errors += 1


async def load(url: str, result: Result, pid: int, duration: float, think: float, spread: float | None = None,
               warmup: float = 0.0) -> None:
    """Connect ``result.clients`` visitors, let them chat for ``duration`` seconds, record into ``result``.

    Each visitor sends its first message after a random delay of up to ``spread`` seconds (default ``think``):
    a paced load whose cycle is longer than the think time (an LLM's latency) spreads its visitors over the
    whole cycle, or the window would open with a burst of twice the rate. The active window (rate, CPU,
    latencies) opens ``warmup`` seconds after the visitors start."""
    start_event = asyncio.Event()
    stop_at = [float("inf")]
    rng = random.Random(7)
    tasks = []
    for batch in range(0, result.clients, 50):  # connect in batches, as visitors arrive
        tasks += [asyncio.create_task(visitor(url, result, start_event, stop_at, think, random.Random(rng.random()),
                                              think if spread is None else spread))
                  for _ in range(batch, min(result.clients, batch + 50))]
        while result.connected + result.errors < min(result.clients, batch + 50):
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    if warmup:
        start_event.set()
        await asyncio.sleep(warmup)
    result.cpu = CpuWindow(pid)
    began = time.perf_counter()
    result.cpu.start(began)
    stop_at[0] = began + duration
    start_event.set()
    await asyncio.sleep(duration)
    ended = time.perf_counter()
    result.cpu.stop(ended)
    result.rss_loaded = rss_mb(pid)
    result.window = (began, ended)
    await asyncio.gather(*tasks)


def measure(kind: str, mode: str, name: str, clients: int, think: float, args: argparse.Namespace,
            folder: str) -> Result:
    process, url = start(kind, mode, folder, database_url=args.database_url, connections=clients + 100)
    try:
        time.sleep(1.0)
        result = Result("echo" if kind == "echo" else "**helpdesk**", mode, name, clients)
        result.rss_idle = rss_mb(process.pid)
        asyncio.run(load(url, result, process.pid, args.duration, think))
        return result
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=100, help="visitors sending nonstop (saturation)")
    parser.add_argument("--paced", default="500,1000", help="visitor counts of the paced loads")
    parser.add_argument("--think", type=float, default=10.0, help="seconds between messages in paced loads")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of the active window")
    parser.add_argument("--modes", default="threading", help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--only", choices=["saturation", "paced"])
    parser.add_argument("--database-url", help="an empty database for the helpdesk (default: a SQLite file)")
    args = parser.parse_args()
    loads = [] if args.only == "paced" else [("saturation", args.clients, 0.0)]
    if args.only != "saturation":
        loads += [(f"1 msg / {args.think:g} s", int(n), args.think) for n in args.paced.split(",") if n]
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as folder:
        for mode in args.modes.split(","):
            for name, clients, think in loads:
                for kind in ("echo", "helpdesk"):
                    results.append(measure(kind, mode, name, clients, think, args, folder))
                    print(results[-1].row(), file=sys.stderr, flush=True)
    report(args, results)


def report(args: argparse.Namespace, results: list[Result]) -> None:
    database = "SQLite" if not args.database_url else args.database_url.split(":")[0]
    print(f"widget load: {database}, offline understanding, active window {args.duration:g} s, "
          f"{os.cpu_count()} cores, load client in this process")
    print(HEADER)
    for result in results:
        print(result.row())
    pairs = {(r.mode, r.load, r.server == "echo"): r for r in results}
    for mode in args.modes.split(","):
        echo, ours = pairs.get((mode, "saturation", True)), pairs.get((mode, "saturation", False))
        if echo and ours and echo.rate:
            print(f"{mode}: capacity at saturation helpdesk / echo = {ours.rate / echo.rate:.2f} "
                  f"({ours.rate:,.0f} / {echo.rate:,.0f} msg/s; target >= 0.3); server CPU per message "
                  f"{ours.cpu_ms('server'):.2f} ms vs {echo.cpu_ms('server'):.2f} ms "
                  f"(x {ours.cpu_ms('server') / echo.cpu_ms('server'):.1f}; target <= 2 ms)")
    print("targets: paced 500 clients p99 <= 100 ms, 1,000 clients p99 <= 250 ms; "
          "RSS idle <= 90 MB, <= 150 MB with 1,000 clients")


if __name__ == "__main__":
    main()
