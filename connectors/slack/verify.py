"""Signing-secret verification of every request Slack sends (Events API and interactivity).

``slack_sdk.signature.SignatureVerifier`` does the work (``v0`` HMAC-SHA256 over
``v0:<timestamp>:<raw body>``, constant-time compare, timestamps more than 5 minutes away
refused); this module only says *why* a request was refused, for the 401 body and the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from slack_sdk.signature import Clock, SignatureVerifier

#: Slack's replay window (seconds): older or future timestamps are refused
MAX_AGE = 5 * 60


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class RequestVerifier:
    """Checks Slack's request signature.

    Args:
        signing_secret: the app's signing secret (Basic Information page).
        now: seconds since the epoch (injected by tests).
    """

    def __init__(self, signing_secret: str, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._verifier = SignatureVerifier(signing_secret, clock=_Clock(now))

    def problem(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        """None for an authentic request, else why not: ``missing_headers``, ``bad_timestamp``,
        ``stale_timestamp`` or ``bad_signature``."""
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("x-slack-request-timestamp")
        signature = lowered.get("x-slack-signature")
        if not timestamp or not signature:
            return "missing_headers"
        try:
            stamp = int(timestamp)
        except ValueError:
            return "bad_timestamp"
        if abs(self._now() - stamp) > MAX_AGE:
            return "stale_timestamp"
        try:
            valid = self._verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
        except UnicodeDecodeError:  # the SDK decodes the body as UTF-8 to sign it
            valid = False
        return None if valid else "bad_signature"
