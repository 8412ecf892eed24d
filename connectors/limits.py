"""Rate limits shared by every channel: token buckets per key, in this process or in Redis.

``allow(key)`` takes one token from ``key``'s bucket and answers 0.0 (allowed) or the seconds
until a token is available. The in-process :class:`RateLimiter` limits what reaches this
process; with ``HELPDESK_REDIS_URL`` set, :func:`build_limiter` gives a :class:`RedisRateLimiter`
whose buckets live in Redis (one atomic Lua script per call), so a limit holds across processes.

Keys name who is limited: a visitor (``anon:…``), a sender, or a client address (``addr:…``,
see :func:`client_address`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)
#: typing indicators a widget visitor may send: a burst, then so many a minute
TYPING_BURST, TYPING_PER_MINUTE = 5, 30


class Limiter(Protocol):
    """What the channels need of a rate limiter."""

    @property
    def enabled(self) -> bool: ...

    def allow(self, key: str) -> float: ...


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allows ``burst`` events at once and ``per_minute`` sustained, per key, in process memory.

    Buckets that have refilled completely are forgotten, so memory follows the active keys only.

    Args:
        burst: bucket size (events allowed back to back).
        per_minute: refill rate; ``0`` (or less) turns the limiter off.
        clock: monotonic seconds (injected by tests).
    """

    def __init__(self, burst: int, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = max(1, burst)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._calls = 0

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when allowed, else seconds until one is available."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            self._calls += 1
            if self._calls % 1024 == 0:
                self._forget_full(now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]


#: KEYS[1] the bucket; ARGV burst, rate per second, now (seconds) → wait in milliseconds (0: allowed)
_BUCKET_SCRIPT = """
local burst, rate, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens, updated = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, updated = burst, now end
if now > updated then tokens = math.min(burst, tokens + (now - updated) * rate) end
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate * 1000) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(math.max(now, updated)))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return wait
"""


class RedisRateLimiter:
    """The same token bucket, kept in Redis so every process shares it (atomic: one Lua script).

    While Redis cannot be reached (restarting, a network blip) the limit is kept in this process
    instead (an in-process :class:`RateLimiter` of the same size), so visitors are still served and
    still limited, per process; the next call that reaches Redis uses it again.

    Args:
        client: a ``redis.Redis`` client.
        prefix: what every key of this limit starts with (``helpdesk:limit:<name>:``).
        burst, per_minute: as for :class:`RateLimiter`.
        clock: wall-clock seconds (processes on several hosts share it).
    """

    def __init__(self, client: Any, prefix: str, burst: int, per_minute: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.burst = max(1, burst)
        self.rate = per_minute / 60.0
        self.prefix = prefix
        self._clock = clock
        self._script = client.register_script(_BUCKET_SCRIPT)
        self._fallback = RateLimiter(burst, per_minute)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, key: str) -> float:
        if not self.enabled:
            return 0.0
        import redis

        try:
            wait_ms = self._script(keys=[self.prefix + key], args=[self.burst, self.rate, f"{self._clock():.3f}"])
        except (redis.ConnectionError, redis.TimeoutError) as exc:  # not a wrong script or a full memory
            log.warning("limits.redis.unreachable", extra={"error": str(exc)})
            return self._fallback.allow(key)
        return int(wait_ms) / 1000.0


class Limits:
    """Builds the named limiters of one app: in process, or in Redis when ``redis_url`` is given."""

    def __init__(self, redis_url: str | None = None, *, prefix: str = "helpdesk") -> None:
        self._client: Any = None
        self.prefix = prefix
        if redis_url:
            import redis

            self._client = redis.Redis.from_url(redis_url)

    def limiter(self, name: str, burst: int, per_minute: float) -> Limiter:
        if self._client is None:
            return RateLimiter(burst, per_minute)
        return RedisRateLimiter(self._client, f"{self.prefix}:limit:{name}:", burst, per_minute)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def client_address(environ: dict[str, Any]) -> str:
    """The client's address as the rate limits key it (``addr:<ip>``).

    ``REMOTE_ADDR`` is the peer, or — only when ``HELPDESK_TRUSTED_PROXIES`` is set — the address
    the trusted proxies put in ``X-Forwarded-For`` (``werkzeug.middleware.proxy_fix.ProxyFix`` in
    front of the app, see ``app.py``).
    """
    return "addr:" + str(environ.get("REMOTE_ADDR") or "unknown")


@dataclass
class ChannelLimits:
    """The limits every channel applies (one set per app; ``app.extensions["helpdesk.limits"]``)."""

    #: messages (and uploads) per widget visitor
    visitor: Limiter
    #: messages per REST sender / Rasa socket.io session
    sender: Limiter
    #: messages and uploads per client address, whatever the visitor or sender
    address: Limiter
    #: new widget visitors and Rasa socket.io sessions per client address
    new_session: Limiter
    closers: list[Callable[[], object]]
    #: typing indicators per widget visitor (whichever process each of its tabs is connected to)
    typing: Limiter = field(default_factory=lambda: RateLimiter(TYPING_BURST, TYPING_PER_MINUTE))

    def message(self, who: str, environ: dict[str, Any], *, per: Limiter | None = None) -> float:
        """One message from ``who`` at the client address of ``environ``: 0.0, or seconds to wait."""
        wait = (per or self.sender).allow(who)
        if not wait:
            wait = self.address.allow(client_address(environ))
        if wait:
            log.info("limits.message.refused", extra={"address": client_address(environ)})
        return wait


def channel_limits(settings: Any) -> ChannelLimits:
    """The channel limits from ``settings`` (Redis-backed when ``HELPDESK_REDIS_URL`` is set)."""
    limits = Limits(settings.redis_url, prefix=settings.redis_prefix)
    return ChannelLimits(
        visitor=limits.limiter("visitor", settings.widget_rate_burst, settings.widget_rate_per_minute),
        sender=limits.limiter("sender", settings.sender_rate_burst, settings.sender_rate_per_minute),
        address=limits.limiter("address", settings.address_rate_burst, settings.address_rate_per_minute),
        new_session=limits.limiter("session", settings.new_sessions_burst, settings.new_sessions_per_minute),
        closers=[limits.close], typing=limits.limiter("typing", TYPING_BURST, TYPING_PER_MINUTE))
