"""Loop and noise protection: which inbound messages must never get an automatic reply.

RFC 3834: no automatic answer to ``Auto-Submitted`` other than ``no``, to the null sender, to
bulk and list mail, to mailer daemons and bounces, or to our own address. Auto-replies from
Microsoft Exchange (``X-Auto-Response-Suppress``) and older responders (``X-Autoreply``) count too.
A separate cap limits automatic replies per sender per hour (:func:`over_hourly_cap`).
"""

from __future__ import annotations

from helpdesk.connectors.email.bounces import is_mailer_daemon
from helpdesk.connectors.email.parsing import ParsedEmail
from helpdesk.connectors.email.tokens import SupportAddress

_BULK_PRECEDENCE = ("bulk", "list", "junk", "auto_reply")


def no_reply_reason(mail: ParsedEmail, support: SupportAddress) -> str | None:
    """Why this message must not get an automatic reply, or ``None`` when it may.

    Returns one of ``no_sender``, ``own_address``, ``bounce``, ``mailer_daemon``, ``auto_submitted``,
    ``auto_reply``, ``null_sender``, ``bulk``, ``mailing_list``.
    """
    headers = mail.headers
    if mail.sender is None:
        return "no_sender"
    if support.owns(mail.sender.address):
        return "own_address"
    if mail.bounce is not None:
        return "bounce"
    if is_mailer_daemon(mail.sender.address):
        return "mailer_daemon"
    auto = headers.get("auto-submitted", "").split(";", 1)[0].strip().lower()
    if auto and auto != "no":
        return "auto_submitted"
    if headers.get("x-autoreply") or headers.get("x-autorespond"):
        return "auto_reply"
    if headers.get("return-path", "").strip() == "<>":
        return "null_sender"
    if headers.get("precedence", "").strip().lower() in _BULK_PRECEDENCE:
        return "bulk"
    if headers.get("list-id") or headers.get("list-unsubscribe"):
        return "mailing_list"
    return None


def over_hourly_cap(sent_last_hour: int, limit: int) -> bool:
    """Whether one more automatic reply to a sender would pass ``limit`` per hour (0: no cap)."""
    return limit > 0 and sent_last_hour >= limit
