"""Running turns off the connectors' request and socket handlers, in order per conversation (shared by every channel).

Socket handlers store the inbound message (so it can be acknowledged with its ``seq``) and
submit the conversation here. A bounded pool runs ``TurnPipeline.run_pending`` — which answers
every stored message in ``seq`` order — with at most one job per conversation at a time:
submitting a conversation that is already queued does nothing, one that is running is run
once more afterwards. A busy conversation therefore never ties up more than one worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)
Job = Callable[[], object]


class TurnRunner:
    """A pool of ``workers`` threads that runs one job per conversation at a time."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="turns")
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        #: conversation id → the job to run, and whether it must run again once more
        self._jobs: dict[int, tuple[Job, bool]] = {}
        self._running: set[int] = set()
        self._accepting = True

    def submit(self, conversation_id: int, job: Job) -> None:
        """Run ``job`` for the conversation soon (after the one running, if any). Once the runner
        stopped accepting (the process is stopping) nothing is scheduled: the message is stored, and
        the process that runs the timers answers it (``maintenance.answer_unanswered``)."""
        with self._lock:
            if not self._accepting:
                log.warning("connectors.turn.refused_stopping", extra={"conversation_id": conversation_id})
                return
            if conversation_id in self._jobs:
                running = conversation_id in self._running
                self._jobs[conversation_id] = (job, running)
                return
            self._jobs[conversation_id] = (job, False)
        self._pool.submit(self._work, conversation_id)

    def _work(self, conversation_id: int) -> None:
        while True:
            with self._lock:
                job, _again = self._jobs[conversation_id]
                self._jobs[conversation_id] = (job, False)
                self._running.add(conversation_id)
            try:
                job()
            except Exception:  # noqa: BLE001 - a failed turn must not kill the worker
                log.exception("connectors.turn.failed", extra={"conversation_id": conversation_id})
            with self._lock:
                self._running.discard(conversation_id)
                if self._jobs[conversation_id][1]:
                    continue
                del self._jobs[conversation_id]
                if not self._jobs:
                    self._idle.notify_all()
                return

    def stop_accepting(self) -> None:
        """Take no new turns; those queued or running go on (graceful shutdown)."""
        with self._lock:
            self._accepting = False

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no job is queued or running (tests, shutdown); False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: not self._jobs, timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
