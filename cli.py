"""The ``helpdesk`` command line: run, serve, db upgrade, validate, chat, test, worker."""

from __future__ import annotations

import contextlib
import importlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # imported on use: `helpdesk --help` loads neither Flask nor pydantic
    from flask import Flask

    from helpdesk.dialogue.assistant import Assistant
    from helpdesk.dialogue.generators.llm import LLMCommandGenerator
    from helpdesk.settings import Settings

log = logging.getLogger(__name__)

#: What python-socketio imports whenever it is installed, for parts a serving process never uses:
#: the HTTP clients of its client classes (``requests`` ~5 MB; ``aiohttp`` ~8 MB, a test dependency).
CLIENT_LIBRARIES = ("requests", "aiohttp")


def serving_app(settings: Settings) -> ModuleType:
    """``helpdesk.app``, imported the way the serving commands (run, serve, worker) need it: while
    it and python-socketio are imported, ``import`` of :data:`CLIENT_LIBRARIES` and, without
    HELPDESK_REDIS_URL, of ``redis`` (~7 MB, python-socketio's Redis manager) fails, so python-socketio
    binds them as missing and the process does not hold them (about 12 MB of its idle memory, 20 in a
    development install). A later ``import`` of them works as usual."""
    blocked = CLIENT_LIBRARIES + (() if settings.redis_url else ("redis",))
    with _imports_failing(blocked):
        return importlib.import_module("helpdesk.app")


