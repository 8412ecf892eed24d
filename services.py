"""Building the helpdesk's collaborators from settings: the one place that picks real parts."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio

from helpdesk.connectors.origins import OriginPolicy
from helpdesk.connectors.turns import TurnRunner
from helpdesk.conversations.bus import EventBus
from helpdesk.conversations.db import Database
from helpdesk.conversations.inbound import Inbox
from helpdesk.conversations.locks import TurnLocks
from helpdesk.conversations.outbound import Delivery
from helpdesk.conversations.types import Channel
from helpdesk.dialogue.actions.registry import RemoteActions
from helpdesk.dialogue.assistant import Assistant, load_assistant
from helpdesk.dialogue.engine import Engine
from helpdesk.dialogue.generators import CommandGenerator
from helpdesk.dialogue.generators.answers import ChitchatAnswerer, KnowledgeAnswerer, Voice
from helpdesk.dialogue.generators.llm import LLMCommandGenerator, LLMOptions
from helpdesk.dialogue.generators.offline import OfflineCommandGenerator
from helpdesk.dialogue.ports import Ports
from helpdesk.handoff.reporting import StatsCollector
from helpdesk.handoff.service import HandoffService
from helpdesk.handoff.summarizers import ClaudeSummarizer
from helpdesk.knowledge import KnowledgeBase
from helpdesk.llm import gate
from helpdesk.llm.client import ClaudeClient, Prices
from helpdesk.observability import Metrics
from helpdesk.routing import Resumer, TurnPipeline
from helpdesk.settings import Settings

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
    #: the one way in: ``inbox.receive(Inbound)``
    inbox: Inbox
    #: runs turns off the connectors' handlers, one at a time per conversation
    turns: TurnRunner
    #: which channels' messages go through the outbox
    delivery: Delivery
    #: the store-and-forward channels of the mounted connectors, by name (what the outbox delivers through)
    channels: dict[str, Channel] = field(default_factory=dict)
    #: called by ``close()`` before the database goes (worker pools of connectors)
    closers: list[Callable[[], object]] = field(default_factory=list)
    #: agents, queue, assignment, timers (``handoff/``)
    handoff: HandoffService | None = None
    #: the assistant's indexed ``knowledge/`` documents
    knowledge: KnowledgeBase | None = None

    def close(self) -> None:
        for closer in reversed(self.closers):
            closer()
        self.db.dispose()


class EmptySecret(ValueError):
    """The configured secret (or the secret file) is empty: nothing may be signed with it."""


def secret_key(settings: Settings) -> str:
    """The one secret every signer of the helpdesk uses (visitor tokens, …): HELPDESK_SECRET_KEY,
    or one generated once into ``<instance>/secret_key`` (created readable by its owner only).

    A Flask app's ``SECRET_KEY`` is never used, so a host app cannot change (or blank) it.

    Raises:
        EmptySecret: HELPDESK_SECRET_KEY is set but empty, or the secret file is empty.
    """
    if settings.secret_key is not None:
        if not settings.secret_key.strip():
            raise EmptySecret("HELPDESK_SECRET_KEY is empty: set a long random value or unset it")
        return settings.secret_key
    path = Path(settings.instance_path) / "secret_key"
    if not path.exists():
        _write_new_secret(path)
    key = path.read_text().strip()
    if not key:
        raise EmptySecret(f"{path} is empty: delete it (a new secret is generated) or fill it")
    return key


def _write_new_secret(path: Path) -> None:
    """Create ``path`` (mode 0600) holding a new random secret, unless another process just did."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)  # atomic: the first process's secret wins, complete
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def build_engine(settings: Settings, assistant: Assistant, *, knowledge: KnowledgeBase | None = None,
                 metrics: Metrics | None = None, llm: ClaudeClient | None = None) -> Engine:
    """The engine: Claude understands when ANTHROPIC_API_KEY is set, else offline understanding."""
    remote = None
    if settings.action_server_url:
        from helpdesk.dialogue.actions.remote import RemoteActionClient

        client = RemoteActionClient(settings.action_server_url, timeout=settings.action_timeout)
        remote = RemoteActions(client, assistant.domain)
    llm = llm or build_llm_client(settings, metrics)
    voice = Voice.from_config(assistant.config)
    ports = Ports(actions=assistant.action_runner(remote=remote), chitchat=ChitchatAnswerer(llm, voice=voice),
                  search=KnowledgeAnswerer(knowledge.search, llm, voice=voice) if knowledge else None)
    if llm is not None:
        options = LLMOptions(assistant_name=voice.name, history_turns=settings.llm_history_turns,
                             retrieval_threshold=settings.llm_retrieval_threshold)
        generator: CommandGenerator = LLMCommandGenerator(llm, assistant.flows, assistant.domain, options)
    else:  # a classifier fitted by a child process (scikit-learn), cached in the instance folder
        generator = OfflineCommandGenerator(assistant.flows, assistant.domain, assistant_path=assistant.path,
                                            cache_dir=Path(settings.instance_path) / "nlu-cache")
    return Engine(assistant, generator, ports, step_limit=settings.step_limit,
                  max_chars=settings.max_message_chars)


