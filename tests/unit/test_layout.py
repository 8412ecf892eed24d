"""The layout rules of DESIGN §1 hold: who may import whom (the whole table), the engine is pure,
one module reads the environment, connectors never import each other.

Imports under ``if TYPE_CHECKING:`` are annotations only (no import at run time) and are not
counted; everything else is, wherever it sits (module level or inside a function).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
OURS = {"app", "cli", "connectors", "conversations", "dialogue", "flows", "handoff", "knowledge", "llm",
        "maintenance", "observability", "routing", "services", "settings"}
#: everyone may read the settings object
ANYONE = {"settings"}

#: DESIGN §1, one row per part: (our modules it may import, third-party packages it may import;
#: None: any). A module of ours is named by its top-level name or, for a part of it, by a dotted
#: prefix (``dialogue.view``).
TABLE: dict[str, tuple[set[str], set[str] | None]] = {
    "app": (OURS, None),  # the composition root
    "services": (OURS - {"app", "cli"}, None),  # builds what app mounts
    "cli": (OURS, None),
    "settings": (set(), {"pydantic", "pydantic_settings", "dotenv"}),
    "llm": (set(), {"anthropic", "httpx"}),  # the LLM client: nothing of ours
    "conversations": (set(), {"sqlalchemy", "alembic"}),
    # the CALM engine: never flask, socket.io or sqlalchemy; the LLM through llm/
    # (numpy, scikit-learn: the learned offline understanding)
    "dialogue": ({"llm"}, {"pydantic", "ruamel", "anthropic", "httpx", "jinja2", "rapidfuzz",
                           "numpy", "scipy", "sklearn", "threadpoolctl"}),
    # people's side: the conversation store, a read-only view of the dialogue state, an LLM only
    # through the summarizer it is given (handoff.summarizers wraps llm/), never dialogue.generators
    "handoff": ({"conversations", "helpdesk.dialogue.view", "llm", "observability"}, None),
    "connectors": ({"conversations"}, None),
    "routing": ({"conversations", "dialogue", "handoff", "observability"}, None),
    "knowledge": ({"conversations"}, None),
    "maintenance": ({"conversations"}, None),  # background upkeep jobs
    "observability": ({"llm"}, None),
}
NEVER_IN_DIALOGUE = {"flask", "socketio", "flask_socketio", "sqlalchemy", "werkzeug"}


def _bare(name: str) -> str:
    """Our module's name without the package: ``helpdesk.dialogue.view`` → ``dialogue.view``."""
    return name.removeprefix("helpdesk.")


def _modules(node: ast.Import | ast.ImportFrom) -> set[str]:
    """What an absolute import names, without the package (``from helpdesk import settings`` → ``settings``)."""
    if isinstance(node, ast.Import):
        return {_bare(a.name) for a in node.names}
    if not node.module or node.level:
        return set()
    return {a.name for a in node.names} if node.module == "helpdesk" else {_bare(node.module)}


def _type_checking_only(tree: ast.AST) -> set[int]:
    """Ids of import nodes inside ``if TYPE_CHECKING:`` blocks."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return hidden


def runtime_imports(path: Path) -> set[str]:
    """Full dotted names of the absolute imports of ``path`` (``from a.b import c`` gives ``a.b``)."""
    tree = ast.parse(path.read_text())
    hidden = _type_checking_only(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            names |= _modules(node)
    return names


def imports(path: Path) -> set[str]:
    """Top-level names imported by ``path`` (type-checking imports included)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names |= {n.split(".")[0] for n in _modules(node)}
    return names


def _part_of(path: Path) -> str:
    rel = path.relative_to(REPO)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _sources() -> list[Path]:
    return sorted(p for part in TABLE for p in ([REPO / f"{part}.py"] if (REPO / f"{part}.py").exists()
                                                 else (REPO / part).rglob("*.py")))


def _allowed(name: str, own: str, ours: set[str]) -> bool:
    top = name.split(".")[0]
    return top == own or top in ANYONE or any(name == _bare(rule) or name.startswith(_bare(rule) + ".")
                                              for rule in ours)


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_the_import_table_of_design_section_1(path: Path) -> None:
    own = _part_of(path)
    ours, third_party = TABLE[own]
    names = runtime_imports(path)
    wrong = sorted(n for n in names if n.split(".")[0] in OURS and not _allowed(n, own, ours))
    assert wrong == [], f"{path.relative_to(REPO)} ({own}) may not import {wrong}"
    if third_party is not None:
        foreign = sorted({n.split(".")[0] for n in names} - OURS - STDLIB - third_party)
        assert foreign == [], f"{path.relative_to(REPO)} ({own}) may not import {foreign}"


def test_the_table_covers_every_module_of_ours() -> None:
    parts = {_part_of(p) for p in REPO.glob("*.py")} | {p.name for p in REPO.iterdir()
                                                         if p.is_dir() and (p / "__init__.py").exists()}
    assert parts - {"tests", "bench", "migrations", "flows", "__init__"} <= set(TABLE)


@pytest.mark.parametrize("path", sorted((REPO / "dialogue").rglob("*.py")), ids=lambda p: p.name)
def test_dialogue_imports_no_web_or_database_code(path: Path) -> None:
    assert not imports(path) & NEVER_IN_DIALOGUE


def test_handoff_never_imports_the_command_generators() -> None:
    for path in (REPO / "handoff").rglob("*.py"):
        assert not any(n.startswith(_bare("helpdesk.dialogue.generators")) for n in imports_full(path)), path


def imports_full(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {name for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) for name in _modules(n)}


def test_only_settings_reads_the_environment() -> None:
    readers = []
    for path in REPO.glob("**/*.py"):
        rel = path.relative_to(REPO)
        # deploy/ (like bench/) is tooling that starts processes with their environment, not the app
        if rel.parts[0] in ("tests", "bench", "deploy", "migrations", ".venv", ".venv-actions", ".cache") \
                or rel.name == "settings.py":
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
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules |= _modules(node)
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