@contextlib.contextmanager
def _imports_failing(names: tuple[str, ...]) -> Iterator[None]:
    """``import name`` raises ModuleNotFoundError inside the block, for each of ``names`` not imported
    yet (a None entry in ``sys.modules``, the import system's documented way); removed on exit."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def _app_or_exit(settings: Settings) -> Flask:
    """The app, or exit 1 with one line when the database schema is not current or the secret is empty."""
    from helpdesk.app import StartupRefused, create_checked_app

    try:
        return create_checked_app(settings)
    except StartupRefused as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@click.group()
def cli() -> None:
    """Customer-support helpdesk: a CALM flow assistant answers first, people take over."""


@cli.command()
@click.option("--host", default=None, help="Interface to listen on (HELPDESK_HOST).")
@click.option("--port", default=None, type=int, help="Port to listen on (HELPDESK_PORT).")
def run(host: str | None, port: int | None) -> None:
    """Serve the helpdesk (HTTP + socket.io) with werkzeug: the embedded one-process default.
    SIGTERM or Ctrl-C stops it gracefully (the turns in flight finish)."""
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = _settings(**overrides)
    serving_app(settings).serve(settings, _app_or_exit(settings))


@cli.command()
@click.option("--host", default=None, help="Interface to listen on (HELPDESK_HOST).")
@click.option("--port", default=None, type=int, help="Port to listen on (HELPDESK_PORT).")
@click.option("--threads", default=None, type=int, help="Threads of the worker (HELPDESK_SERVER_THREADS).")
def serve(host: str | None, port: int | None, threads: int | None) -> None:
    """Serve in production: gunicorn, one gthread worker (run several behind a sticky nginx: deploy/).
    SIGTERM stops it gracefully (the turns in flight finish)."""
    overrides = {k: v for k, v in {"host": host, "port": port, "server_threads": threads}.items() if v is not None}
    settings = _settings(**overrides)
    serving_app(settings).serve_production(settings)


@cli.group()
def db() -> None:
    """Database commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the latest schema."""
    from helpdesk.conversations.db import Database

    settings = _settings()
    database = Database(settings.database_url)
    try:
        database.upgrade()
    finally:
        database.dispose()
    click.echo("database is up to date")


@cli.command()
@click.option("--assistant", "assistant_dir", default=None, help="Assistant folder (HELPDESK_ASSISTANT).")
@click.option("--translations", is_flag=True, help="List each missing translation (warnings only).")
def validate(assistant_dir: str | None, translations: bool) -> None:
    """Check an assistant's flows and domain; exit 1 naming file, line, flow and step of each problem.

    Missing or unused translations (config.yml's additional_languages) are warnings: counted per
    kind, or one per response or flow and language with --translations (as Rasa's
    ``rasa data validate`` and ``rasa data validate translations``)."""
    from helpdesk.dialogue.assistant import load_assistant
    from helpdesk.dialogue.yaml_io import AssistantError

    path = assistant_dir or _settings().assistant
    try:
        assistant = load_assistant(path)
    except AssistantError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(exc.problems)} problem(s) found in {path}", err=True)
        sys.exit(1)
    for warning in assistant.detailed_warnings if translations else assistant.warnings:
        click.echo(f"warning: {warning}", err=True)
    flows = len(assistant.flows.user_flows())
    click.echo(f"{path}: {flows} flows, {len(assistant.domain.slots)} slots, "
               f"{len(assistant.domain.responses)} responses: valid")


@cli.command()
@click.option("--assistant", "assistant_dir", default=None, help="Assistant folder (HELPDESK_ASSISTANT).")
@click.option("--commands", "overlay_file", default=None, type=click.Path(exists=True, path_type=Path),
              help="Scripted commands per user step (an overlay file, see dialogue/e2e_overlay.py).")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def test(assistant_dir: str | None, overlay_file: Path | None, paths: tuple[Path, ...]) -> None:
    """Run Rasa e2e test files against the assistant with offline understanding, or with the
    scripted commands of --commands."""
    from helpdesk.dialogue.assistant import load_assistant
    from helpdesk.dialogue.e2e import format_report, run_tests
    from helpdesk.dialogue.e2e_overlay import read_overlay
    from helpdesk.dialogue.generators.offline import OfflineCommandGenerator
    from helpdesk.dialogue.yaml_io import AssistantError

    path = assistant_dir or _settings().assistant
    try:
        assistant = load_assistant(path)
        overlay = read_overlay(overlay_file) if overlay_file else None
    except AssistantError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    result = run_tests(list(paths), assistant, lambda a: OfflineCommandGenerator(a.flows, a.domain),
                       overlay=overlay)
    click.echo(format_report(result))
    sys.exit(0 if result.failed == 0 and result.passed > 0 else 1)


@cli.command()
@click.option("--assistant", "assistant_dir", default=None, help="Assistant folder (HELPDESK_ASSISTANT).")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def evaluate(assistant_dir: str | None, paths: tuple[Path, ...]) -> None:
    """Score understanding on labelled messages (like ``rasa test nlu``): per-flow precision,
    recall and F1, a confusion table and the misses; offline understanding, and Claude as well
    when ANTHROPIC_API_KEY is set. Case format: dialogue/generators/evaluation.py."""
    from helpdesk.dialogue.assistant import load_assistant
    from helpdesk.dialogue.generators.evaluation import evaluate as run_evaluation
    from helpdesk.dialogue.generators.evaluation import format_report, load_cases
    from helpdesk.dialogue.generators.offline import OfflineCommandGenerator
    from helpdesk.dialogue.yaml_io import AssistantError

    settings = _settings()
    path = assistant_dir or settings.assistant
    try:
        assistant = load_assistant(path)
        cases = load_cases(paths)
    except AssistantError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    offline = OfflineCommandGenerator(assistant.flows, assistant.domain, assistant_path=assistant.path)
    click.echo(format_report(run_evaluation(assistant, offline, cases), "offline understanding"))
    generator = _llm_generator(settings, assistant)
    if generator is None:
        click.echo("\nClaude: skipped (ANTHROPIC_API_KEY is not set)")
        return
    click.echo("")
    click.echo(format_report(run_evaluation(assistant, generator, cases), f"Claude ({settings.llm_model})"))


def _llm_generator(settings: Settings, assistant: Assistant) -> LLMCommandGenerator | None:
    """The LLM command generator as ``helpdesk run`` builds it, None without a key."""
    from helpdesk.dialogue.generators.answers import Voice
    from helpdesk.dialogue.generators.llm import LLMCommandGenerator, LLMOptions
    from helpdesk.services import build_llm_client

    client = build_llm_client(settings)
    if client is None:
        return None
    options = LLMOptions(assistant_name=Voice.from_config(assistant.config).name,
                         history_turns=settings.llm_history_turns,
                         retrieval_threshold=settings.llm_retrieval_threshold)
    return LLMCommandGenerator(client, assistant.flows, assistant.domain, options)


@cli.command()
@click.option("--sender", default="console", help="Conversation id to continue.")
def chat(sender: str) -> None:
    """Talk to the assistant in the terminal (the 'console' channel); Ctrl-D to quit."""
    from helpdesk.conversations.types import Inbound
    from helpdesk.services import build_services

    services = build_services(_settings())
    click.echo("Type a message (Ctrl-D to quit). Buttons show their payload in [brackets].")
    try:
        while True:
            try:
                text = input("you> ").strip()
            except EOFError:
                break
            if not text:
                continue
            receipt = services.inbox.receive(Inbound(channel="console", thread_key=sender, text=text), answer=True)
            for reply in receipt.replies:
                click.echo(f"bot> {reply.text or ''}")
                for button in (reply.payload or {}).get("buttons") or []:
                    click.echo(f"     [{button.get('payload')}] {button.get('title')}")
    finally:
        services.close()


@cli.command()
@click.option("--interval", default=1.0, help="Seconds between outbox polls.")
def worker(interval: float) -> None:
    """Run background work for multi-process deployments: outbox delivery and the handoff timers
    (set HELPDESK_TIMERS_IN_WEB=false and HELPDESK_OUTBOX_IN_WEB=false on the web processes). SIGINT (Ctrl-C) or SIGTERM stops it."""
    settings = _settings()
    serving_app(settings)
    from helpdesk.app import freeze_startup_objects, outbox_worker
    from helpdesk.handoff.scheduler import TimerScheduler
    from helpdesk.maintenance import add_maintenance_jobs

    app = _app_or_exit(settings.model_copy(update={"timers_in_web": False, "outbox_in_web": False}))
    services = app.extensions["helpdesk"]
    timers = TimerScheduler(services.handoff, interval=settings.timer_interval)
    timers.start()
    add_maintenance_jobs(timers, services)
    freeze_startup_objects()
    # the store-and-forward channels of the enabled connectors (connectors/registry.py); rows of
    # channels without one stay pending for a process that has it
    outbox = outbox_worker(services) if services.channels else None
    stop = _StopSignals()
    click.echo("worker running (Ctrl-C to stop)")
    try:
        while not stop.requested:
            if outbox is not None:
                try:
                    outbox.run_once()
                except Exception:
                    log.exception("worker.outbox_failed")
            stop.sleep(interval)
    except KeyboardInterrupt:  # a signal before the handlers were installed, or off the main thread
        pass
    finally:
        stop.restore()  # a second signal stops a hung shutdown the default way
        timers.shutdown()
        services.close()
    click.echo("worker stopped")


def _settings(**overrides: Any) -> Settings:
    from helpdesk.settings import Settings

    return Settings(**overrides)


class _StopSignals:
    """SIGINT and SIGTERM (what process managers send) ask the worker to stop after its current
    step. The handler only sets a flag: nothing it could deadlock on, nothing raised mid-transaction."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}
        if threading.current_thread() is threading.main_thread():  # signal.signal's requirement
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, returning early (within 0.1 s) once a stop was asked for."""
        deadline = time.monotonic() + seconds
        while not self.requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()


@cli.command("create-agent")
@click.argument("email")
@click.option("--name", required=True, help="The name customers see.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="At least 8 characters.")
@click.option("--admin", is_flag=True, help="An admin: manages agents, teams, canned responses, hours.")
@click.option("--team", "teams", multiple=True, help="A team (created when missing); repeat for several.")
@click.option("--capacity", type=int, default=None, help="Most conversations at once (HELPDESK_AGENT_CAPACITY).")
def create_agent(email: str, name: str, password: str, admin: bool, teams: tuple[str, ...],
                 capacity: int | None) -> None:
    """Create an agent who can sign in at /agent."""
    from helpdesk.conversations.db import Database
    from helpdesk.handoff import auth
    from helpdesk.handoff.errors import HandoffError

    settings = _settings()
    database = Database(settings.database_url)
    try:
        if settings.auto_migrate or (settings.auto_migrate is None and database.dialect_name == "sqlite"):
            database.upgrade()
        with database.session() as session, session.begin():
            agent = auth.create_agent(session, email, name, password, role="admin" if admin else "agent",
                                      teams=list(teams), capacity=capacity or settings.agent_default_capacity)
            click.echo(f"agent {agent.id} created: {agent.email} ({agent.role}, teams: {', '.join(teams) or 'none'})")
    except HandoffError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)
    finally:
        database.dispose()


@cli.group()
def slack() -> None:
    """Slack commands (README, "Connect Slack")."""


@slack.command("check")
def slack_check() -> None:
    """Verify the Slack token, its scopes and the app's channel membership; exit 1 if something is missing."""
    from helpdesk.connectors.slack.check import check

    report = check(_settings())
    for line in report.lines():
        click.echo(line)
    sys.exit(0 if report.ok else 1)


def main() -> None:
    """Entry point of the ``helpdesk`` console script: imports only what the command needs, so
    ``helpdesk --help`` answers at once (the app, the LLM SDK and the scheduler load on use)."""
    cli()
