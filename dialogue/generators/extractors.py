"""Typed slot values read from a customer's message, without any model.

Two strengths: :func:`extract_answer` answers the question being asked (lenient: a text slot
takes the whole message), :func:`extract_mentioned` finds a value stated in passing (strict:
only e-mail addresses, order numbers, categorical values named outright, "X is Y").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz, process

from helpdesk.dialogue.domain import SlotDefinition
from helpdesk.dialogue.generators.text_match import clean_text, stem, terms, words

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
ORDER_RE = re.compile(r"(?<![\w@.#-])#?\s?([A-Za-z]{1,3}-?\d{3,}|\d{4,})(?![\w@-]|\.\w)")
NUMBER_RE = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\w)")
NUMBER_WORDS = {w: float(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
YES = frozenset({
    "yes", "yeah", "yea", "ya", "yep", "yup", "yess", "sure", "ok", "okay", "k", "correct", "right",
    "affirmative", "definitely", "absolutely", "certainly", "exactly", "indeed", "true", "y", "confirm",
    "confirmed", "alright", "agreed", "perfect", "please do", "go ahead", "do it", "of course", "sounds good",
    "why not", "that is right", "that is correct", "i do", "that works", "go for it", "yes please"})
NO = frozenset({
    "no", "nope", "nah", "negative", "false", "n", "never", "not", "not really", "no thanks", "no thank you",
    "do not", "i do not", "no way", "not now", "rather not", "no need", "not at all", "please do not"})
FILLER = frozenset(
    "please thanks thank you it that is i am do so a lot much very just the one really well oh um hmm ahead "
    "would like to be great good fine this me we for sure".split())
MAX_EXTRA_WORDS = 2
FUZZY_CUTOFF = 80.0
GENERIC_VALUES = frozenset({"other", "none", "unknown", "something else", "n/a"})


@dataclass(frozen=True)
class Answer:
    """A value for the asked slot; ``confident`` when it was recognised by type, not just copied."""

    value: Any
    confident: bool


def slot_kind(name: str, slot: SlotDefinition | None) -> str:
    """bool, float, categorical, list, email, order or text (free text / any)."""
    slot_type = slot.type if slot else "any"
    if slot_type in ("bool", "float", "categorical", "list"):
        return slot_type
    lowered = name.lower()
    if "email" in lowered or "e_mail" in lowered:
        return "email"
    return "order" if "order" in lowered else "text"


#: canonical value (lower case) -> phrases that mean it (the assistant's NLU synonyms)
Synonyms = dict[str, list[str]]
#: an answer not recognised by type is only taken when it is this short (and no question)
MAX_ATTEMPT_WORDS = 3
OLD_NEW_PAIR_RE = (
    re.compile(r"\bfrom\s+(?P<old>\S+@\S+)\s+(?:to|into)\s+(?P<new>\S+@\S+)", re.IGNORECASE),
    re.compile(r"\breplace\s+(?P<old>\S+@\S+)\s+(?:with|by)\s+(?P<new>\S+@\S+)", re.IGNORECASE),
    re.compile(r"(?P<new>\S+@\S+)\s+instead\s+of\s+(?P<old>\S+@\S+)", re.IGNORECASE),
)
NEW_CUE_RE = re.compile(r"\b(?:to|into|with|new|instead|now)\W+(?:\w+\W+){0,2}$", re.IGNORECASE)
OLD_CUE_RE = re.compile(r"\b(?:from|old|current|currently|previous|was)\W+(?:\w+\W+){0,2}$", re.IGNORECASE)


def extract_answer(name: str, slot: SlotDefinition | None, text: str, *,
                   synonyms: Synonyms | None = None) -> Answer:
    """Read the answer to the question for slot ``name`` from ``text`` (value None: not found)."""
    kind = slot_kind(name, slot)
    if kind == "bool":
        return Answer(extract_bool(text), True)
    if kind == "float":
        return Answer(extract_number(text), True)
    if kind == "categorical":
        return Answer(match_categorical(text, slot.values if slot else (), synonyms=synonyms), True)
    if kind == "list":
        return Answer(None, False)
    if kind == "text":
        introduced = _introduced_value(name, text)
        return Answer(introduced, True) if introduced else Answer(text.strip(), False)
    found = extract_email(text) if kind == "email" else extract_order_number(text)
    return Answer(found, True) if found is not None else Answer(text.strip(), False)


def extract_mentioned(name: str, slot: SlotDefinition | None, text: str, *, cue: bool = False,
                      synonyms: Synonyms | None = None) -> Any:
    """A value for ``name`` stated outright in ``text``, or None; with ``cue``, also numbers and
    free text introduced by the slot's own words ("my new address is ...")."""
    kind = slot_kind(name, slot)
    if kind == "email":
        return extract_email(text)
    if kind == "order":
        return extract_order_number(text)
    if kind == "categorical":
        return match_categorical(text, slot.values if slot else (), strict=True, synonyms=synonyms)
    if not cue:
        return None
    if kind == "float":
        return extract_number(text)
    return _introduced_value(name, text) if kind == "text" else None


