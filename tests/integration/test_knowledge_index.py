"""The knowledge index on both databases: sync, full-text search, re-index on change, migrations."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, select, text

from helpdesk.conversations.db import Database, alembic_config
from helpdesk.knowledge import KnowledgeBase, KnowledgeIndex, parse_markdown
from helpdesk.knowledge.models import KnowledgeDocument, KnowledgePassage

REPO = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 20.0


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "knowledge"
    shutil.copytree(REPO / "flows" / "knowledge", folder)
    return folder


@pytest.fixture
def kb(db: Database, docs: Path) -> KnowledgeBase:
    base = KnowledgeBase(db, docs, reload_seconds=0)
    base.start()
    return base


def headings(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [h.heading for h in hits]


def test_the_full_text_index_exists_on_each_database(db: Database) -> None:
    with db.engine.connect() as connection:
        if db.dialect_name == "sqlite":
            sql = connection.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'knowledge_passages_fts'"))
            assert "fts5" in sql and "porter" in sql
            triggers = connection.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
            assert {"knowledge_passages_ai", "knowledge_passages_ad", "knowledge_passages_au"} <= set(triggers)
        else:
            definition = connection.scalar(text(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_knowledge_passages_fts'"))
            assert "gin" in definition and "to_tsvector" in definition


def test_postgresql_search_uses_the_gin_index(postgres_db: Database, docs: Path) -> None:
    KnowledgeBase(postgres_db, docs, reload_seconds=0).start()
    from helpdesk.knowledge.index import _PG_SEARCH

    with postgres_db.engine.begin() as connection:
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(connection.scalars(text("EXPLAIN " + _PG_SEARCH),
                                            {"query": "paypal | canada", "limit": 4}).all())
    assert "ix_knowledge_passages_fts" in plan


def test_questions_find_the_passage_that_answers_them(kb: KnowledgeBase) -> None:
    assert headings(kb.search("Can I pay with PayPal?", 1)) == ["Payment › Accepted payment methods"]
    assert headings(kb.search("Do you ship to Canada?", 1)) == ["Shipping and delivery › Where we ship"]
    assert headings(kb.search("Are the boots true to size?", 1)) == ["Sizing and fit › Footwear"]
    assert headings(kb.search("can I exchange for a different size", 1)) == ["Returns and refunds › Exchanges"]
    best = kb.search("when will I get my refund?", 4)
    assert best[0].heading == "Returns and refunds › Refunds" and best[0].coverage == 1.0
    assert best[0].source == "returns.md" and best[0].title == "Returns and refunds"
    assert "5 business days" in best[0].text


def test_off_topic_questions_find_nothing_that_covers_them(kb: KnowledgeBase) -> None:
    assert kb.search("what is the meaning of life", 4) == []
    assert kb.search("?!", 4) == []
    bikes = kb.search("do you sell bikes", 4)
    assert all(h.coverage < 0.5 for h in bikes)


def test_sync_adds_updates_and_removes_documents(db: Database, docs: Path, kb: KnowledgeBase) -> None:
    index = KnowledgeIndex(db)
    with db.read_session() as session:
        before = {d.path: d.indexed_at for d in session.scalars(select(KnowledgeDocument))}
    assert set(before) == {"payment.md", "returns.md", "shipping.md", "sizing.md", "warranty.md"}

    (docs / "payment.md").write_text("# Payment\n\n## Methods\n\nWe accept Bitcoin only.\n")
    (docs / "shipping.md").unlink()
    (docs / "gift-cards.md").write_text("# Gift cards\n\nGift cards never expire and work in every store.\n")
    report = kb.refresh()
    assert report is not None
    assert (report.added, report.updated, report.removed) == (["gift-cards.md"], ["payment.md"], ["shipping.md"])
    assert sorted(report.unchanged) == ["returns.md", "sizing.md", "warranty.md"]

    assert headings(index.search("bitcoin", 4)) == ["Payment › Methods"]
    assert index.search("paypal", 4) == []  # the old passages left the full-text index too
    assert all(h.source != "shipping.md" for h in index.search("ship to canada", 4))
    assert headings(index.search("do gift cards expire", 1)) == ["Gift cards"]
    with db.read_session() as session:
        after = {d.path: d.indexed_at for d in session.scalars(select(KnowledgeDocument))}
        orphans = session.scalar(text("SELECT count(*) FROM knowledge_passages p LEFT JOIN knowledge_documents d "
                                      "ON d.id = p.document_id WHERE d.id IS NULL"))
    assert after["returns.md"] == before["returns.md"]  # unchanged files are not rewritten
    assert orphans == 0


def test_refresh_does_nothing_when_nothing_changed(kb: KnowledgeBase) -> None:
    assert kb.refresh() is None


def test_the_watcher_re_indexes_a_changed_folder(db: Database, docs: Path) -> None:
    base = KnowledgeBase(db, docs, reload_seconds=0.05)
    base.start()
    try:
        (docs / "loyalty.md").write_text("# Loyalty\n\nMembers earn trailpoints on every purchase.\n")
        deadline = time.monotonic() + WAIT_SECONDS
        while not base.search("trailpoints", 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert headings(base.search("trailpoints", 1)) == ["Loyalty"]
    finally:
        base.stop()


def test_a_database_without_the_tables_means_no_answers_not_a_crash(
        tmp_path: Path, docs: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = Database(f"sqlite:///{tmp_path}/empty.db")
    try:
        base = KnowledgeBase(db, docs, reload_seconds=0)
        base.start()
        assert base.search("paypal", 4) == []
        assert any(r.message == "knowledge.index.sync_failed" for r in caplog.records)
    finally:
        db.dispose()


def test_passages_of_one_document_keep_their_order(db: Database) -> None:
    index = KnowledgeIndex(db)
    document = parse_markdown("a.md", "# A\n\nintro\n\n## One\n\nfirst\n\n## Two\n\nsecond\n", "c1")
    index.sync([document])
    with db.read_session() as session:
        rows = session.execute(select(KnowledgePassage.position, KnowledgePassage.heading)
                               .order_by(KnowledgePassage.position)).all()
    assert [tuple(r) for r in rows] == [(0, "A"), (1, "A › One"), (2, "A › Two")]


def test_downgrade_removes_the_knowledge_tables_and_index(db: Database) -> None:
    with db.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0003")
    names = set(inspect(db.engine).get_table_names())
    assert not {n for n in names if n.startswith("knowledge")}
    db.upgrade()
    assert {"knowledge_documents", "knowledge_passages"} <= set(inspect(db.engine).get_table_names())
