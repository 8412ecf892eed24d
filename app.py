"""The composition root: ``create_app``, the ``Helpdesk`` Flask extension and the ``helpdesk`` CLI.

``python app.py`` (or ``helpdesk run``) serves HTTP and socket.io on HELPDESK_HOST:HELPDESK_PORT.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import socketio
from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from connectors import rest
from connectors.errors import BadRequest, error_response
from connectors.limits import channel_limits
from connectors.rasa_socketio import init_rasa_socketio
from connectors.widget import init_widget
from handoff import init_handoff
from maintenance import add_maintenance_jobs
from observability import CONTENT_TYPE_LATEST
from services import Services, build_services, secret_key
from settings import Settings

log = logging.getLogger(__name__)


class Helpdesk:
    """Mounts the helpdesk (channels, health, socket.io) on a Flask app: ``Helpdesk(app)``."""

    def __init__(self, app: Flask | None = None, settings: Settings | None = None) -> None:
        self.services: Services | None = None
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
        app.register_blueprint(rest.blueprint())
        widget = init_widget(app, services, limits)
        init_rasa_socketio(services, widget.runner, limits)
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
    """Build the helpdesk web app from ``settings`` (default: the environment)."""
    settings = settings or Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = Flask(__name__, instance_path=None)
    Helpdesk(app, settings)
    from cli import register

    register(app)
    return app


def main() -> None:
    """Entry point of the ``helpdesk`` console script."""
    from cli import cli

    cli()


if __name__ == "__main__":
    from cli import serve

    serve(Settings())
