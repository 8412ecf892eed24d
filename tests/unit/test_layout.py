"""The layout rules of DESIGN §1 hold: the engine is pure, one module reads the environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_DIALOGUE = ("flask", "socketio", "flask_socketio", "sqlalchemy", "werkzeug")
FORBIDDEN_IN_CONVERSATIONS = ("flask", "socketio", "dialogue", "handoff", "connectors", "routing")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((REPO / "dialogue").rglob("*.py")), ids=lambda p: p.name)
def test_dialogue_imports_no_web_or_database_code(path: Path) -> None:
    assert not imports(path) & set(FORBIDDEN_IN_DIALOGUE)


@pytest.mark.parametrize("path", sorted((REPO / "conversations").rglob("*.py")), ids=lambda p: p.name)
def test_conversations_depends_on_nothing_above_it(path: Path) -> None:
    assert not imports(path) & set(FORBIDDEN_IN_CONVERSATIONS)


def test_only_settings_reads_the_environment() -> None:
    readers = []
    for path in REPO.glob("**/*.py"):
        rel = path.relative_to(REPO)
        if rel.parts[0] in ("tests", "bench", "migrations", ".venv", ".venv-actions", ".cache") or rel.name == "settings.py":
            continue
        text = path.read_text()
        if "os.environ" in text or "os.getenv" in text:
            readers.append(str(rel))
    assert readers == []


def _connector_of(path: Path) -> str | None:
    """The connector a file of ``connectors/`` belongs to (None: a shared top-level module)."""
    rel = path.relative_to(REPO / "connectors")
    if len(rel.parts) > 1:
        return rel.parts[0]
    return None


def _connector_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return {m.split(".")[1] for m in modules if m.startswith("connectors.") and m.count(".") >= 1}


SHARED_CONNECTOR_MODULES = {p.stem for p in (REPO / "connectors").glob("*.py")} - {"rasa_socketio", "rest"}
SINGLE_FILE_CONNECTORS = {"rasa_socketio", "rest"}


@pytest.mark.parametrize("path", sorted((REPO / "connectors").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_a_connector_never_imports_another(path: Path) -> None:
    """What channels share lives in top-level modules of connectors/ (base, registry, turns, origins…)."""
    own = _connector_of(path) or (path.stem if path.stem in SINGLE_FILE_CONNECTORS else None)
    if path.name == "registry.py":
        return  # names every connector, imports none of them at import time
    foreign = {name for name in _connector_imports(path)
               if name not in SHARED_CONNECTOR_MODULES and name != own}
    assert foreign == set(), f"{path.relative_to(REPO)} imports connector(s) {sorted(foreign)}"


def test_app_and_cli_do_not_import_each_other() -> None:
    assert "cli" not in imports(REPO / "app.py")
