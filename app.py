"""The composition root: ``create_app``, the ``Helpdesk`` extension, ``serve``, ``serve_production``.

``python app.py`` (or ``helpdesk run``, see ``cli.py``) serves HTTP and socket.io on
HELPDESK_HOST:HELPDESK_PORT with werkzeug (the embedded default); ``helpdesk serve`` with gunicorn.
Channels are plug-ins: ``Helpdesk.init_app`` mounts the connectors
that ``connectors/registry.py`` enables, with a :class:`~connectors.base.ConnectorContext`.
"""

from __future__ import annotations

import gc
import hmac
import logging
import math
import signal
import threading
import time
from typing import Any

import socketio
from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from helpdesk.connectors.base import Connector, ConnectorContext
from helpdesk.connectors.errors import BadRequest, error_response
from helpdesk.connectors.limits import ChannelLimits, channel_limits
from helpdesk.connectors.origins import OriginPolicy
from helpdesk.connectors.registry import enabled_connectors
from helpdesk.conversations import logcontext
from helpdesk.conversations.db import Database, SchemaNotCurrent, upgrade_in_child
from helpdesk.conversations.outbox import OutboxWorker, RetryPolicy
from helpdesk.handoff import init_handoff
from helpdesk.handoff.desk import ChatDesk
from helpdesk.handoff.files import agent_may_see_attachment
from helpdesk.maintenance import add_maintenance_jobs
from helpdesk.observability import CONTENT_TYPE_LATEST, Check, JsonFormatter, Readiness, configure_logging
from helpdesk.services import EmptySecret, Services, build_services, secret_key
from helpdesk.settings import Settings

log = logging.getLogger(__name__)
#: seconds each readiness check (database, Redis) may take before it counts as failed
READY_TIMEOUT = 2.0


class Helpdesk:
    """Mounts the helpdesk (channels, health, socket.io) on a Flask app: ``Helpdesk(app)``."""

    def __init__(self, app: Flask | None = None, settings: Settings | None = None) -> None:
        self.services: Services | None = None
        self.connectors: list[Connector] = []
        if app is not None:
            self.init_app(app, settings)

    def init_app(self, app: Flask, settings: Settings | None = None) -> None:
        settings = settings or Settings()
        key = secret_key(settings)  # refuses an empty secret before anything starts
        services = build_services(settings)
        self.services = services
        app.extensions["helpdesk"] = services
        # the helpdesk signs with its own secret (services.secret_key); a host app keeps its SECRET_KEY
        if not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = key
        app.config["MAX_CONTENT_LENGTH"] = app.config.get("MAX_CONTENT_LENGTH") or 16 * 1024 * 1024
        # ids in URLs beyond 64 bits are 404s, not database errors
        app.url_map.converters["int"] = Int64Converter
        limits = channel_limits(settings)
        app.extensions["helpdesk.limits"] = limits
        services.closers.extend(limits.closers)
        self.connectors = mount_connectors(app, services, key, limits)
        init_handoff(app, services)
        scheduler = app.extensions.get("helpdesk.scheduler")
        if scheduler is not None:  # this process runs the background work (else `helpdesk worker` does)
            add_maintenance_jobs(scheduler, services)
        readiness = build_readiness(services)
        app.extensions["helpdesk.readiness"] = readiness
        app.add_url_rule("/healthz", "healthz", _healthz)
        app.add_url_rule("/readyz", "readyz", _readyz)
        app.add_url_rule("/metrics", "metrics", _metrics)
        app.register_error_handler(BadRequest, _bad_request)
        app.register_error_handler(HTTPException, _http_error)
        app.wsgi_app = socketio.WSGIApp(services.sio, app.wsgi_app)  # type: ignore[method-assign]
        if settings.trusted_proxies:
            from werkzeug.middleware.proxy_fix import ProxyFix

            # REMOTE_ADDR (what the rate limits key on) becomes the client X-Forwarded-For names
            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]


