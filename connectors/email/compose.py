"""Building the outgoing message: proper threading headers, text plus a simple HTML version."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from helpdesk.conversations.models import utcnow

_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)]")
#: References kept: the first (thread root) and the newest ones, as RFC 5322 suggests trimming
MAX_REFERENCES = 20
_SUBJECT_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|wg|fwd?|tr)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class OutgoingEmail:
    """One reply to send, as stored in the outbox payload."""

    to: str
    subject: str
    text: str
    message_id: str
    from_address: str
    reply_to: str
    from_name: str = ""
    to_name: str = ""
    automatic: bool = False
    """A bot reply: marked ``Auto-Submitted: auto-replied`` (RFC 3834)."""
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    buttons: tuple[str, ...] = ()
    """Choices the customer can answer with (bot buttons)."""
    attachments: tuple[tuple[str, str, bytes], ...] = field(default=())
    """(name, content type, data)."""


def reply_subject(subject: str) -> str:
    """``Re: <subject>`` without piling up prefixes (``Re: AW: Re:`` → ``Re:``)."""
    base = _SUBJECT_PREFIX.sub("", subject or "").strip()
    return f"Re: {base}" if base else "Re: your message"


def trim_references(references: tuple[str, ...]) -> tuple[str, ...]:
    if len(references) <= MAX_REFERENCES:
        return references
    return (references[0], *references[-(MAX_REFERENCES - 1):])


def compose(mail: OutgoingEmail) -> EmailMessage:
    """The RFC 5322 message for ``mail``."""
    msg = EmailMessage()
    msg["From"] = formataddr((mail.from_name, mail.from_address)) if mail.from_name else mail.from_address
    msg["To"] = formataddr((mail.to_name, mail.to)) if mail.to_name else mail.to
    msg["Reply-To"] = mail.reply_to
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = mail.message_id
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
    references = trim_references(mail.references)
    if references:
        msg["References"] = " ".join(references)
    if mail.automatic:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"  # keeps Exchange's out-of-office from answering the bot
    text = _with_buttons(mail.text, mail.buttons)
    msg.set_content(text)
    msg.add_alternative(to_html(text), subtype="html")
    for name, content_type, data in mail.attachments:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                           filename=name)
    return msg


def _with_buttons(text: str, buttons: tuple[str, ...]) -> str:
    if not buttons:
        return text
    choices = "\n".join(f"  - {title}" for title in buttons)
    return f"{text}\n\nReply with one of:\n{choices}"


def to_html(text: str) -> str:
    """Simple HTML for a text: paragraphs, line breaks, links; everything else escaped."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    body = "\n".join(f"<p>{_linkify(p)}</p>" for p in paragraphs)
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>"
            f"<body style=\"font-family:sans-serif;font-size:14px;line-height:1.5\">\n{body}\n</body></html>")


def _linkify(paragraph: str) -> str:
    out, last = [], 0
    for found in _URL.finditer(paragraph):
        out.append(html.escape(paragraph[last:found.start()]))
        url = html.escape(found.group(0))
        out.append(f'<a href="{url}">{url}</a>')
        last = found.end()
    out.append(html.escape(paragraph[last:]))
    return "".join(out).replace("\n", "<br>\n")
