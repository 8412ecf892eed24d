"""Sending to Slack: the real ``slack_sdk.WebClient``, paced per channel, retried the SDK's way.

* ``HELPDESK_SLACK_API_URL`` is the client's ``base_url`` (tests point it at a loopback server).
* Retries use the SDK's retry handlers: connection errors and 5xx (``ServerErrorRetryHandler``,
  exponential backoff with jitter) and 429 (``RateLimitErrorRetryHandler``, which sleeps the
  ``Retry-After`` seconds) — but only while the wait is short (``max_inline_wait``): a longer
  ``Retry-After`` raises :class:`SlackDeliveryError` with ``retry_after`` so the outbox, not a
  sleeping thread, tries again at the time Slack asked for.
* Slack allows about one message per second per channel (``chat.postMessage``, "special" tier):
  :class:`Pacer` spaces the messages of one channel, never holding other channels back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

#: errors that no retry can fix (the outbox still records them; the log says what to change)
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "missing_scope", "msg_too_long", "invalid_blocks", "no_text", "restricted_action",
})


class SlackDeliveryError(RuntimeError):
    """Slack did not take the message; ``retry_after`` (seconds) tells the outbox when to retry."""

    def __init__(self, message: str, *, retry_after: float | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.error = error

    @property
    def permanent(self) -> bool:
        return self.error in PERMANENT_ERRORS


def retry_after_of(headers: dict[str, Any] | None) -> float | None:
    """The ``Retry-After`` seconds of a response's headers (any case), or None."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            value = value[0] if isinstance(value, list) and value else value
            try:
                return max(float(value), 0.0)
            except (TypeError, ValueError):
                return None
    return None


class ShortRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """The SDK's 429 handler, limited to waits of at most ``max_wait`` seconds."""

    def __init__(self, max_retry_count: int = 1, max_wait: float = 5.0) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after_of(dict(response.headers))
        return wait is None or wait <= self.max_wait


def retry_handlers(*, max_inline_wait: float = 5.0, server_retries: int = 2,
                   backoff: float = 0.5) -> list[RetryHandler]:
    """The handlers every client of ours uses (see the module docstring)."""
    calculator = BackoffRetryIntervalCalculator(backoff_factor=backoff)
    return [ConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=calculator),
            ShortRateLimitRetryHandler(max_retry_count=1, max_wait=max_inline_wait),
            ServerErrorRetryHandler(max_retry_count=server_retries, interval_calculator=calculator)]


def build_client(token: str, base_url: str, *, max_inline_wait: float = 5.0, timeout: int = 15,
                 backoff: float = 0.5) -> WebClient:
    """The bot's ``WebClient`` against ``base_url`` with our retry handlers."""
    url = base_url if base_url.endswith("/") else base_url + "/"
    return WebClient(token=token, base_url=url, timeout=timeout,
                     retry_handlers=retry_handlers(max_inline_wait=max_inline_wait, backoff=backoff))


class Pacer:
    """At most one message per ``interval`` seconds per channel; callers of other channels
    never wait for each other. Thread-safe: a slot is reserved under the lock, slept outside."""

    def __init__(self, interval: float = 1.0, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = interval
        self._clock, self._sleep = clock, sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, channel: str) -> float:
        """Block until ``channel`` may get its next message; return the seconds waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(channel, now))
            self._next[channel] = slot + self.interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return delay


@dataclass(frozen=True)
class SlackPost:
    """One message to post (or, with ``update_ts``, a message of ours to replace)."""

    channel: str
    text: str
    """mrkdwn (already escaped); the notification text when ``blocks`` are given."""
    thread_ts: str | None = None
    blocks: list[dict[str, Any]] | None = None
    username: str | None = None
    """Shown instead of the app's name (an agent's name); needs ``chat:write.customize``."""
    icon_url: str | None = None
    update_ts: str | None = None
    metadata: dict[str, Any] | None = None
    """Slack message metadata (``event_type``, ``event_payload``): which helpdesk message this is."""


class SlackSender:
    """Posts :class:`SlackPost` messages; raises :class:`SlackDeliveryError` when Slack refuses."""

    def __init__(self, client: WebClient, pacer: Pacer | None = None) -> None:
        self.client = client
        self.pacer = pacer or Pacer()

    def send(self, post: SlackPost) -> str:
        """Post (or update) the message; return its ts."""
        self.pacer.wait(post.channel)
        args: dict[str, Any] = {"channel": post.channel, "text": post.text}
        if post.blocks is not None:
            args["blocks"] = post.blocks
        try:
            if post.update_ts:
                response = self.client.chat_update(ts=post.update_ts, **args)
            else:
                extra: dict[str, Any] = {k: v for k, v in (("thread_ts", post.thread_ts), ("username", post.username),
                                           ("icon_url", post.icon_url), ("metadata", post.metadata)) if v}
                response = self.client.chat_postMessage(**args, **extra)
        except SlackApiError as exc:
            raise _delivery_error(exc) from exc
        return str(response.get("ts") or post.update_ts or "")


def _delivery_error(exc: SlackApiError) -> SlackDeliveryError:
    response = exc.response
    status = getattr(response, "status_code", None)
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    error = str(data.get("error") or f"http_{status}")
    retry_after = retry_after_of(getattr(response, "headers", None)) if status == 429 else None
    return SlackDeliveryError(f"Slack refused the message: {error} (HTTP {status})", retry_after=retry_after,
                              error=error)
