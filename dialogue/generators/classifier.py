"""A flow classifier learned from examples: TF-IDF over word and character n-grams with a
multinomial logistic regression (scikit-learn), plus a lean prediction path.

Training uses scikit-learn (imported here only, so a process that never trains pays neither
its import time nor its memory). Prediction does the same arithmetic without scikit-learn's
per-call validation: the fitted vocabularies, IDF weights and coefficients are copied into a
dict and a numpy matrix, which keeps one prediction well under a millisecond (scikit-learn's own
``predict_proba`` on one message costs about 1 ms). A unit test checks both give the same
probabilities.

Character n-grams (within word boundaries) make the model robust to typos ("cancle", "pasword")
and word forms; word bigrams catch short phrases ("log in", "too big").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dialogue.generators.text_match import without_values

#: the label of messages no flow handles
OUT_OF_SCOPE = "out_of_scope"
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
#: inverse regularisation strength of the logistic regression (measured on the tuning set)
REGULARISATION_C = 50.0
#: trained models kept per process, by their training data
CACHE_SIZE = 8
_TRAINED: dict[tuple[object, ...], FlowClassifier] = {}
#: words whose known character n-grams each vectoriser remembers (cleared when full)
WORD_CACHE_SIZE = 50_000


@dataclass(frozen=True)
class Prediction:
    """Probabilities per label, best first."""

    ranked: list[tuple[str, float]]

    @property
    def best(self) -> tuple[str, float]:
        return self.ranked[0] if self.ranked else (OUT_OF_SCOPE, 1.0)


class _Vectoriser:
    """One fitted TfidfVectorizer (sublinear tf, l2 norm) as plain lookups. Character n-grams
    within words (``char_wb``) depend on the word alone, so each word's known n-grams are
    looked up once and remembered."""

    def __init__(self, fitted: object, offset: int) -> None:
        self.analyse: Callable[[str], list[str]] = fitted.build_analyzer()  # type: ignore[attr-defined]
        vocabulary: dict[str, int] = fitted.vocabulary_  # type: ignore[attr-defined]
        self.index = {term: offset + i for term, i in vocabulary.items()}
        self.idf = np.zeros(offset + len(vocabulary))
        self.idf[offset:] = fitted.idf_  # type: ignore[attr-defined]
        self.size = len(vocabulary)
        self._range = fitted.ngram_range if getattr(fitted, "analyzer", None) == "char_wb" else None  # type: ignore[attr-defined]
        self._words: dict[str, tuple[int, ...]] = {}

    def _known(self, text: str) -> list[int]:
        if self._range is None:
            return [column for term in self.analyse(text) if (column := self.index.get(term)) is not None]
        found: list[int] = []
        for word in text.lower().split():
            grams = self._words.get(word)
            if grams is None:
                if len(self._words) >= WORD_CACHE_SIZE:
                    self._words.clear()
                grams = self._words[word] = tuple(
                    column for g in _word_grams(word, *self._range) if (column := self.index.get(g)) is not None)
            found += grams
        return found

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Columns and l2-normalised sublinear TF-IDF values of the text's known terms."""
        counts = Counter(self._known(text))
        columns = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self.idf[columns]
        norm = float(np.sqrt(values @ values))
        return columns, values / norm if norm else values


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


class FlowClassifier:
    """Labels (flow ids and :data:`OUT_OF_SCOPE`) with calibrated probabilities for a text.

    Example::

        model = FlowClassifier.train(["where is my order", "cancel it"], ["status", "cancel"])
        model.predict("wheres my ordr").best    # ("status", 0.8...)
    """

    def __init__(self, labels: list[str], vectorisers: list[_Vectoriser], coef: np.ndarray,
                 intercept: np.ndarray, normalise: Callable[[str], str]) -> None:
        self.labels = labels
        self._vectorisers = vectorisers
        self._coef = coef
        self._intercept = intercept
        self._normalise = normalise

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], *,
              synonyms: dict[str, str] | None = None, c: float = REGULARISATION_C) -> FlowClassifier:
        """Fit on ``texts`` (at least two distinct labels); ``synonyms`` (phrase -> canonical
        text) are replaced before the n-grams. The same data gives the same model, trained once
        per process (several engines of one assistant share it)."""
        key = (tuple(texts), tuple(labels), tuple(sorted((synonyms or {}).items())), c, CHAR_NGRAMS)
        if key not in _TRAINED:
            if len(_TRAINED) >= CACHE_SIZE:
                _TRAINED.pop(next(iter(_TRAINED)))
            _TRAINED[key] = cls._fit(texts, labels, phrase_normaliser(synonyms or {}), c)
        return _TRAINED[key]

    @classmethod
    def _fit(cls, texts: Sequence[str], labels: Sequence[str], normalise: Callable[[str], str],
             c: float) -> FlowClassifier:
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        if len(set(labels)) < 2:
            raise ValueError("a flow classifier needs examples of at least two labels")
        prepared = [normalise(t) for t in texts]
        word = TfidfVectorizer(analyzer="word", ngram_range=WORD_NGRAMS, sublinear_tf=True,
                               token_pattern=r"(?u)\b\w+\b")
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True, min_df=1)
        matrix = hstack([word.fit_transform(prepared), char.fit_transform(prepared)]).tocsr()
        model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
        with threadpool_limits(1):  # BLAS threads only add overhead on a problem this small
            model.fit(matrix, list(labels))
        vectorisers = [_Vectoriser(word, 0)]
        vectorisers.append(_Vectoriser(char, vectorisers[0].size))
        coef = np.ascontiguousarray(model.coef_.T, dtype=np.float64)
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        if coef.shape[1] == 1:  # two labels: scikit-learn keeps one column for the second label
            coef = np.hstack([-coef / 2, coef / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        return cls([str(x) for x in model.classes_], vectorisers, coef, intercept, normalise)

    def predict(self, text: str, allowed: set[str] | None = None) -> Prediction:
        """Probabilities for ``text``; with ``allowed``, only those labels (and out of scope),
        renormalised."""
        logits = self.logits(self._normalise(text))
        probabilities = np.exp(logits - logits.max())
        keep = [i for i, label in enumerate(self.labels)
                if allowed is None or label in allowed or label == OUT_OF_SCOPE]
        total = float(probabilities[keep].sum()) or 1.0
        ranked = sorted(((self.labels[i], float(probabilities[i]) / total) for i in keep),
                        key=lambda pair: -pair[1])
        return Prediction(ranked)

    def logits(self, prepared: str) -> np.ndarray:
        """The linear scores of an already normalised text."""
        scores = self._intercept.copy()
        for vectoriser in self._vectorisers:
            columns, values = vectoriser.features(prepared)
            if len(columns):
                scores += values @ self._coef[columns]
        return scores


def phrase_normaliser(synonyms: dict[str, str]) -> Callable[[str], str]:
    """Drops values (order numbers: they say nothing about the request; an e-mail address
    becomes the word "email"), lower-cases, and replaces each synonym phrase (whole words) by its canonical text."""
    phrases = sorted(synonyms, key=len, reverse=True)
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")\b") if phrases else None

    def normalise(text: str) -> str:
        text = without_values(" ".join("email" if "@" in t else t for t in text.split())).lower()
        return pattern.sub(lambda m: synonyms[m.group(0)], text) if pattern else text

    return normalise
