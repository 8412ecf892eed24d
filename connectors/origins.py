"""Which web pages may embed the widget and open socket.io connections (HELPDESK_ALLOWED_ORIGINS).

The helpdesk's own pages (the demo page, the agent dashboard) are always allowed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def _normalise(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


class OriginPolicy:
    """``"*"`` or a comma-separated list of origins like ``https://shop.example``.

    Instances are callables as python-engineio's ``cors_allowed_origins`` accepts them.
    """

    def __init__(self, allowed: str) -> None:
        items = [_normalise(o) for o in allowed.split(",") if o.strip()]
        self.any = "*" in items
        self.origins = frozenset(items)

    def allows(self, origin: str | None, host: str | None = None) -> bool:
        """Whether a request with this ``Origin`` header (None: not a browser) to ``host`` may go on."""
        if not origin or self.any:
            return True
        origin = _normalise(origin)
        if origin in self.origins:
            return True
        return bool(host) and urlsplit(origin).netloc == (host or "").lower()

    def __call__(self, origin: str | None, environ: dict[str, Any] | None = None) -> bool:
        return self.allows(origin, (environ or {}).get("HTTP_HOST"))
