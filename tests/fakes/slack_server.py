"""A loopback stand-in for the Slack Web API that the real ``slack_sdk.WebClient`` talks to.

A real HTTP server on 127.0.0.1 (``ThreadingHTTPServer``, free port): give the client
``base_url=server.api_url`` (or ``HELPDESK_SLACK_API_URL``). Every call is recorded
(:attr:`FakeSlack.calls`, with its arrival time); replies come from a small model of a
workspace (users, channels and their members, posted messages, files) unless a scripted
failure is queued for the method with :meth:`FakeSlack.fail`::

    with FakeSlack(token="xoxb-test") as slack:
        slack.add_user("U1", "Ada", team="T_CUSTOMER", email="ada@example.com")
        slack.add_channel("C1", shared=True, members=["U1"])
        slack.fail("chat.postMessage", 429, retry_after=2)   # next call: 429 Retry-After: 2
        slack.fail("chat.postMessage", 500, times=2)         # then two 500s
        ...
        slack.posted("C1")  # the messages chat.postMessage took, in order

Methods: auth.test, chat.postMessage, chat.update, users.info, conversations.info,
conversations.members, conversations.replies, bots.info, apps.connections.open, and file
downloads (``GET /files/<id>/<name>``, bot token required) for ``url_private_download``.
Responses carry ``x-oauth-scopes`` as Slack's do. Unknown methods answer ``unknown_method``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

DEFAULT_SCOPES = ("app_mentions:read,channels:history,channels:read,chat:write,chat:write.customize,"
                  "files:read,groups:history,groups:read,im:history,im:read,im:write,mpim:history,"
                  "reactions:read,users:read,users:read.email")


@dataclass
class Call:
    """One request as the server received it."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float
    """``time.monotonic()`` on arrival."""
    status: int = 200


@dataclass
class _Failure:
    status: int
    retry_after: float | None = None
    error: str | None = None
    body: bytes | None = None


@dataclass
class Workspace:
    team_id: str = "T_OURS"
    team: str = "Our Company"
    bot_user_id: str = "U_BOT"
    bot_id: str = "B_BOT"
    app_id: str = "A_APP"
    scopes: str = DEFAULT_SCOPES
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)


