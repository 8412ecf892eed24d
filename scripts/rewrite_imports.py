"""Rewrite every reference to our modules to the ``helpdesk.`` package: ``python scripts/rewrite_imports.py``.

The repository root is the package ``helpdesk`` (pyproject: ``package-dir = {"helpdesk" = "."}``),
so ``from settings import Settings`` becomes ``from helpdesk.settings import Settings``. The script
is idempotent (a second run changes nothing) and reads the tree as it is, so it also rewrites code
written on other branches: every file git tracks or would track (new files included).

What it rewrites
  Python files (``ast`` positions, nothing else on a line is touched):
    * ``from a.b import c`` → ``from helpdesk.a.b import c``; ``import a`` → ``from helpdesk import a``;
      ``import a.b`` → ``import helpdesk.a.b`` and every use of the name ``a`` → ``helpdesk.a``;
      ``import a.b as c`` → ``import helpdesk.a.b as c``. Relative imports are left alone.
    * string literals that name one of our modules: ``"a.b:attr"`` (entry points, connector
      registries, ``"a:create_app()"``), ``"a.b"`` when ``a.b`` is a module (logger names),
      ``"a.b.name"`` when ``name`` is defined in module ``a.b`` (``mock.patch`` targets); a word
      after ``"-m"`` or ``"--app"`` in a list or a call. Other dotted strings (``"conversations.id"``,
      log events such as ``"handoff.timers.fired"``) are left alone.
    * Python code inside strings (``"-c", "from cli import main; main()"``, an ``actions.py`` a test
      writes, doctests): ``from a import`` / ``import a`` statements, found by pattern.
  Text files (Makefile, Dockerfile, shell scripts, TOML/INI/CFG, deploy YAML, Markdown):
    ``-m a.b`` and ``--app a``, quoted ``"a.b:attr"`` or ``'a:create_app()'``, and
    ``from``/``import`` lines inside Markdown code blocks.
  Finally ``ruff check --select I --fix`` re-sorts the imports of the Python files it changed.

"Our modules" are read from the tree: top-level ``*.py`` files and packages (a folder with
``__init__.py``) of the repository root, and the ``flows`` and ``migrations`` folders; ``tests``,
``bench``, ``deploy`` and ``scripts`` are not part of the package and keep their names.

Anything it cannot rewrite safely is printed as ``cannot rewrite: …`` and makes it exit 1.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "helpdesk"
#: folders of the repository root that are not part of the package
NOT_PACKAGED = {"tests", "bench", "deploy", "scripts", "build", "dist", "instance", "node_modules"}
#: data folders of the package that have no ``__init__.py`` but may be imported from
DATA_PACKAGES = {"flows", "migrations"}
#: never looked into
SKIPPED_DIRS = {".git", ".venv", ".venv-actions", ".cache", "instance", "build", "dist", "node_modules",
                "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
#: text files whose command lines and code blocks are rewritten
TEXT_SUFFIXES = {".md", ".rst", ".txt", ".toml", ".cfg", ".ini", ".sh", ".mk", ".conf"}
TEXT_NAMES = {"Makefile", "Dockerfile", "Procfile", "run"}
#: YAML files only where they describe processes (an assistant's YAML is data)
YAML_DIRS = {"deploy", ".github", ".ci"}


@dataclass
class Tree:
    """The repository being rewritten and the names of its modules."""

    root: Path
    #: top-level names of ours, as imported (``app``, ``dialogue``, ``flows``…)
    names: set[str] = field(default_factory=set)
    _defined: dict[Path, set[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path) -> Tree:
        names = {p.stem for p in root.glob("*.py") if p.stem not in ("__init__", "setup", "conftest")}
        names |= {p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").is_file()
                  and p.name not in NOT_PACKAGED and p.name.isidentifier()}
        names |= {n for n in DATA_PACKAGES if (root / n).is_dir()}
        names.discard(PACKAGE)
        return cls(root, names)

    def module_file(self, parts: list[str]) -> Path | None:
        """The file of module ``a.b.c`` (its ``__init__.py`` for a package), or None."""
        base = self.root.joinpath(*parts)
        if base.with_suffix(".py").is_file():
            return base.with_suffix(".py")
        if (base / "__init__.py").is_file():
            return base / "__init__.py"
        return None

    def defines(self, module: Path, name: str) -> bool:
        """Whether ``name`` is bound at the top of ``module`` (or is a submodule of its package)."""
        if module.name == "__init__.py" and self.module_file([*module.parent.relative_to(self.root).parts, name]):
            return True
        if module not in self._defined:
            self._defined[module] = _top_level_names(module)
        return name in self._defined[module]

    def is_reference(self, text: str) -> bool:
        """Whether a string literal names a module of ours or something in one (see the module doc)."""
        match = re.fullmatch(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(:[A-Za-z_][\w.]*(?:\(.*\))?)?", text)
        if match is None:
            return False
        parts = match.group(1).split(".")
        if parts[0] not in self.names or parts[0] in DATA_PACKAGES:
            return False
        if match.group(2):  # "module:attribute"
            return self.module_file(parts) is not None
        if len(parts) < 2:  # a bare word ("settings") is far more often data than a module
            return False
        for cut in range(len(parts), 0, -1):
            module = self.module_file(parts[:cut])
            if module is not None:
                return cut == len(parts) or self.defines(module, parts[cut])
        return False


def _top_level_names(module: Path) -> set[str]:
    try:
        tree = ast.parse(module.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return set()
    names: set[str] = set()
    statements: list[ast.stmt] = list(tree.body)
    while statements:
        node = statements.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.If | ast.Try | ast.With):
            statements.extend(node.body)
            statements.extend(getattr(node, "orelse", []))
            statements.extend(getattr(node, "finalbody", []))
            statements.extend(s for h in getattr(node, "handlers", []) for s in h.body)
    return names


# --- Python files -----------------------------------------------------------------------------------


class Source:
    """A file's text with ``ast`` positions (line, UTF-8 column) turned into character offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts = [0]
        for line in text.splitlines(keepends=True):
            self._starts.append(self._starts[-1] + len(line))
        self._lines = text.splitlines(keepends=True)

    def offset(self, line: int, column: int) -> int:
        raw = self._lines[line - 1].encode("utf-8")[:column] if line - 1 < len(self._lines) else b""
        return self._starts[line - 1] + len(raw.decode("utf-8", errors="replace"))


