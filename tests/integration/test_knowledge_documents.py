"""Reading knowledge documents: titles, one passage per section, long sections cut."""

from __future__ import annotations

from pathlib import Path

from helpdesk.knowledge.documents import MAX_PASSAGE_CHARS, document_files, parse_markdown, read_document, split_text

REPO = Path(__file__).resolve().parents[2]
DOC = """# Returns and refunds

Most items can be returned within 30 days.

## Refunds

We refund within 5 business days.

### Store credit

Store credit never expires.

## Exchanges

No direct exchanges.
"""


def test_sections_become_passages_headed_by_their_path() -> None:
    document = parse_markdown("returns.md", DOC, "abc")
    assert document.title == "Returns and refunds" and document.checksum == "abc"
    assert [(s.heading, s.text) for s in document.sections] == [
        ("Returns and refunds", "Most items can be returned within 30 days."),
        ("Returns and refunds › Refunds", "We refund within 5 business days."),
        ("Returns and refunds › Refunds › Store credit", "Store credit never expires."),
        ("Returns and refunds › Exchanges", "No direct exchanges."),
    ]


def test_title_from_front_matter_or_file_name_and_empty_sections_skipped() -> None:
    front = parse_markdown("faq/ship.md", "---\ntitle: 'Shipping FAQ'\n---\n## Where\n\nUS and Canada.\n\n## Empty\n")
    assert front.title == "Shipping FAQ"
    assert [s.heading for s in front.sections] == ["Shipping FAQ › Where"]
    bare = parse_markdown("gift-cards.md", "Gift cards never expire.")
    assert bare.title == "Gift cards" and bare.sections[0].heading == "Gift cards"


def test_long_sections_are_cut_between_paragraphs_then_sentences() -> None:
    paragraph = "This sentence is about sizes. " * 20
    pieces = split_text("\n\n".join([paragraph] * 5))
    assert len(pieces) > 1 and all(len(p) <= MAX_PASSAGE_CHARS for p in pieces)
    huge = split_text("x" * (MAX_PASSAGE_CHARS * 2 + 10))
    assert [len(p) for p in huge] == [MAX_PASSAGE_CHARS, MAX_PASSAGE_CHARS, 10]


def test_the_default_assistant_ships_its_documents() -> None:
    folder = REPO / "flows" / "knowledge"
    files = [p.name for p in document_files(folder)]
    assert files == ["payment.md", "returns.md", "shipping.md", "sizing.md", "warranty.md"]
    for path in document_files(folder):
        document = read_document(folder, path)
        assert document.title and len(document.checksum) == 64 and len(document.sections) >= 4


def test_hidden_files_and_other_formats_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A")
    (tmp_path / "notes.txt").write_text("no")
    (tmp_path / ".draft.md").write_text("# draft")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.md").write_text("# x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.markdown").write_text("# B")
    assert [p.relative_to(tmp_path).as_posix() for p in document_files(tmp_path)] == ["a.md", "sub/b.markdown"]
    assert document_files(tmp_path / "missing") == []
