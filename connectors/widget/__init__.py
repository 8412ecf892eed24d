"""The website widget: ``GET /widget.js``, the ``/widget`` socket.io namespace, attachments, the demo page.

:class:`WidgetConnector` mounts it (one entry in ``connectors/registry.py``). See the README's
"Website widget" section and DESIGN §4 for the protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from helpdesk.connectors.base import BaseConnector, ConnectorContext
from helpdesk.connectors.limits import RateLimiter
from helpdesk.connectors.widget.namespace import CHANNEL, NAMESPACE, WidgetNamespace, WidgetParts
from helpdesk.connectors.widget.tokens import Identity, Visitor, VisitorTokens, identity_hash
from helpdesk.connectors.widget.views import AgentCheck, WidgetHttp, blueprint, deny_agents

if TYPE_CHECKING:
    from flask import Flask


class WidgetConnector(BaseConnector):
    """The website widget: a live channel (replies are emitted from the bus after commit)."""

    name = CHANNEL

    def __init__(self) -> None:
        self.namespace: WidgetNamespace | None = None

    def mount(self, app: Flask, ctx: ConnectorContext) -> None:
        """Register the widget's namespace, bus subscription and HTTP views on ``app``.

        Visitor tokens are signed with the helpdesk's one secret (``ctx.secret_key``), never with
        a host Flask app's ``SECRET_KEY``."""
        settings = ctx.settings
        tokens = VisitorTokens(ctx.secret_key, settings.widget_token_max_age)
        parts = WidgetParts(tokens, ctx.limits, ctx.limits.typing)  # in Redis when configured, like the others
        self.namespace = WidgetNamespace(ctx, parts)
        ctx.sio.register_namespace(self.namespace)
        ctx.bus.subscribe(self.namespace.on_bus_event)
        http = WidgetHttp(tokens, ctx.limits, ctx.turns, ctx.origins, ctx.db, settings,
                          authorize_agent=ctx.agent_may_see)
        app.extensions["helpdesk.widget"] = http
        app.register_blueprint(blueprint())

    def stop(self) -> None:
        if self.namespace is not None:
            self.namespace.typing.close()


__all__ = [
    "CHANNEL",
    "NAMESPACE",
    "AgentCheck",
    "Identity",
    "RateLimiter",
    "Visitor",
    "VisitorTokens",
    "WidgetHttp",
    "WidgetConnector",
    "WidgetNamespace",
    "deny_agents",
    "identity_hash",
]
