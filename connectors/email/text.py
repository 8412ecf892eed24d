"""Text helpers for email bodies: HTML to text, HTML sanitising, quoted-reply stripping.

Libraries, not hand-written parsers: ``inscriptis`` lays HTML out as text, ``nh3`` (Ammonia)
sanitises HTML for display, ``mail-parser-reply`` finds where the new reply ends and the
quoted history or signature begins.
"""

from __future__ import annotations

import re

import nh3
from inscriptis import get_text
from mailparser_reply import EmailReplyParser

#: the languages whose "On … wrote:" / "Von: … Gesendet:" headers and signatures are recognised
REPLY_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt", "sv", "pl")
#: tags kept in sanitised HTML; no images (remote images are tracking pixels), no forms, no scripts
SAFE_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "u", "ul",
})
SAFE_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
_BLANK_LINES = re.compile(r"\n{3,}")
_QUOTED_LINE = re.compile(r"^[ \t]*>")


def html_to_text(html: str) -> str:
    """The readable text of an HTML body (links, lists and tables laid out as text)."""
    if not html.strip():
        return ""
    try:
        text = get_text(html)
    except Exception:  # noqa: BLE001 - inscriptis/lxml on truly broken markup: fall back to the sanitiser's text
        text = nh3.clean(html, tags=set())
    return tidy(text)


def sanitize_html(html: str) -> str:
    """HTML safe to show in the dashboard: no scripts, styles, event handlers, images or forms."""
    return nh3.clean(
        html.replace("\x00", ""), tags=set(SAFE_TAGS), attributes={k: set(v) for k, v in SAFE_ATTRIBUTES.items()},
        url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def tidy(text: str) -> str:
    """Unix line ends, no trailing spaces, at most one blank line in a row."""
    text = text.replace("\x00", "")  # PostgreSQL text cannot hold NUL
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def strip_reply(text: str) -> str:
    """The new part of a reply: without the quoted history ("On … wrote:", "From: … Sent:",
    ``>`` lines) and the signature. The whole text when nothing would be left."""
    if not text.strip():
        return ""
    try:
        message = EmailReplyParser(languages=list(REPLY_LANGUAGES)).read(text)
        reply = message.replies[0].body if message.replies else text
    except Exception:  # noqa: BLE001 - a regex library on hostile input: keep the text rather than lose it
        reply = text
    reply = _drop_quoted_tail(reply)
    return tidy(reply) or tidy(text)


def _drop_quoted_tail(text: str) -> str:
    """Cut trailing ``>``-quoted lines (a reply above quotes without an "On … wrote:" line)."""
    lines = text.split("\n")
    end = len(lines)
    while end > 0 and (_QUOTED_LINE.match(lines[end - 1]) or not lines[end - 1].strip()):
        end -= 1
    return "\n".join(lines[:end])