class Int64Converter(IntegerConverter):
    """``<int:…>`` in URLs, limited to what a 64-bit id column holds."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def connector_context(services: Services, secret: str, limits: ChannelLimits) -> ConnectorContext:
    """The narrow view of the helpdesk that connectors get."""
    settings = services.settings
    return ConnectorContext(
        settings=settings, db=services.db, inbox=services.inbox, bus=services.bus, sio=services.sio,
        secret_key=secret, limits=limits,
        origins=OriginPolicy(settings.allowed_origins), turns=services.turns,
        agent_may_see=agent_may_see_attachment,
        desk=(lambda channel: ChatDesk(services.handoff, channel)) if services.handoff else None,  # type: ignore[arg-type]
    )


def mount_connectors(app: Flask, services: Services, secret: str, limits: ChannelLimits) -> list[Connector]:
    """Mount the enabled connectors; route store-and-forward channels through the outbox and, with
    HELPDESK_OUTBOX_IN_WEB, deliver it from a background thread of this process."""
    ctx = connector_context(services, secret, limits)
    connectors = enabled_connectors(services.settings)
    for connector in connectors:
        connector.mount(app, ctx)
        channel = connector.channel()
        if channel is not None:
            services.channels[channel.name] = channel
            services.delivery.use_outbox(channel.name)
        forward = getattr(connector, "forward", None)  # optional: carries other channels' messages too
        if forward is not None:
            services.delivery.forwarders.append(forward)
        notice = getattr(connector, "notice", None)  # optional: keeps notices (handoff cards) through the outbox
        if notice is not None:
            services.delivery.notices.append(notice)
        services.closers.append(connector.stop)
    for connector in connectors:
        connector.start()
    services.closers.append(services.turns.close)  # closed in reverse: turns end before connectors stop
    if services.channels and services.settings.outbox_in_web:
        outbox = outbox_worker(services)
        services.delivery.wake.append(outbox.notify)
        outbox.start(services.settings.outbox_interval)
        services.closers.append(outbox.stop)
    return connectors


def outbox_worker(services: Services) -> OutboxWorker:
    """The outbox worker over the mounted connectors' store-and-forward channels."""
    policy = RetryPolicy(lease=services.settings.outbox_lease)
    return OutboxWorker(services.db, services.channels, policy=policy)


def build_readiness(services: Services) -> Readiness:
    """The checks of ``GET /readyz``: the database answers, its schema is at the newest migration,
    and Redis (when HELPDESK_REDIS_URL is set) answers PING; each bounded by a short timeout."""
    db = services.db
    checks: dict[str, Check] = {"database": db.ping, "schema": lambda: {"revision": db.check_schema()}}
    if services.settings.redis_url:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis.from_url(services.settings.redis_url, socket_connect_timeout=READY_TIMEOUT,
                                      socket_timeout=READY_TIMEOUT, retry=Retry(NoBackoff(), 0))
        checks["redis"] = lambda: None if client.ping() else _raise("no PONG")
        services.closers.append(client.close)
    return Readiness(checks, timeout=READY_TIMEOUT)


def _raise(message: str) -> None:
    raise RuntimeError(message)


def _healthz() -> Response:
    """Liveness: the process serves HTTP (no dependency is asked)."""
    return jsonify({"status": "ok"})


def _readyz() -> Any:
    """Readiness: 200 when the database, its schema and Redis are usable, else 503 naming what is not."""
    ready, checks = current_app.extensions["helpdesk.readiness"].run()
    failed = sorted(name for name, check in checks.items() if check["status"] != "ok")
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "checks": checks}
    if failed:
        body["failed"] = failed
    return jsonify(body), 200 if ready else 503


def _metrics() -> Any:
    services: Services = current_app.extensions["helpdesk"]
    token = services.settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            response, status = error_response("unauthorized", "GET /metrics needs Authorization: Bearer "
                                              "<HELPDESK_METRICS_TOKEN>", 401)
            response.headers["WWW-Authenticate"] = "Bearer"
            return response, status
    return Response(services.metrics.render(), mimetype=CONTENT_TYPE_LATEST)


def _bad_request(exc: BadRequest) -> Any:
    return error_response(exc.code, exc.message, exc.status)


def _http_error(exc: HTTPException) -> Any:
    code = (exc.name or "error").lower().replace(" ", "_")
    return error_response(code, exc.description or exc.name or "error", exc.code or 500)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the helpdesk web app from ``settings`` (default: the environment).

    The ``helpdesk`` commands are also available as ``flask --app app <command>`` (registered
    through the ``flask.commands`` entry points in pyproject.toml)."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format, context=logcontext.current)
    app = Flask(__name__, instance_path=None)
    Helpdesk(app, settings)
    return app


#: why the app may not start: the schema is not at the newest migration, or the secret is empty
StartupRefused = (SchemaNotCurrent, EmptySecret)


