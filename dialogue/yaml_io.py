"""Reading YAML the way Rasa does: YAML 1.2 rules, with line numbers kept for error messages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an assistant's files, located as precisely as we can."""

    file: str
    line: int | None
    message: str
    flow: str | None = None
    step: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        parts = [where]
        if self.flow:
            parts.append(f"flow '{self.flow}'")
        if self.step:
            parts.append(f"step '{self.step}'")
        return ", ".join(parts) + f": {self.message}"


class AssistantError(Exception):
    """An assistant folder could not be loaded; ``problems`` says why, with file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def read_yaml(path: Path) -> Any:
    """Parse one YAML file with 1.2 rules; raise AssistantError with the line on bad syntax."""
    yaml = YAML(typ="rt")
    try:
        return yaml.load(path.read_text(encoding="utf-8"))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = exc.problem or exc.context or "invalid YAML"
        raise AssistantError([Problem(str(path), line, f"invalid YAML: {reason}")]) from exc
    except YAMLError as exc:
        raise AssistantError([Problem(str(path), None, f"invalid YAML: {exc}")]) from exc
    except UnicodeDecodeError as exc:
        raise AssistantError([Problem(str(path), None, "file is not UTF-8 text")]) from exc


def read_yaml_text(text: str, name: str = "<string>") -> Any:
    """Parse YAML given as a string (tests and inline flows)."""
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise AssistantError([Problem(name, line, f"invalid YAML: {exc.problem or exc.context}")]) from exc


def line_of(node: Any, key: Any = None) -> int | None:
    """1-based line of a mapping key (or of a mapping/sequence itself) in its file."""
    try:
        if key is not None and isinstance(node, CommentedMap):
            return int(node.lc.key(key)[0]) + 1
        if key is not None and isinstance(node, CommentedSeq):
            return int(node.lc.item(key)[0]) + 1
        if isinstance(node, (CommentedMap, CommentedSeq)):
            return int(node.lc.line) + 1
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return None


def plain(node: Any) -> Any:
    """Turn ruamel's round-trip containers and scalars into plain Python values."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node
