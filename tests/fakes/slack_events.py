"""Signed Slack requests built from the documented payloads in ``tests/fixtures/slack``.

``signed(secret, body)`` gives the headers Slack sends (``X-Slack-Request-Timestamp``,
``X-Slack-Signature: v0=HMAC-SHA256(secret, "v0:<ts>:<body>")``); the signature is computed
here by hand, independently of ``slack_sdk``, so the verification is tested against the spec.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of ``tests/fixtures/slack/<name>.json``."""
    return copy.deepcopy(json.loads((FIXTURES / f"{name}.json").read_text()))


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def signed(secret: str, body: bytes, *, timestamp: float | None = None, retry: int | None = None,
           content_type: str = "application/json") -> dict[str, str]:
    """The headers of a request Slack signed at ``timestamp`` (default: now)."""
    stamp = str(int(time.time() if timestamp is None else timestamp))
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp,
               "X-Slack-Signature": signature(secret, stamp, body)}
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def event_body(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def interaction_body(payload: dict[str, Any]) -> bytes:
    """An interactivity request body: form-encoded, the JSON in ``payload``."""
    return urlencode({"payload": json.dumps(payload)}).encode()
