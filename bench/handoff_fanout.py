"""Benchmark: from the handoff command to the conversation appearing on 20 agent sockets.

A real threaded server (werkzeug, SQLite file in a temp folder, the default assistant, offline
understanding) runs in this process; 20 python-socketio clients on ``/agent``, one per agent, run
in a second process (as agents' browsers would: not competing for the server's interpreter).
Each round, a new customer posts "I want to talk to a human" to the REST channel; we time from
just before that POST until the last of the 20 sockets has received the ``conversation`` event
(type ``queued``) for that conversation. Times are ``time.monotonic()``, one clock for both
processes. Measured: store the message, run the turn (understanding, the handoff pattern), open
the handoff (summary, position, timers), commit, publish and fan out.

The baseline, measured in the same run against the same 20 sockets, is a bare socket.io
broadcast (``sio.emit`` from the server to the ``agents`` room, a payload of the same size as a
``conversation`` event): the ratio says what the handoff adds on top of the transport.
Target: p99 (all 20 sockets) <= 50 ms.

The handoffs are measured twice: on a quiet server, and with background customer traffic —
``--background`` widget visitors (100, in a third process) chatting with the assistant, each
sending a message every ``--background-think`` seconds (2, ±50 %) — as a live helpdesk would
see them.

    python bench/handoff_fanout.py [--agents 20] [--rounds 200] [--background 100] [--background-think 2]
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import socketio
from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PASSWORD = "benchmark password"
PAYLOAD = 1500  # bytes of padding in the baseline's event, about a conversation event's size


class Receiver:
    """One agent socket that stamps when each awaited key arrives."""

    def __init__(self, url: str, token: str) -> None:
        self.arrived: dict[Any, float] = {}
        self.changed = threading.Condition()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("conversation", self._conversation, namespace="/agent")
        self.sio.on("probe", lambda data: self._stamp(("p", data["n"])), namespace="/agent")
        self.sio.connect(url, namespaces=["/agent"], auth={"token": token, "status": "away"},
                         transports=["websocket"], wait_timeout=10)

    def _stamp(self, key: Any) -> None:
        with self.changed:
            self.arrived.setdefault(key, time.monotonic())
            self.changed.notify_all()

    def _conversation(self, data: dict[str, Any]) -> None:
        if data.get("type") == "queued":
            self._stamp(("c", data["item"]["conversation_id"]))

    def wait(self, key: Any, timeout: float = 10.0) -> float:
        deadline = time.monotonic() + timeout
        with self.changed:
            while key not in self.arrived:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{key} never arrived")
                self.changed.wait(left)
            return self.arrived.pop(key)


def agents_process(url: str, tokens: list[str], pipe: Connection) -> None:
    """The second process: connect every socket, then answer "when did the last one get KEY?"."""
    receivers = [Receiver(url, token) for token in tokens]
    pipe.send("ready")
    while (key := pipe.recv()) is not None:
        pipe.send(max(r.wait(tuple(key)) for r in receivers))
    for receiver in receivers:
        ws = getattr(receiver.sio.eio, "ws", None)
        if ws is not None:  # werkzeug answers the close handshake with a 400: don't wait 3 s for it
            ws.close = functools.partial(ws.close, timeout=0.1)
        receiver.sio.disconnect()


def background_process(url: str, visitors: int, think: float) -> None:
    """The third process: widget visitors chatting with the assistant until terminated."""
    import asyncio

    sys.path.insert(0, str(REPO / "bench"))
    from widget_load import Result, load

    asyncio.run(load(url, Result("background", "threading", "paced", visitors), os.getpid(), 24 * 3600, think))


def start_background(url: str, visitors: int, think: float) -> Any:
    process = multiprocessing.get_context("spawn").Process(target=background_process, args=(url, visitors, think),
                                                           daemon=True)
    process.start()
    time.sleep(max(3.0, visitors / 50))  # connected, and past the first message of most
    return process


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def start_server(tmp: str, agents: int) -> tuple[Any, Any, str, list[str]]:
    from helpdesk.app import create_app, freeze_startup_objects
    from helpdesk.handoff import auth
    from helpdesk.settings import Settings

    settings = Settings(database_url=f"sqlite:///{tmp}/bench.db", instance_path=f"{tmp}/instance",
                        assistant=str(REPO / "flows"), secret_key="bench", log_level="WARNING",
                        timers_in_web=False, handoff_assignment="manual", widget_rate_per_minute=0,
                        address_rate_per_minute=0, sender_rate_per_minute=0)
    app = create_app(settings)
    freeze_startup_objects()  # as `helpdesk run` does once the app is built
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    with app.extensions["helpdesk"].db.session() as session, session.begin():
        for n in range(agents):
            auth.create_agent(session, f"agent{n}@bench.example", f"Agent {n}", PASSWORD, capacity=100)
    tokens = [httpx.post(f"{url}/api/v1/auth/login", json={"email": f"agent{n}@bench.example", "password": PASSWORD},
                         timeout=30).json()["token"] for n in range(agents)]
    return app, server, url, tokens


def measure_handoffs(app: Any, url: str, pipe: Connection, rounds: int, offset: int = 0) -> list[float]:
    from helpdesk.conversations.store import get_conversation

    db, samples = app.extensions["helpdesk"].db, []
    with httpx.Client(timeout=30) as client:
        for n in range(offset, offset + rounds):
            started = time.monotonic()
            response = client.post(f"{url}/webhooks/rest/webhook",
                                   json={"sender": f"customer-{n}", "message": "I want to talk to a human"})
            assert response.status_code == 200, response.text
            conversation = get_conversation(db, "rest", f"customer-{n}")
            assert conversation is not None and conversation.status == "queued"
            pipe.send(("c", conversation.id))
            samples.append(pipe.recv() - started)
    return samples


def measure_baseline(app: Any, pipe: Connection, rounds: int) -> list[float]:
    sio, samples = app.extensions["helpdesk"].sio, []
    for n in range(rounds):
        started = time.monotonic()
        sio.emit("probe", {"n": n, "pad": "x" * PAYLOAD}, namespace="/agent", room="agents")
        pipe.send(("p", n))
        samples.append(pipe.recv() - started)
    return samples


def report(args: argparse.Namespace, rows: list[tuple[str, list[float]]]) -> None:
    print(f"handoff fan-out: {args.agents} agent sockets (in a second process), {args.rounds} rounds, "
          f"SQLite, offline understanding, {os.cpu_count()} cores")
    print("| what | p50 ms | p90 ms | p99 ms | max ms |\n| --- | ---: | ---: | ---: | ---: |")
    for name, values in rows:
        ms = [v * 1000 for v in values]
        print(f"| {name} | {statistics.median(ms):.2f} | {percentile(ms, 90):.2f} | {percentile(ms, 99):.2f} | "
              f"{max(ms):.2f} |")
    baseline = rows[0][1]
    for name, handoff in rows[1:]:
        ratio = statistics.median(handoff) / statistics.median(baseline)
        p99 = percentile(handoff, 99) * 1000
        print(f"{name}: {ratio:.1f} x the bare broadcast (p50); p99 {p99:.1f} ms, target 50 ms: "
              f"{'met' if p99 <= 50 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--background", type=int, default=100, help="widget visitors chatting meanwhile")
    parser.add_argument("--background-think", type=float, default=2.0, help="seconds between their messages")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app, server, url, tokens = start_server(tmp, args.agents)
        here, there = multiprocessing.get_context("spawn").Pipe()
        child = multiprocessing.get_context("spawn").Process(target=agents_process, args=(url, tokens, there))
        child.start()
        assert here.recv() == "ready"
        time.sleep(0.5)  # every socket's presence update settles
        measure_handoffs(app, url, here, 10)  # warm up: imports, caches, SQLite pages
        handoff = measure_handoffs(app, url, here, args.rounds, offset=10)
        baseline = measure_baseline(app, here, args.rounds)
        rows = [("baseline: bare socket.io broadcast", baseline), ("handoff -> all sockets, quiet", handoff)]
        if args.background:
            background = start_background(url, args.background, args.background_think)
            busy = measure_handoffs(app, url, here, args.rounds, offset=10 + args.rounds)
            rows.append((f"handoff -> all sockets, {args.background} visitors at 1 msg / "
                         f"{args.background_think:g} s", busy))
            background.terminate()
            background.join(timeout=10)
        here.send(None)
        child.join(timeout=30)
        server.shutdown()
        app.extensions["helpdesk"].close()
    report(args, rows)


if __name__ == "__main__":
    main()
