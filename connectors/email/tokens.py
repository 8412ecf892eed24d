"""Reply addresses that carry a signed token: ``support+<token>@domain``.

The token names the conversation and is signed with the app's secret (HMAC-SHA256, 100 bits
kept), so a reply address cannot be guessed or altered to reach another conversation. Tokens are
lower-case letters and digits, because some mail systems lower-case the local part.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

_SIGNATURE_CHARS = 20  # base32 characters: 100 bits
_TOKEN = re.compile(rf"^([0-9a-z]{{1,13}})-([a-z2-7]{{{_SIGNATURE_CHARS}}})$")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int) -> str:
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = _DIGITS[digit] + out
        if number == 0:
            return out


@dataclass(frozen=True)
class SupportAddress:
    """The support mailbox, split for plus-addressing."""

    local: str
    domain: str

    @classmethod
    def parse(cls, address: str) -> SupportAddress:
        """``support@shop.example`` → its parts.

        Raises:
            ValueError: not an address.
        """
        local, at, domain = address.strip().rpartition("@")
        if not at or not local or not domain or "+" in local or " " in address.strip():
            raise ValueError(f"not a plain email address: {address!r}")
        return cls(local, domain.lower())

    @property
    def address(self) -> str:
        return f"{self.local}@{self.domain}"

    def owns(self, address: str) -> bool:
        """Whether ``address`` is this mailbox, with or without a ``+tag``."""
        local, _, domain = address.strip().lower().rpartition("@")
        return domain == self.domain and local.split("+", 1)[0] == self.local.lower()


class ReplyTokens:
    """Makes and checks the signed reply addresses of conversations.

    Args:
        secret: the app's secret key (``HELPDESK_SECRET_KEY``).
        support: the support mailbox.
    """

    def __init__(self, secret: str, support: SupportAddress) -> None:
        self._key = hmac.new(secret.encode(), b"helpdesk.email.reply-token.v1", hashlib.sha256).digest()
        self.support = support

    def token(self, conversation_id: int) -> str:
        """The token of one conversation."""
        return f"{_base36(conversation_id)}-{self._sign(conversation_id)}"

    def reply_address(self, conversation_id: int) -> str:
        """``support+<token>@domain`` for one conversation."""
        return f"{self.support.local}+{self.token(conversation_id)}@{self.support.domain}"

    def conversation_of(self, addresses: tuple[str, ...] | list[str]) -> int | None:
        """The conversation named by a validly signed token in any of ``addresses``; else ``None``.

        A token with a wrong signature counts as no token at all.
        """
        for address in addresses:
            local, _, domain = address.strip().lower().rpartition("@")
            base, plus, tag = local.partition("+")
            if not plus or domain != self.support.domain or base != self.support.local.lower():
                continue
            found = _TOKEN.match(tag)
            if found is None:
                continue
            conversation_id = int(found.group(1), 36)
            if hmac.compare_digest(found.group(2), self._sign(conversation_id)):
                return conversation_id
        return None

    def _sign(self, conversation_id: int) -> str:
        digest = hmac.new(self._key, f"conversation:{conversation_id}".encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode().lower()[:_SIGNATURE_CHARS]


def new_message_id(domain: str) -> str:
    """An unguessable Message-ID of ours: ``<`` 160 random bits ``@domain>``."""
    return f"<{secrets.token_hex(20)}@{domain}>"
