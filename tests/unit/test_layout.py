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
