"""Delivery status notifications (RFC 3464) and old-style bounces.

A bounce names the recipients that failed, the status and diagnostic, and the Message-ID of
the message that bounced (from the returned message or its headers), so it can be recorded
against the customer whose address failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import HeaderParser

_MAILER_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|bounces?)(\+[^@]*)?@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(r"undeliver|delivery (status notification|failure|has failed)|returned mail|"
                             r"failure notice|mail delivery failed|non[- ]?delivery", re.IGNORECASE)
_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class Bounce:
    """A message telling that one of ours could not be delivered."""

    recipients: tuple[str, ...]
    """Failed addresses, lower-cased."""
    status: str | None
    """The DSN status code (``5.1.1``), when given."""
    action: str | None
    """``failed``, ``delayed``…"""
    diagnostic: str | None
    original_message_id: str | None
    """The Message-ID of the message that bounced, when the bounce carries it."""

    @property
    def permanent(self) -> bool:
        """A hard bounce (5.x.x, or ``failed`` without a status)."""
        if self.status:
            return self.status.startswith("5")
        return self.action in (None, "failed")


def is_mailer_daemon(address: str) -> bool:
    """``mailer-daemon@…``, ``postmaster@…`` and friends."""
    return _MAILER_DAEMON.match(address.strip()) is not None


def find_bounce(msg: Message) -> Bounce | None:
    """The bounce this message is, or ``None`` for an ordinary message."""
    if msg.get_content_type() == "multipart/report":
        report = _dsn(msg)
        if report is not None:
            return report
    sender = " ".join(str(v) for v in msg.get_all("from") or [])
    subject = str(msg.get("subject") or "")
    if _MAILER_DAEMON.search(re.sub(r".*<", "", sender)) and _BOUNCE_SUBJECT.search(subject):
        failed = [a.strip().lower() for a in str(msg.get("x-failed-recipients") or "").split(",") if "@" in a]
        return Bounce(tuple(failed), None, "failed", None, _original_id(msg))
    return None


def _dsn(msg: Message) -> Bounce | None:
    status_part = next((p for p in msg.walk() if p.get_content_type() == "message/delivery-status"), None)
    if status_part is None:
        return None
    blocks = [b for b in status_part.get_payload() if isinstance(b, Message)] if status_part.is_multipart() else []
    recipients, status, action, diagnostic = [], None, None, None
    for block in blocks:
        final = str(block.get("final-recipient") or block.get("original-recipient") or "")
        if final:
            address = final.split(";", 1)[-1].strip().strip("<>").lower()
            if "@" in address and address not in recipients:
                recipients.append(address)
            status = status or _clean(block.get("status"))
            action = action or (_clean(block.get("action")) or "").lower() or None
            diagnostic = diagnostic or _clean(block.get("diagnostic-code"))
    if not recipients and not status:
        return None
    return Bounce(tuple(recipients), status, action, diagnostic, _original_id(msg))


def _clean(value: object) -> str | None:
    text = " ".join(str(value).split()) if value is not None else ""
    return text[:500] or None


def _original_id(msg: Message) -> str | None:
    for part in msg.walk():
        kind = part.get_content_type()
        headers: Message | None = None
        if kind == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            headers = inner if isinstance(inner, Message) else None
        elif kind == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                headers = HeaderParser(policy=policy.compat32).parsestr(raw.decode("utf-8", "replace"))
        if headers is not None:
            found = _MSGID.search(str(headers.get("message-id") or ""))
            if found:
                return found.group(0)
    return None
