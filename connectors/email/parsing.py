"""Parsing one raw RFC 822 message into a :class:`ParsedEmail` (stdlib ``email``, modern policy).

Text is preferred over HTML; an HTML-only message is laid out as text, and any HTML is kept only
sanitised. The new part of a reply is cut from the quoted history and signature, and the full
text is kept beside it. Attachments are kept up to a size and count limit; the rest are listed as
skipped. Broken input (unknown or wrong charsets, malformed headers, no Message-ID) never raises:
only bytes that are not a message at all do (:class:`NotAnEmail`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from helpdesk.connectors.email.bounces import Bounce, find_bounce
from helpdesk.connectors.email.text import html_to_text, sanitize_html, strip_reply, tidy

_MSGID = re.compile(r"<([^<>\s\x00-\x1f\x7f]+)>")
#: headers kept verbatim (lower-cased names) for loop detection and the dashboard
KEPT_HEADERS = ("auto-submitted", "precedence", "x-autoreply", "x-autorespond", "x-auto-response-suppress",
                "list-id", "list-unsubscribe", "return-path", "x-loop", "x-failed-recipients",
                "feedback-type", "x-mailer")
#: headers naming where a message was delivered (a forwarding provider's envelope)
_RECIPIENT_HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to")
_NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class NotAnEmail(ValueError):
    """Bytes that are not an RFC 822 message (no headers at all)."""


@dataclass(frozen=True)
class ParseLimits:
    """What one message may carry."""

    max_attachment_bytes: int = 10 * 1024 * 1024
    """A larger attachment is skipped (listed, not stored)."""
    max_attachments: int = 20
    """Attachments beyond this many are skipped."""


@dataclass(frozen=True)
class Address:
    """A mailbox: display name (may be empty) and address (as written)."""

    name: str
    address: str

    @property
    def key(self) -> str:
        """The address lower-cased, for comparisons."""
        return self.address.strip().lower()

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True)
class Attachment:
    """One file carried by a message."""

    name: str
    content_type: str
    data: bytes
    inline: bool = False
    content_id: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Skipped:
    """An attachment that was not kept, and why (``too_large``, ``too_many``)."""

    name: str
    content_type: str
    size: int
    reason: str


@dataclass(frozen=True)
class ParsedEmail:
    """What the helpdesk needs from one inbound message."""

    message_id: str
    """``<id@host>``; derived from the bytes when the message has none (so re-deliveries match)."""
    subject: str
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    recipients: tuple[str, ...]
    """Every address the message was sent or delivered to (To, Cc, Delivered-To, X-Original-To…), lower-cased."""
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    date: datetime | None
    text: str
    """The whole body as text (quoted history and signature included)."""
    reply: str
    """Only the new part of the body: quoted history and signature stripped."""
    html: str | None
    """The HTML body, sanitised; ``None`` for a text-only message."""
    attachments: tuple[Attachment, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    """:data:`KEPT_HEADERS` present on the message, names lower-cased."""
    bounce: Bounce | None = None
    generated_id: bool = False

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this one answers, the most specific first (In-Reply-To, then References newest first)."""
        seen: list[str] = []
        for mid in (*self.in_reply_to, *reversed(self.references)):
            if mid not in seen:
                seen.append(mid)
        return tuple(seen)


def parse_email(raw: bytes, limits: ParseLimits | None = None) -> ParsedEmail:
    """Parse one raw message.

    Raises:
        NotAnEmail: the bytes have no header section.
    """
    limits = limits or ParseLimits()
    if not raw.strip() or not _looks_like_headers(raw):
        raise NotAnEmail("the body is not an RFC 822 message (no headers)")
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    ids = message_ids(_header(msg, "message-id"))
    text, html, bodies = _bodies(msg)
    attachments, skipped = _attachments(msg, limits, bodies)
    present = {key.lower() for key in msg}  # the raw names: nothing is parsed
    headers = {name: _header(msg, name) for name in KEPT_HEADERS if name in present}
    return ParsedEmail(
        message_id=ids[0] if ids else f"<sha256.{hashlib.sha256(raw).hexdigest()}@generated>",
        generated_id=not ids, subject=_header(msg, "subject"), sender=next(iter(_addresses(msg, "from")), None),
        to=_addresses(msg, "to"), cc=_addresses(msg, "cc"), reply_to=_addresses(msg, "reply-to"),
        recipients=_recipients(msg), in_reply_to=message_ids(_header(msg, "in-reply-to")),
        references=message_ids(" ".join(_all_headers(msg, "references"))), date=_date(msg),
        text=text, reply=strip_reply(text), html=sanitize_html(html) if html else None,
        attachments=attachments, skipped=skipped, headers=headers, bounce=_bounce(msg),
    )


def _bounce(msg: Message) -> Bounce | None:
    try:
        return find_bounce(msg)
    except Exception:  # noqa: BLE001 - a report too broken to read is treated as an ordinary message
        return None


def message_ids(value: str) -> tuple[str, ...]:
    """The ``<id>`` tokens of a Message-ID / In-Reply-To / References value, in order."""
    return tuple(f"<{m}>" for m in _MSGID.findall(value or ""))


def _looks_like_headers(raw: bytes) -> bool:
    first = raw.lstrip(b"\r\n").split(b"\n", 1)[0]
    return re.match(rb"^[!-9;-~]+:", first) is not None or first.startswith(b"From ")


def _raw_values(msg: Message, name: str) -> list[str]:
    return [str(value) for key, value in msg.raw_items() if key.lower() == name]