def build_llm_client(settings: Settings, metrics: Metrics | None = None) -> ClaudeClient | None:
    """The Claude client (None without ANTHROPIC_API_KEY); every call is counted in ``metrics``."""
    if not settings.anthropic_api_key:
        return None
    prices = Prices.for_model(settings.llm_model, (settings.llm_price_input, settings.llm_price_output))
    return ClaudeClient(settings.anthropic_api_key, settings.llm_model, base_url=settings.anthropic_base_url,
                        timeout=settings.llm_timeout, max_retries=settings.llm_max_retries, prices=prices,
                        observer=metrics.observe_llm if metrics else None)


def build_knowledge(settings: Settings, db: Database, assistant: Assistant) -> KnowledgeBase:
    """Index the assistant's ``knowledge/`` folder and keep watching it."""
    folder = Path(assistant.path or settings.assistant) / "knowledge"
    knowledge = KnowledgeBase(db, folder, reload_seconds=settings.knowledge_reload_seconds)
    knowledge.start()
    return knowledge


def build_socketio(settings: Settings) -> socketio.Server:
    manager: Any = None
    if settings.redis_url:
        # the pub/sub channel is global to the Redis server: prefixed, two deployments sharing one
        # Redis never hear each other's emits (rooms such as ``agents`` have the same name in both)
        manager = socketio.RedisManager(settings.redis_url, channel=f"{settings.redis_prefix}:socketio")
    # handlers run inline per connection (async_handlers=False): one client's events are handled
    # in the order sent; slow work (turns) goes to connectors' worker pools
    return socketio.Server(async_mode="threading", cors_allowed_origins=OriginPolicy(settings.allowed_origins),
                           client_manager=manager, async_handlers=False)


def build_services(settings: Settings) -> Services:
    """Open the database (migrating the embedded default), load the assistant, wire the pipeline."""
    db = Database(settings.database_url)
    migrate = settings.auto_migrate
    if migrate is None:
        migrate = db.dialect_name == "sqlite"
    if migrate:
        db.upgrade()
    else:
        try:
            db.check_schema()  # nothing may create a table outside the migrations
        except Exception:
            db.dispose()
            raise
    assistant = load_assistant(settings.assistant)
    metrics = Metrics()
    knowledge = build_knowledge(settings, db, assistant)
    llm = build_llm_client(settings, metrics)  # one client: understanding, answers and summaries
    engine = build_engine(settings, assistant, knowledge=knowledge, metrics=metrics, llm=llm)
    sio = build_socketio(settings)
    bus = EventBus()
    locks = TurnLocks()
    delivery = Delivery()
    summarizer = ClaudeSummarizer(llm) if llm is not None and settings.handoff_llm_summary else None
    handoff = HandoffService(db, locks, settings, publish=bus.publish, metrics=metrics, summarizer=summarizer,
                             delivery=delivery, resume=Resumer(engine))
    metrics.registry.register(StatsCollector(db, lambda: handoff.clock()))
    pipeline = TurnPipeline(db, engine, locks=locks, publish=bus.publish, metrics=metrics, handoff=handoff,
                            delivery=delivery, working=gate.working)
    turns = TurnRunner(settings.turn_workers)
    inbox = Inbox(db, pipeline.run_pending, turns.submit, lambda channel: metrics.messages_in.labels(channel).inc(),
                  version=locks.version)
    services = Services(settings, db, assistant, engine, pipeline, sio, bus, metrics, inbox, turns, delivery,
                        handoff=handoff, knowledge=knowledge)
    services.closers.append(knowledge.stop)
    services.closers.append(handoff.close_down)
    return services
