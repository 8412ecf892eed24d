"""The connectors the helpdesk knows: one entry each, enabled from settings.

Adding a channel is one :class:`Entry` here plus its own package under ``connectors/``. A connector
is imported only when enabled (a disabled Slack connector never imports ``slack_sdk``).
HELPDESK_EXTRA_CONNECTORS (``module:Class`` entries, comma-separated) adds connectors that live
outside this repository (and the test-only channel of ``tests/fakes``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from helpdesk.connectors.base import Connector
    from helpdesk.settings import Settings


@dataclass(frozen=True)
class Entry:
    name: str
    """The channel name (``Conversation.channel``)."""
    target: str
    """``module:Class`` of the connector; the class is called without arguments."""
    enabled: Callable[[Settings], bool] = lambda settings: True


REGISTRY: tuple[Entry, ...] = (
    Entry("rest", "helpdesk.connectors.rest:RestConnector"),
    Entry("widget", "helpdesk.connectors.widget:WidgetConnector"),
    Entry("socketio", "helpdesk.connectors.rasa_socketio:RasaSocketIOConnector"),
    Entry("email", "helpdesk.connectors.email.connector:EmailConnector", lambda settings: bool(settings.email_address)),
    Entry("slack", "helpdesk.connectors.slack.connector:SlackConnector", lambda settings: settings.slack_enabled),
)


class ConnectorError(RuntimeError):
    """A connector entry that cannot be loaded (bad HELPDESK_EXTRA_CONNECTORS value)."""


def load(target: str) -> Connector:
    """Import ``module:Class`` and build the connector."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ConnectorError(f"a connector must be given as 'module:Class', not {target!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConnectorError(f"cannot load connector {target!r}: {exc}") from exc
    connector: Connector = factory()
    return connector


def enabled_connectors(settings: Settings, registry: tuple[Entry, ...] = REGISTRY) -> list[Connector]:
    """The connectors to mount, in registry order, then the extra ones."""
    connectors = [load(entry.target) for entry in registry if entry.enabled(settings)]
    connectors += [load(t.strip()) for t in settings.extra_connectors.split(",") if t.strip()]
    names = [c.name for c in connectors]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConnectorError(f"two connectors have the channel name {duplicates[0]!r}")
    return connectors
