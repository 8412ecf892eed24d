"""Who a widget visitor is: signed, expiring visitor tokens and host-site identities.

A visitor token is ``itsdangerous``-signed with the app secret; it names the visitor's thread
(``anon:<random>`` or ``user:<id>``). Nothing in it can be chosen by the browser: a token that
does not verify (forged, altered, expired, signed with another secret) starts a new anonymous
visitor and never reveals anyone's conversation.

Identified customers: the host page passes ``{id, name?, email?, hash}`` where ``hash`` is
``hex(HMAC-SHA256(site_secret, id))`` computed on the site's server — or, when a name or an
email is passed, ``hex(HMAC-SHA256(site_secret, id + "\n" + name + "\n" + email))`` (a missing
one as ""), so a page cannot put another name or email on a signed id. A ``user:`` token is only
honoured together with the same verified identity, so a logged-out page never shows the last
user's conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from helpdesk.conversations.text import text_problem

SALT = "helpdesk.widget.visitor"
MAX_USER_ID_CHARS = 200
MAX_NAME_CHARS = 255


@dataclass(frozen=True)
class Visitor:
    """One widget visitor: the thread key of their conversation, and the verified user id if any."""

    key: str
    """The conversation's ``thread_key``: ``anon:<32 hex>`` or ``user:<site user id>``."""
    user_id: str | None = None
    name: str | None = None
    email: str | None = None

    @classmethod
    def anonymous(cls) -> Visitor:
        return cls(key=f"anon:{secrets.token_hex(16)}")

    @classmethod
    def identified(cls, identity: Identity) -> Visitor:
        return cls(key=f"user:{identity.user_id}", user_id=identity.user_id, name=identity.name,
                   email=identity.email)


@dataclass(frozen=True)
class Identity:
    """A host-site user whose HMAC verified."""

    user_id: str
    name: str | None = None
    email: str | None = None


class IdentityRejected(ValueError):
    """An identity claim that does not verify; ``code`` goes into the widget's error event."""

    def __init__(self, message: str, *, code: str = "identity_rejected") -> None:
        super().__init__(message)
        self.code = code


def identity_hash(site_secret: str, user_id: str, name: str | None = None, email: str | None = None) -> str:
    """What the host site's server computes for a user: hex HMAC-SHA256 of the id, or of
    ``id\nname\nemail`` when a name or an email is given."""
    message = user_id if name is None and email is None else f"{user_id}\n{name or ''}\n{email or ''}"
    return hmac.new(site_secret.encode(), message.encode("utf-8", "replace"), hashlib.sha256).hexdigest()


def verify_identity(claim: Any, site_secret: str | None) -> Identity:
    """Check an identity claim ``{id, name?, email?, hash}`` against the site secret.

    Raises:
        IdentityRejected: malformed, no site secret configured, or a wrong hash.
    """
    if not isinstance(claim, dict):
        raise IdentityRejected("the identity must be an object {id, name, email, hash}")
    user_id, given = claim.get("id"), claim.get("hash")
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    if not isinstance(user_id, str) or not user_id or len(user_id) > MAX_USER_ID_CHARS:
        raise IdentityRejected(f"the identity's id must be a string of 1-{MAX_USER_ID_CHARS} characters")
    if not site_secret:
        raise IdentityRejected("identified visitors are not enabled on this helpdesk (no site secret)",
                               code="identity_not_configured")
    name, email = claim.get("name"), claim.get("email")
    if not all(v is None or (isinstance(v, str) and not text_problem(v)) for v in (name, email, user_id)):
        raise IdentityRejected("the identity's id, name and email must be valid strings")
    expected = identity_hash(site_secret, user_id, name, email)
    if not isinstance(given, str) or not hmac.compare_digest(given.lower().encode(), expected.encode()):
        raise IdentityRejected("the identity's hash does not match its id, name and email")
    return Identity(user_id, _text(name), _text(email))


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:MAX_NAME_CHARS]


class VisitorTokens:
    """Issues and verifies visitor tokens.

    Args:
        secret: the app's secret key.
        max_age: seconds a token stays valid; every new session issues a fresh one.
    """

    def __init__(self, secret: str, max_age: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=SALT)
        self.max_age = max_age

    def issue(self, visitor: Visitor) -> str:
        data: dict[str, Any] = {"v": visitor.key}
        if visitor.user_id is not None:
            data["u"] = visitor.user_id
        return self._serializer.dumps(data)

    def verify(self, token: Any) -> Visitor | None:
        """The visitor a token names, or ``None`` when it is missing, forged or expired."""
        if not isinstance(token, str) or not token or len(token) > 1024 or not _canonical(token):
            return None
        try:
            data = self._serializer.loads(token, max_age=self.max_age)
        except BadData:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("v"), str):
            return None
        user_id = data.get("u")
        return Visitor(key=data["v"], user_id=user_id if isinstance(user_id, str) else None)


def _canonical(token: str) -> bool:
    """Whether every base64 part of ``token`` is spelled the one way its encoder spells it.

    Base64 leaves the low bits of a last character unused, so ``…x7w`` and ``…x7x`` can decode to
    the same signature; only the issued spelling is accepted, so a token cannot be altered at all.
    """
    try:
        return all(base64_encode(base64_decode(part)).decode() == part for part in token.split("."))
    except BadData:
        return False


def resolve_visitor(from_token: Visitor | None, identity: Identity | None) -> Visitor:
    """Who is connecting, given a verified token (or none) and a verified identity (or none).

    A verified identity always wins (its own ``user:`` thread); an anonymous token continues;
    a ``user:`` token without that same identity, or no valid token, starts a new anonymous visitor.
    """
    if identity is not None:
        return Visitor.identified(identity)
    if from_token is not None and from_token.user_id is None and from_token.key.startswith("anon:"):
        return from_token
    return Visitor.anonymous()
