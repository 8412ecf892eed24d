"""The composition root: ``create_app``, the ``Helpdesk`` Flask extension, ``serve``.

``python app.py`` (or ``helpdesk run``, see ``cli.py``) serves HTTP and socket.io on
HELPDESK_HOST:HELPDESK_PORT. Channels are plug-ins: ``Helpdesk.init_app`` mounts the connectors
that ``connectors/registry.py`` enables, with a :class:`~connectors.base.ConnectorContext`.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import socketio
from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from connectors.base import Connector, ConnectorContext
from connectors.errors import BadRequest, error_response
from connectors.limits import ChannelLimits, channel_limits
from connectors.origins import OriginPolicy
from connectors.registry import enabled_connectors
from conversations.db import Database, SchemaNotCurrent
from conversations.outbox import OutboxWorker, RetryPolicy
from handoff import init_handoff
from handoff.desk import ChatDesk
from handoff.files import agent_may_see_attachment
from maintenance import add_maintenance_jobs
from observability import CONTENT_TYPE_LATEST
from services import EmptySecret, Services, build_services, secret_key
from settings import Settings

log = logging.getLogger(__name__)


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
        app.add_url_rule("/healthz", "healthz", _healthz)
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


def _healthz() -> Response:
    return jsonify({"status": "ok"})


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
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = Flask(__name__, instance_path=None)
    Helpdesk(app, settings)
    return app


#: why the app may not start: the schema is not at the newest migration, or the secret is empty
StartupRefused = (SchemaNotCurrent, EmptySecret)


def create_checked_app(settings: Settings) -> Flask:
    """``create_app``, after checking what must hold before anything starts: a non-empty secret and,
    unless the database is migrated automatically (SQLite by default), a schema at the newest
    revision. Raises one of :data:`StartupRefused`, whose message tells the user what to do."""
    secret_key(settings)
    database = Database(settings.database_url)
    try:  # before logging is set up: the one line the caller prints is all the user sees
        if settings.auto_migrate is False or (settings.auto_migrate is None and database.dialect_name != "sqlite"):
            database.check_schema()
    finally:
        database.dispose()
    return create_app(settings)


def serve(settings: Settings, app: Flask | None = None) -> None:
    """Serve HTTP and socket.io until interrupted: a thread per connection, WebSockets through
    simple-websocket (why threading: README, "Website widget")."""
    from werkzeug.serving import WSGIRequestHandler, run_simple

    class RequestHandler(WSGIRequestHandler):
        # socket.io sends many small frames; with Nagle's algorithm each one after the first
        # waits for the client's delayed ACK (~40 ms)
        disable_nagle_algorithm = True

    if app is None:
        try:
            app = create_checked_app(settings)
        except StartupRefused as exc:
            raise SystemExit(f"error: {exc}") from None
    print(f"Helpdesk on http://{settings.host}:{settings.port}/ (assistant: {settings.assistant})", flush=True)
    run_simple(settings.host, settings.port, app, threaded=True, use_reloader=False,
               request_handler=RequestHandler)


if __name__ == "__main__":
    serve(Settings())
