"""Alembic environment: migrates the schema of ``conversations.models``.

The database comes from, in order: ``config.attributes["connection"]`` (an open
connection, as ``Database.upgrade`` passes), ``config.attributes["url"]``, ``-x url=...``
on the command line, or the ``sqlalchemy.url`` option of ``alembic.ini``. Environment
variables are never read here. ``config.attributes["skip_logging_config"]`` keeps the
logging setup of ``alembic.ini`` out of a host process.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, create_engine, pool

import helpdesk.connectors.email.models  # noqa: F401,E402 - registers the email channel's tables
import helpdesk.conversations.attachments  # noqa: F401,E402 - registers the widget's attachments table
import helpdesk.handoff.models  # noqa: F401,E402 - registers the handoff tables on Base.metadata
from helpdesk.conversations.models import Base
from helpdesk.knowledge.models import include_name  # noqa: E402 - registers the knowledge tables; hides FTS objects

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass attributes['url'], -x url=... or sqlalchemy.url")
    return str(url)


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite needs batch mode to ALTER tables
        include_name=include_name,
        **kwargs,  # type: ignore[arg-type]
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run_on(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
