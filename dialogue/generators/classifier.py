"""A flow classifier learned from examples: TF-IDF over word and character n-grams with a
multinomial logistic regression, fitted by scikit-learn (:mod:`dialogue.generators.fitting`) and
served in pure Python (no numpy: it would add ~15 MB to every serving process).

The fitted vocabularies, IDF weights and coefficients are plain dicts and ``array("d")`` objects
(:class:`ModelArrays`); prediction does scikit-learn's arithmetic without its per-call validation
(a unit test checks both give the same probabilities) over the few columns a message has, which
keeps one prediction of a message seen for the first time around a tenth of a millisecond. Where
the arrays come from — a cache file, a child process that fits them, or an in-process fit — is
:mod:`dialogue.generators.model_cache`'s business: the serving process never imports
scikit-learn, SciPy or numpy when a cache or the child process is available.

Character n-grams (within word boundaries) make the model robust to typos ("cancle", "pasword")
and word forms; word bigrams catch short phrases ("log in", "too big").
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter, mul
from pathlib import Path

from helpdesk.dialogue.generators.text_match import without_values

#: the label of messages no flow handles
OUT_OF_SCOPE = "out_of_scope"
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
#: scikit-learn's word tokens for the word vectoriser (``token_pattern``)
TOKEN_PATTERN = r"(?u)\b\w+\b"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
#: inverse regularisation strength of the logistic regression (measured on the tuning set)
REGULARISATION_C = 50.0
#: trained models kept per process, by their training data
CACHE_SIZE = 8
_TRAINED: dict[tuple[object, ...], FlowClassifier] = {}
#: words whose known n-grams each classifier remembers (cleared when full)
WORD_CACHE_SIZE = 50_000
#: messages whose probabilities each classifier remembers (short answers repeat: "no", "yes", "website")
MESSAGE_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Prediction:
    """Probabilities per label, best first."""

    ranked: list[tuple[str, float]]

    @property
    def best(self) -> tuple[str, float]:
        return self.ranked[0] if self.ranked else (OUT_OF_SCOPE, 1.0)


@dataclass(frozen=True)
class ModelArrays:
    """A fitted model as plain data: what prediction needs, and what the cache stores.

    Columns ``0 .. len(word_terms)-1`` are the word n-grams, the rest the character n-grams.
    ``idf`` has one weight per column, ``intercept`` one per label, and ``coef`` one row of
    ``columns`` weights per label, the rows one after the other (``coef[label * columns + column]``,
    scikit-learn's ``coef_`` flattened; two labels: already expanded to two opposite rows, as
    scikit-learn's ``predict_proba`` does)."""

    labels: list[str]
    word_terms: list[str]
    char_terms: list[str]
    idf: array[float]
    coef: array[float]
    intercept: array[float]
    synonyms: dict[str, str]

    @property
    def columns(self) -> int:
        return len(self.word_terms) + len(self.char_terms)


class FlowClassifier:
    """Labels (flow ids and :data:`OUT_OF_SCOPE`) with calibrated probabilities for a text.

    Example::

        model = FlowClassifier.train(["where is my order", "cancel it"], ["status", "cancel"])
        model.predict("wheres my ordr").best    # ("status", 0.8...)
    """

    def __init__(self, arrays: ModelArrays) -> None:
        self.arrays = arrays
        self.labels = list(arrays.labels)
        self._words = {term: i for i, term in enumerate(arrays.word_terms)}
        offset = len(arrays.word_terms)
        self._chars = {term: offset + i for i, term in enumerate(arrays.char_terms)}
        self._idf = arrays.idf
        self._intercept = tuple(arrays.intercept)
        # each label's row of coefficients, without copying them
        columns, coef = arrays.columns, memoryview(arrays.coef)
        self._rows = tuple(coef[i * columns:(i + 1) * columns] for i in range(len(self.labels)))
        self._normalise = phrase_normaliser(arrays.synonyms)
        self._word_columns: dict[str, tuple[int, ...]] = {}
        self._messages: dict[str, tuple[float, ...]] = {}

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], *,
              synonyms: dict[str, str] | None = None, c: float = REGULARISATION_C,
              cache_dir: Path | None = None) -> FlowClassifier:
        """Fit on ``texts`` (at least two distinct labels); ``synonyms`` (phrase -> canonical
        text) are replaced before the n-grams. The same data gives the same model, trained once
        per process (several engines of one assistant share it) and, with ``cache_dir``, once
        per machine (:func:`dialogue.generators.model_cache.fitted_arrays`)."""
        from helpdesk.dialogue.generators.model_cache import fitted_arrays

        if len(set(labels)) < 2:
            raise ValueError("a flow classifier needs examples of at least two labels")
        # not keyed by the cache folder: the same data gives the same model wherever it is cached,
        # so another app of the same assistant in this process (tests, one per tenant) reuses it
        key = (tuple(texts), tuple(labels), tuple(sorted((synonyms or {}).items())), c, CHAR_NGRAMS)
        model = _TRAINED.get(key)
        if model is None:
            if len(_TRAINED) >= CACHE_SIZE:
                _TRAINED.pop(next(iter(_TRAINED)))
            model = _TRAINED[key] = cls(fitted_arrays(list(texts), list(labels), dict(synonyms or {}), c,
                                                      cache_dir=cache_dir))
        return model

    def predict(self, text: str, allowed: set[str] | None = None) -> Prediction:
        """Probabilities for ``text``; with ``allowed``, only those labels (and out of scope),
        renormalised."""
        probabilities, labels = self._probabilities(text), self.labels
        pairs = list(zip(labels, probabilities, strict=True)) if allowed is None else \
            [(label, p) for label, p in zip(labels, probabilities, strict=True)
             if label in allowed or label == OUT_OF_SCOPE]
        total = sum(p for _, p in pairs) if allowed is not None else 1.0
        total = total or 1.0
        return Prediction(sorted(((label, p / total) for label, p in pairs), key=lambda pair: -pair[1]))

    def _probabilities(self, text: str) -> tuple[float, ...]:
        """Softmax of the logits over all labels, remembered per message."""
        found = self._messages.get(text)
        if found is None:
            logits = self.logits(self._normalise(text))
            top = max(logits)
            exp = [math.exp(x - top) for x in logits]
            total = sum(exp)
            found = tuple(e / total for e in exp)
            if len(self._messages) >= MESSAGE_CACHE_SIZE:
                self._messages.clear()
            self._messages[text] = found
        return found

    def logits(self, prepared: str) -> tuple[float, ...]:
        """The linear scores of an already normalised text, one per label: l2-normalised
        sublinear TF-IDF of the word n-grams and of the character n-grams (each part normalised
        on its own, as two ``TfidfVectorizer``\\ s stacked), times the coefficients."""
        tokens = _TOKEN_RE.findall(prepared)
        words = Counter(column for term in (*tokens, *map(" ".join, zip(tokens, tokens[1:], strict=False)))
                        if (column := self._words.get(term)) is not None)
        chars: Counter[int] = Counter()
        for word in prepared.split():
            chars.update(self._char_columns(word))
        columns = (*words, *chars)
        if not columns:
            return self._intercept
        values = _tfidf(words, self._idf) + _tfidf(chars, self._idf)
        pick = itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)
        return tuple(b + sum(map(mul, values, pick(row))) for b, row in zip(self._intercept, self._rows, strict=True))

    def _char_columns(self, word: str) -> tuple[int, ...]:
        """The known character n-grams of one word (``char_wb`` n-grams depend on the word alone)."""
        columns = self._word_columns.get(word)
        if columns is None:
            if len(self._word_columns) >= WORD_CACHE_SIZE:
                self._word_columns.clear()
            chars = self._chars
            columns = self._word_columns[word] = tuple(
                column for g in _word_grams(word, *CHAR_NGRAMS) if (column := chars.get(g)) is not None)
        return columns