@dataclass
class Edit:
    start: int
    end: int
    text: str


def rewrite_python(text: str, tree_info: Tree, where: str, problems: list[str]) -> str:
    """``text`` with every reference to our modules prefixed (see the module doc)."""
    try:
        module = ast.parse(text)
    except SyntaxError as error:
        problems.append(f"{where}: not Python ({error.msg}, line {error.lineno}), left as it is")
        return text
    source = Source(text)
    edits: list[Edit] = []
    renamed: set[str] = set()  # names bound by `import a.b`: their uses become helpdesk.a
    ours = tree_info.names
    for node in ast.walk(module):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in ours:
                start = source.offset(node.lineno, node.col_offset)
                found = re.compile(r"from\s+").match(text, start)
                if found is None:
                    problems.append(f"{where}:{node.lineno}: cannot rewrite: unusual `from` statement")
                    continue
                edits.append(Edit(found.end(), found.end(), PACKAGE + "."))
        elif isinstance(node, ast.Import):
            edits.extend(_rewrite_import(node, source, ours, renamed))
    if renamed:
        edits.extend(_rewrite_uses(module, source, renamed, where, problems))
    edits.extend(_rewrite_strings(module, source, tree_info, where, problems))
    return _apply(text, edits)


def _rewrite_import(node: ast.Import, source: Source, ours: set[str], renamed: set[str]) -> Iterator[Edit]:
    for alias in node.names:
        top = alias.name.split(".")[0]
        if top not in ours:
            continue
        if alias.asname is None and "." not in alias.name and len(node.names) == 1:
            # `import settings` → `from helpdesk import settings`: the bound name stays the same
            start = source.offset(node.lineno, node.col_offset)
            end = source.offset(node.end_lineno or node.lineno, node.end_col_offset or 0)
            yield Edit(start, end, f"from {PACKAGE} import {alias.name}")
            continue
        yield Edit(*(2 * [source.offset(alias.lineno, alias.col_offset)]), PACKAGE + ".")  # type: ignore[misc]
        if alias.asname is None:  # `import a.b` binds `a`, which now is `helpdesk`
            renamed.add(top)


