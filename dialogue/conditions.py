"""Conditions in Rasa's predicate syntax (pypred), parsed to an AST and evaluated safely.

Used by flow guards (``if``), ``next`` branches, collect ``rejections`` and ``exit_if``.
Names resolve in the document ``{"slots": slots, "context": context}``; dotted names walk
nested mappings and a missing name is ``UNDEFINED`` (never an error). ``{{ ... }}`` templates
are rendered with :func:`render_template` *before* parsing. No ``eval`` anywhere.
"""

from __future__ import annotations

import functools
import numbers
import operator
import re
from collections.abc import Callable, Collection, Mapping, Sized
from dataclasses import dataclass, field
from typing import Any

from helpdesk.dialogue.conditions_parser import (
    EMPTY,
    UNDEFINED,
    BoolOp,
    Compare,
    ConditionError,
    Contains,
    Literal,
    Matches,
    Name,
    Node,
    Not,
    SetLiteral,
    iter_names,
    parse,
)

__all__ = [
    "EMPTY",
    "UNDEFINED",
    "Condition",
    "ConditionError",
    "ConditionEvaluationError",
    "parse_condition",
    "render_template",
]

NAMESPACES = ("slots", "context")


class ConditionEvaluationError(ValueError):
    """A condition could not be evaluated (e.g. ordering a number against a string)."""


@dataclass(frozen=True)
class Condition:
    """A parsed condition. Construct with :func:`parse_condition` (cached)."""

    source: str
    _ast: Node = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ast", parse(self.source))

    def evaluate(self, slots: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> bool:
        """Evaluate; any evaluation problem gives False (as Rasa does for branches)."""
        try:
            return self.evaluate_strict(slots, context)
        except Exception:  # noqa: BLE001 - by contract this never raises
            return False

    def evaluate_strict(self, slots: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> bool:
        """Evaluate; raises ConditionEvaluationError on evaluation problems (rejections)."""
        document = {"slots": slots, "context": context or {}}
        try:
            return _truth(self._ast, document)
        except Exception as exc:  # normalised into one error type
            raise ConditionEvaluationError(f"cannot evaluate {self.source!r}: {exc}") from exc

    def references(self) -> frozenset[str]:
        """Every dotted name used, e.g. ``{"slots.age", "context.collect"}``."""
        return frozenset(name.dotted for name in iter_names(self._ast))

    def bare_words(self) -> list[str]:
        """Names outside the ``slots.``/``context.`` namespaces (unquoted literals), in order."""
        words = (name.dotted for name in iter_names(self._ast) if not _is_namespaced(name))
        return list(dict.fromkeys(words))


def _is_namespaced(name: Name) -> bool:
    return len(name.path) >= 2 and name.path[0] in NAMESPACES


def parse_condition(source: str | bool) -> Condition:
    """Parse a condition (cached). ``True``/``False`` give constant conditions."""
    if isinstance(source, bool):
        return _parse_cached("true" if source else "false")
    if not isinstance(source, str):
        message = f"a condition must be a string or a boolean, not {type(source).__name__}"
        raise ConditionError(message, 0, str(source))
    return _parse_cached(source)


@functools.lru_cache(maxsize=4096)
def _parse_cached(source: str) -> Condition:
    return Condition(source)


# ----------------------------------------------------------------------------- templates

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)\s*\}\}")


def render_template(text: str, context: Mapping[str, Any]) -> str:
    """Replace ``{{ context.x }}`` / ``{{ slots.y }}`` with the looked-up value (missing -> "").

    Only dotted lookups are supported; anything else between braces is left unchanged.
    """
    if "{{" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        value = _resolve(context, tuple(match.group(1).split(".")))
        return "" if value is UNDEFINED else str(value)

    return _PLACEHOLDER.sub(replace, text)


# ----------------------------------------------------------------------------- evaluation


class _SetValue(tuple[Any, ...]):
    """The value of a set literal ``{"a" "b"}``."""


def _resolve(document: Any, path: tuple[str, ...]) -> Any:
    current = document
    for key in path:
        if not isinstance(current, Mapping) or key not in current:
            return UNDEFINED
        current = current[key]
    return current


def _value(node: Node, document: Mapping[str, Any]) -> Any:
    if isinstance(node, Name):
        return _resolve(document, node.path)
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, SetLiteral):
        return _SetValue(_value(item, document) for item in node.items)
    return _truth(node, document)


def _truth(node: Node, document: Mapping[str, Any]) -> bool:
    if isinstance(node, BoolOp):
        results = (_truth(operand, document) for operand in node.operands)
        return all(results) if node.op == "and" else any(results)
    if isinstance(node, Not):
        return not _truth(node.operand, document)
    if isinstance(node, Compare):
        return _compare(node, document)
    if isinstance(node, Contains):
        return _contains(_value(node.left, document), _value(node.right, document))
    if isinstance(node, Matches):
        subject = _value(node.left, document)
        return isinstance(subject, str) and node.pattern.search(subject) is not None
    return bool(_value(node, document))


_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _compare(node: Compare, document: Mapping[str, Any]) -> bool:
    left, right = _value(node.left, document), _value(node.right, document)
    if node.op not in ("=", "!="):
        return _order(node.op, left, right)
    if _is_undefined_literal(node.left) or _is_undefined_literal(node.right):
        equal = left is UNDEFINED and right is UNDEFINED
    else:
        equal = _equals(left, right)
    return equal if node.op == "=" else not equal


def _is_undefined_literal(node: Node) -> bool:
    return isinstance(node, Literal) and node.value is UNDEFINED


def _is_null(value: Any) -> bool:
    return value is None or value is UNDEFINED


def _is_empty(value: Any) -> bool:
    if _is_null(value) or value is EMPTY:
        return True
    return isinstance(value, Sized) and len(value) == 0


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_collection(value: Any) -> bool:
    return isinstance(value, Collection) and not isinstance(value, (str, bytes))


def _equals(left: Any, right: Any) -> bool:
    if left is EMPTY or right is EMPTY:
        return _is_empty(right if left is EMPTY else left)
    if _is_null(left) or _is_null(right):
        return _is_null(left) and _is_null(right)
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, _SetValue) or isinstance(right, _SetValue):
        return _same_members(left, right)
    return bool(left == right)


def _same_members(left: Any, right: Any) -> bool:
    if not (_is_collection(left) and _is_collection(right)):
        return False
    return all(_member(right, item) for item in left) and all(_member(left, item) for item in right)


def _member(container: Collection[Any], item: Any) -> bool:
    return any(_equals(element, item) for element in container)


def _order(op: str, left: Any, right: Any) -> bool:
    if _is_null(left) or _is_null(right) or left is EMPTY or right is EMPTY:
        return False
    comparable = (_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str))
    if not comparable:
        raise ConditionEvaluationError(f"cannot compare {_type_name(left)} {op} {_type_name(right)}")
    return _ORDERING[op](left, right)


def _contains(container: Any, item: Any) -> bool:
    if _is_null(container) or container is EMPTY:
        return False
    if isinstance(item, _SetValue):
        return all(_contains(container, element) for element in item)
    if isinstance(container, str):
        if isinstance(item, str):
            return item in container
        if _is_null(item):
            return False
        raise ConditionEvaluationError(f"a string cannot contain {_type_name(item)}")
    if _is_collection(container):
        return _member(container, item)
    raise ConditionEvaluationError(f"{_type_name(container)} does not support 'contains'")


def _type_name(value: Any) -> str:
    if value is UNDEFINED or value is EMPTY:
        return repr(value).lower()
    return type(value).__name__
