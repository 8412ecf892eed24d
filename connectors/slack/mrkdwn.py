"""Slack ``mrkdwn`` ⇄ plain text.

Slack escapes ``&``, ``<`` and ``>`` in message text and wraps mentions and links in angle
brackets: ``<@U123>``, ``<@U123|name>``, ``<#C123|general>``, ``<!here>``, ``<!subteam^S1|@team>``,
``<https://x.io|label>``, ``<mailto:a@b.c|a@b.c>``. The conversation core stores plain text,
so inbound text is turned into what a person reads, and outbound text is escaped back.
See https://docs.slack.dev/messaging/formatting-message-text
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: resolves a user id to the name shown for ``<@U…>`` (the users.info cache), or None
UserNames = Callable[[str], str | None]

_ANGLE = re.compile(r"<([^<>]*)>")
_SPECIAL = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}


def to_plain(text: str | None, user_name: UserNames | None = None) -> str:
    """What a person reads for Slack message ``text``: mentions as ``@name``, links as
    ``label (url)`` (or the bare url), channels as ``#name``, then ``&amp;``-style entities
    decoded. Unknown users stay ``@U123`` so nothing is lost."""
    if not text:
        return ""
    return _unescape(_ANGLE.sub(lambda m: _token(m.group(1), user_name), text))


def _token(inner: str, user_name: UserNames | None) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        user_id = target[1:]
        name = label or (user_name(user_id) if user_name else None)
        return f"@{name or user_id}"
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!"):
        command = target[1:]
        if command.startswith("subteam^"):
            return label or "@team"
        if command.startswith("date^"):
            return label or command
        return _SPECIAL.get(command, label or f"@{command}")
    if target.startswith("mailto:"):
        return label or target[len("mailto:"):]
    if not label or label == target:
        return target
    return f"{label} ({target})"


def _unescape(text: str) -> str:
    # &amp; last, so that "&amp;lt;" reads as "&lt;" (what the sender typed) and not "<"
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape(text: str | None) -> str:
    """Plain text made safe to send as mrkdwn: the three control characters escaped, so a
    customer's ``<!channel>`` or ``<http://evil|bank>`` is shown, never acted on."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str | None = None) -> str:
    """A mrkdwn link; ``label`` escaped."""
    safe_url = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{safe_url}|{escape(label)}>" if label else f"<{safe_url}>"


def mention(user_id: str) -> str:
    """A mrkdwn user mention."""
    return f"<@{user_id}>"
