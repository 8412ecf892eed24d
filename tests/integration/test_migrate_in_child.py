"""A serving process never imports Alembic (~11 MB of its idle memory, issue 10): the newest
revision is read from the migration scripts, a schema already current is left alone, and the
serving commands' start-up check (``app.check_startup``) migrates a new database in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from helpdesk.conversations.db import Database, alembic_config, head_of, head_revision, upgrade_in_child

REPO = Path(__file__).resolve().parents[2]

# a fresh interpreter: the start-up check, then the app, for the URL on argv; prints what was imported
SERVING = """
import json, sys
from helpdesk.app import check_startup, create_app
from helpdesk.settings import Settings

url, instance = sys.argv[1], sys.argv[2]
settings = Settings(database_url=url, instance_path=instance, assistant=sys.argv[3], secret_key="test-secret",
                    auto_migrate=True, knowledge_reload_seconds=0, timers_in_web=False, outbox_in_web=False,
                    anthropic_api_key=None)
check_startup(settings)
app = create_app(settings)
app.extensions["helpdesk"].close()
print(json.dumps({"alembic": sorted(m for m in sys.modules if m.split(".")[0] == "alembic")}))
"""


def test_the_head_is_alembics_head() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def _script(folder: Path, name: str, revision: str, down: str | None, annotated: bool = True) -> None:
    kind = ": str | None" if annotated else ""
    (folder / f"{name}.py").write_text(f'"""{name}"""\nrevision{kind} = "{revision}"\n'
                                       f"down_revision{kind} = {down!r}\n\ndef upgrade() -> None:\n    pass\n")


def test_the_head_is_the_revision_no_script_descends_from(tmp_path: Path) -> None:
    _script(tmp_path, "0002_b", "b", "a", annotated=False)
    _script(tmp_path, "0001_a", "a", None)
    _script(tmp_path, "0003_c", "c", "b")
    (tmp_path / "helpers.py").write_text("VALUE = 1\n")  # not a migration: ignored
    assert head_of(tmp_path) == "c"
    _script(tmp_path, "0004_d", "d", "b")  # a branch: two heads, which "head" cannot name
    with pytest.raises(RuntimeError, match="2 heads"):
        head_of(tmp_path)


def test_a_current_schema_is_left_alone_without_importing_alembic(db: Database) -> None:
    code = ("import sys; from helpdesk.conversations.db import Database; d = Database(sys.argv[1]); d.upgrade(); "
            "print('alembic' in sys.modules, d.schema_revision())")
    url = db.url.render_as_string(hide_password=False)
    done = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.split()[0] == "False"
    assert db.schema_revision() == (head_revision(), head_revision())


def test_the_serving_start_migrates_a_new_database_in_a_child(db_url: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SERVING, db_url, str(tmp_path / "instance"), str(REPO / "flows")],
                          capture_output=True, text=True, timeout=300, check=False, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"alembic": []}
    database = Database(db_url)
    try:
        with database.engine.connect() as connection:
            assert connection.scalar(text("SELECT version_num FROM alembic_version")) == head_revision()
    finally:
        database.dispose()


def test_a_failing_child_leaves_the_error_to_the_process_itself(tmp_path: Path) -> None:
    # a folder where the database file should be: the child cannot open it and says so in a log
    # line, the caller carries on and its own upgrade raises the real error
    (tmp_path / "helpdesk.db").mkdir()
    assert upgrade_in_child(f"sqlite:///{tmp_path}/helpdesk.db") is False
    assert upgrade_in_child("sqlite:///" + str(tmp_path / "ok.db")) is True
    database = Database(f"sqlite:///{tmp_path}/ok.db")
    try:
        assert database.schema_revision() == (head_revision(), head_revision())
    finally:
        database.dispose()
