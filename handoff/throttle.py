"""Sign-in throttling: failed logins per account and per client address, in the database.

After ``max_failures`` failures of an account (four times that many from one address), every
further sign-in for it waits: 1 s, then 2, 4, … up to ``max_delay`` seconds after each new
failure. While it waits, the login answers 429 with ``Retry-After`` without checking the
password. A success clears the account's count. The counts are rows of ``login_throttle``, so
every process (and a restart) sees them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from helpdesk.conversations.db import Database
from helpdesk.handoff.errors import TooManyAttempts
from helpdesk.handoff.models import LoginThrottle

log = logging.getLogger(__name__)
#: failures from one address allowed per failure allowed for one account (offices share addresses)
ADDRESS_FACTOR = 4


@dataclass(frozen=True)
class LoginThrottler:
    """Checks and records sign-in attempts.

    Args:
        db: where the counts live.
        max_failures: failures of one account before sign-ins wait.
        max_delay: the longest wait (seconds); also how long a count is remembered after its last failure.
    """

    db: Database
    max_failures: int
    max_delay: int

    def keys(self, email: object, address: str | None) -> dict[str, int]:
        """The throttle keys of an attempt and the failures each allows."""
        keys = {f"address:{address or 'unknown'}"[:320]: self.max_failures * ADDRESS_FACTOR}
        if isinstance(email, str) and email.strip():
            keys[f"account:{email.strip().lower()}"[:320]] = self.max_failures
        return keys

    def check(self, keys: dict[str, int], now: datetime) -> None:
        """Raise :class:`TooManyAttempts` while any key waits."""
        with self.db.read_session() as session:
            rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(list(keys)))).all()
        waits = [(row.blocked_until - now).total_seconds() for row in rows
                 if row.blocked_until is not None and row.blocked_until > now]
        if waits:
            wait = math.ceil(max(waits))
            log.warning("handoff.login.throttled", extra={"keys": sorted(keys), "retry_after": wait})
            raise TooManyAttempts(f"too many failed sign-ins: try again in {wait} s", retry_after=wait)

    def failed(self, keys: dict[str, int], now: datetime) -> None:
        """Count a failed sign-in for every key."""
        for _attempt in range(3):
            try:
                with self.db.session() as session, session.begin():
                    for key, allowed in keys.items():
                        self._count(session, key, allowed, now)
                return
            except IntegrityError:  # two first failures of one key at once: count again
                continue

    def _count(self, session: Session, key: str, allowed: int, now: datetime) -> None:
        row = session.scalars(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()).one_or_none()
        if row is None:
            row = LoginThrottle(key=key, failures=0, last_failure_at=now)
            session.add(row)
        elif now - row.last_failure_at > timedelta(seconds=self.max_delay):
            row.failures = 0  # long quiet: start counting again
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= allowed:
            delay = min(2 ** min(row.failures - allowed, 30), self.max_delay)
            row.blocked_until = now + timedelta(seconds=delay)
            log.warning("handoff.login.failures", extra={"key": key, "failures": row.failures, "delay": delay})
        session.flush()

    def succeeded(self, email: str) -> None:
        """Forget the account's failures."""
        with self.db.session() as session, session.begin():
            session.execute(delete(LoginThrottle).where(LoginThrottle.key == f"account:{email.strip().lower()}"))
