"""Calling Claude through the official ``anthropic`` SDK, within a total time budget.

The SDK does the retrying (429, 5xx, timeouts, with ``retry-after``); a middleware keeps the
retries inside the budget: every attempt gets the time that is left as its timeout, and a retry
whose wait (``retry-after`` or back-off) would overrun the budget is not attempted. Every call,
successful or not, is measured (:class:`LLMCall`: latency, tokens, cached tokens, cost) and
handed to the observer (metrics); callers also log it as an ``llm_call`` dialogue event.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from helpdesk.llm import gate

if TYPE_CHECKING:  # imported when a client is built: ~50 MB and seconds that a deployment without a key never needs
    pass

log = logging.getLogger(__name__)

#: USD per million tokens (input, output) by model-name prefix, longest prefix first; an
#: unknown model is priced like Sonnet. Cache writes cost 1.25x input (5-minute TTL), reads 0.1x.
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-0": (15.0, 75.0), "claude-opus-4-1": (15.0, 75.0), "claude-opus-4-2": (15.0, 75.0),
    "claude-4-opus": (15.0, 75.0), "claude-opus": (5.0, 25.0), "claude-sonnet": (3.0, 15.0),
    "claude-3-5-haiku": (0.8, 4.0), "claude-haiku-3": (0.25, 1.25), "claude-haiku": (1.0, 5.0),
}
DEFAULT_PRICE = (3.0, 15.0)
CACHE_WRITE_FACTOR, CACHE_READ_FACTOR = 1.25, 0.1
RETRYABLE_STATUSES = (408, 409, 429)
#: the SDK's back-off without ``retry-after``: 0.5 s doubling, at most 8 s (anthropic/_constants.py)
BACKOFF_START, BACKOFF_MAX = 0.5, 8.0

_deadline: ContextVar[float | None] = ContextVar("helpdesk_llm_deadline", default=None)


@dataclass(frozen=True)
class Prices:
    """USD per million input and output tokens."""

    input: float
    output: float

    @classmethod
    def for_model(cls, model: str, override: tuple[float | None, float | None] = (None, None)) -> Prices:
        table = next((p for k, p in sorted(PRICES.items(), key=lambda kv: -len(kv[0]))
                      if model.startswith(k)), DEFAULT_PRICE)
        return cls(override[0] if override[0] is not None else table[0],
                   override[1] if override[1] is not None else table[1])

    def cost(self, call: LLMCall) -> float:
        tokens = (call.input_tokens * self.input + call.cache_write_tokens * self.input * CACHE_WRITE_FACTOR
                  + call.cache_read_tokens * self.input * CACHE_READ_FACTOR + call.output_tokens * self.output)
        return round(tokens / 1_000_000, 8)


@dataclass
class LLMCall:
    """What one call cost: the figures of the event log and of ``/metrics``."""

    purpose: str
    model: str
    latency_ms: float = 0.0
    #: uncached input tokens; cached ones are counted apart
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    #: ok | timeout | rate_limited | api_error | connection_error | malformed_output
    outcome: str = "ok"
    error: str | None = None

    def as_event(self, **extra: Any) -> dict[str, Any]:
        """The ``llm_call`` dialogue event."""
        return {"event": "llm_call", **asdict(self), **extra}


class LLMError(Exception):
    """A call failed (after the SDK's retries, or the budget ran out); ``call`` has the figures."""

    def __init__(self, call: LLMCall) -> None:
        super().__init__(f"{call.outcome}: {call.error}")
        self.call = call


class _BudgetExhausted(Exception):
    def __init__(self, status: int | None, *, timed_out: bool = True) -> None:
        super().__init__(f"LLM time budget used up (last status {status})" if status else "LLM time budget used up")
        self.status, self.timed_out = status, timed_out


class MalformedOutput(ValueError):
    """The model answered, but not in the shape asked for (no tool call, wrong input...)."""


@dataclass
class LLMRequest:
    """The parts of a Messages API request that vary by purpose."""

    system: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    max_tokens: int
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None

    def as_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"system": self.system, "messages": self.messages, "max_tokens": self.max_tokens}
        if self.tools:
            kwargs.update(tools=self.tools, tool_choice=self.tool_choice)
        return kwargs


Observer = Callable[[LLMCall], None]
T = TypeVar("T")