def _rewrite_uses(module: ast.Module, source: Source, renamed: set[str], where: str,
                  problems: list[str]) -> Iterator[Edit]:
    """``a.b.f()`` → ``helpdesk.a.b.f()`` for the names ``a`` that ``import a.b`` bound."""
    rebound = {n.id for n in ast.walk(module) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    rebound |= {a.arg for n in ast.walk(module) if isinstance(n, ast.arguments)
                for a in [*n.posonlyargs, *n.args, *n.kwonlyargs, n.vararg, n.kwarg] if a is not None}
    rebound |= {(a.asname or a.name) for n in ast.walk(module) if isinstance(n, ast.ImportFrom) for a in n.names}
    rebound |= {n.name for n in ast.walk(module) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
    for name in sorted(renamed & rebound):
        problems.append(f"{where}: cannot rewrite: `{name}` is both an imported module and another name here; "
                        f"its uses were rewritten as the module's")
    for node in ast.walk(module):
        if isinstance(node, ast.Name) and node.id in renamed and isinstance(node.ctx, ast.Load):
            at = source.offset(node.lineno, node.col_offset)
            if source.text.startswith(node.id, at):
                yield Edit(at, at, PACKAGE + ".")


def _rewrite_strings(module: ast.Module, source: Source, tree_info: Tree, where: str,
                     problems: list[str]) -> Iterator[Edit]:
    in_fstrings = {id(c) for n in ast.walk(module) if isinstance(n, ast.JoinedStr) for c in ast.walk(n)}
    after_flag: set[int] = set()  # "-m" X, "--app" X: X is a module name even when bare
    for node in ast.walk(module):
        items: list[ast.expr] = []
        if isinstance(node, ast.List | ast.Tuple):
            items = node.elts
        elif isinstance(node, ast.Call):
            items = node.args
        for first, second in zip(items, items[1:], strict=False):
            if isinstance(first, ast.Constant) and first.value in ("-m", "--app"):
                after_flag.add(id(second))
    for node in ast.walk(module):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in in_fstrings:
            continue
        value = node.value
        start = source.offset(node.lineno, node.col_offset)
        end = source.offset(node.end_lineno or node.lineno, node.end_col_offset or 0)
        literal = source.text[start:end]
        if id(node) in after_flag:
            wanted = value.split(".")[0] in tree_info.names and bool(re.fullmatch(r"[\w.:]+", value))
        else:
            wanted = tree_info.is_reference(value)
        if wanted and len(literal) >= 2 and literal[0] in "'\"" and literal[0] == literal[-1] \
                and literal[1:-1] == value:
            yield Edit(start + 1, start + 1, PACKAGE + ".")
        elif not wanted and re.search(r"\b(from|import)\s", value):
            new = _rewrite_code_in_string(literal, tree_info.names, f"{where}:{node.lineno}", problems)
            if new != literal:
                yield Edit(start, end, new)


#: where a statement starts inside a string's source: its start, a quote, a line, ``;``, an escaped ``\n``,
#: then a doctest prompt
_STATEMENT = r"""(?P<pre>(?:^|[;"'\n]|\\n)[ \t]*(?:>>> |\.\.\. )?)"""
_END = r"""(?=[ \t]*(?:;|#|["']|\\n|\n|$))"""


def _rewrite_code_in_string(literal: str, ours: set[str], where: str, problems: list[str]) -> str:
    """Python code inside a string (``python -c "from cli import main; main()"``, an ``actions.py`` a test
    writes): its ``from``/``import`` statements of our modules, found in the string's source text."""
    names = "|".join(sorted(map(re.escape, ours), key=len, reverse=True))
    module = rf"(?:{names})(?![\w-])"
    new = re.sub(rf"{_STATEMENT}from[ \t]+(?={module}(?:\.\w+)*[ \t]+import\b)", rf"\g<pre>from {PACKAGE}.", literal)
    new = re.sub(rf"{_STATEMENT}import[ \t]+(?P<name>{module}){_END}", rf"\g<pre>from {PACKAGE} import \g<name>", new)
    new = re.sub(rf"{_STATEMENT}import[ \t]+(?={module}(?:\.\w+)*[ \t]+as[ \t])", rf"\g<pre>import {PACKAGE}.", new)
    if re.search(rf"{_STATEMENT}import[ \t]+{module}\.\w", new.replace(f"import {PACKAGE}.", "")):
        problems.append(f"{where}: cannot rewrite: `import a.b` inside a string (its uses of `a` would need "
                        f"the package too)")
    return new


def _apply(text: str, edits: list[Edit]) -> str:
    for edit in sorted({(e.start, e.end, e.text) for e in edits}, reverse=True):
        start, end, new = edit
        text = text[:start] + new + text[end:]
    return text


# --- text files -------------------------------------------------------------------------------------


def rewrite_text(text: str, path: Path, ours: set[str]) -> str:
    names = "|".join(sorted(map(re.escape, ours), key=len, reverse=True))
    if not names:
        return text
    module = rf"(?:{names})(?![\w-])"
    # `python -m dialogue.x`, `flask --app app run`
    text = re.sub(rf"(?<![\w-])(-m\s+|--app[ =])(?={module})", rf"\g<1>{PACKAGE}.", text)
    # entry points and application factories: "cli:main", 'app:create_app()'
    text = re.sub(rf"""(["'])(?={module}(?:\.\w+)*:\w+(?:\([^"'\n]*\))?\1)""", rf"\g<1>{PACKAGE}.", text)
    if path.suffix in (".md", ".rst"):
        text = _rewrite_code_blocks(text, module)
    return text


def _rewrite_code_blocks(text: str, module: str) -> str:
    out: list[str] = []
    fenced = False
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            line = re.sub(rf"^(\s*(?:>>> )?from\s+)(?={module})", rf"\g<1>{PACKAGE}.", line)
            line = re.sub(rf"^(\s*(?:>>> )?)import\s+({module})(\s*(?:#.*)?)$", rf"\g<1>from {PACKAGE} import \g<2>\g<3>",
                          line)
            line = re.sub(rf"^(\s*(?:>>> )?import\s+)(?={module}[.\w]*\s+as\s)", rf"\g<1>{PACKAGE}.", line)
        out.append(line)
    return "".join(out)


# --- the tree ---------------------------------------------------------------------------------------


def files(root: Path) -> list[Path]:
    """What git tracks or would track (untracked, not ignored) below ``root``; else every file."""
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                                cwd=root, check=True, capture_output=True).stdout.decode().split("\0")
        paths = [root / p for p in listed if p]
    except (OSError, subprocess.CalledProcessError):
        paths = [p for p in root.rglob("*") if p.is_file()]
    return sorted({p for p in paths if p.is_file() and not SKIPPED_DIRS & set(p.relative_to(root).parts[:-1])})


def _is_text_target(path: Path, root: Path) -> bool:
    rel = path.relative_to(root)
    if path.suffix in (".yml", ".yaml"):
        return rel.parts[0] in YAML_DIRS or (len(rel.parts) == 1 and "compose" in path.name)
    return path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES or path.name.startswith("Dockerfile")


def rewrite_tree(root: Path, *, check: bool = False) -> tuple[list[Path], list[str]]:
    """Rewrite ``root`` in place (or only report with ``check``): (changed files, problems)."""
    info = Tree.read(root)
    changed: list[Path] = []
    problems: list[str] = []
    for path in files(root):
        if path.resolve() == Path(__file__).resolve():
            continue
        if path.suffix == ".py":
            try:
                text = _read_python(path)
            except (SyntaxError, UnicodeDecodeError) as error:
                problems.append(f"{path.relative_to(root)}: cannot read ({error}), left as it is")
                continue
            new = rewrite_python(text, info, str(path.relative_to(root)), problems)
        elif _is_text_target(path, root):
            try:
                with path.open(encoding="utf-8", newline="") as opened:
                    text = opened.read()
            except UnicodeDecodeError:
                continue
            new = rewrite_text(text, path, info.names)
        else:
            continue
        if new != text:
            changed.append(path)
            if not check:
                with path.open("w", encoding="utf-8", newline="") as written:
                    written.write(new)
    return changed, problems


def _read_python(path: Path) -> str:
    with path.open("rb") as raw:
        encoding, _ = tokenize.detect_encoding(raw.readline)
    with path.open(encoding=encoding, newline="") as text:  # keep the line endings as they are
        return text.read()


def sort_imports(paths: Iterable[Path], root: Path) -> str | None:
    """``ruff check --select I --fix`` on ``paths``; None, or why it could not run."""
    python_files = [str(p) for p in paths if p.suffix == ".py"]
    if not python_files:
        return None
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        return "ruff not found: the rewritten imports were not re-sorted (run `ruff check --select I --fix .`)"
    done = subprocess.run([ruff, "check", "--select", "I", "--fix", "--quiet", "--exit-zero", *python_files],
                          cwd=root, capture_output=True, text=True)
    return None if done.returncode == 0 else f"ruff failed: {done.stderr.strip()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the repository root (default: the one holding this script)")
    parser.add_argument("--check", action="store_true", help="only list the files that would change; exit 1 if any")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    changed, problems = rewrite_tree(root, check=args.check)
    if not args.check:
        problem = sort_imports(changed, root)
        if problem:
            problems.append(problem)
    for path in changed:
        print(("would rewrite " if args.check else "rewrote ") + str(path.relative_to(root)))
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(changed)} file(s) {'to rewrite' if args.check else 'rewritten'}, {len(problems)} problem(s)",
          file=sys.stderr)
    return 1 if problems or (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
