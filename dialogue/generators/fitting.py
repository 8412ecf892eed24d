"""Fitting the flow classifier with scikit-learn: TF-IDF over word 1-2-grams and character
2-5-grams within words, then a multinomial logistic regression (``class_weight="balanced"``).

The only module that imports scikit-learn, SciPy and numpy, and it runs in a child process
(:mod:`dialogue.generators.model_cache`)::

    echo '{"texts": [...], "labels": [...], "synonyms": {}, "c": 50.0}' | python -m dialogue.generators.fitting > classifier.model

Its result is :class:`ModelArrays` (plain lists and ``array("d")`` objects, converted from
scikit-learn's numpy arrays here), which is all
:class:`~dialogue.generators.classifier.FlowClassifier` needs to predict.
"""

from __future__ import annotations

import json
import sys
from array import array
from collections.abc import Sequence

import numpy as np

from helpdesk.dialogue.generators.classifier import (
    CHAR_NGRAMS,
    TOKEN_PATTERN,
    WORD_NGRAMS,
    ModelArrays,
    phrase_normaliser,
)


def fit(texts: Sequence[str], labels: Sequence[str], synonyms: dict[str, str], c: float) -> ModelArrays:
    """The fitted vocabularies, IDF weights and coefficients for ``texts`` and their ``labels``."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    if len(set(labels)) < 2:
        raise ValueError("a flow classifier needs examples of at least two labels")
    normalise = phrase_normaliser(synonyms)
    prepared = [normalise(t) for t in texts]
    word = TfidfVectorizer(analyzer="word", ngram_range=WORD_NGRAMS, sublinear_tf=True, token_pattern=TOKEN_PATTERN)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True, min_df=1)
    matrix = hstack([word.fit_transform(prepared), char.fit_transform(prepared)]).tocsr()
    model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
    with threadpool_limits(1):  # BLAS threads only add overhead on a problem this small
        model.fit(matrix, list(labels))
    coef = np.asarray(model.coef_, dtype=np.float64)  # one row per label
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:  # two labels: scikit-learn keeps one row, for the second label
        coef = np.vstack([-coef / 2, coef / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return ModelArrays(labels=[str(x) for x in model.classes_], word_terms=_terms(word.vocabulary_),
                       char_terms=_terms(char.vocabulary_), idf=_doubles(np.concatenate([word.idf_, char.idf_])),
                       coef=_doubles(coef), intercept=_doubles(intercept), synonyms=dict(synonyms))


def _doubles(values: np.ndarray) -> array[float]:
    """A numpy array's values, row after row, as an ``array("d")`` (the same bits)."""
    return array("d", np.ascontiguousarray(values, dtype=np.float64).tobytes())


def _terms(vocabulary: dict[str, int]) -> list[str]:
    """A fitted vocabulary (term -> column) as its terms in column order."""
    terms = [""] * len(vocabulary)
    for term, column in vocabulary.items():
        terms[column] = term
    return terms


def main() -> None:
    """Fit the training data read as JSON from stdin; write the model file to stdout."""
    from helpdesk.dialogue.generators.model_cache import cache_key, encode

    request = json.load(sys.stdin)
    arrays = fit(request["texts"], request["labels"], request["synonyms"], float(request["c"]))
    sys.stdout.buffer.write(encode(arrays, cache_key(request)))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
