"""Reading an assistant's knowledge documents (``<assistant>/knowledge/**/*.md``) into passages.

A document's title is its first ``# `` heading (or a ``title:`` in YAML front matter, or the file
name). Every ``##``/``###`` section becomes a passage whose heading is the path of titles down to
it (``Returns › Refunds › Timing``); text before the first section is headed by the title alone. Sections
longer than :data:`MAX_PASSAGE_CHARS` are cut at paragraph (then sentence) boundaries, so a
passage stays small enough to quote and to rank.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

MAX_PASSAGE_CHARS = 1000
SUFFIXES = (".md", ".markdown")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
FRONT_MATTER_RE = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Section:
    """One passage: the headings above it and its text."""

    heading: str
    text: str


@dataclass(frozen=True)
class Document:
    """A parsed document; ``path`` is relative to the knowledge folder (POSIX separators)."""

    path: str
    title: str
    checksum: str
    sections: tuple[Section, ...]


def document_files(folder: Path) -> list[Path]:
    """The Markdown files of a knowledge folder, in a stable order (hidden files skipped)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def read_document(folder: Path, path: Path) -> Document:
    """Read and split one file."""
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    return parse_markdown(path.relative_to(folder).as_posix(), text, hashlib.sha256(raw).hexdigest())


def parse_markdown(rel_path: str, text: str, checksum: str = "") -> Document:
    """Split Markdown ``text`` into a titled document of passages."""
    text = text.replace("\r\n", "\n")
    title = None
    front = FRONT_MATTER_RE.match(text)
    if front:
        found = re.search(r"^title:\s*['\"]?(.+?)['\"]?\s*$", front.group(1), re.M)
        title = found.group(1) if found else None
        text = text[front.end():]
    blocks: list[tuple[list[str], list[str]]] = [([], [])]
    trail: list[tuple[int, str]] = []
    for line in text.split("\n"):
        match = HEADING_RE.match(line)
        if match and len(match.group(1)) == 1 and title is None and not trail:
            title = match.group(2)
            continue
        if match and len(match.group(1)) >= 2:
            level = len(match.group(1))
            trail = [(lvl, name) for lvl, name in trail if lvl < level] + [(level, match.group(2))]
            blocks.append(([name for _, name in trail], []))
            continue
        blocks[-1][1].append(line)
    title = title or Path(rel_path).stem.replace("-", " ").replace("_", " ").capitalize()
    sections = [Section(" › ".join([title, *heads]), piece)
                for heads, lines in blocks for piece in split_text("\n".join(lines))]
    return Document(rel_path, title, checksum, tuple(sections))


def split_text(text: str, limit: int = MAX_PASSAGE_CHARS) -> list[str]:
    """Pieces of at most ``limit`` characters, cut between paragraphs, else between sentences."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    units: list[str] = []
    for paragraph in paragraphs:
        units += [paragraph] if len(paragraph) <= limit else _sentences(paragraph, limit)
    pieces: list[str] = []
    for unit in units:
        if pieces and len(pieces[-1]) + 2 + len(unit) <= limit:
            pieces[-1] += "\n\n" + unit
        else:
            pieces.append(unit)
    return pieces


def _sentences(paragraph: str, limit: int) -> list[str]:
    out: list[str] = []
    for sentence in SENTENCE_RE.split(paragraph):
        while len(sentence) > limit:
            out.append(sentence[:limit])
            sentence = sentence[limit:]
        if out and len(out[-1]) + 1 + len(sentence) <= limit:
            out[-1] += " " + sentence
        elif sentence:
            out.append(sentence)
    return out
