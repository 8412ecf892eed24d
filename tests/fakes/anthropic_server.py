"""A loopback stand-in for the Anthropic Messages API that the real ``anthropic`` SDK talks to.

It is a real HTTP server on 127.0.0.1 (``ThreadingHTTPServer`` on a free port): point the SDK at
it with ``base_url=server.url`` (or ``ANTHROPIC_BASE_URL``). Every request is recorded
(:attr:`FakeAnthropic.requests`); replies are scripted, first in first out, with
:meth:`FakeAnthropic.script`, and a default ``responder`` answers when the script is empty::

    with FakeAnthropic() as server:
        server.script(tool_use({"commands": [{"command": "start flow", "flow": "x"}]}),
                      rate_limited(retry_after=30), status(500), slow(5.0, tool_use({...})),
                      garbage(b"<html>oops"), text_reply("Hello!"))

Usage figures imitate prompt caching: the prefix up to the request's last ``cache_control``
marker (tools, then system blocks) counts as ``cache_creation_input_tokens`` the first time the
server sees it and as ``cache_read_input_tokens`` afterwards; tokens are estimated as chars / 4.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MESSAGES_PATH = "/v1/messages"


@dataclass
class Reply:
    """One scripted answer: a status, headers and a body (JSON or raw bytes), maybe late."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    #: seconds to wait before answering (cut short when the server stops)
    delay: float = 0.0
    #: send ``body`` as these bytes instead of JSON
    raw: bytes | None = None


@dataclass
class Recorded:
    """A request as the server received it."""

    path: str
    headers: dict[str, str]
    body: Any


def tool_use(tool_input: Any, *, name: str | None = None, stop_reason: str = "tool_use") -> Reply:
    """A message whose content is one tool_use block (``name``: the tool the request forced)."""
    return Reply(body={"__tool_use__": tool_input, "name": name, "stop_reason": stop_reason})


def text_reply(text: str) -> Reply:
    """A message with one text block."""
    return Reply(body={"__text__": text})


def status(code: int, *, error_type: str = "api_error", message: str = "scripted failure",
           headers: dict[str, str] | None = None) -> Reply:
    """An API error in the Messages API's error shape."""
    return Reply(status=code, headers=dict(headers or {}),
                 body={"type": "error", "error": {"type": error_type, "message": message}})


def rate_limited(*, retry_after: float | None = None, retry_after_ms: int | None = None) -> Reply:
    """A 429 with ``retry-after`` (seconds) and/or ``retry-after-ms``."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    return status(429, error_type="rate_limit_error", message="rate limited", headers=headers)


def overloaded() -> Reply:
    return status(529, error_type="overloaded_error", message="overloaded")


def slow(seconds: float, then: Reply | None = None) -> Reply:
    """``then`` (default: an empty tool call), sent only after ``seconds``."""
    reply = then or tool_use({"commands": []})
    return Reply(status=reply.status, body=reply.body, headers=reply.headers, delay=seconds, raw=reply.raw)


def garbage(data: bytes = b"\x00not json{", *, code: int = 200) -> Reply:
    """A body that is not JSON at all."""
    return Reply(status=code, raw=data, headers={"content-type": "application/json"})


class FakeAnthropic:
    """The server; use as a context manager (starts on enter, stops on exit)."""

    def __init__(self, responder: Callable[[Recorded], Reply] | None = None) -> None:
        self.requests: list[Recorded] = []
        self.responder = responder or (lambda _request: tool_use({"commands": []}))
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._seen_prefixes: set[str] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> FakeAnthropic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def script(self, *replies: Reply) -> None:
        """Queue replies; each request takes the next one."""
        with self._lock:
            self._script.extend(replies)

    def message_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(MESSAGES_PATH)]

    # --- answering -----------------------------------------------------------------------
    def _next(self, request: Recorded) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.pop(0)
        return self.responder(request)

    def _render(self, reply: Reply, request: Recorded) -> tuple[int, dict[str, str], bytes]:
        headers = {"content-type": "application/json", "request-id": f"req_{uuid.uuid4().hex[:12]}",
                   **reply.headers}
        if reply.raw is not None:
            return reply.status, headers, reply.raw
        body = reply.body
        if isinstance(body, dict) and ("__tool_use__" in body or "__text__" in body):
            body = self._message(body, request)
        return reply.status, headers, json.dumps(body).encode()

    def _message(self, spec: dict[str, Any], request: Recorded) -> dict[str, Any]:
        payload = request.body if isinstance(request.body, dict) else {}
        if "__text__" in spec:
            content = [{"type": "text", "text": spec["__text__"]}]
            stop = "end_turn"
        else:
            name = spec.get("name") or ((payload.get("tool_choice") or {}).get("name")) or "tool"
            content = [{"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:16]}", "name": name,
                        "input": spec["__tool_use__"]}]
            stop = spec.get("stop_reason", "tool_use")
        return {"id": f"msg_{uuid.uuid4().hex[:16]}", "type": "message", "role": "assistant",
                "model": payload.get("model", "claude-fake"), "content": content, "stop_reason": stop,
                "stop_sequence": None, "usage": self._usage(payload, content)}

    def _usage(self, payload: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, int]:
        prefix, rest = cached_prefix(payload)
        total = _tokens(json.dumps(payload.get("tools") or []) + json.dumps(payload.get("system") or "")
                        + json.dumps(payload.get("messages") or []))
        cached = _tokens(prefix) if prefix else 0
        with self._lock:
            hit = bool(prefix) and prefix in self._seen_prefixes
            if prefix:
                self._seen_prefixes.add(prefix)
        return {"input_tokens": max(1, total - cached), "output_tokens": max(1, _tokens(json.dumps(content))),
                "cache_creation_input_tokens": 0 if hit else cached,
                "cache_read_input_tokens": cached if hit else 0}


def cached_prefix(payload: dict[str, Any]) -> tuple[str, str]:
    """The request's text up to (and including) its last ``cache_control`` block, and the rest."""
    blocks: list[tuple[str, bool]] = []
    for tool in payload.get("tools") or []:
        blocks.append((json.dumps(tool, sort_keys=True), "cache_control" in tool))
    system = payload.get("system") or []
    for block in [{"text": system}] if isinstance(system, str) else system:
        blocks.append((json.dumps(block, sort_keys=True), "cache_control" in block))
    last = max((i for i, (_, marked) in enumerate(blocks) if marked), default=-1)
    prefix = "".join(text for text, _ in blocks[: last + 1])
    return prefix, "".join(text for text, _ in blocks[last + 1:])


def _tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _handler(server: FakeAnthropic) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw or b"null")
            except ValueError:
                body = raw.decode("utf-8", "replace")
            request = Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            reply = server._next(request)
            if reply.delay and server._stopping.wait(reply.delay):
                return
            code, headers, data = server._render(reply, request)
            try:
                self.send_response(code)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up waiting (a timeout test): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            return None

    return Handler
