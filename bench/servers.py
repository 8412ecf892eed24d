"""The servers the benchmarks compare, each started in its own process by :func:`start`.

    python bench/servers.py echo|helpdesk --mode MODE --port P --folder DIR [--database-url URL]
                                          [--connections N] [--env KEY=VALUE ...]

Modes (the same for both servers, so a ratio compares the application, not the stack):

* ``threading``: werkzeug's threaded server, WebSockets through simple-websocket, a thread per
  connection (``helpdesk run``, the embedded default);
* ``gevent``: python-socketio's gevent mode on gevent's pywsgi server (simple-websocket on greenlets);
* ``gunicorn-gthread``: gunicorn, one worker (socket.io needs sticky sessions) with a thread per connection;
* ``gunicorn-gevent``: gunicorn, one gevent worker.

The echo server is a bare python-socketio server on ``/widget`` that acknowledges every message
and emits one reply: what any socket.io server costs with no application work; ``llm-echo`` emits
the reply after one call to the Messages API (the LLM benchmark's baseline).
"""

from __future__ import annotations

import sys

if __name__ == "__main__" and "--mode" in sys.argv and sys.argv[sys.argv.index("--mode") + 1] == "gevent":
    from gevent import monkey  # before anything else imports socket, ssl or threading

    monkey.patch_all()

import argparse
import gc
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODES = ("threading", "gevent", "gunicorn-gthread", "gunicorn-gevent")
NAMESPACE = "/widget"


def socketio_mode(mode: str) -> str:
    return "gevent" if mode.endswith("gevent") else "threading"


