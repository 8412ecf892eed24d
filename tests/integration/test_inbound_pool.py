"""An inbound store (what a webhook waits for to acknowledge) never waits for a connection of the
main pool: turns queued for the write lock may hold every one of them."""

from __future__ import annotations

import threading
from contextlib import ExitStack

from sqlalchemy import text

from helpdesk.conversations.db import Database
from helpdesk.conversations.store import store_inbound
from helpdesk.conversations.types import Inbound


def test_an_inbound_store_does_not_wait_for_the_main_pool(db: Database) -> None:
    pool = db.engine.pool
    size = pool.size() + pool._max_overflow  # type: ignore[attr-defined]  # noqa: SLF001
    stored = threading.Event()
    with ExitStack() as held:
        for _ in range(size):  # every connection of the main pool is checked out (turns in their read phase)
            held.enter_context(db.read_session()).execute(text("SELECT 1"))

        def store() -> None:
            store_inbound(db, Inbound(channel="slack", thread_key="C1:1.0", text="hello", external_id="slack:C1:1.0"))
            stored.set()

        thread = threading.Thread(target=store, daemon=True)
        thread.start()
        assert stored.wait(20)  # the main pool would have made it wait its 30 s timeout, then fail
    thread.join(20)
    with db.read_session() as session:
        assert session.execute(text("SELECT count(*) FROM messages")).scalar_one() == 1