def extract_email(text: str) -> str | None:
    """The first e-mail address in the text."""
    match = EMAIL_RE.search(text) if "@" in text else None
    return match.group(0).rstrip(".") if match else None


def extract_order_number(text: str) -> str | None:
    """An order-number-like token (A1042, #A-1042, 10423), '#' removed, letters upper-cased."""
    match = ORDER_RE.search(text)
    return match.group(1).upper() if match else None


def extract_number(text: str) -> float | None:
    """The first number written with digits (1,250.5) or as a word (one..twenty)."""
    match = NUMBER_RE.search(text)
    if match:
        return float(match.group(0).replace(",", ""))
    return next((NUMBER_WORDS[w] for w in words(text) if w in NUMBER_WORDS), None)


def extract_bool(text: str) -> bool | None:
    """True/False when the message is mostly a yes or a no ("yes please", "nope", "I don't")."""
    tokens = words(text)
    yes = no = extra = 0
    i = 0
    while i < len(tokens):
        size, polarity = _answer_phrase(tokens, i)
        yes, no = yes + (polarity is True), no + (polarity is False)
        extra += polarity is None and tokens[i] not in FILLER
        i += size
    if extra > MAX_EXTRA_WORDS or bool(yes) == bool(no):
        return None
    return bool(yes)


def _answer_phrase(tokens: list[str], start: int) -> tuple[int, bool | None]:
    for size in (3, 2, 1):
        phrase = " ".join(tokens[start:start + size])
        if len(tokens) - start >= size and (phrase in YES or phrase in NO):
            return size, phrase in YES
    return 1, None


def match_categorical(text: str, values: tuple[str, ...] | list[str], *, strict: bool = False,
                      synonyms: Synonyms | None = None) -> str | None:
    """The allowed value the message names: whole words (stems) first, then the value's synonym
    phrases ("too big" -> "wrong size"), then a fuzzy match of the message's n-grams (rapidfuzz
    ratio >= 80) unless ``strict``."""
    candidates = [v for v in values if not (strict and v.lower() in GENERIC_VALUES)]
    named = _named_values(text, candidates)
    if len(named) == 1:
        return named[0]
    meant = _synonym_values(text, candidates, synonyms or {})
    if len(meant) == 1:
        return meant[0]
    if named or strict:
        return None
    return _fuzzy_value(text, candidates)


def _synonym_values(text: str, values: list[str], synonyms: Synonyms) -> list[str]:
    """The values whose synonym phrases cover the most of the message (total characters)."""
    message = f" {clean_text(text)} "
    found: dict[str, int] = {}
    for value in values:
        for phrase in synonyms.get(value.lower(), ()):
            cleaned = _clean_phrase(phrase)
            if cleaned and f" {cleaned} " in message:
                found[value] = found.get(value, 0) + len(cleaned)
    longest = max(found.values(), default=0)
    return [v for v, size in found.items() if size == longest]


