"""The package ``helpdesk`` (the repository root) is complete: pyproject names every sub-package and
ships every file an install reads at run time, and every import of our code goes through the package.

tests/packaging/test_wheel.py proves that an installed wheel works; these checks are the quick ones,
and name what is missing.
"""

from __future__ import annotations

import ast
import glob
import os
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "helpdesk"
#: folders of the repository that are not part of the package
OUTSIDE = {"tests", "bench", "deploy", "scripts", "build", "dist", "instance", "node_modules"}
#: never looked into
SKIPPED = {"instance", "build", "dist", "node_modules", "__pycache__"}
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def _walk(top: Path, *, outside: bool) -> Iterator[Path]:
    """Every file below ``top`` but hidden folders (.venv, .git…), and those outside the package unless
    ``outside``."""
    for folder, dirs, names in os.walk(top):
        here = Path(folder)
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIPPED
                   and (outside or here != REPO or d not in OUTSIDE)]
        yield from (here / name for name in names)


def _package_dirs() -> dict[str, Path]:
    """Every directory of the package with an ``__init__.py``, by its dotted name."""
    found = {PACKAGE: REPO}
    for init in (p for p in _walk(REPO, outside=False) if p.name == "__init__.py" and p.parent != REPO):
        found[".".join((PACKAGE, *init.parent.relative_to(REPO).parts))] = init.parent
    return found


def _files_below(folder: Path) -> set[Path]:
    return {p for p in _walk(folder, outside=False) if p.suffix != ".pyc"}


def test_pyproject_lists_every_package_of_the_tree() -> None:
    assert SETUPTOOLS["package-dir"] == {PACKAGE: "."}
    assert sorted(SETUPTOOLS["packages"]) == sorted(_package_dirs())


def test_package_data_ships_every_file_of_the_package_that_is_not_a_module() -> None:
    """Templates, static files, the default assistant (flows/) and the migrations are package data."""
    packages = _package_dirs()
    shipped: set[Path] = set()
    for package, patterns in SETUPTOOLS["package-data"].items():
        shipped |= {packages[package] / name for pattern in patterns
                    for name in glob.glob(pattern, root_dir=packages[package], recursive=True)}
    wanted = {REPO / "alembic.ini"} | _files_below(REPO / "flows") | _files_below(REPO / "migrations")
    for package, folder in packages.items():
        if package != PACKAGE:
            wanted |= {p for p in _files_below(folder) if p.suffix != ".py"}
    wanted = {p for p in wanted if not (p.suffix == ".py" and (p.parent / "__init__.py").exists())}
    missing = sorted(str(p.relative_to(REPO)) for p in wanted - shipped)
    assert missing == [], f"not in [tool.setuptools.package-data]: {missing}"


def _unprefixed_imports(path: Path, ours: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    wrong = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            wrong += [f"line {node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] in ours]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] in ours:
            wrong.append(f"line {node.lineno}: from {node.module}")
    return wrong


def test_every_import_of_our_code_names_the_package() -> None:
    """``from helpdesk.settings import Settings``, never ``from settings import …`` (an installed wheel has
    no top-level ``settings``); scripts/rewrite_imports.py fixes what this finds."""
    ours = {p.stem for p in REPO.glob("*.py")} - {"__init__"}
    ours |= {name.split(".")[1] for name in _package_dirs() if name.count(".") == 1} | {"flows", "migrations"}
    wrong = {}
    for path in sorted(p for p in _walk(REPO, outside=True) if p.suffix == ".py"):
        found = _unprefixed_imports(path, ours)
        if found:
            wrong[str(path.relative_to(REPO))] = found
    assert wrong == {}, f"run `{Path(sys.executable).name} scripts/rewrite_imports.py`: {wrong}"
