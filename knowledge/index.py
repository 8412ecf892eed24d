"""The full-text index of knowledge passages: SQLite FTS5 or PostgreSQL full-text search.

Passages live in ``knowledge_passages``; on SQLite an external-content FTS5 table
(``porter unicode61`` tokenizer, kept in step by triggers) ranks them with BM25, heading words
weighing double; on PostgreSQL a GIN index over ``setweight(to_tsvector('english', heading), 'A')
|| setweight(to_tsvector('english', text), 'B')`` answers ``@@`` queries ranked by ``ts_rank_cd``.
Both are created by migration 0004. A query is the question's content words joined with OR, so a
question need not repeat a passage word for word; the answerer judges how well a hit covers it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from helpdesk.conversations.db import Database
from helpdesk.conversations.models import utcnow
from helpdesk.knowledge.documents import Document
from helpdesk.knowledge.models import KnowledgeDocument, KnowledgePassage

#: PostgreSQL: the indexed expression; queries must repeat it exactly to use the index
PG_VECTOR = ("(setweight(to_tsvector('english', coalesce(p.heading, '')), 'A') || "
             "setweight(to_tsvector('english', p.text), 'B'))")
#: PostgreSQL advisory lock key: one re-index at a time across processes ("kb" in ASCII)
SYNC_LOCK = 0x6B62
MAX_QUERY_TERMS = 24
#: full-text hits considered per passage returned
CANDIDATES = 3
WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
STOP_WORDS = frozenset("""
a an the i me my we our you your it its this that these those they them their he she is am are was
were be been being do does did have has had to of in on at for with from by about into and or but so
if then than please can could would will shall should may might must just what which who how when
where why hi hello hey thanks thank want need like also really very tell let get there here any some
policy policies info information question questions detail details know find out way rule rules
much many long
""".split())


@dataclass(frozen=True)
class Hit:
    """A passage found for a query; ``source`` is the document's path in the knowledge folder."""

    passage_id: int
    title: str
    source: str
    heading: str
    text: str
    #: the full-text rank (higher is better; comparable within one search only)
    score: float
    #: share of the question's words the passage contains, each weighted by its IDF over all
    #: passages; a word no document uses weighs most, so "do you sell bikes" covers little
    coverage: float = 0.0