def _tfidf(counts: Counter[int], idf: array[float]) -> list[float]:
    """The l2-normalised sublinear TF-IDF values of ``counts`` (column -> count), in its order."""
    values = [(1.0 + math.log(count)) * idf[column] for column, count in counts.items()]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values] if norm else values


def _word_grams(word: str, low: int, high: int) -> tuple[str, ...]:
    """scikit-learn's ``_char_wb_ngrams`` for one word: n-grams of " word " (a word shorter than
    n counts once)."""
    padded = f" {word} "
    grams: list[str] = []
    for n in range(low, high + 1):
        grams += [padded[i:i + n] for i in range(max(1, len(padded) - n + 1))]
        if len(padded) <= n:
            break
    return tuple(grams)


def phrase_normaliser(synonyms: dict[str, str]) -> Callable[[str], str]:
    """Drops values (order numbers: they say nothing about the request; an e-mail address
    becomes the word "email"), lower-cases, and replaces each synonym phrase (whole words) by its canonical text."""
    phrases = sorted(synonyms, key=len, reverse=True)
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")\b") if phrases else None

    def normalise(text: str) -> str:
        text = without_values(" ".join("email" if "@" in t else t for t in text.split())).lower()
        return pattern.sub(lambda m: synonyms[m.group(0)], text) if pattern else text

    return normalise
