"""Checks that a text (or a JSON value) can be stored in every database we support.

PostgreSQL refuses NUL characters in text and JSON; no database can store a lone surrogate
(``"\\ud800"``, which JSON's ``\\u`` escapes can produce). Connectors check what customers send
with :func:`text_problem` / :func:`json_problem` and refuse it with a clear error before storing.
"""

from __future__ import annotations

import json
from typing import Any

#: Unicode bidirectional controls: embeddings, overrides, isolates (U+202A–U+202E, U+2066–U+2069)
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_STRIP_BIDI = {ord(c): None for c in BIDI_CONTROLS}


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored (None when it can)."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return None


def json_problem(value: Any) -> str | None:
    """Why the JSON value ``value`` cannot be stored (None when it can)."""
    try:
        dumped = json.dumps(value, default=str)
    except (ValueError, RecursionError):
        return "is not a JSON value that can be stored"
    if "\\u0000" in dumped:
        return "contains a NUL character"
    try:
        dumped.encode("utf-8")
    except UnicodeEncodeError:  # pragma: no cover - json.dumps escapes them
        return "is not valid Unicode (a lone surrogate)"
    if "\\ud8" in dumped.lower() or "\\udc" in dumped.lower():
        return _surrogate_problem(value)
    return None


def _surrogate_problem(value: Any) -> str | None:
    try:
        json.dumps(value, default=str, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return None


def strip_bidi(text: str) -> str:
    """``text`` without bidirectional controls, so it cannot reorder the text around it."""
    return text.translate(_STRIP_BIDI)