def check_startup(settings: Settings) -> None:
    """What must hold before anything starts: a non-empty secret and, unless the database is
    migrated automatically (SQLite by default), a schema at the newest revision. Raises one of
    :data:`StartupRefused`, whose message tells the user what to do. A schema migrated automatically
    is migrated here by a child process, so the serving process never imports Alembic."""
    secret_key(settings)
    database = Database(settings.database_url)
    try:  # before logging is set up: the one line the caller prints is all the user sees
        if settings.auto_migrate is False or (settings.auto_migrate is None and database.dialect_name != "sqlite"):
            database.check_schema()
        elif not database.in_memory and not database.at_head():
            # migrated by a child process: the serving process never imports Alembic (create_app's
            # own upgrade then finds the schema current; if the child failed, it raises the error)
            upgrade_in_child(database.url)
    finally:
        database.dispose()


def create_checked_app(settings: Settings) -> Flask:
    """``create_app`` after :func:`check_startup`."""
    check_startup(settings)
    return create_app(settings)


#: the cyclic collector's thresholds in a serving process (CPython's default is 700, 10, 10): a young
#: collection every 50,000 new container objects (~10 widget messages) rather than 700, a middle one
#: every 20 of those, and a full one only after 100 middle ones (and, as always, only once the objects
#: waiting for it are a quarter of all tracked ones). Reference counting frees everything without
#: cycles as before; full collections of this server found no cyclic garbage (``gc.callbacks`` probe).
GC_THRESHOLDS = (50_000, 20, 100)


def freeze_startup_objects() -> None:
    """Exempt everything built at start-up (the assistant, the classifier, the libraries' modules,
    the mapped classes) from the cyclic garbage collector, once the app is built and before it
    serves. Otherwise every full collection walks those hundreds of thousands of long-lived objects
    again while holding the interpreter: with many turns in flight that was a 100-300 ms pause of
    every thread, webhook acknowledgements included (``bench/slack_events.py``). ``gc.freeze`` is
    the standard library's tool for exactly this (done by long-running servers such as Instagram's).

    Then the collector's thresholds become :data:`GC_THRESHOLDS`: each WebSocket holds ~190 tracked
    objects (four threads, their locks and queues, the protocol state), and with 1,000 visitors
    connected a full collection walked ~190,000 of them in ~100 ms, a pause of every thread that was
    the 1,000-visitor p99 (``bench/widget_load.py``); with these, full collections are rare."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def graceful_stop(app: Flask, timeout: float) -> bool:
    """The first half of a graceful shutdown, once the server takes no new connections: take no new
    turns, let those in flight finish and be delivered (at most ``timeout`` seconds), then drop the
    socket.io connections (their visitors reconnect to another process). True when every turn finished;
    the caller closes the services afterwards."""
    services: Services = app.extensions["helpdesk"]
    app.extensions["helpdesk.readiness"].stopping = True
    log.info("app.stopping", extra={"graceful_timeout": timeout})
    services.turns.stop_accepting()
    deadline = time.monotonic() + timeout
    finished = services.turns.wait_idle(timeout) and services.pipeline.wait_idle(max(0.0, deadline - time.monotonic()))
    if not finished:
        log.warning("app.stopping.turns_unfinished", extra={"graceful_timeout": timeout})
    # the connections drop (no engine.io "close" packet, which tells a client not to reconnect), so
    # every client reconnects, through nginx to another process
    for socket in list(services.sio.eio.sockets.values()):
        socket.close(wait=False, abort=True)
    return finished


def serve(settings: Settings, app: Flask | None = None) -> None:
    """Serve HTTP and socket.io with werkzeug (the embedded default, ``helpdesk run``): a thread per
    connection, WebSockets through simple-websocket (why threading: README, "Website widget").

    SIGTERM or SIGINT stops it gracefully: the listening socket closes (new connections are refused),
    the turns in flight finish (HELPDESK_GRACEFUL_TIMEOUT at most), then everything closes."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class RequestHandler(WSGIRequestHandler):
        # socket.io sends many small frames; with Nagle's algorithm each one after the first
        # waits for the client's delayed ACK (~40 ms)
        disable_nagle_algorithm = True

    if app is None:
        try:
            app = create_checked_app(settings)
        except StartupRefused as exc:
            raise SystemExit(f"error: {exc}") from None
    server = make_server(settings.host, settings.port, app, threaded=True, request_handler=RequestHandler)
    freeze_startup_objects()

    previous: dict[int, Any] = {}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def stop(signum: int, frame: object) -> None:
        # shutdown() waits for serve_forever, which runs in this (main) thread: from another one
        threading.Thread(target=server.shutdown, name="server-shutdown", daemon=True).start()
        restore()  # a second signal stops a hung shutdown the default way

    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    print(f"Helpdesk on http://{settings.host}:{settings.port}/ (assistant: {settings.assistant})", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()  # new connections are refused from here on
        try:
            graceful_stop(app, settings.graceful_timeout)
            app.extensions["helpdesk"].close()
        finally:
            restore()
    print("Helpdesk stopped", flush=True)


def serve_production(settings: Settings) -> None:
    """Serve with gunicorn (``helpdesk serve``): one gthread worker (socket.io keeps a session in the
    process that created it; scale with more processes behind a sticky nginx, see deploy/), with
    HELPDESK_SERVER_THREADS threads. Measured against the alternatives in the README's "Server stack".

    SIGTERM stops it gracefully: the worker closes its listening socket (new connections are refused,
    nginx tries another process), takes no new turns, finishes those in flight and closes the socket.io
    connections; gunicorn waits for the requests in flight, HELPDESK_GRACEFUL_TIMEOUT at most."""
    try:
        check_startup(settings)
    except StartupRefused as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"Helpdesk on http://{settings.host}:{settings.port}/ (assistant: {settings.assistant}; gunicorn, "
          f"{settings.server_threads} threads)", flush=True)
    _gunicorn_application(settings).run()