def echo_app(mode: str) -> Any:
    import socketio

    sio = socketio.Server(async_mode=socketio_mode(mode), async_handlers=False, cors_allowed_origins="*")
    counter = iter(range(1, 1 << 62))

    @sio.on("connect", namespace=NAMESPACE)
    def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        sio.emit("session", {"messages": []}, to=sid, namespace=NAMESPACE)

    @sio.on("message", namespace=NAMESPACE)
    def message(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        seq, reply = next(counter), next(counter)  # like the helpdesk: the message, then its reply
        sio.emit("message", {"seq": reply, "role": "bot", "text": data.get("text")}, to=sid, namespace=NAMESPACE)
        return {"id": seq, "seq": seq}

    return socketio.WSGIApp(sio)


def llm_echo_app(mode: str) -> Any:
    """The echo server, but every message is answered after one call to the Messages API
    (``ANTHROPIC_BASE_URL``) through the anthropic SDK, in a background task of its own: what a
    socket.io server that only relays to the LLM costs and how fast it can be."""
    import anthropic
    import socketio

    claude = anthropic.Anthropic(api_key="bench", base_url=os.environ["ANTHROPIC_BASE_URL"], max_retries=0,
                                 timeout=30)
    sio = socketio.Server(async_mode=socketio_mode(mode), async_handlers=False, cors_allowed_origins="*")
    counter = iter(range(1, 1 << 62))
    tool = {"name": "commands", "description": "commands", "input_schema": {"type": "object"}}

    def answer(sid: str, text: str, seq: int) -> None:
        reply = claude.messages.create(model="claude-bench", max_tokens=256, tools=[tool],  # type: ignore[list-item]
                                       tool_choice={"type": "tool", "name": "commands"},
                                       messages=[{"role": "user", "content": text}])
        sio.emit("message", {"seq": seq, "role": "bot", "text": str(reply.content[0])}, to=sid, namespace=NAMESPACE)

    @sio.on("connect", namespace=NAMESPACE)
    def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        sio.emit("session", {"messages": []}, to=sid, namespace=NAMESPACE)

    @sio.on("message", namespace=NAMESPACE)
    def message(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        seq, reply = next(counter), next(counter)
        sio.start_background_task(answer, sid, str(data.get("text")), reply)
        return {"id": seq, "seq": seq}

    return socketio.WSGIApp(sio)


def helpdesk_app(mode: str, folder: str, database_url: str | None, port: int) -> Any:
    from helpdesk.settings import Settings

    settings = Settings(database_url=database_url or f"sqlite:///{folder}/bench.db", instance_path=folder,
                        auto_migrate=True, assistant=str(REPO / "flows"), secret_key="bench",
                        log_level="WARNING", widget_rate_per_minute=0, address_rate_per_minute=0,
                        new_sessions_per_minute=0, sender_rate_per_minute=0, host="127.0.0.1", port=port)
    from helpdesk.cli import serving_app

    app_module = serving_app(settings)  # what `helpdesk run` holds in memory: see cli.serving_app
    from helpdesk import services

    build = services.build_socketio
    wanted = socketio_mode(mode)

    def build_for_mode(settings: Settings) -> Any:  # the same server, in the stack's async mode
        sio = build(settings)
        if sio.async_mode == wanted:
            return sio
        return type(sio)(async_mode=wanted, cors_allowed_origins=sio.eio.cors_allowed_origins,
                         client_manager=sio.manager if wanted == "threading" else None, async_handlers=False)

    services.build_socketio = build_for_mode  # type: ignore[assignment]
    return app_module.create_checked_app(settings)  # as `helpdesk run`: a new database migrated by a child


def serve(load: Callable[[], Any], mode: str, port: int, connections: int) -> None:
    if mode != "gevent" and mode != "threading":
        _gunicorn(load, mode, port, connections)
        return
    app = _frozen(load())
    if mode == "gevent":
        import socket

        from gevent import pywsgi

        class Server(pywsgi.WSGIServer):  # as cli.serve and gunicorn: no Nagle delay on small frames
            def handle(self, sock: Any, address: Any) -> None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                super().handle(sock, address)

        Server(("127.0.0.1", port), app, log=None, **_gevent_websocket_handler()).serve_forever()
    else:
        from werkzeug.serving import WSGIRequestHandler, run_simple

        class RequestHandler(WSGIRequestHandler):  # as app.serve: no Nagle delay on small frames
            disable_nagle_algorithm = True

        run_simple("127.0.0.1", port, app, threaded=True, request_handler=RequestHandler)


def _frozen(app: Any) -> Any:
    """The built app, its start-up objects frozen out of the cyclic GC as `helpdesk run` and `helpdesk
    serve` do (``app.freeze_startup_objects``; not imported here: the echo server must not load the
    helpdesk), for every server compared alike."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)  # app.GC_THRESHOLDS, for every server alike
    return app


def _gevent_websocket_handler() -> dict[str, Any]:
    """With gevent-websocket installed, engineio's gevent mode uses it (and its server handler must
    serve); without it, simple-websocket on greenlets."""
    try:
        from geventwebsocket.handler import WebSocketHandler
    except ImportError:
        return {}
    return {"handler_class": WebSocketHandler}


def _gunicorn(load: Callable[[], Any], mode: str, port: int, connections: int) -> None:
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):  # gunicorn's documented "custom application"
        def load_config(self) -> None:
            options = {"bind": f"127.0.0.1:{port}", "workers": 1, "timeout": 120, "loglevel": "warning",
                       "worker_class": "gthread" if mode == "gunicorn-gthread" else _gevent_worker(),
                       # a WebSocket holds its thread (gthread) or counts as a connection (gevent)
                       "threads": connections, "worker_connections": connections}
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:  # in the worker, after gevent's worker patched the standard library
            return _frozen(load())

    Application().run()


def _gevent_worker() -> str:
    if _gevent_websocket_handler():
        return "geventwebsocket.gunicorn.workers.GeventWebSocketWorker"
    return "gevent"


def start(kind: str, mode: str, folder: str, *, database_url: str | None = None, connections: int = 1100,
          env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``kind`` (echo, llm-echo or helpdesk) in ``mode`` in a new process; (process, base URL) once it answers."""
    import httpx
    from benchutil import free_port

    port = free_port()
    command = [sys.executable, __file__, kind, "--mode", mode, "--port", str(port), "--folder", folder,
               "--connections", str(connections)] + (["--database-url", database_url] if database_url else [])
    log = open(Path(folder) / f"{kind}-{mode}.log", "ab")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/socket.io/?EIO=4&transport=polling", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the {kind} server ({mode}) did not start; see {log.name}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("kind", choices=["echo", "llm-echo", "helpdesk"])
    parser.add_argument("--mode", choices=MODES, default="threading")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--connections", type=int, default=1100)
    args = parser.parse_args()
    if args.kind == "echo":
        serve(lambda: echo_app(args.mode), args.mode, args.port, args.connections)
    elif args.kind == "llm-echo":
        serve(lambda: llm_echo_app(args.mode), args.mode, args.port, args.connections)
    else:
        serve(lambda: helpdesk_app(args.mode, args.folder, args.database_url, args.port), args.mode, args.port,
              args.connections)


if __name__ == "__main__":
    main()