@lru_cache(maxsize=4096)
def _clean_phrase(phrase: str) -> str:
    return clean_text(phrase)


def looks_like_answer(text: str) -> bool:
    """A short statement (not a question) that may be a mistyped value ("A10O4", "jane at x")."""
    return len(text.split()) <= MAX_ATTEMPT_WORDS and not text.rstrip().endswith("?")


def old_new_values(text: str, kind: str) -> tuple[str | None, str | None]:
    """(old, new) values of one kind (e-mail, order number) in a message: "from X to Y",
    "replace X with Y", "Y instead of X", two values in a row (old first), or one value marked
    by "to"/"new" (new) or "from"/"current" (old)."""
    find = extract_email if kind == "email" else extract_order_number
    if kind == "email":
        for pattern in OLD_NEW_PAIR_RE:
            match = pattern.search(text)
            if match:
                return find(match.group("old")), find(match.group("new"))
    spans = _value_spans(text, kind)
    if len(spans) >= 2:
        return spans[0][1], spans[1][1]
    if len(spans) == 1:
        start, value = spans[0]
        before = text[:start]
        if NEW_CUE_RE.search(before):
            return None, value
        if OLD_CUE_RE.search(before):
            return value, None
    return None, None


def _value_spans(text: str, kind: str) -> list[tuple[int, str]]:
    if kind == "email":
        return [(m.start(), m.group(0).rstrip(".")) for m in EMAIL_RE.finditer(text)]
    return [(m.start(), m.group(1).upper()) for m in ORDER_RE.finditer(text)]


def _value_words(value: str) -> list[str]:
    return words(value.replace("_", " ").replace("-", " "))


@lru_cache(maxsize=4096)
def _value_terms(value: str) -> tuple[str, ...]:
    spelled = value.replace("_", " ").replace("-", " ")
    return tuple(terms(spelled, unique=False) or [stem(w) for w in words(spelled)])


def _named_values(text: str, values: list[str]) -> list[str]:
    """The values whose content words appear in a row in the message (only the longest ones);
    failing that, those whose last word ("app" of "mobile app") does and is theirs alone."""
    message = f" {' '.join(terms(text, unique=False))} "
    plain = f" {' '.join(stem(w) for w in words(text))} "
    named = {v: _value_terms(v) for v in values if _value_terms(v)}
    hits = [v for v, t in named.items() if f" {' '.join(t)} " in message or f" {' '.join(t)} " in plain]
    if hits:
        longest = max(len(named[v]) for v in hits)
        return [v for v in hits if len(named[v]) == longest]
    heads = [t[-1] for t in named.values()]
    return [v for v, t in named.items() if len(t) > 1 and heads.count(t[-1]) == 1 and f" {t[-1]} " in message]


def _fuzzy_value(text: str, values: list[str]) -> str | None:
    """The value closest to some n-gram of the message (the best ratio, first value on a tie)."""
    names = {" ".join(_value_words(v)): v for v in values}
    if not names:
        return None
    grams = _ngrams(clean_text(text).split(), max(len(n.split()) for n in names) + 1)
    best: tuple[float, str] | None = None
    for name, value in names.items():
        found = process.extractOne(name, grams, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        if found and (best is None or found[1] > best[0]):
            best = (found[1], value)
    return best[1] if best else None


def _ngrams(tokens: list[str], longest: int) -> list[str]:
    """Distinct runs of 1..``longest`` words, in order, of at least three characters."""
    grams = (" ".join(tokens[i:i + n]) for n in range(1, longest + 1) for i in range(len(tokens) - n + 1))
    return list(dict.fromkeys(g for g in grams if len(g) >= 3))


def _introduced_value(name: str, text: str) -> str | None:
    """Free text after the slot's last name word and "is"/"to"/"should be"/":"."""
    word = name.lower().split("_")[-1]
    pattern = rf"\b{re.escape(word)}\w*\s+(?:is|to|should be|=|:)\s+(.+?)\s*$"
    match = re.search(pattern, text, flags=re.IGNORECASE)
    return match.group(1).rstrip(".!") if match else None
