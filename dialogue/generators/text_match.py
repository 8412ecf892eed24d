"""Text normalisation for offline understanding's rules: lowercase words, contractions
expanded, stop words dropped, light stemming, a few synonyms. The phrase patterns, the slot value
extractors and the correction stage use it; flows are recognised by the learned classifier
(:mod:`dialogue.generators.classifier`)."""

from __future__ import annotations

import re
from functools import lru_cache

WORD_RE = re.compile(r"[a-z0-9]+")
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