def _decode_words(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeDecodeError, ValueError, TypeError):
        return value


def _all_headers(msg: Message, name: str) -> list[str]:
    try:
        return [str(v) for v in msg.get_all(name) or []]
    except Exception:  # noqa: BLE001 - the modern policy's header parser can fail on hostile input
        return [_decode_words(v) for v in _raw_values(msg, name)]


def _header(msg: Message, name: str) -> str:
    values = _all_headers(msg, name)
    return " ".join(_NAME_CONTROL.sub(" ", v).strip() for v in values[:1])


def _addresses(msg: Message, name: str) -> tuple[Address, ...]:
    try:
        found = [(a.display_name, a.addr_spec) for h in msg.get_all(name) or [] for a in h.addresses]  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - hostile mail must degrade, never crash
        found = getaddresses([_decode_words(v) for v in _raw_values(msg, name)])
    return tuple(Address(_NAME_CONTROL.sub(" ", n).strip(), a.strip()) for n, a in found if "@" in (a or ""))


def _recipients(msg: Message) -> tuple[str, ...]:
    out: list[str] = []
    for name in _RECIPIENT_HEADERS:
        for address in _addresses(msg, name):
            if address.key not in out:
                out.append(address.key)
    return tuple(out)


def _date(msg: Message) -> datetime | None:
    value = _header(msg, "date")
    try:
        date = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    return date if date is not None and date.tzinfo is not None else None


def _ctype(part: Message) -> str:
    """The part's content type; ``application/octet-stream`` when its header cannot be parsed."""
    try:
        return part.get_content_type()
    except Exception:  # noqa: BLE001 - the modern policy's header parser fails on some hostile headers
        return "application/octet-stream"


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:  # noqa: BLE001 - hostile mail must degrade, never crash
        return "attachment"


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - hostile mail must degrade, never crash
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def part_text(part: Message) -> str:
    """A text part decoded: the declared charset, else UTF-8, else Windows-1252 (never raises)."""
    data = _payload_bytes(part)
    try:
        declared = part.get_content_charset()
    except Exception:  # noqa: BLE001 - hostile mail must degrade, never crash
        declared = None
    for charset in (declared, "utf-8"):
        if not charset:
            continue
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return data.decode("cp1252", errors="replace")


def _bodies(msg: EmailMessage) -> tuple[str, str | None, set[int]]:
    """(text, raw HTML or None, the body parts' ids): the plain part when it says something, else the
    HTML as text."""
    plain, html_part = _body_part(msg, "plain"), _body_part(msg, "html")
    html = part_text(html_part) if html_part is not None else None
    text = tidy(part_text(plain)) if plain is not None else ""
    if not text and html:
        text = html_to_text(html)
    return text, html, {id(p) for p in (plain, html_part) if p is not None}


def _body_part(msg: EmailMessage, subtype: str) -> Message | None:
    """The body of that subtype (``get_body``), or on a structure ``get_body`` cannot walk, the first
    such leaf that is not an attachment."""
    try:
        return msg.get_body(preferencelist=(subtype,))
    except Exception:  # noqa: BLE001 - hostile mail must degrade, never crash
        return next((p for p in _leaves(msg) if _ctype(p) == f"text/{subtype}" and _disposition(p) != "attachment"),
                    None)


def _leaves(part: Message) -> list[Message]:
    """Non-multipart parts, not descending into attached messages (a forwarded .eml is one file)."""
    if _ctype(part) in ("message/rfc822", "message/delivery-status", "text/rfc822-headers"):
        return [part]
    if part.is_multipart():
        return [leaf for sub in part.get_payload() if isinstance(sub, Message) for leaf in _leaves(sub)]
    return [part]


def _attachments(msg: EmailMessage, limits: ParseLimits,
                 bodies: set[int]) -> tuple[tuple[Attachment, ...], tuple[Skipped, ...]]:
    kept: list[Attachment] = []
    skipped: list[Skipped] = []
    for part in _leaves(msg) if msg.is_multipart() else []:
        content_type = _ctype(part)
        if id(part) in bodies or content_type in ("message/delivery-status", "text/rfc822-headers"):
            continue
        data = _part_bytes(part)
        name = _file_name(part, content_type)
        if len(kept) >= limits.max_attachments:
            skipped.append(Skipped(name, content_type, len(data), "too_many"))
        elif len(data) > limits.max_attachment_bytes:
            skipped.append(Skipped(name, content_type, len(data), "too_large"))
        else:
            cid = message_ids(_header(part, "content-id"))
            kept.append(Attachment(name, content_type, data, inline=_disposition(part) == "inline",
                                   content_id=cid[0] if cid else None))
    return tuple(kept), tuple(skipped)


def _part_bytes(part: Message) -> bytes:
    if _ctype(part) == "message/rfc822":
        try:
            inner = part.get_payload(0) if part.is_multipart() else part.get_payload()
            return inner.as_bytes(policy=policy.SMTP) if isinstance(inner, Message) else b""
        except Exception:  # noqa: BLE001 - a broken attached message: keep its bytes as they came
            return str(part.get_payload()).encode("utf-8", "surrogateescape")
    return _payload_bytes(part)


def _file_name(part: Message, content_type: str) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001 - hostile mail must degrade, never crash
        name = None
    name = _NAME_CONTROL.sub("", _decode_words(name or "")).replace("\\", "/").rsplit("/", 1)[-1].strip(" .")
    if name:
        return name[:200]
    return "message.eml" if content_type == "message/rfc822" else f"attachment.{content_type.split('/')[-1][:10]}"
