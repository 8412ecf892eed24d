"""What operators see of the helpdesk: Prometheus metrics (one registry served at ``GET /metrics``),
the log format (text or one JSON object per line) and the readiness checks of ``GET /readyz``."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from helpdesk.llm.client import LLMCall

__all__ = ["CONTENT_TYPE_LATEST", "JsonFormatter", "Metrics", "Readiness", "configure_logging"]


@dataclass
class Metrics:
    """The metric objects; one instance per app (tests build several apps in one process)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.messages_in = Counter("helpdesk_messages_received", "Customer messages stored", ["channel"], registry=r)
        self.turns = Counter("helpdesk_turns", "Bot turns run", ["channel"], registry=r)
        self.turn_seconds = Histogram("helpdesk_turn_seconds", "Time to run one bot turn (engine only)",
                                      buckets=(0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10), registry=r)
        self.handoffs = Counter("helpdesk_handoffs", "Conversations handed over to people", ["reason", "channel"],
                                registry=r)
        waits = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600)
        self.handoff_wait_seconds = Histogram("helpdesk_handoff_wait_seconds",
                                              "From the handoff to the first agent joining", buckets=waits, registry=r)
        self.first_response_seconds = Histogram("helpdesk_first_response_seconds",
                                                "From the handoff to the first agent reply", buckets=waits, registry=r)
        self.escalations = Counter("helpdesk_handoff_escalations", "Queued conversations escalated past the SLA",
                                   registry=r)

        self.llm_calls = Counter("helpdesk_llm_calls", "LLM calls by purpose and outcome",
                                 ["purpose", "outcome"], registry=r)
        self.llm_seconds = Histogram("helpdesk_llm_latency_seconds", "Time of one LLM call, retries included",
                                     ["purpose"], buckets=(0.25, 0.5, 1, 1.5, 2, 3, 5, 7.5, 10, 20), registry=r)
        self.llm_tokens = Counter("helpdesk_llm_tokens", "LLM tokens (kind: input, output, cache_read, cache_write)",
                                  ["purpose", "kind"], registry=r)
        self.llm_cost = Counter("helpdesk_llm_cost_usd", "Estimated LLM cost in USD", ["purpose"], registry=r)

    def observe_llm(self, call: LLMCall) -> None:
        """Record one LLM call (the observer of ``llm.client.ClaudeClient``)."""
        self.llm_calls.labels(call.purpose, call.outcome).inc()
        self.llm_seconds.labels(call.purpose).observe(call.latency_ms / 1000)
        for kind in ("input", "output", "cache_read", "cache_write"):
            self.llm_tokens.labels(call.purpose, kind).inc(getattr(call, f"{kind}_tokens"))
        self.llm_cost.labels(call.purpose).inc(call.cost_usd)

    def render(self) -> bytes:
        return generate_latest(self.registry)


# --- logs ----------------------------------------------------------------------------------------

#: attributes every LogRecord has; anything else on a record came from ``extra=`` or the context
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, then the record's
    ``extra=`` fields and its conversation's (``conversation_id``, ``channel``), then ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message key=value …`` (the ``extra=`` and conversation fields)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        if not extras:
            return line
        head, newline, rest = line.partition("\n")  # a traceback stays below the fields
        fields = " ".join(f"{key}={value}" for key, value in extras.items())
        return f"{head} {fields}{newline}{rest}"


class ContextFilter(logging.Filter):
    """Adds the fields ``context()`` returns (the conversation being worked on) to each record that
    does not carry them already."""

    def __init__(self, context: Callable[[], dict[str, object]]) -> None:
        super().__init__()
        self._context = context

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self._context().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def log_formatter(log_format: str) -> logging.Formatter:
    """The formatter of HELPDESK_LOG_FORMAT (``text`` or ``json``)."""
    return JsonFormatter() if log_format == "json" else TextFormatter()


def log_handler(log_format: str, context: Callable[[], dict[str, object]] | None = None,
                stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing to ``stream`` (stderr) in ``log_format``, with the ``context`` fields."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(log_formatter(log_format))
    if context is not None:
        handler.addFilter(ContextFilter(context))
    handler.helpdesk = True  # type: ignore[attr-defined]
    return handler


def configure_logging(level: str, log_format: str,
                      context: Callable[[], dict[str, object]] | None = None) -> logging.Handler | None:
    """Log every record of ``level`` and above to stderr in ``log_format``. Like ``logging.basicConfig``
    it leaves logging alone when someone else configured the root logger (a host application, a
    test runner); it replaces its own handler from an earlier call. Returns the handler installed."""
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if getattr(handler, "helpdesk", False)]
    if len(ours) < len(root.handlers):
        return None
    for handler in ours:
        root.removeHandler(handler)
    handler = log_handler(log_format, context)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


# --- readiness -----------------------------------------------------------------------------------

#: a readiness check: raises when its dependency is not usable; may return details to show
Check = Callable[[], "dict[str, object] | None"]


class Readiness:
    """``GET /readyz``: named checks run at once, each in a daemon thread, and answered within
    ``timeout`` seconds whatever they do (a check that does not answer in time has failed). At most
    ``most_waiting`` checks may still be running from earlier probes (a database that hangs): beyond
    that a check fails at once instead of starting another thread."""

    def __init__(self, checks: dict[str, Check], *, timeout: float = 2.0, most_waiting: int = 8) -> None:
        self.checks = checks
        self.timeout = timeout
        self.stopping = False
        self._slots = threading.BoundedSemaphore(most_waiting)

    def run(self) -> tuple[bool, dict[str, dict[str, object]]]:
        """(ready, each check's ``{"status": "ok", …details}`` or ``{"status": "failed", "error": …}``)."""
        started = {name: self._start(check) for name, check in self.checks.items()}
        deadline = time.monotonic() + self.timeout
        results: dict[str, dict[str, object]] = {}
        for name, (done, outcome) in started.items():
            if done.wait(max(0.0, deadline - time.monotonic())):
                results[name] = outcome
            else:
                results[name] = {"status": "failed", "error": f"no answer within {self.timeout:g} s"}
        if self.stopping:
            results["process"] = {"status": "failed", "error": "stopping (SIGTERM): finishing the turns in flight"}
        return all(r["status"] == "ok" for r in results.values()), results

    def _start(self, check: Check) -> tuple[threading.Event, dict[str, object]]:
        done, outcome = threading.Event(), dict[str, object]()
        if not self._slots.acquire(blocking=False):
            outcome.update(status="failed", error="earlier checks have not answered yet")
            done.set()
            return done, outcome

        def run() -> None:
            try:
                details = check() or {}
                outcome.update(status="ok", **details)
            except Exception as exc:  # noqa: BLE001 - the failure is the answer
                first_line = (str(exc) or type(exc).__name__).splitlines()[0]
                outcome.update(status="failed", error=first_line[:300])
            finally:
                self._slots.release()
                done.set()

        threading.Thread(target=run, name="readyz-check", daemon=True).start()
        return done, outcome
