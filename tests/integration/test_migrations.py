"""The Alembic migrations build exactly the schema of the models, on both databases."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from helpdesk.connectors.email.models import TABLES as EMAIL_TABLES
from helpdesk.conversations.attachments import TABLES as WIDGET_TABLES
from helpdesk.conversations.db import Database, alembic_config
from helpdesk.conversations.models import Base
from helpdesk.handoff.models import TABLES as HANDOFF_TABLES
from helpdesk.knowledge.models import TABLES as KNOWLEDGE_TABLES
from helpdesk.knowledge.models import include_name

REPO_ROOT = Path(__file__).resolve().parents[2]
TABLES = ({"customers", "conversations", "messages", "outbox", "dialogue_events"}
          | KNOWLEDGE_TABLES | HANDOFF_TABLES | WIDGET_TABLES | EMAIL_TABLES)


def _tables(db: Database) -> set[str]:
    # the full-text index (SQLite FTS5 tables) is not a model: migration 0004 manages it
    return {t for t in inspect(db.engine).get_table_names() if include_name(t, "table", {})}


def test_upgrade_creates_every_table_on_an_empty_database(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert _tables(db) == set()
        db.upgrade()
        assert _tables(db) == TABLES | {"alembic_version"}
        with db.engine.connect() as connection:
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            assert connection.scalar(text("SELECT version_num FROM alembic_version")) == head
    finally:
        db.dispose()


def test_models_match_the_migrations(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": include_name})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_twice_is_a_no_op(db: Database) -> None:
    db.upgrade()
    assert _tables(db) == TABLES | {"alembic_version"}


def test_downgrade_to_base_drops_everything(db: Database) -> None:
    with db.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert _tables(db) == {"alembic_version"}
    db.upgrade()
    assert _tables(db) >= TABLES


def test_alembic_ini_takes_the_url_from_config_attributes(sqlite_url: str) -> None:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes["url"] = sqlite_url
    config.attributes["skip_logging_config"] = True
    command.upgrade(config, "head")
    db = Database(sqlite_url)
    try:
        assert _tables(db) >= TABLES
    finally:
        db.dispose()


def test_sqlite_connections_are_tuned(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/nested/folder/helpdesk.db")
    try:
        assert (tmp_path / "nested" / "folder").is_dir()
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert db.dialect_name == "sqlite"
    finally:
        db.dispose()


def test_in_memory_sqlite_shares_one_connection() -> None:
    db = Database("sqlite:///:memory:")
    try:
        db.upgrade()
        assert _tables(db) >= TABLES
    finally:
        db.dispose()
