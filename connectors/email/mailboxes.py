"""IMAP mailbox state in the database: UIDVALIDITY, the last UID stored, and a lease lock so that
only one poller (of any process) reads a mailbox at a time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from helpdesk.connectors.email.models import Mailbox
from helpdesk.conversations.models import utcnow

if TYPE_CHECKING:
    from helpdesk.conversations.db import Database

_table = cast(Table, Mailbox.__table__)


class MailboxState:
    """One mailbox's row.

    Args:
        db: the database.
        name: the mailbox's name (URL without password).
        owner: this poller's id (held in the lock).
        lease: seconds a lock lasts unless renewed.
    """

    def __init__(self, db: Database, name: str, owner: str, *, lease: float = 120.0) -> None:
        self.db, self.name, self.owner, self.lease = db, name, owner, lease

    def ensure(self) -> None:
        """Create the row once."""
        with self.db.engine.begin() as connection:
            if connection.scalar(select(_table.c.id).where(_table.c.name == self.name)) is not None:
                return
            try:
                with connection.begin_nested():
                    connection.execute(insert(_table).values(name=self.name, last_uid=0, updated_at=utcnow()))
            except IntegrityError:
                pass  # another process created it

    def acquire(self, now: datetime | None = None) -> bool:
        """Take (or renew) the lock; ``False`` while another poller holds an unexpired one."""
        now = now or utcnow()
        free = or_(_table.c.locked_by.is_(None), _table.c.locked_by == self.owner, _table.c.locked_until < now)
        with self.db.engine.begin() as connection:
            result = connection.execute(update(_table).where(_table.c.name == self.name, free).values(
                locked_by=self.owner, locked_until=now + timedelta(seconds=self.lease), updated_at=now))
            return result.rowcount == 1

    def release(self) -> None:
        with self.db.engine.begin() as connection:
            connection.execute(update(_table).where(_table.c.name == self.name, _table.c.locked_by == self.owner)
                               .values(locked_by=None, locked_until=None))

    def position(self) -> tuple[int | None, int]:
        """(UIDVALIDITY, last UID) as stored."""
        with self.db.engine.connect() as connection:
            row = connection.execute(select(_table.c.uidvalidity, _table.c.last_uid)
                                     .where(_table.c.name == self.name)).one()
        return (None if row.uidvalidity is None else int(row.uidvalidity)), int(row.last_uid)

    def advance(self, uidvalidity: int, last_uid: int) -> None:
        """Record that every message up to ``last_uid`` of this UIDVALIDITY is stored.

        Only a lock holder writes; a poller that lost its lease writes nothing."""
        with self.db.engine.begin() as connection:
            connection.execute(update(_table).where(_table.c.name == self.name, _table.c.locked_by == self.owner)
                               .values(uidvalidity=uidvalidity, last_uid=last_uid, updated_at=utcnow()))
