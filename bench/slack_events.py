"""Benchmark: Slack Events API acknowledgement latency while understanding is slow, and the
end-to-end latency from an event to its reply's ``chat.postMessage``.

The helpdesk runs in its own process exactly as ``helpdesk run`` serves it (SQLite file), with
Slack pointed at a loopback Slack Web API (``tests/fakes/slack_server.py``) and, for the slow
runs, Claude pointed at a loopback Anthropic API that takes ``--llm-seconds`` (10) per call.
Signed ``message`` events from 50 customers in 5 shared support channels are posted

* steadily (``--rate``, default 20 events/s) and as a burst (``--burst-rate``, default 200
  events/s for ``--burst-seconds``), measuring each HTTP acknowledgement;
* one at a time (offline understanding), measuring event → ``chat.postMessage`` of its reply.

The baseline is the same load against the same helpdesk with offline understanding (no LLM),
measured in the same run: the ratio slow/offline says whether a slow LLM ever holds the
acknowledgement (it must not: the event is stored, then the turn runs in the background).

    python bench/slack_events.py [--rate 20] [--events 200] [--burst-rate 200] [--burst-seconds 5]
                                 [--llm-seconds 10] [--e2e 30] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fakes.anthropic_server import FakeAnthropic, slow, tool_use  # noqa: E402
from tests.fakes.slack_events import fixture, signed  # noqa: E402
from tests.fakes.slack_server import FakeSlack  # noqa: E402

SECRET = "bench-signing-secret"
CHANNELS = [f"C_SUP{i}" for i in range(5)]
USERS = [f"U_C{i:02d}" for i in range(50)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def workspace() -> FakeSlack:
    slack = FakeSlack()
    for user in USERS:
        slack.add_user(user, f"Customer {user}", team="T_CUST")
    for channel in [*CHANNELS, "C_AGENTS"]:
        slack.add_channel(channel, shared=channel != "C_AGENTS")
    return slack


@contextmanager
def database(postgres: str | None, workdir: Path) -> Iterator[str]:
    """A SQLite file, or a fresh schema of the PostgreSQL at ``postgres`` (dropped afterwards)."""
    if not postgres:
        yield f"sqlite:///{workdir}/helpdesk.db"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(postgres).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def helpdesk(slack: FakeSlack, llm_url: str | None, workdir: Path, database_url: str) -> Iterator[str]:
    """``helpdesk run`` in its own process; yields its base URL."""
    port = free_port()
    env = {**os.environ, "HELPDESK_DATABASE_URL": database_url, "HELPDESK_AUTO_MIGRATE": "true",
           "HELPDESK_INSTANCE_PATH": str(workdir / "instance"), "HELPDESK_PORT": str(port),
           "HELPDESK_LOG_LEVEL": "WARNING", "SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": SECRET,
           "HELPDESK_SLACK_API_URL": slack.api_url, "HELPDESK_SLACK_SUPPORT_CHANNELS": ",".join(CHANNELS),
           "HELPDESK_SLACK_AGENT_CHANNEL": "C_AGENTS", "HELPDESK_SLACK_GROUP_WINDOW": "0"}
    env.pop("ANTHROPIC_API_KEY", None)
    if llm_url:
        env.update(ANTHROPIC_API_KEY="bench-key", ANTHROPIC_BASE_URL=llm_url, HELPDESK_LLM_TIMEOUT="60",
                   HELPDESK_LLM_MAX_RETRIES="0", HELPDESK_HANDOFF_LLM_SUMMARY="false")
    env["PYTHONPATH"] = str(REPO)
    serve = "from helpdesk.app import serve; from helpdesk.settings import Settings; serve(Settings())"
    log = (workdir / "helpdesk.log").open("wb")  # a file: an unread pipe would fill up and block the server
    process = subprocess.Popen([sys.executable, "-c", serve], cwd=REPO, env=env,  # noqa: S603
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the helpdesk did not start: " + (workdir / "helpdesk.log").read_text()[-4000:])
        yield url
    finally:
        process.kill()
        process.wait()
        log.close()


class Events:
    """Distinct signed message events (every event a new top-level message)."""

    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()
        self._template = json.dumps(fixture("message"))

    def next(self) -> tuple[str, str, bytes]:
        with self._lock:
            self._n += 1
            n = self._n
        data = json.loads(self._template)
        ts = f"{1_800_000_000 + n}.{n % 1_000_000:06d}"
        channel, user = CHANNELS[n % len(CHANNELS)], USERS[n % len(USERS)]
        data["event_id"] = f"Ev_bench_{n}_{time.monotonic_ns()}"
        data["event"].update(ts=ts, channel=channel, user=user, text="where is my order", user_team="T_CUST")
        return channel, ts, json.dumps(data).encode()


#: Slack's own timeout: an acknowledgement slower than this counts as failed (Slack would retry)
SLACK_TIMEOUT = 3.0


def post(client: httpx.Client, url: str, body: bytes) -> float:
    """Seconds until the 2xx acknowledgement (``inf`` for none within 60 s or an error status)."""
    started = time.perf_counter()
    try:
        response = client.post(url + "/slack/events", content=body, headers=signed(SECRET, body))
    except httpx.TimeoutException:
        return float("inf")
    elapsed = time.perf_counter() - started
    return elapsed if response.status_code == 200 else float("inf")


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Senders:
    """The load generator's sender threads, each with its own HTTP client, built once before any
    measured phase: building 64 ``httpx.Client``s (an SSL context each) at the start of a burst
    took two cores for a second on this 2-core machine and delayed the server, not the other way
    round."""

    def __init__(self, url: str, threads: int = 64) -> None:
        self.url = url
        self._pool = ThreadPoolExecutor(max_workers=threads)
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()
        barrier = threading.Barrier(threads)
        for future in [self._pool.submit(self._client, barrier) for _ in range(threads)]:
            future.result()  # every thread has its client (the barrier keeps them from sharing one)

    def _client(self, barrier: threading.Barrier | None = None) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(timeout=60)
            with self._lock:
                self._clients.append(client)
        if barrier is not None:
            barrier.wait()
        return client

    def paced(self, events: Events, rate: float, count: int) -> tuple[list[float], float]:
        """Post ``count`` events at ``rate``/s; ack seconds and the achieved rate."""
        progress(f"{count} events at {rate:g}/s")
        latencies: list[float] = []
        lock = threading.Lock()

        def send(body: bytes) -> None:
            seconds = post(self._client(), self.url, body)
            with lock:
                latencies.append(seconds)

        bodies = [events.next()[2] for _ in range(count)]
        started = time.perf_counter()
        futures = []
        for i, body in enumerate(bodies):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            futures.append(self._pool.submit(send, body))
        for future in futures:
            future.result()
        return latencies, count / (time.perf_counter() - started)

    def close(self) -> None:
        self._pool.shutdown()
        for client in self._clients:
            client.close()


def end_to_end(url: str, slack: FakeSlack, events: Events, count: int) -> list[float]:
    """Event → the chat.postMessage answering it, one event at a time."""
    progress(f"{count} events one at a time, each until its reply")
    latencies = []
    with httpx.Client(timeout=30) as client:
        for _ in range(count):
            channel, ts, body = events.next()
            started = time.monotonic()
            post(client, url, body)
            while True:
                answered = [c for c in slack.calls_of("chat.postMessage")
                            if c.params.get("thread_ts") == ts and c.status == 200]
                if answered:
                    latencies.append(answered[0].at - started)
                    time.sleep(1.0 / len(CHANNELS))  # a channel's next event after its 1 msg/s pacing
                    break
                if time.monotonic() - started > 60:
                    raise RuntimeError(f"no reply to {channel}:{ts}")
                time.sleep(0.002)
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


def row(name: str, values: list[float], rate: float | None = None) -> str:
    achieved = f"{rate:.0f}" if rate is not None else "—"
    late = sum(v > SLACK_TIMEOUT for v in values)
    return (f"| {name} | {len(values)} | {achieved} | {pct(values, 0.5):.1f} | {pct(values, 0.99):.1f} | "
            f"{max(values) * 1000:.1f} | {late} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--burst-rate", type=float, default=200)
    parser.add_argument("--burst-seconds", type=float, default=5)
    parser.add_argument("--llm-seconds", type=float, default=10)
    parser.add_argument("--e2e", type=int, default=30)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (a schema of its own is used)")
    args = parser.parse_args()
    burst = int(args.burst_rate * args.burst_seconds)
    results: dict[str, tuple[list[float], float | None]] = {}
    commands = tool_use({"commands": [{"command": "start flow", "flow": "order_status"}]})
    for label, llm_seconds in (("offline understanding", None), (f"LLM takes {args.llm_seconds:g} s", args.llm_seconds)):
        delay = llm_seconds or 0
        with tempfile.TemporaryDirectory() as tmp, workspace() as slack, \
                FakeAnthropic(lambda _r, delay=delay: slow(delay, commands)) as llm, \
                database(args.postgres, Path(tmp)) as database_url, \
                helpdesk(slack, llm.url if llm_seconds else None, Path(tmp), database_url) as url:
            events = Events()
            senders = Senders(url)
            senders.paced(events, 10, len(USERS))  # warm up: every customer's users.info is cached
            if llm_seconds is None:
                time.sleep(3)  # the warm-up's replies go out (paced 1/s per channel)
                results["event → chat.postMessage, offline"] = (end_to_end(url, slack, events, args.e2e), None)
            results[f"ack, {label}, {args.rate:g}/s"] = senders.paced(events, args.rate, args.events)
            results[f"ack, {label}, {args.burst_rate:g}/s burst"] = senders.paced(events, args.burst_rate, burst)
            senders.close()
            llm.stop()  # pending 10 s calls end now: the process is killed anyway
    print(f"database: {'PostgreSQL' if args.postgres else 'SQLite file'}")
    print("| run | events | achieved events/s | p50 ms | p99 ms | max ms | over 3 s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, (values, rate) in results.items():
        print(row(name, values, rate))
    keys = [k for k in results if k.startswith("ack")]
    for steady, slowed in ((keys[0], keys[2]), (keys[1], keys[3])):
        ratio = pct(results[slowed][0], 0.99) / pct(results[steady][0], 0.99)
        print(f"p99 ratio slow LLM / offline ({steady.split(', ')[-1]}): {ratio:.2f}")


if __name__ == "__main__":
    main()
