"""Lexical text matching for offline understanding: normalising, stemming, flow scoring.

A message is compared with every flow's example phrases, name and description after the same
normalisation (lowercase, contractions expanded, stop words dropped, light stemming, a few
synonyms, typo correction against the flows' vocabulary). Token weights are IDF computed over
the flows, so words every flow shares ("order") count little and distinctive ones a lot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from dialogue.flows import Flow

WORD_RE = re.compile(r"[a-z0-9]+")
CLAUSE_RE = re.compile(r"[.;:!?()]\s*|,\s*")
VALUE_RE = re.compile(r"[@\d]")
CONTRACTIONS = (
    (re.compile(r"\b(can't|cannot|cant)\b"), "can not"), (re.compile(r"\b(won't|wont)\b"), "will not"),
    (re.compile(r"n't\b"), " not"), (re.compile(r"\b(dont|didnt|doesnt|isnt|wasnt|arent|havent|hasnt)\b"),
                                     lambda m: m.group(1)[:-2] + " not"),
    (re.compile(r"\b(i'm|im)\b"), "i am"), (re.compile(r"'re\b"), " are"), (re.compile(r"'s\b"), " is"),
    (re.compile(r"\b(whats|thats|hows|wheres)\b"), lambda m: m.group(1)[:-1] + " is"),
    (re.compile(r"'ve\b"), " have"), (re.compile(r"'ll\b"), " will"), (re.compile(r"'d\b"), " would"),
    (re.compile(r"\be-mail"), "email"), (re.compile(r"\b(log|sign)[- ]?(in|on)\b"), "log in"),
)
STOP_WORDS = frozenset("""
a an the i me my mine myself we us our ours you your yours it its itself this that these those they them
their he him his she her is am are was were be been being do does did doing have has had having to of in
on at for with from by about into onto over and or but so if then than please pls plz can could would will
shall should may might must just some any there here what which who whom how hi hello hey thanks thank
want wanted wants need needs like also really very let tell help ok okay oh um uh well maybe one
get got as up out too again now today whether
""".split())
#: words that mean the same thing here, written plainly (both sides are stemmed when loaded)
RAW_SYNONYMS = {
    "package": "parcel", "packet": "parcel", "pkg": "parcel", "agent": "human", "person": "human",
    "operator": "human", "representative": "human", "rep": "human", "someone": "human",
    "somebody": "human", "staff": "human", "people": "human", "pwd": "password", "pw": "password",
    "passcode": "password", "reimburse": "refund",
    "reimbursement": "refund", "faulty": "broken", "defective": "broken", "broke": "broken",
    "delay": "late", "delayed": "late", "overdue": "late", "bought": "buy", "purchase": "buy",
    "purchased": "buy", "telephone": "phone", "call": "phone", "ring": "phone", "mail": "email", "e": "email",
}
#: weight (idf) of a word no flow uses, as if a third of the flows used it: it dilutes a match
#: (off-topic words make a message less about any flow) without drowning it
UNKNOWN_IDF = 1.5
TYPO_MIN_LENGTH = 4
TYPO_CUTOFF = 85.0
#: corrections remembered per matcher (unknown words of all conversations; cleared when full)
TYPO_CACHE_SIZE = 10_000


def expand(text: str) -> str:
    """Lowercase and expand contractions (also the apostrophe-less ones people type)."""
    text = text.lower().replace("\u2019", "'").replace("`", "'")
    for pattern, replacement in CONTRACTIONS:
        text = pattern.sub(replacement, text)
    return text


def words(text: str) -> list[str]:
    """The message's words, lowercase, contractions expanded, punctuation dropped."""
    return list(_words(text))


@lru_cache(maxsize=1024)
def _words(text: str) -> tuple[str, ...]:
    # every stage of a turn reads the same message: split it once
    return tuple(WORD_RE.findall(expand(text)))


def clean_text(text: str) -> str:
    """The message as space-separated plain words (for phrase patterns)."""
    return " ".join(words(text))


def without_values(text: str) -> str:
    """The text without tokens that are values rather than words (e-mail addresses, anything with
    a digit such as order numbers), which say nothing about what the customer wants."""
    return " ".join(t for t in text.split() if not VALUE_RE.search(t))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light suffix stripper: consistent, not linguistic (plural, -ing, -ed, -ation, -ment, -y, -e)."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ing") and len(word) > 5:
        word = _undouble(word[:-3])
    elif word.endswith("ied") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("ed") and len(word) > 4:
        word = _undouble(word[:-2])
    elif word.endswith(("ation", "ment")) and len(word) > 7:
        word = _undouble(word[:-5] if word.endswith("ation") else word[:-4])
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if len(word) > 4 and word.endswith(("y", "e")):
        word = word[:-1]
    return word


def _undouble(word: str) -> str:
    if len(word) > 4 and word[-1] == word[-2] and word[-1] not in "sz":
        return word[:-1]
    return word


SYNONYMS = {stem(k): stem(v) for k, v in RAW_SYNONYMS.items()}


