"""The widget protocol's data (DESIGN §4): checking what visitors send, shaping what they get.

Pure functions: no sockets, no database. The namespace (``namespace.py``) does the I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from helpdesk.conversations.models import Message
from helpdesk.conversations.text import json_problem, text_problem

MAX_CLIENT_ID_CHARS = 64
MAX_TITLE_CHARS = 200
MAX_ATTACHMENTS = 5
MAX_METADATA_CHARS = 2000
#: the socket.io room of one visitor's conversation (all their tabs)
ROOM_PREFIX = "visitor:"


def room_for(thread_key: str) -> str:
    return ROOM_PREFIX + thread_key


class ProtocolError(ValueError):
    """Input that is refused with an ``error`` event; nothing is stored."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ClientMessage:
    """A checked ``message`` event: text, or a button payload (with its title), or attachments."""

    text: str | None
    payload: str | None = None
    title: str | None = None
    client_id: str | None = None
    attachments: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def stored_payload(self, attachments: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The message payload to store: the button clicked and the files carried."""
        payload: dict[str, Any] = {}
        if self.payload is not None:
            payload["payload"] = self.payload
            payload["title"] = self.title or self.payload
        if attachments:
            payload["attachments"] = attachments
        return payload or None


def client_id_of(data: Any) -> str | None:
    """The ``client_id`` of an event if it is a usable one (to tag error events)."""
    value = data.get("client_id") if isinstance(data, dict) else None
    ok = isinstance(value, str) and 0 < len(value) <= MAX_CLIENT_ID_CHARS and text_problem(value) is None
    return value if ok else None


def parse_message(data: Any, max_chars: int) -> ClientMessage:
    """Check a ``message`` event ``{text | payload (+title), client_id, attachments?, metadata?}``.

    Raises:
        ProtocolError: with the code of the first problem found.
    """
    if not isinstance(data, dict):
        raise ProtocolError("a message must be an object {text, client_id}", code="invalid_message")
    text, payload = data.get("text"), data.get("payload")
    client_id = data.get("client_id")
    if client_id is not None and client_id_of(data) is None:
        raise ProtocolError(f"'client_id' must be a string of 1-{MAX_CLIENT_ID_CHARS} characters",
                            code="invalid_client_id")
    attachments = _attachment_ids(data.get("attachments"))
    for name, value in (("text", text), ("payload", payload)):
        if value is not None and not isinstance(value, str):
            raise ProtocolError(f"'{name}' must be a string", code="invalid_message")
        if isinstance(value, str) and len(value) > max_chars:
            raise ProtocolError(f"the message is longer than {max_chars} characters", code="message_too_long")
        problem = text_problem(value) if isinstance(value, str) else None
        if problem:
            raise ProtocolError(f"'{name}' {problem}", code="invalid_text")
    if payload is not None and not payload.strip():
        raise ProtocolError("'payload' must not be empty", code="empty_message")
    if payload is None and not (text and text.strip()) and not attachments:
        raise ProtocolError("the message is empty", code="empty_message")
    if payload is not None or text is not None and not text.strip():
        text = None
    return ClientMessage(text=text, payload=payload, title=_title(data.get("title")), client_id=client_id,
                         attachments=attachments, metadata=_metadata(data.get("metadata")))


def _attachment_ids(value: Any) -> list[str]:
    if value is None:
        return []
    if (not isinstance(value, list) or len(value) > MAX_ATTACHMENTS
            or not all(isinstance(i, str) and 0 < len(i) <= 64 and not text_problem(i) for i in value)):
        raise ProtocolError(f"'attachments' must be a list of at most {MAX_ATTACHMENTS} attachment ids",
                            code="invalid_attachments")
    return list(dict.fromkeys(value))


def _title(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    problem = text_problem(value)
    if problem:
        raise ProtocolError(f"'title' {problem}", code="invalid_text")
    return value[:MAX_TITLE_CHARS]


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(json.dumps(value, default=str)) > MAX_METADATA_CHARS:
        raise ProtocolError(f"'metadata' must be an object of at most {MAX_METADATA_CHARS} characters of JSON",
                            code="invalid_metadata")
    problem = json_problem(value)
    if problem:
        raise ProtocolError(f"'metadata' {problem}", code="invalid_metadata")
    return value


def parse_typing(data: Any) -> bool:
    """``typing {typing: bool}``; anything else counts as "stopped typing"."""
    return bool(isinstance(data, dict) and data.get("typing") is True)


def _buttons(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        return []
    out = []
    for button in value:
        if isinstance(button, dict) and isinstance(button.get("title"), str):
            payload = button.get("payload")
            out.append({"title": button["title"], "payload": payload if isinstance(payload, str) else button["title"]})
    return out


def _author(value: Any) -> dict[str, str] | None:
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return {"name": value["name"]}
    if isinstance(value, str) and value:
        return {"name": value}
    return None


def _attachments(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    keys = ("id", "name", "content_type", "size")
    return [{k: a.get(k) for k in keys} for a in value if isinstance(a, dict) and isinstance(a.get("id"), str)]


def message_from_row(row: Message) -> dict[str, Any]:
    """The ``message`` event for a stored message."""
    payload = row.payload or {}
    text = row.text
    if text is None and row.role == "customer":
        text = payload.get("title") or payload.get("payload")
    out = {"id": row.id, "seq": row.seq, "conversation_id": row.conversation_id, "role": row.role,
           "text": text, "buttons": _buttons(payload.get("buttons")), "author": _author(row.author),
           "attachments": _attachments(payload.get("attachments")),
           "created_at": row.created_at.isoformat() if row.created_at else None}
    if row.role == "customer" and row.external_id:
        out["client_id"] = row.external_id
    return out


def message_from_event(data: dict[str, Any]) -> dict[str, Any]:
    """The ``message`` event for a bus ``message`` event (as the turn pipeline publishes them)."""
    return {"id": data.get("id"), "seq": data.get("seq"), "conversation_id": data.get("conversation_id"),
            "role": data.get("role"), "text": data.get("text"), "buttons": _buttons(data.get("buttons")),
            "author": _author(data.get("author")), "attachments": _attachments(data.get("attachments")),
            "created_at": data.get("created_at")}


def status_from_event(data: dict[str, Any]) -> dict[str, Any]:
    """The ``status`` event: ``{status, position?, agent?}``."""
    out: dict[str, Any] = {"status": data.get("status")}
    if isinstance(data.get("position"), int):
        out["position"] = data["position"]
    agent = _author(data.get("agent"))
    if agent is not None:
        out["agent"] = agent
    return out


def typing_from_event(data: dict[str, Any]) -> dict[str, Any]:
    """The server's ``typing`` event: ``{typing, role, author?}``."""
    out: dict[str, Any] = {"typing": bool(data.get("typing")), "role": data.get("role") or "agent"}
    author = _author(data.get("author"))
    if author is not None:
        out["author"] = author
    return out


def error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """An ``error`` event (and the ack of a refused message)."""
    return {"code": code, "message": message, **{k: v for k, v in extra.items() if v is not None}}
