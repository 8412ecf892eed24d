"""Benchmark: N concurrent widget visitors against the helpdesk vs a bare python-socketio echo server.

Each visitor is a python-socketio asyncio client on ``/widget`` (websocket transport) that chats
the order-status flow with the offline assistant over and over: send a message, time the first
bot reply (the first message whose seq is above the acknowledged one), think (``--think``
seconds, ±50 % jitter), repeat. The
helpdesk runs in its own process exactly as ``helpdesk run`` serves it (SQLite file, offline
understanding, rate limit off); the baseline is a bare python-socketio server in the same server
mode that acknowledges every message and emits it back, measured in the same run with the
same clients. Prints p50/p99 reply latency, messages/s and the throughput ratio.

    python bench/widget_load.py [--clients 500] [--duration 30] [--think 10] [--mode threading|gevent]
                                [--database-url URL]

``--think 0`` is the saturation run (every visitor sends again as soon as it is answered).
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and "--serve" in sys.argv and "gevent" in sys.argv:
    from gevent import monkey  # before anything else imports socket, ssl or threading

    monkey.patch_all()

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "/widget"
SCRIPT: list[dict[str, str]] = [
    {"text": "where is my order"}, {"text": "A1002"},
    {"payload": "/SetSlots(continue_conversation=false)", "title": "No, thanks"},
    {"payload": "/SetSlots(csat_score=satisfied)", "title": "Satisfied"},
]


# ---- the servers (run in their own process) ------------------------------------------------

def serve_echo(port: int, mode: str) -> None:
    import socketio

    sio = socketio.Server(async_mode=mode, async_handlers=False, cors_allowed_origins="*")
    counter = iter(range(1, 1 << 62))

    @sio.on("connect", namespace=NAMESPACE)
    def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        sio.emit("session", {"messages": []}, to=sid, namespace=NAMESPACE)

    @sio.on("message", namespace=NAMESPACE)
    def message(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        seq, reply = next(counter), next(counter)  # like the helpdesk: the message, then its reply
        sio.emit("message", {"seq": reply, "role": "bot", "text": data.get("text")}, to=sid, namespace=NAMESPACE)
        return {"id": seq, "seq": seq}

    _run_wsgi(socketio.WSGIApp(sio), port, mode)


def serve_helpdesk(port: int, mode: str, folder: str, database_url: str | None) -> None:
    from settings import Settings

    settings = Settings(database_url=database_url or f"sqlite:///{folder}/bench.db", instance_path=folder,
                        auto_migrate=True,
                        assistant=str(REPO / "flows"), secret_key="bench", log_level="WARNING",
                        widget_rate_per_minute=0, address_rate_per_minute=0, new_sessions_per_minute=0,
                        host="127.0.0.1", port=port)
    if mode == "threading":
        from app import serve

        serve(settings)
        return
    import services

    build = services.build_socketio

    def build_for_mode(settings: Settings) -> Any:  # same server, another async mode
        sio = build(settings)
        return type(sio)(async_mode=mode, cors_allowed_origins=sio.eio.cors_allowed_origins,
                         async_handlers=False)

    services.build_socketio = build_for_mode  # type: ignore[assignment]
    from app import create_app

    _run_wsgi(create_app(settings), port, mode)


def _run_wsgi(app: Any, port: int, mode: str) -> None:
    if mode == "gevent":
        from gevent import pywsgi

        pywsgi.WSGIServer(("127.0.0.1", port), app, log=None).serve_forever()
    else:
        from werkzeug.serving import WSGIRequestHandler, run_simple

        class RequestHandler(WSGIRequestHandler):  # as app.serve: no Nagle delay on small frames
            disable_nagle_algorithm = True

        run_simple("127.0.0.1", port, app, threaded=True, request_handler=RequestHandler)


# ---- the visitors -------------------------------------------------------------------------

@dataclass
class Result:
    name: str
    connected: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def row(self) -> str:
        ms = sorted(x * 1000 for x in self.latencies) or [float("nan")]
        p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
        return (f"{self.name:<24} {self.connected:>7} {len(self.latencies):>8} {self.rate:>9.1f} "
                f"{statistics.median(ms):>8.1f} {p99:>8.1f} {self.errors:>7}")

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


async def visitor(url: str, result: Result, start: asyncio.Event, stop_at: list[float], think: float,
                  rng: random.Random) -> None:
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
    await start.wait()
    await asyncio.sleep(rng.uniform(0, think))  # visitors do not all write at the same instant
    step = 0
    try:
        while time.perf_counter() < stop_at[0]:
            await _one_message(client, replies, arrived, SCRIPT[step % len(SCRIPT)], result)
            step += 1
            if think:
                await asyncio.sleep(think * rng.uniform(0.5, 1.5))
    finally:
        await client.disconnect()


async def _one_message(client: Any, replies: list[tuple[int, float]], arrived: asyncio.Event,
                       message: dict[str, str], result: Result) -> None:
    """Send one message; time the first reply after it (a reply's seq is above the message's)."""
    sent = time.perf_counter()
    try:
        ack = await client.call("message", {**message, "client_id": uuid.uuid4().hex}, namespace=NAMESPACE,
                                timeout=30)
        while True:
            answer = next((at for seq, at in replies if seq > ack["seq"]), None)
            if answer is not None:
                result.latencies.append(answer - sent)
                replies.clear()
                return
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), timeout=30)
    except (TimeoutError, KeyError, socketio_errors()):
        result.errors += 1


def socketio_errors() -> type[Exception]:
    import socketio

    return socketio.exceptions.SocketIOError  # type: ignore[no-any-return]


async def load(url: str, name: str, clients: int, duration: float, think: float) -> Result:
    result = Result(name)
    start = asyncio.Event()
    stop_at = [float("inf")]
    rng = random.Random(7)
    tasks = []
    for batch in range(0, clients, 50):  # connect in batches, as visitors arrive
        tasks += [asyncio.create_task(visitor(url, result, start, stop_at, think, random.Random(rng.random())))
                  for _ in range(batch, min(clients, batch + 50))]
        while result.connected + result.errors < min(clients, batch + 50):
            await asyncio.sleep(0.05)
    began = time.perf_counter()
    stop_at[0] = began + duration
    start.set()
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - began
    return result


# ---- running both -------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(kind: str, args: argparse.Namespace, folder: str) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    command = [sys.executable, __file__, "--serve", kind, "--mode", args.mode, "--port", str(port),
               "--folder", folder] + (["--database-url", args.database_url] if args.database_url else [])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = open(Path(folder) / f"{kind}.log", "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/socket.io/?EIO=4&transport=polling", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the {kind} server did not start; see {log.name}")


def measure(kind: str, args: argparse.Namespace, folder: str) -> Result:
    process, url = start_server(kind, args, folder)
    try:
        name = "python-socketio echo" if kind == "echo" else "helpdesk widget"
        return asyncio.run(load(url, name, args.clients, args.duration, args.think))
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load after all connected")
    parser.add_argument("--think", type=float, default=10.0,
                        help="seconds between a reply and the visitor's next message (0: saturation)")
    parser.add_argument("--mode", choices=["threading", "gevent"], default="threading")
    parser.add_argument("--database-url", help="an empty database for the helpdesk (default: a SQLite file)")
    parser.add_argument("--serve", choices=["echo", "helpdesk"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_echo(args.port, args.mode) if args.serve == "echo" else serve_helpdesk(args.port, args.mode, args.folder,
                                                                                     args.database_url)
        return
    with tempfile.TemporaryDirectory() as folder:
        echo = measure("echo", args, folder)
        ours = measure("helpdesk", args, folder)
    print(f"widget load: {args.clients} clients, think {args.think:g} s (±50 %), {args.duration:g} s, "
          f"server mode {args.mode}, {'SQLite' if not args.database_url else args.database_url.split(':')[0]}, "
          f"{os.cpu_count()} cores")
    print(f"{'server':<24} {'clients':>7} {'replies':>8} {'msg/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    print(echo.row())
    print(ours.row())
    ratio = ours.rate / echo.rate if echo.rate else float("nan")
    print(f"ratio helpdesk / echo (messages/s): {ratio:.2f}  (targets: ratio >= 0.5, helpdesk p99 <= 100 ms)")


if __name__ == "__main__":
    main()