def terms(text: str, *, unique: bool = True) -> list[str]:
    """Content terms of a text: stop words dropped, stemmed, synonyms unified; order kept."""
    out: list[str] = []
    for word in words(text):
        if word in STOP_WORDS:
            continue
        term = stem(word)
        term = SYNONYMS.get(term, term)
        if not unique or term not in out:
            out.append(term)
    return out


@dataclass(frozen=True)
class FlowScore:
    """How well a message matches one flow (0..1)."""

    flow_id: str
    score: float


@dataclass(frozen=True)
class _Doc:
    flow: int
    weights: dict[str, float]
    norm: float


class FlowMatcher:
    """Scores a message against flows; everything per flow is computed once, here.

    ``score = EXAMPLE_WEIGHT * best cosine(message, phrase)
    + DESCRIPTION_WEIGHT * share of the message's weight found anywhere in the flow's phrases``;
    the phrases are the flow's name, examples and description clauses, vectors are binary
    term vectors weighted by IDF over flows, so a message mixing words of several examples
    still scores.
    """

    EXAMPLE_WEIGHT = 0.7
    DESCRIPTION_WEIGHT = 0.3

    def __init__(self, flows: Iterable[Flow]) -> None:
        self.flow_ids: list[str] = []
        texts: list[list[list[str]]] = []
        for flow in flows:
            self.flow_ids.append(flow.id)
            texts.append([terms(without_values(t)) for t in _phrases(flow)])
        vocabularies = [set().union(*docs) for docs in texts]
        self.idf = _idf(vocabularies)
        self._docs = [self._doc(i, doc) for i, docs in enumerate(texts) for doc in docs if doc]
        self._postings: dict[str, list[int]] = {}
        for index, doc in enumerate(self._docs):
            for term in doc.weights:
                self._postings.setdefault(term, []).append(index)
        self._vocabularies = vocabularies
        self._vocabulary = sorted(self.idf)
        self._typos: dict[str, str] = {}

    def _doc(self, flow: int, doc_terms: list[str]) -> _Doc:
        weights = {t: self.idf[t] ** 2 for t in doc_terms}
        return _Doc(flow, weights, math.sqrt(sum(weights.values())))

    def message_terms(self, text: str) -> list[str]:
        """The message's terms without values (e-mails, order numbers), misspellings of known words
        corrected (``pasword``)."""
        return [self._correct(t) for t in terms(without_values(text))]

    def _correct(self, term: str) -> str:
        if term in self.idf or len(term) < TYPO_MIN_LENGTH or term.isdigit():
            return term
        if term not in self._typos:
            if len(self._typos) >= TYPO_CACHE_SIZE:
                self._typos.clear()
            found = process.extractOne(term, self._vocabulary, scorer=fuzz.ratio, score_cutoff=TYPO_CUTOFF)
            self._typos[term] = found[0] if found else term
        return self._typos[term]

    def scores(self, text: str, allowed: set[str] | None = None) -> list[FlowScore]:
        """Every (allowed) flow's score for ``text``, best first."""
        return self.scores_of_terms(self.message_terms(text), allowed)

    def scores_of_terms(self, message_terms: Iterable[str], allowed: set[str] | None = None) -> list[FlowScore]:
        """Every (allowed) flow's score for a message given by its :meth:`message_terms`."""
        message = {t: self.idf.get(t, UNKNOWN_IDF) ** 2 for t in message_terms}
        norm2 = sum(message.values())
        if not norm2:
            return []
        best = [0.0] * len(self.flow_ids)
        for index, dot in self._dots(message).items():
            doc = self._docs[index]
            best[doc.flow] = max(best[doc.flow], dot / (math.sqrt(norm2) * doc.norm))
        result = []
        for i, flow_id in enumerate(self.flow_ids):
            if allowed is not None and flow_id not in allowed:
                continue
            covered = sum(w for t, w in message.items() if t in self._vocabularies[i]) / norm2
            result.append(FlowScore(flow_id, self.EXAMPLE_WEIGHT * best[i] + self.DESCRIPTION_WEIGHT * covered))
        return sorted(result, key=lambda s: -s.score)

    def _dots(self, message: dict[str, float]) -> dict[int, float]:
        dots: dict[int, float] = {}
        for term, weight in message.items():
            for index in self._postings.get(term, ()):
                dots[index] = dots.get(index, 0.0) + weight
        return dots


def _phrases(flow: Flow) -> list[str]:
    """The texts a flow is recognised by: its name, its examples and each clause of its description."""
    return [flow.name, *flow.examples, *(c for c in CLAUSE_RE.split(flow.description) if c.strip())]


def _idf(documents: list[set[str]]) -> dict[str, float]:
    count = len(documents)
    frequency: dict[str, int] = {}
    for document in documents:
        for term in document:
            frequency[term] = frequency.get(term, 0) + 1
    return {t: math.log(1.0 + count / n) for t, n in frequency.items()}