class ClaudeClient:
    """One configured SDK client; thread-safe, shared by understanding and the answerers.

    Args:
        api_key: the Anthropic API key.
        model: the model every call uses.
        base_url: another API endpoint (a proxy, or a loopback fake in tests).
        timeout: total seconds one call may take, retries included.
        max_retries: the SDK's retries (429, 5xx, connection errors, timeouts).
        prices: for the cost estimate; default from :data:`PRICES`.
        observer: called with every :class:`LLMCall` (metrics).
    """

    def __init__(self, api_key: str, model: str, *, base_url: str | None = None, timeout: float = 10.0,
                 max_retries: int = 2, prices: Prices | None = None, observer: Observer | None = None) -> None:
        self.model = model
        self.timeout = timeout
        self.prices = prices or Prices.for_model(model)
        self.observer = observer
        import anthropic

        self._sdk = anthropic.Anthropic(api_key=api_key, base_url=base_url, timeout=timeout,
                                        max_retries=max_retries, middleware=[_Budget(max_retries)])

    def create(self, purpose: str, request: LLMRequest, parse: Callable[[Any], T]) -> tuple[T, LLMCall]:
        """Send one Messages API request and parse the reply; raise LLMError on any failure.

        ``parse`` raises :class:`MalformedOutput` when the reply is not what was asked for."""
        call = LLMCall(purpose=purpose, model=self.model)
        started = time.monotonic()
        token = _deadline.set(started + self.timeout)
        try:
            with gate.waiting():  # the thread's CPU place goes to another turn meanwhile
                message = self._sdk.messages.create(model=self.model, **request.as_kwargs())
        except Exception as exc:  # noqa: BLE001 - every failure becomes an LLMError, never a crash
            call.outcome, call.error = _classify(exc)
            raise self._finish(call, started) from exc
        finally:
            _deadline.reset(token)
        _count(call, getattr(message, "usage", None))
        call.cost_usd = self.prices.cost(call)
        try:
            parsed = parse(message)
        except MalformedOutput as exc:
            call.outcome, call.error = "malformed_output", str(exc)[:300]
            raise self._finish(call, started) from exc
        self._finish(call, started)
        return parsed, call

    def _finish(self, call: LLMCall, started: float) -> LLMError:
        call.latency_ms = round((time.monotonic() - started) * 1000, 1)
        if call.outcome != "ok":
            log.warning("dialogue.llm.failed", extra={"purpose": call.purpose, "outcome": call.outcome,
                                                       "error": call.error, "latency_ms": call.latency_ms})
        self._observe(call)
        return LLMError(call)

    def _observe(self, call: LLMCall) -> None:
        """Report a call to the observer (metrics), whatever its outcome."""
        if self.observer is None:
            return
        try:
            self.observer(call)
        except Exception:  # noqa: BLE001 - metrics never break a conversation
            log.exception("dialogue.llm.observer_failed")


def _count(call: LLMCall, usage: Any) -> None:
    call.input_tokens = _tokens(usage, "input_tokens")
    call.output_tokens = _tokens(usage, "output_tokens")
    call.cache_read_tokens = _tokens(usage, "cache_read_input_tokens")
    call.cache_write_tokens = _tokens(usage, "cache_creation_input_tokens")


def _tokens(usage: Any, name: str) -> int:
    """A usage figure; 0 when the reply has none (or not a number)."""
    try:
        return max(0, int(getattr(usage, name, 0) or 0))
    except (TypeError, ValueError):
        return 0


def _classify(exc: BaseException) -> tuple[str, str]:
    import anthropic

    if isinstance(exc, _BudgetExhausted):
        if exc.status is not None:
            return ("rate_limited" if exc.status == 429 else "api_error"), str(exc)
        return ("timeout" if exc.timed_out else "connection_error"), str(exc)
    if isinstance(exc, anthropic.APITimeoutError):
        return "timeout", "the request timed out"
    if isinstance(exc, anthropic.RateLimitError):
        return "rate_limited", str(exc)[:300]
    if isinstance(exc, anthropic.APIStatusError):
        return "api_error", f"HTTP {exc.status_code}: {str(exc)[:300]}"
    if isinstance(exc, anthropic.APIConnectionError):
        return "connection_error", str(exc)[:300]
    return "api_error", f"{type(exc).__name__}: {str(exc)[:300]}"


class _Budget:
    """Runs inside the SDK's retry loop, once per attempt: keeps attempts and waits in budget
    (a middleware callable of the SDK's, ``(request, call_next) -> response``)."""

    def __init__(self, max_retries: int) -> None:
        self.max_retries = max_retries

    def __call__(self, request: Any, call_next: Any) -> Any:
        import anthropic

        deadline = _deadline.get()
        if deadline is None:
            return call_next(request)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _BudgetExhausted(None)
        retries_left = request.retries_taken < self.max_retries
        try:
            response = call_next(request.copy(timeout=remaining))
        except anthropic.APIConnectionError as exc:
            if retries_left and _wait({}, request.retries_taken) >= deadline - time.monotonic():
                # ``from None``: the SDK retries errors whose cause is retryable
                raise _BudgetExhausted(None, timed_out=isinstance(exc, anthropic.APITimeoutError)) from None
            raise
        http = response.http_response
        if retries_left and _retryable(http) and \
                _wait(http.headers, request.retries_taken) >= deadline - time.monotonic():
            raise _BudgetExhausted(http.status_code)
        return response


def _retryable(http: Any) -> bool:
    flag = http.headers.get("x-should-retry")
    if flag in ("true", "false"):
        return bool(flag == "true")
    return bool(http.status_code in RETRYABLE_STATUSES or http.status_code >= 500)


def _wait(headers: Any, retries_taken: int) -> float:
    """How long the SDK will sleep before the next attempt."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(headers.get(name)) * scale
        except (TypeError, ValueError):
            pass
    parsed = email.utils.parsedate_tz(headers.get("retry-after") or "")
    if parsed is not None:
        return float(email.utils.mktime_tz(parsed) - time.time())
    return min(BACKOFF_START * 2.0 ** retries_taken, BACKOFF_MAX)
