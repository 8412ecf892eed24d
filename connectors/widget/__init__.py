"""The website widget: ``GET /widget.js``, the ``/widget`` socket.io namespace, attachments, the demo page.

``init_widget(app, services)`` mounts it (``Helpdesk.init_app`` calls it). See the README's
"Website widget" section and DESIGN §4 for the protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.widget.namespace import CHANNEL, NAMESPACE, WidgetNamespace, WidgetParts
from connectors.widget.origins import OriginPolicy
from connectors.widget.ratelimit import RateLimiter
from connectors.widget.runner import TurnRunner
from connectors.widget.tokens import Identity, Visitor, VisitorTokens, identity_hash
from connectors.widget.views import AgentCheck, WidgetHttp, blueprint, deny_agents

if TYPE_CHECKING:
    from flask import Flask

    from services import Services

#: socket ``typing`` events a visitor may send: a few at once, then one every 2 seconds
TYPING_BURST, TYPING_PER_MINUTE = 5, 30


def init_widget(app: Flask, services: Services) -> WidgetHttp:
    """Register the widget's namespace, bus subscription and HTTP views on ``app``.

    The returned object's ``runner`` (the turn worker pool, closed with the services) and
    ``limiter`` serve the Rasa socket.io channel too.
    """
    settings = services.settings
    runner = TurnRunner(settings.turn_workers)
    tokens = VisitorTokens(str(app.config["SECRET_KEY"]), settings.widget_token_max_age)
    limiter = RateLimiter(settings.widget_rate_burst, settings.widget_rate_per_minute)
    parts = WidgetParts(tokens, limiter, RateLimiter(TYPING_BURST, TYPING_PER_MINUTE), runner)
    namespace = WidgetNamespace(services, parts)
    services.closers += [namespace.typing.close, runner.close]  # closed in reverse: turns first
    services.sio.register_namespace(namespace)
    services.bus.subscribe(namespace.on_bus_event)
    http = WidgetHttp(tokens, limiter, runner, OriginPolicy(settings.allowed_origins))
    app.extensions["helpdesk.widget"] = http
    app.register_blueprint(blueprint())
    return http


__all__ = [
    "CHANNEL",
    "NAMESPACE",
    "AgentCheck",
    "Identity",
    "OriginPolicy",
    "RateLimiter",
    "TurnRunner",
    "Visitor",
    "VisitorTokens",
    "WidgetHttp",
    "WidgetNamespace",
    "deny_agents",
    "identity_hash",
    "init_widget",
]
