"""Knowledge answers: the assistant's Markdown documents, split into passages and full-text indexed.

- :mod:`knowledge.documents` reads ``<assistant>/knowledge/**/*.md`` into titled passages;
- :mod:`knowledge.models` holds the tables (documents, passages);
- :mod:`knowledge.index` indexes and searches them (SQLite FTS5 / PostgreSQL full-text);
- :mod:`knowledge.base` keeps the index in step with the folder.

The answer itself (Claude from the passages, or the best passage offline) is
:class:`dialogue.generators.answers.KnowledgeAnswerer`.
"""

from __future__ import annotations

from helpdesk.knowledge.base import KnowledgeBase
from helpdesk.knowledge.documents import Document, Section, parse_markdown
from helpdesk.knowledge.index import Hit, KnowledgeIndex, SyncReport

__all__ = [
    "Document",
    "Hit",
    "KnowledgeBase",
    "KnowledgeIndex",
    "Section",
    "SyncReport",
    "parse_markdown",
]