class FakeSlack:
    """The server; a context manager (starts on enter, stops on exit)."""

    def __init__(self, token: str = "xoxb-test-token", *, app_token: str = "xapp-test-token",
                 socket_url: str | None = None) -> None:
        self.token = token
        self.app_token = app_token
        self.socket_url = socket_url
        self.workspace = Workspace()
        self.calls: list[Call] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def api_url(self) -> str:
        """What ``WebClient(base_url=...)`` / HELPDESK_SLACK_API_URL takes."""
        return f"{self.url}/api/"

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- the workspace -------------------------------------------------------------------
    def add_user(self, user_id: str, name: str, *, team: str | None = None, email: str | None = None,
                 image: str | None = None, is_bot: bool = False) -> None:
        profile = {"display_name": name, "real_name": name, "email": email,
                   "image_192": image or f"{self.url}/avatars/{user_id}.png"}
        self.workspace.users[user_id] = {"id": user_id, "name": name.lower().replace(" ", "."), "real_name": name,
                                         "team_id": team or self.workspace.team_id, "is_bot": is_bot,
                                         "profile": profile}

    def add_channel(self, channel_id: str, *, name: str | None = None, shared: bool = False,
                    members: list[str] | None = None, is_member: bool = True) -> None:
        self.workspace.channels[channel_id] = {
            "id": channel_id, "name": name or channel_id.lower(), "is_channel": True,
            "is_ext_shared": shared, "is_shared": shared, "is_member": is_member,
            "members": list(members or [])}

    def add_file(self, file_id: str, name: str, data: bytes, mimetype: str) -> dict[str, Any]:
        """A file as a ``files`` entry of a message event describes it."""
        self.workspace.files[file_id] = (data, mimetype)
        url = f"{self.url}/files/{file_id}/{name}"
        return {"id": file_id, "name": name, "title": name, "mimetype": mimetype, "size": len(data),
                "url_private": url, "url_private_download": url + "?download=1", "mode": "hosted"}

    def fail(self, method: str, status: int, *, retry_after: float | None = None, times: int = 1,
             error: str | None = None, body: bytes | None = None) -> None:
        """The next ``times`` calls of ``method`` answer ``status`` (429 with ``Retry-After``,
        5xx, or 200 with ``{"ok": false, "error": error}``)."""
        with self._lock:
            queue = self._failures.setdefault(method, [])
            queue.extend(_Failure(status, retry_after, error, body) for _ in range(times))

    # --- what happened -------------------------------------------------------------------
    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages posted with chat.postMessage (updated in place by chat.update), in order."""
        with self._lock:
            return [dict(m) for m in self.workspace.messages if channel is None or m["channel"] == channel]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Wait until ``method`` was answered successfully ``count`` times; return those calls."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = [c for c in self.calls_of(method) if c.status == 200]
            if len(ok) >= count:
                return ok
            time.sleep(0.02)
        raise AssertionError(f"{method} answered {len(self.calls_of(method))} time(s), wanted {count}: "
                             f"{[c.params for c in self.calls_of(method)]}")

    # --- the API -------------------------------------------------------------------------
    def answer(self, method: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        call = Call(method, params, headers, time.monotonic())
        with self._lock:
            self.calls.append(call)
            queue = self._failures.get(method) or []
            failure = queue.pop(0) if queue else None
        if failure is not None:
            call.status = failure.status
            return self._failure(failure)
        token = self.app_token if method == "apps.connections.open" else self.token
        if headers.get("authorization") != f"Bearer {token}":
            return self._json({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return self._json({"ok": False, "error": "unknown_method"})
        with self._lock:
            return self._json(handler(params))

    def _failure(self, failure: _Failure) -> tuple[int, dict[str, str], bytes]:
        headers = {"content-type": "application/json"}
        if failure.retry_after is not None:
            headers["Retry-After"] = f"{failure.retry_after:g}"
        body = failure.body if failure.body is not None else json.dumps(
            {"ok": False, "error": failure.error or ("ratelimited" if failure.status == 429 else "fatal_error")}
        ).encode()
        return failure.status, headers, body

    def _json(self, data: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        headers = {"content-type": "application/json; charset=utf-8", "x-oauth-scopes": self.workspace.scopes}
        return 200, headers, json.dumps(data).encode()

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        ws = self.workspace
        return {"ok": True, "url": f"{self.url}/", "team": ws.team, "user": "helpdesk", "team_id": ws.team_id,
                "user_id": ws.bot_user_id, "bot_id": ws.bot_id, "is_enterprise_install": False}

    def _m_bots_info(self, params: dict[str, Any]) -> dict[str, Any]:
        ws = self.workspace
        return {"ok": True, "bot": {"id": ws.bot_id, "app_id": ws.app_id, "user_id": ws.bot_user_id,
                                    "name": "helpdesk", "deleted": False}}

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if channel not in self.workspace.channels and not str(channel).startswith("D"):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        message = {"channel": channel, "ts": ts, **{k: v for k, v in params.items() if k != "channel"}}
        self.workspace.messages.append(message)
        return {"ok": True, "channel": channel, "ts": ts,
                "message": {"text": params.get("text"), "ts": ts, "bot_id": self.workspace.bot_id}}

    def _m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        for message in self.workspace.messages:
            if message["channel"] == params.get("channel") and message["ts"] == params.get("ts"):
                message.update({k: v for k, v in params.items() if k not in ("channel", "ts")})
                return {"ok": True, "channel": message["channel"], "ts": message["ts"], "text": params.get("text")}
        return {"ok": False, "error": "message_not_found"}

    def _m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.workspace.users.get(str(params.get("user")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _m_users_getPresence(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - Slack's method name
        user = self.workspace.users.get(str(params.get("user")))
        if not user:
            return {"ok": False, "error": "user_not_found"}
        presence = user.get("presence", "active")
        return {"ok": True, "presence": presence, "online": presence == "active"}

    def _m_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.workspace.channels.get(str(params.get("channel")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": {k: v for k, v in channel.items() if k != "members"}}

    def _m_conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.workspace.channels.get(str(params.get("channel")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        members, limit = channel["members"], int(params.get("limit") or 100)
        start = int(params.get("cursor") or 0)
        page, rest = members[start:start + limit], members[start + limit:]
        return {"ok": True, "members": page,
                "response_metadata": {"next_cursor": str(start + limit) if rest else ""}}

    def _m_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        ts = params.get("ts")
        found = [m for m in self.workspace.messages
                 if m["channel"] == params.get("channel") and ts in (m["ts"], m.get("thread_ts"))]
        return {"ok": True, "messages": found, "has_more": False}

    def _m_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not self.socket_url:
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": True, "url": self.socket_url}

    def file(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        parts = path.strip("/").split("/")
        self.calls.append(Call("files.download", {"path": path}, headers, time.monotonic()))
        if headers.get("authorization") != f"Bearer {self.token}":
            # Slack answers an HTML login page, not the file, without the token
            return 200, {"content-type": "text/html"}, b"<html>sign in</html>"
        if len(parts) < 3 or parts[1] not in self.workspace.files:
            return 404, {"content-type": "text/plain"}, b"not found"
        data, mimetype = self.workspace.files[parts[1]]
        return 200, {"content-type": mimetype}, data


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _headers(self) -> dict[str, str]:
            return {k.lower(): v for k, v in self.headers.items()}

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            if url.path.startswith("/files/"):
                self._send(*fake.file(url.path, self._headers()))
                return
            self._send(*fake.answer(url.path.removeprefix("/api/"), dict(parse_qsl(url.query)), self._headers()))

        def do_POST(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            params: dict[str, Any] = dict(parse_qsl(url.query))
            if "json" in (self.headers.get("content-type") or ""):
                params.update(json.loads(raw or b"{}"))
            else:
                params.update(parse_qsl(raw.decode()))
            for key in ("blocks", "attachments"):  # form-encoded JSON arguments
                if isinstance(params.get(key), str):
                    params[key] = json.loads(params[key])
            self._send(*fake.answer(url.path.removeprefix("/api/"), params, self._headers()))

    return Handler
