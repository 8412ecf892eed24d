"""Background upkeep run by the process that runs the timers (the web app, or ``helpdesk worker``).

* Turns left unanswered: a customer message stored while the process died is answered when the
  next process starts, not when the customer writes again (conversations the bot owns); and, while
  the process runs, every few seconds: in a deployment of several processes another web process
  may be killed after storing (and acknowledging) a message but before its turn committed, and no
  process starts to notice (``tests/production/test_web_process_killed.py``).
* Uploads no message carried expire after HELPDESK_UPLOAD_EXPIRY_SECONDS.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, exists, select

from helpdesk.conversations.attachments import expire_unsent
from helpdesk.conversations.models import Conversation, Message

if TYPE_CHECKING:
    from helpdesk.handoff.scheduler import TimerScheduler
    from helpdesk.services import Services

log = logging.getLogger(__name__)
#: most conversations answered per start (the rest wait for their customer)
MAX_RECOVERED = 1000
#: seconds between two looks for turns left unanswered while the process runs
RECOVER_EVERY_SECONDS = 5.0
#: a customer message unanswered this long counts as left behind by a dead process (a live turn is
#: far quicker; if one is not, running it twice is harmless: the second write is a TurnConflict)
RECOVER_AFTER_SECONDS = 10.0


def unanswered_conversations(services: Services, *, older_than: float = 0.0) -> list[int]:
    """Ids of bot-owned conversations with a stored customer message no turn has handled (stored
    at least ``older_than`` seconds ago)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
    waiting = exists().where(and_(Message.conversation_id == Conversation.id, Message.role == "customer",
                                  Message.seq > Conversation.processed_seq, Message.created_at <= cutoff))
    query = (select(Conversation.id).where(Conversation.status == "bot", waiting)
             .order_by(Conversation.updated_at).limit(MAX_RECOVERED))
    with services.db.read_session() as session:
        return [int(i) for i in session.scalars(query)]


def answer_unanswered(services: Services, *, older_than: float = 0.0) -> int:
    """Run the pending turns of every unanswered conversation (see :func:`unanswered_conversations`);
    how many were answered."""
    answered = 0
    for conversation_id in unanswered_conversations(services, older_than=older_than):
        try:
            if services.pipeline.run_pending(conversation_id):
                answered += 1
        except Exception:  # noqa: BLE001 - one broken conversation must not stop the others
            log.exception("maintenance.turn_failed", extra={"conversation_id": conversation_id})
    if answered:
        log.info("maintenance.turns_recovered", extra={"conversations": answered})
    return answered


def expire_uploads(services: Services) -> int:
    expired = expire_unsent(services.db, older_than_seconds=services.settings.upload_expiry_seconds)
    if expired:
        log.info("maintenance.uploads_expired", extra={"count": expired})
    return expired


def add_maintenance_jobs(scheduler: TimerScheduler, services: Services) -> None:
    """Answer unanswered turns now and then every few seconds, and expire unsent uploads periodically."""
    scheduler.add_job("recover-turns", lambda: answer_unanswered(services))
    scheduler.add_job("recover-turns-left", lambda: answer_unanswered(services, older_than=RECOVER_AFTER_SECONDS),
                      seconds=RECOVER_EVERY_SECONDS)
    every = max(1.0, min(60.0, services.settings.upload_expiry_seconds / 4))
    scheduler.add_job("expire-uploads", lambda: expire_uploads(services), seconds=every)
