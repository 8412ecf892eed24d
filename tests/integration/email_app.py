"""A helpdesk app with the email channel on, talking to real SMTP/IMAP servers, and mail helpers."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from helpdesk.app import create_app
from helpdesk.conversations.models import Conversation, Message, Outbox, utcnow
from tests.e2e.conftest import make_settings

SUPPORT = "support@shop.example"
TOKEN = "inbound-test-token"
T = TypeVar("T")


@contextlib.contextmanager
def email_app(db_url: str, tmp_path: Path, smtp_url: str, **overrides: Any) -> Iterator[Flask]:
    """The helpdesk with the email channel: webhook token set, SMTP at ``smtp_url``, outbox in the web process."""
    settings: dict[str, Any] = dict(
        email_address=SUPPORT, smtp_url=smtp_url, email_inbound_token=TOKEN, email_from_name="Northwind Support",
        timers_in_web=False, log_level="WARNING", knowledge_reload_seconds=0, outbox_interval=0.2)
    app = create_app(make_settings(db_url, tmp_path, **{**settings, **overrides}))
    try:
        yield app
    finally:
        app.extensions["helpdesk"].close()


def mail(sender: str, text: str, *, subject: str = "Where is my order?", to: str = SUPPORT,
         in_reply_to: str | None = None, references: str | None = None, headers: dict[str, str] | None = None,
         message_id: str | None = None) -> bytes:
    """A plain customer message, as a mail client would send it."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id or make_msgid(domain="customer.example")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references or in_reply_to:
        msg["References"] = references or in_reply_to or ""
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    return msg.as_bytes()


def post_mail(client: FlaskClient, raw: bytes, token: str = TOKEN) -> dict[str, Any]:
    response = client.post("/email/inbound", data=raw, headers={"Authorization": f"Bearer {token}",
                                                                 "Content-Type": "message/rfc822"})
    assert response.status_code in (200, 202), response.json
    return response.json  # type: ignore[no-any-return]


def settle(app: Flask) -> None:
    """Wait until every scheduled turn has run."""
    assert app.extensions["helpdesk"].turns.wait_idle(30)


def eventually(check: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g}s")
        time.sleep(0.05)


def messages(app: Flask, conversation_id: int) -> list[Message]:
    with app.extensions["helpdesk"].db.read_session() as session:
        return list(session.scalars(select(Message).where(Message.conversation_id == conversation_id)
                                    .order_by(Message.seq)))


def conversations(app: Flask) -> list[Conversation]:
    with app.extensions["helpdesk"].db.read_session() as session:
        return list(session.scalars(select(Conversation).order_by(Conversation.id)))


def outbox_rows(app: Flask) -> list[Outbox]:
    with app.extensions["helpdesk"].db.read_session() as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))
