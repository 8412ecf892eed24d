"""The database handle: engine, sessions and schema upgrades.

SQLite is tuned for a single-host deployment (WAL, busy timeout, foreign keys, and
``BEGIN IMMEDIATE`` so that writers queue up instead of failing on lock upgrades);
PostgreSQL gets a pre-pinging connection pool.
"""

from __future__ import annotations

import ast
import functools
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

if TYPE_CHECKING:
    from alembic.config import Config

#: The Alembic scripts: ``migrations/`` of the package (the repository root is the package ``helpdesk``,
#: and a wheel ships the folder as package data).
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

#: How long a SQLite writer waits for the write lock before "database is locked".
BUSY_TIMEOUT_SECONDS = 30

#: Execution option that makes a SQLite transaction start with a plain (deferred) BEGIN.
READ_ONLY_OPTION = "helpdesk_read_only"

#: Seconds a child process may take to migrate (:func:`upgrade_in_child`).
MIGRATE_TIMEOUT = 600.0

log = logging.getLogger(__name__)


class Database:
    """One database: an engine plus session factories.

    Args:
        url: any SQLAlchemy URL (``sqlite:///instance/helpdesk.db``,
            ``postgresql+psycopg://user@host/db``).
        echo: log every statement.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url: URL = make_url(url)
        if self.url.get_backend_name() == "sqlite":
            self.engine: Engine = _sqlite_engine(self.url, echo=echo)
            #: inbound stores (:func:`store_inbound`) check out their connections here: the turns
            #: waiting for the write lock hold the main pool's connections, and a webhook's insert
            #: must never wait for one of them (its own small pool; the same writer queue)
            self.urgent_engine: Engine = (self.engine if self.engine.pool.__class__ is StaticPool
                                          else _sqlite_engine(self.url, echo=echo, pool=(4, 28)))
        else:
            self.engine = create_engine(self.url, echo=echo, pool_pre_ping=True, pool_size=10)
            self.urgent_engine = create_engine(self.url, echo=echo, pool_pre_ping=True, pool_size=4,
                                               max_overflow=12)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False
        )

    @property
    def in_memory(self) -> bool:
        """An in-memory SQLite database (it lives and dies with this process's one connection)."""
        return self.engine.pool.__class__ is StaticPool

    @property
    def dialect_name(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def session(self) -> Session:
        """A new session for reading and writing (on SQLite: ``BEGIN IMMEDIATE``)."""
        return self._sessions()

    def read_session(self) -> Session:
        """A new session for reads only; on SQLite it doesn't take the write lock."""
        return self._read_sessions()

    def upgrade(self, revision: str = "head") -> None:
        """Apply the Alembic migrations up to ``revision``. A schema already at the newest revision
        is left alone without importing Alembic (~11 MB of modules a serving process never needs)."""
        if revision == "head" and self.at_head():
            return
        from alembic import command

        with self.engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)

    def schema_revision(self) -> tuple[str | None, str]:
        """(the database's Alembic revision or None, the newest revision of our migrations)."""
        with self.engine.connect() as connection:  # what alembic reads, without its log lines (/readyz asks often)
            current = None
            if inspect(connection).has_table("alembic_version"):
                current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return current, head_revision()

    def at_head(self) -> bool:
        """Whether the schema is at the newest revision of our migrations."""
        current, head = self.schema_revision()
        return current == head

    def check_schema(self) -> str:
        """The schema's revision; raise :class:`SchemaNotCurrent` unless it is the newest one."""
        current, head = self.schema_revision()
        if current != head:
            raise SchemaNotCurrent(
                f"the database schema is at {current or 'nothing'}, not {head}: run `helpdesk db upgrade`")
        return head

    def ping(self) -> None:
        """One round trip to the database (``SELECT 1``); raises when it does not answer."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.urgent_engine is not self.engine:
            self.urgent_engine.dispose()


@functools.cache
def head_revision() -> str:
    """The newest revision of our migrations, read once from the scripts without importing Alembic
    (a test checks it agrees with Alembic's ``ScriptDirectory``)."""
    return head_of(MIGRATIONS_DIR / "versions")


def head_of(versions: Path) -> str:
    """The one revision of the migration scripts in ``versions`` that no other script names as its
    ``down_revision``; RuntimeError when there is not exactly one."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted(versions.glob("*.py")):
        values = _assigned(script, ("revision", "down_revision"))
        if not isinstance(values.get("revision"), str):
            continue  # not a migration (a helper module)
        revisions.add(values["revision"])
        down = values.get("down_revision")
        parents.update([down] if isinstance(down, str) else list(down or ()))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the migrations in {versions} have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def _assigned(script: Path, names: tuple[str, ...]) -> dict[str, Any]:
    """The literal values a Python file assigns to ``names`` at module level (``x = ...`` or
    ``x: T = ...``)."""
    found: dict[str, Any] = {}
    for node in ast.parse(script.read_text(encoding="utf-8"), filename=str(script)).body:
        target, value = (node.targets[0], node.value) if isinstance(node, ast.Assign) and len(node.targets) == 1 \
            else (node.target, node.value) if isinstance(node, ast.AnnAssign) else (None, None)
        if isinstance(target, ast.Name) and target.id in names and value is not None:
            found[target.id] = ast.literal_eval(value)
    return found


def upgrade_in_child(url: str | URL, *, timeout: float = MIGRATE_TIMEOUT) -> bool:
    """Migrate the database at ``url`` to the newest revision in a child process, so that a serving
    process (``helpdesk run``, ``serve``, ``worker``) never imports Alembic. True when the child
    succeeded; False, with a log line, when it failed or timed out: the caller then migrates
    in-process, which raises the error itself. The URL (it may hold a password) goes on stdin."""
    rendered = make_url(url).render_as_string(hide_password=False)
    command = [sys.executable, "-c", "from helpdesk.conversations.db import upgrade_from_stdin; upgrade_from_stdin()"]
    try:
        done = subprocess.run(command, input=rendered.encode(), capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("db.migrate_child_failed", extra={"error": str(exc)})
        return False
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        log.warning("db.migrate_child_failed", extra={"error": lines[-1] if lines else f"exit {done.returncode}"})
        return False
    return True


def upgrade_from_stdin() -> None:
    """The child of :func:`upgrade_in_child`: migrate the database whose URL is on stdin."""
    database = Database(sys.stdin.read().strip())
    try:
        database.upgrade()
    finally:
        database.dispose()


class SchemaNotCurrent(RuntimeError):
    """The database was never migrated, or not to the newest revision."""


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic ``Config`` for our migrations, built in code (no ``alembic.ini``).

    Args:
        connection: run the migrations on this connection (and its transaction).
        url: or connect to this URL.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    if url is not None:
        config.attributes["url"] = url
    return config


def _sqlite_engine(url: URL, *, echo: bool, pool: tuple[int, int] = (16, 112)) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or url.query.get("mode") == "memory"
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        options["poolclass"] = StaticPool
    else:
        # writers hold a connection while they queue for the write lock (_WriterQueue): enough
        # connections that readers (a turn's read phase, a reconnecting visitor) never wait
        # behind them; an idle SQLite connection costs a file handle and a little memory
        options.update(pool_size=pool[0], max_overflow=pool[1])
        if not database.startswith("file:"):
            path = Path(database).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            # SQLite creates its -wal and -shm files with the database file's mode: owner only
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    engine = create_engine(url, echo=echo, **options)
    writers = _writer_queue(database if not in_memory else f"memory:{id(engine)}")
    event.listen(engine, "connect", _sqlite_on_connect(wal=not in_memory))
    event.listen(engine, "begin", _sqlite_on_begin(writers))
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        finally:
            writers.leave(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:  # also when the pool resets a connection returned mid-transaction
            writers.leave(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]
    return engine


class _WriterQueue:
    """Writers of one SQLite file in this process take turns on a lock instead of SQLite's busy
    handler, which polls with sleeps that grow to 100 ms: under load that sleeping, not the
    work, made the slowest replies. The lock is held from ``BEGIN IMMEDIATE`` until the commit
    or rollback has happened; other processes still meet SQLite's own lock and busy timeout.

    Urgent writers (inside :func:`urgent_writes`: storing an inbound message that a webhook is
    waiting to acknowledge) go before every waiting ordinary writer (turns, the outbox): a
    webhook's short insert waits for at most the transaction that holds the lock, never for the
    queue of turns behind it. Urgent transactions are a few statements each, so turns still get
    the lock between them.
    """

    def __init__(self) -> None:
        lock = threading.Lock()
        # one waiter is woken per release (urgent ones first), not all of them: with hundreds of
        # turns queued, waking them all at each commit cost more CPU than the writes themselves
        self._cond = threading.Condition(lock)
        self._urgent_cond = threading.Condition(lock)
        self._held = False
        self._urgent_waiting = 0
        self._waiting = 0
        self._holders: set[int] = set()

    def locked(self) -> bool:
        """Whether a writer of this process holds the write lock."""
        with self._cond:
            return self._held

    def waiting(self) -> int:
        """How many writers of this process wait for the write lock."""
        with self._cond:
            return self._waiting

    def enter(self, dbapi_connection: Any) -> None:
        urgent = _urgent.get()
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        with self._cond:
            self._urgent_waiting += urgent
            self._waiting += 1
            timed_out = False
            try:
                while self._held or (not urgent and self._urgent_waiting):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        timed_out = True
                        return  # proceed unqueued; SQLite's busy handler decides (and reports a stuck writer)
                    (self._urgent_cond if urgent else self._cond).wait(left)
            finally:
                self._urgent_waiting -= urgent
                self._waiting -= 1
                if timed_out and not self._held:
                    self._wake_next()  # a wake-up this waiter may have taken goes to the next one
            self._held = True
            self._holders.add(id(_raw(dbapi_connection)))

    def leave(self, dbapi_connection: Any) -> None:
        key = id(_raw(dbapi_connection))
        with self._cond:
            if key in self._holders:
                self._holders.discard(key)
                self._held = False
                self._wake_next()

    def _wake_next(self) -> None:
        """Wake one waiting writer, an urgent one first (the lock is held by the caller)."""
        if self._urgent_waiting:
            self._urgent_cond.notify()
        else:
            self._cond.notify()


_urgent: ContextVar[bool] = ContextVar("helpdesk_urgent_writes", default=False)


@contextmanager
def urgent_writes() -> Iterator[None]:
    """Write transactions begun inside this block (in this thread) go before waiting ordinary
    writers of the same SQLite file (see :class:`_WriterQueue`); no effect on PostgreSQL."""
    token = _urgent.set(True)
    try:
        yield
    finally:
        _urgent.reset(token)


def _raw(dbapi_connection: Any) -> Any:
    return getattr(dbapi_connection, "dbapi_connection", dbapi_connection)


_queues: dict[str, _WriterQueue] = {}
_queues_lock = threading.Lock()


def _writer_queue(database: str) -> _WriterQueue:
    key = database if database.startswith(("file:", "memory:")) else str(Path(database).expanduser().resolve())
    with _queues_lock:
        return _queues.setdefault(key, _WriterQueue())


def _sqlite_on_connect(*, wal: bool) -> Callable[[DBAPIConnection, ConnectionPoolEntry], None]:
    def on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # SQLAlchemy emits BEGIN itself (see _sqlite_on_begin), not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL: a commit survives a crash of the process; only a power loss
                # can lose the last transactions (SQLite's recommended pairing for WAL).
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return on_connect


def _sqlite_on_begin(writers: _WriterQueue) -> Callable[[Connection], None]:
    def on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front: concurrent writers wait in the busy
        # handler instead of failing with "database is locked" when a read upgrades.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
            return
        dbapi_connection = connection.connection.dbapi_connection
        writers.enter(dbapi_connection)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writers.leave(dbapi_connection)
            raise

    return on_begin
