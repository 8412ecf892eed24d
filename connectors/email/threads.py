"""Which conversation an inbound message belongs to.

In this order: a validly signed reply token in a recipient address, then In-Reply-To/References
against the Message-IDs we know, else a new conversation. A sender who is not a participant of
the conversation found never gets into it: their message starts a conversation of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from helpdesk.connectors.email.parsing import ParsedEmail
from helpdesk.connectors.email.tokens import ReplyTokens


class ThreadLookup(Protocol):
    """What threading needs to know from storage."""

    def conversation_of(self, message_ids: Sequence[str]) -> int | None:
        """The conversation of the first known Message-ID."""
        ...

    def participants(self, conversation_id: int) -> set[str]:
        """Lower-cased addresses that belong to the conversation."""
        ...


@dataclass(frozen=True)
class ThreadMatch:
    """Where an inbound message goes."""

    conversation_id: int | None
    """``None``: a new conversation."""
    via: str
    """``token``, ``references`` or ``new``."""
    refused: str | None = None
    """Why a conversation something pointed to was not joined: ``forged_token``, ``stranger``."""


def resolve_thread(mail: ParsedEmail, tokens: ReplyTokens, lookup: ThreadLookup) -> ThreadMatch:
    """Find the conversation of ``mail`` (see the module docstring)."""
    sender = mail.sender.key if mail.sender else None
    refused: str | None = None
    by_token = tokens.conversation_of(mail.recipients)
    if by_token is not None:
        if sender and sender in lookup.participants(by_token):
            return ThreadMatch(by_token, "token")
        refused = "stranger"
    elif _has_tag(mail, tokens):
        refused = "forged_token"
    by_reference = lookup.conversation_of(mail.thread_ids)
    if by_reference is not None:
        if sender and sender in lookup.participants(by_reference):
            return ThreadMatch(by_reference, "references")
        refused = refused or "stranger"
    return ThreadMatch(None, "new", refused)


def _has_tag(mail: ParsedEmail, tokens: ReplyTokens) -> bool:
    """A ``support+something@`` recipient whose token did not verify."""
    support = tokens.support
    return any(support.owns(a) and "+" in a.split("@", 1)[0] for a in mail.recipients)
