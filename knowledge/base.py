"""The knowledge base of an assistant: its ``knowledge/`` folder, indexed and kept up to date.

``start()`` indexes the folder and starts a watcher thread that re-indexes when a file is
added, changed or removed (it compares names, sizes and modification times every
``reload_seconds``; unchanged files are not re-read into the index). Re-indexing never runs inside
a customer's turn: on SQLite a write there would wait for the turn's own transaction.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from helpdesk.conversations.db import Database
from helpdesk.knowledge.documents import Document, document_files, read_document
from helpdesk.knowledge.index import Hit, KnowledgeIndex, SyncReport

log = logging.getLogger(__name__)
Signature = tuple[tuple[str, int, int], ...]


class KnowledgeBase:
    """Search over an assistant's documents; ``search`` is what the knowledge answerer calls.

    Args:
        db: the helpdesk database (migrated: the index tables come with migration 0004).
        folder: the assistant's ``knowledge/`` folder (it may not exist: nothing to search).
        reload_seconds: how often the watcher looks for changes; 0 turns it off.
    """

    def __init__(self, db: Database, folder: Path, *, reload_seconds: float = 5.0) -> None:
        self.folder = Path(folder)
        self.index = KnowledgeIndex(db)
        self.reload_seconds = reload_seconds
        self._signature: Signature | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Index the folder now, then watch it (if ``reload_seconds`` > 0)."""
        self.refresh()
        if self.reload_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="knowledge-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def refresh(self) -> SyncReport | None:
        """Re-index if the folder changed since the last look; None when it did not (or failed)."""
        with self._lock:
            signature = self._scan()
            if signature == self._signature:
                return None
            try:
                report = self.index.sync(self._documents())
            except (SQLAlchemyError, OSError):
                log.exception("knowledge.index.sync_failed", extra={"folder": str(self.folder)})
                return None
            self._signature = signature
        if report.changed:
            log.info("knowledge.index.synced", extra={"added": report.added, "updated": report.updated,
                                                       "removed": report.removed})
        return report

    def search(self, question: str, limit: int = 4) -> list[Hit]:
        """The best passages for ``question``; [] when nothing matches (or the index is missing)."""
        try:
            return self.index.search(question, limit)
        except SQLAlchemyError:
            log.exception("knowledge.search.failed")
            return []

    def _scan(self) -> Signature:
        out = []
        for path in document_files(self.folder):
            try:
                stat = path.stat()
            except OSError:
                continue
            out.append((path.relative_to(self.folder).as_posix(), stat.st_mtime_ns, stat.st_size))
        return tuple(out)

    def _documents(self) -> list[Document]:
        return [read_document(self.folder, p) for p in document_files(self.folder)]

    def _watch(self) -> None:
        while not self._stop.wait(self.reload_seconds):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the watcher must outlive any one bad file
                log.exception("knowledge.watcher.failed")
