"""Building the helpdesk's collaborators from settings: the one place that picks real parts."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import socketio

from conversations.bus import EventBus
from conversations.db import Database
from conversations.locks import TurnLocks
from dialogue.actions.registry import RemoteActions
from dialogue.assistant import Assistant, load_assistant
from dialogue.engine import Engine
from dialogue.generators.offline import OfflineCommandGenerator
from dialogue.ports import Ports
from observability import Metrics
from routing import TurnPipeline
from settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything the web app, the CLI and workers share."""

    settings: Settings
    db: Database
    assistant: Assistant
    engine: Engine
    pipeline: TurnPipeline
    sio: socketio.Server
    bus: EventBus
    metrics: Metrics

    def close(self) -> None:
        self.db.dispose()


def secret_key(settings: Settings) -> str:
    """The configured secret, or one generated once and kept under the instance folder."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.instance_path) / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def build_engine(settings: Settings, assistant: Assistant) -> Engine:
    remote = None
    if settings.action_server_url:
        from dialogue.actions.remote import RemoteActionClient

        client = RemoteActionClient(settings.action_server_url, timeout=settings.action_timeout)
        remote = RemoteActions(client, assistant.domain)
    ports = Ports(actions=assistant.action_runner(remote=remote))
    generator = OfflineCommandGenerator(assistant.flows, assistant.domain)
    return Engine(assistant, generator, ports, step_limit=settings.step_limit,
                  max_chars=settings.max_message_chars)


def build_socketio(settings: Settings) -> socketio.Server:
    manager: Any = None
    if settings.redis_url:
        manager = socketio.RedisManager(settings.redis_url)
    return socketio.Server(async_mode="threading", cors_allowed_origins=settings.origins,
                           client_manager=manager)


def build_services(settings: Settings) -> Services:
    """Open the database (migrating the embedded default), load the assistant, wire the pipeline."""
    db = Database(settings.database_url)
    migrate = settings.auto_migrate
    if migrate is None:
        migrate = db.dialect_name == "sqlite"
    if migrate:
        db.upgrade()
    assistant = load_assistant(settings.assistant)
    engine = build_engine(settings, assistant)
    sio = build_socketio(settings)
    bus = EventBus()
    metrics = Metrics()
    pipeline = TurnPipeline(db, engine, locks=TurnLocks(), publish=bus.publish, metrics=metrics,
                            fast_understanding=not settings.anthropic_api_key)
    return Services(settings, db, assistant, engine, pipeline, sio, bus, metrics)
