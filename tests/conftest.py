"""Database fixtures: real SQLite files and real PostgreSQL (one fresh schema per test)."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from helpdesk.conversations.db import Database

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_base_url() -> str:
    return os.environ.get("HELPDESK_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@functools.cache
def _postgres_problem(url: str) -> str | None:
    """None when PostgreSQL answers at ``url``, else why not (probed once per run)."""
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        return str(error.orig or error).strip().splitlines()[0]
    finally:
        engine.dispose()
    return None


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of an empty SQLite file database."""
    return f"sqlite:///{tmp_path}/helpdesk.db"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of an empty PostgreSQL schema of its own, dropped afterwards."""
    base = _postgres_base_url()
    reason = _postgres_problem(base)
    if reason is not None:
        pytest.skip(
            f"PostgreSQL not reachable at {base} (set HELPDESK_TEST_POSTGRES_URL): {reason}"
        )
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each kind."""
    return str(request.getfixturevalue(f"{request.param}_url"))


def _upgraded(url: str) -> Iterator[Database]:
    database = Database(url)
    try:
        database.upgrade()
        yield database
    finally:
        database.dispose()


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    """A migrated SQLite file database."""
    yield from _upgraded(sqlite_url)


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[Database]:
    """A migrated PostgreSQL database (a fresh schema)."""
    yield from _upgraded(postgres_url)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated database of each kind."""
    yield from _upgraded(db_url)


@pytest.fixture(autouse=True)
def _no_real_anthropic_key(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only `live` tests may reach the real Anthropic API with a developer's key."""
    if request.node.get_closest_marker("live") is None:
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
