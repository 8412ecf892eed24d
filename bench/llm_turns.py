"""Benchmark: turns/s and reply latency on the LLM path, 200 conversations at once.

The loopback Claude fake (``tests/fakes/anthropic_server.py``, a real HTTP server that the real
``anthropic`` SDK talks to) runs in its own process and answers every Messages API call after
``--latency`` seconds (``1.5``, or a range such as ``1-2`` drawn uniformly per call) with the
commands the customer's latest message calls for. The helpdesk runs in its own process with
``ANTHROPIC_API_KEY`` set (so every text message is one understanding call) in a server stack
(``--modes``, see ``bench/servers.py``); ``--conversations`` widget visitors (200) chat the
order-status flow nonstop — each message sent as soon as the previous one is answered — so 200
turns are in flight at any time (saturation: the machine's limit, where even the bare server's p99 grows
with the queue). ``--rate R`` paces the same visitors instead: after each reply a visitor thinks
``conversations / R - latency`` seconds on average (uniformly 0.5-1.5 times that), so about R turns/s are
offered (the visitors start spread over one such cycle, and the active window opens after it). Issue 10's
target pairs a rate (60 turns/s) with a p99: ``--rate 64`` measures them together.

The baseline, same run, same clients, same fake: a bare python-socketio server that answers
each message after one Messages API call made through the SDK in a task of its own (no
understanding, no storage, no pool limit): the most a process can do with that latency.
Turns/s counts replies within the active window only.

    python bench/llm_turns.py [--conversations 200] [--latency 1.5] [--duration 20] [--modes threading]
                              [--database-url URL] [--rate TURNS_PER_SECOND]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import median, percentile, rss_mb  # noqa: E402
from servers import REPO, start, stop  # noqa: E402
from widget_load import Result, load  # noqa: E402

#: what each visitor says (every message is text, so every turn asks the LLM), and what Claude answers
SCRIPT = [{"text": "where is my order"}, {"text": "A1002"}, {"text": "no, thanks"}, {"text": "satisfied"}]
COMMANDS: dict[str, list[dict[str, Any]]] = {
    "where is my order": [{"command": "start flow", "flow": "check_order_status"}],
    "A1002": [{"command": "set slot", "slot": "order_number", "value": "A1002"}],
    "no, thanks": [{"command": "set slot", "slot": "continue_conversation", "value": False}],
    "satisfied": [{"command": "set slot", "slot": "csat_score", "value": "satisfied"}],
}


def serve_fake(latency: str) -> None:
    """The fake's process: print its URL, answer until stdin closes."""
    sys.path.insert(0, str(REPO))
    from tests.fakes.anthropic_server import FakeAnthropic, Recorded, Reply, slow, tool_use

    low, _, high = latency.partition("-")
    rng = random.Random(11)

    def respond(request: Recorded) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        text = json.dumps(body.get("messages") or [])
        commands = next((c for said, c in COMMANDS.items() if f"<message>{said}</message>" in text
                         or f'"content": "{said}"' in text), [])
        seconds = rng.uniform(float(low), float(high or low))
        return slow(seconds, tool_use({"commands": commands}))

    fake = FakeAnthropic(respond)
    fake.requests = _Forgetful()  # type: ignore[assignment] - a long run must not keep every request
    with fake:
        print(fake.url, flush=True)
        sys.stdin.read()


class _Forgetful(list):  # type: ignore[type-arg]
    def append(self, item: Any) -> None:
        return None


def start_fake(latency: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, __file__, "--serve-fake", latency], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def measure(kind: str, mode: str, fake_url: str, args: argparse.Namespace, folder: str) -> Result:
    env = {"ANTHROPIC_BASE_URL": fake_url, "ANTHROPIC_API_KEY": "bench-key"}
    process, url = start(kind, mode, folder, connections=args.conversations + 100, env=env,
                         database_url=args.database_url if kind == "helpdesk" else None)
    try:
        time.sleep(1.0)
        result = Result("bare socket.io + 1 SDK call" if kind == "llm-echo" else "**helpdesk**", mode,
                        _load_name(args), args.conversations, script=SCRIPT)
        result.rss_idle = rss_mb(process.pid)
        think = _think(args)
        cycle = think + _mean_latency(args) if think else 0.0  # paced: every visitor is under way after one cycle
        asyncio.run(load(url, result, process.pid, args.duration, think, spread=cycle, warmup=cycle))
        return result
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--latency", default="1.5", help="seconds per Messages API call, or a range LOW-HIGH")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of the active window")
    parser.add_argument("--modes", default="threading")
    parser.add_argument("--database-url", help="an empty database for the helpdesk (default: a SQLite file)")
    parser.add_argument("--rate", type=float, help="offer about this many turns/s in all (paced) instead of nonstop")
    parser.add_argument("--serve-fake", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.serve_fake)
        return
    fake, fake_url = start_fake(args.latency)
    results = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            for mode in args.modes.split(","):
                for kind in ("llm-echo", "helpdesk"):
                    results.append(measure(kind, mode, fake_url, args, folder))
                    print(results[-1].row(), file=sys.stderr, flush=True)
    finally:
        fake.communicate("", timeout=10)
    report(args, results)


def _think(args: argparse.Namespace) -> float:
    """Seconds a visitor waits after a reply: 0 (nonstop), or what offers ``--rate`` turns/s in all."""
    if not args.rate:
        return 0.0
    return max(0.0, args.conversations / args.rate - _mean_latency(args))


def _mean_latency(args: argparse.Namespace) -> float:
    low, _, high = args.latency.partition("-")
    return (float(low) + float(high or low)) / 2


def _load_name(args: argparse.Namespace) -> str:
    return f"{args.conversations} at ~{args.rate:g} turns/s" if args.rate else f"{args.conversations} nonstop"


def report(args: argparse.Namespace, results: list[Result]) -> None:
    low, _, high = args.latency.partition("-")
    target = float(high or low) + 0.1
    database = "SQLite" if not args.database_url else args.database_url.split(":")[0]
    print(f"LLM path: {_load_name(args)}, fake Claude at {args.latency} s per "
          f"call (loopback, real anthropic SDK), {database}, active window {args.duration:g} s, {os.cpu_count()} cores")
    print("| stack | server | replies | turns/s | p50 ms | p99 ms | server CPU ms/turn | RSS MB idle / loaded | errors |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        ms = [(a - s) * 1000 for s, a in r.in_window]
        print(f"| {r.mode} | {r.server} | {len(ms):,} | {r.rate:,.1f} | {median(ms):,.0f} | {percentile(ms, 99):,.0f} "
              f"| {r.cpu_ms('server'):.2f} | {r.rss_idle:.0f} / {r.rss_loaded:.0f} | {r.errors} |")
    for base, ours in zip(results[::2], results[1::2], strict=False):
        p99 = percentile([(a - s) for s, a in ours.in_window], 99)
        ratio = ours.rate / base.rate if base.rate else float("nan")
        print(f"{ours.mode}: helpdesk {ours.rate:.1f} turns/s = {ratio:.2f} x the bare server; p99 {p99:.2f} s "
              f"(targets: >= 60 turns/s {'met' if ours.rate >= 60 else 'MISSED'}, p99 <= {target:.1f} s "
              f"{'met' if p99 <= target else 'MISSED'})")


if __name__ == "__main__":
    main()
