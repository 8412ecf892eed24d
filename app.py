"""The composition root: ``create_app``, the ``Helpdesk`` Flask extension and the ``helpdesk`` CLI.

``python app.py`` (or ``helpdesk run``) serves HTTP and socket.io on HELPDESK_HOST:HELPDESK_PORT.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio
from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException

from connectors import rest
from connectors.errors import BadRequest, error_response
from connectors.rasa_socketio import init_rasa_socketio
from connectors.widget import init_widget
from handoff import init_handoff
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
        services = build_services(settings)
        self.services = services
        app.extensions["helpdesk"] = services
        app.config.setdefault("SECRET_KEY", secret_key(settings))
        app.config["MAX_CONTENT_LENGTH"] = app.config.get("MAX_CONTENT_LENGTH") or 16 * 1024 * 1024
        app.register_blueprint(rest.blueprint())
        widget = init_widget(app, services)
        init_rasa_socketio(services, widget.runner, widget.limiter)
        init_handoff(app, services)
        app.add_url_rule("/healthz", "healthz", _healthz)
        app.add_url_rule("/metrics", "metrics", _metrics)
        app.register_error_handler(BadRequest, _bad_request)
        app.register_error_handler(HTTPException, _http_error)
        app.wsgi_app = socketio.WSGIApp(services.sio, app.wsgi_app)  # type: ignore[method-assign]


def _healthz() -> Response:
    return jsonify({"status": "ok"})


def _metrics() -> Response:
    services: Services = current_app.extensions["helpdesk"]
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