@dataclass
class SyncReport:
    """What a re-index changed, by document path."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def query_terms(question: str) -> list[str]:
    """The words of a question worth searching for (lowercase, no stop words, no duplicates)."""
    words = [w for w in WORD_RE.findall(question.lower()) if w not in STOP_WORDS and len(w) > 1]
    return list(dict.fromkeys(words))[:MAX_QUERY_TERMS]


class KnowledgeIndex:
    """Writes documents into the index and searches it, on SQLite or PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def sync(self, documents: list[Document]) -> SyncReport:
        """Make the index hold exactly ``documents``: unchanged files (same checksum) are kept,
        changed ones re-split, missing ones dropped; one transaction."""
        report = SyncReport()
        with self.db.session() as session, session.begin():
            if self.db.dialect_name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SYNC_LOCK})
            existing = {d.path: d for d in session.scalars(select(KnowledgeDocument))}
            for document in documents:
                row = existing.pop(document.path, None)
                if row is not None and row.checksum == document.checksum:
                    report.unchanged.append(document.path)
                    continue
                (report.updated if row is not None else report.added).append(document.path)
                _store(session, document, row)
            for row in existing.values():
                report.removed.append(row.path)
                session.execute(delete(KnowledgePassage).where(KnowledgePassage.document_id == row.id))
                session.delete(row)
        return report

    def search(self, question: str, limit: int = 4) -> list[Hit]:
        """The best passages for ``question``: of the top full-text hits, those covering most of the
        question first (then by rank), so both databases agree on what matters most."""
        words = query_terms(question)
        if not words:
            return []
        if self.db.dialect_name == "postgresql":
            sql, query = _PG_SEARCH, " | ".join(words)
        else:
            sql, query = _SQLITE_SEARCH, " OR ".join(f'"{w}"' for w in words)
        with self.db.read_session() as session:
            rows = session.execute(text(sql), {"query": query, "limit": limit * CANDIDATES}).all()
            if not rows:
                return []
            total = int(session.scalar(select(func.count()).select_from(KnowledgePassage)) or 0)
            matches = self._matches(session, words)
        weights = {w: math.log(1 + (total - len(ids) + 0.5) / (len(ids) + 0.5)) for w, ids in matches.items()}
        norm = sum(weights.values()) or 1.0
        hits = [Hit(int(r.id), r.title, r.path, r.heading, r.text, float(r.score),
                    round(sum(weights[w] for w, ids in matches.items() if r.id in ids) / norm, 3)) for r in rows]
        return sorted(hits, key=lambda h: -h.coverage)[:limit]

    def _matches(self, session: Session, words: list[str]) -> dict[str, set[int]]:
        """For each searchable word, the passages that contain it (PostgreSQL drops its stop words)."""
        if self.db.dialect_name == "postgresql":
            rows = session.execute(text(_PG_MATCHES), {"words": words}).all()
            found: dict[str, set[int]] = {}
            for row in rows:
                if row.nodes:
                    found.setdefault(row.word, set()).update([row.id] if row.id is not None else [])
            return found
        # only parameter names vary; the words themselves are bound parameters
        sql = " UNION ALL ".join(f"SELECT :w{i} AS word, rowid AS id FROM knowledge_passages_fts "  # noqa: S608
                                 f"WHERE knowledge_passages_fts MATCH :q{i}" for i in range(len(words)))
        params = {f"w{i}": w for i, w in enumerate(words)} | {f"q{i}": f'"{w}"' for i, w in enumerate(words)}
        found = {w: set() for w in words}
        for row in session.execute(text(sql), params):
            found[row.word].add(int(row.id))
        return found


def _store(session: Session, document: Document, row: KnowledgeDocument | None) -> None:
    if row is None:
        row = KnowledgeDocument(path=document.path, title=document.title[:255], checksum=document.checksum)
        session.add(row)
        session.flush()
    else:
        session.execute(delete(KnowledgePassage).where(KnowledgePassage.document_id == row.id))
        row.title, row.checksum, row.indexed_at = document.title[:255], document.checksum, utcnow()
    session.add_all(KnowledgePassage(document_id=row.id, position=i, heading=s.heading[:512], text=s.text)
                    for i, s in enumerate(document.sections))


_SQLITE_SEARCH = """
SELECT p.id, d.title, d.path, p.heading, p.text, -bm25(knowledge_passages_fts, 2.0, 1.0) AS score
FROM knowledge_passages_fts
JOIN knowledge_passages p ON p.id = knowledge_passages_fts.rowid
JOIN knowledge_documents d ON d.id = p.document_id
WHERE knowledge_passages_fts MATCH :query
ORDER BY bm25(knowledge_passages_fts, 2.0, 1.0), p.id
LIMIT :limit
"""

_PG_SEARCH = f"""
SELECT p.id, d.title, d.path, p.heading, p.text, ts_rank_cd({PG_VECTOR}, q.query) AS score
FROM knowledge_passages p
JOIN knowledge_documents d ON d.id = p.document_id
CROSS JOIN to_tsquery('english', :query) AS q(query)
WHERE {PG_VECTOR} @@ q.query
ORDER BY score DESC, p.id
LIMIT :limit
"""  # noqa: S608 - PG_VECTOR is a constant

_PG_MATCHES = f"""
SELECT w.word, numnode(plainto_tsquery('english', w.word)) AS nodes, p.id
FROM unnest(CAST(:words AS text[])) AS w(word)
LEFT JOIN knowledge_passages p ON {PG_VECTOR} @@ plainto_tsquery('english', w.word)
"""  # noqa: S608 - PG_VECTOR is a constant
