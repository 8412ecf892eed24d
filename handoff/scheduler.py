"""APScheduler driving the handoff timers.

The timers themselves are rows of ``handoff_timers`` (see :mod:`handoff.timers`); APScheduler's
``BackgroundScheduler`` with a ``SQLAlchemyJobStore`` (table ``handoff_scheduler_jobs``, same
database) runs the persisted ``handoff-sweep`` interval job that fires the due ones. A job in a
persisted store is found by a module-level function name, so the job function looks its service
up in :data:`_SWEEPERS` by a key the scheduler registers.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC
from typing import TYPE_CHECKING

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

if TYPE_CHECKING:
    from handoff.service import HandoffService

log = logging.getLogger(__name__)
JOB_ID = "handoff-sweep"
JOB_TABLE = "handoff_scheduler_jobs"
_SWEEPERS: dict[str, HandoffService] = {}
_GUARD = threading.Lock()


def sweep(key: str) -> None:
    """The persisted job: run the sweep of the service registered under ``key``."""
    with _GUARD:
        service = _SWEEPERS.get(key)
    if service is None:
        log.warning("handoff.scheduler.no_service", extra={"key": key})
        return
    fired = service.sweeper.run()
    if any(fired.values()):
        log.info("handoff.timers.fired", extra=fired)


class _StoppableExecutor(ThreadPoolExecutor):
    """APScheduler 3's thread pool, minus a shutdown race: its scheduler thread may wake once more
    after ``shutdown()`` and submit a due job to the closed pool, which logs "cannot schedule new
    futures after shutdown" with a traceback (agronholm/apscheduler#285, #985). Submitting and
    shutting down both run under the scheduler's job-store lock, so a flag set at shutdown is enough."""

    def __init__(self) -> None:
        super().__init__()
        self._closed = False

    def shutdown(self, wait: bool = True) -> None:
        self._closed = True
        super().shutdown(wait)

    def _do_submit_job(self, job: object, run_times: object) -> None:
        if not self._closed:  # stopping: the next process (or start) sweeps instead
            super()._do_submit_job(job, run_times)


class TimerScheduler:
    """Starts and stops the background scheduler of one app."""

    def __init__(self, service: HandoffService, *, interval: float) -> None:
        self.service, self.interval = service, interval
        self.key = f"{service.db.url.render_as_string(hide_password=True)}#{id(service)}"
        store = SQLAlchemyJobStore(engine=service.db.engine, tablename=JOB_TABLE)
        self.scheduler = BackgroundScheduler(
            jobstores={"default": store}, executors={"default": _StoppableExecutor()}, timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": max(30, int(interval * 4))})

    def start(self) -> None:
        # APScheduler logs every run at INFO; the sweep logs what it fired itself
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
        with _GUARD:
            _SWEEPERS[self.key] = self.service
        self.scheduler.start()
        self.scheduler.add_job(sweep, "interval", seconds=self.interval, id=JOB_ID, args=[self.key],
                               replace_existing=True)

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        with _GUARD:
            _SWEEPERS.pop(self.key, None)
