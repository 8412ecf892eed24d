"""APScheduler driving the handoff timers (and the app's other periodic jobs).

The timers themselves are rows of ``handoff_timers`` (see :mod:`handoff.timers`): they are the
only state. The scheduler keeps its jobs in memory (APScheduler's ``MemoryJobStore``), so it
creates no table of its own — every table comes from the migrations — and any number of
processes may run it: each sweep claims a due timer row by deleting it inside the
conversation's transaction (row lock on PostgreSQL, the writer lock on SQLite), so exactly one
process fires each timer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC
from typing import TYPE_CHECKING

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

if TYPE_CHECKING:
    from helpdesk.handoff.service import HandoffService

log = logging.getLogger(__name__)
JOB_ID = "handoff-sweep"


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
        self.scheduler = BackgroundScheduler(
            executors={"default": _StoppableExecutor()}, timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": max(30, int(interval * 4))})

    def sweep(self) -> None:
        """The timer job: fire the due timers."""
        fired = self.service.sweeper.run()
        if any(fired.values()):
            log.info("handoff.timers.fired", extra=fired)

    def start(self) -> None:
        # APScheduler logs every run at INFO; the sweep logs what it fired itself
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
        self.scheduler.start()
        self.scheduler.add_job(self.sweep, "interval", seconds=self.interval, id=JOB_ID, replace_existing=True)

    def add_job(self, job_id: str, job: Callable[[], object], *, seconds: float | None = None) -> None:
        """Run ``job`` every ``seconds`` (or once, now, when ``seconds`` is None)."""
        if seconds is None:
            self.scheduler.add_job(job, id=job_id, replace_existing=True)
        else:
            self.scheduler.add_job(job, "interval", seconds=seconds, id=job_id, replace_existing=True)

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