def _gunicorn_application(settings: Settings) -> Any:
    """gunicorn's documented custom application, configured from ``settings`` (no command line, no
    gunicorn.conf.py); the app is built in the worker process, after the fork."""
    from gunicorn.app.base import BaseApplication
    from gunicorn.glogging import Logger
    from gunicorn.workers.gthread import ThreadWorker

    built: list[Flask] = []
    stopping: list[threading.Thread] = []
    as_json = settings.log_format == "json"

    class Worker(ThreadWorker):
        def handle_exit(self, sig: int, frame: object) -> None:  # SIGTERM from the master
            super().handle_exit(sig, frame)
            self.stop_gracefully()

        def set_accept_enabled(self, enabled: bool) -> None:
            super().set_accept_enabled(enabled)
            if not enabled and (not self.alive or not self.is_parent_alive()):  # the serving loop ended
                for listener in self.sockets:  # close the socket: connections are refused rather than
                    listener.close()  # left waiting in its backlog (nginx tries another process)
                self.stop_gracefully()  # (again, or after the master died)

        def stop_gracefully(self) -> None:
            if built and not stopping:
                stopping.append(threading.Thread(target=graceful_stop, args=(built[0], settings.graceful_timeout),
                                                 name="graceful-stop", daemon=True))
                stopping[0].start()

    class Log(Logger):
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            if as_json:
                for handler in self.error_log.handlers + self.access_log.handlers:
                    handler.setFormatter(JsonFormatter())

        def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
            if as_json:  # one record per request, its fields as JSON fields (text: no access log)
                self.access_log.info("http.request", extra={
                    "method": req.method, "path": req.path, "status": resp.status_code,
                    "ms": round(request_time.total_seconds() * 1000, 1), "bytes": resp.sent,
                    "remote": environ.get("REMOTE_ADDR"), "user_agent": environ.get("HTTP_USER_AGENT")})

    def worker_exit(server: Any, worker: Any) -> None:  # in the worker, once it served its last request
        for thread in stopping:  # no connection is left; a turn may still run (a visitor went away)
            thread.join(settings.graceful_timeout)
        if built:
            built[0].extensions["helpdesk"].close()

    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    options = {
        "bind": f"{host}:{settings.port}", "workers": 1, "worker_class": Worker,
        # a WebSocket holds a thread and a connection for as long as it is open; an idle kept-alive
        # connection (nginx keeps some open) holds no thread, but counts as a connection
        "threads": settings.server_threads, "worker_connections": 2 * settings.server_threads,
        "graceful_timeout": max(1, math.ceil(settings.graceful_timeout)),
        # longer than nginx's upstream keepalive (60 s): nginx, not gunicorn, closes idle connections
        "keepalive": 75, "accesslog": "-" if as_json else None, "errorlog": "-",
        "loglevel": settings.log_level.lower(), "logger_class": Log, "proc_name": "helpdesk",
        "worker_exit": worker_exit,
        # no control socket: its default path (~/.gunicorn/gunicorn.ctl) is one for every process of a user
        "control_socket_disable": True,
    }

    class Application(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:
            built.append(create_app(settings))
            freeze_startup_objects()
            return built[0]

    return Application()


if __name__ == "__main__":
    serve(Settings())
