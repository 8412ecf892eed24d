"""Flow retrieval for assistants with many flows: BM25 over each flow's texts, no embeddings.

Each startable flow becomes one document: its id and name, description, the names and
descriptions of the slots it collects, and its example phrases (``metadata.examples``), in the
same normalised terms as offline understanding (stop words dropped, light stemming, synonyms).
A query is the customer's message plus the previous customer turns; the message's terms count
double. Rasa needs an embedding model and a vector index for the same job (RASA-NOTES §5).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from helpdesk.dialogue.flows import Flow
from helpdesk.dialogue.generators.text_match import terms

#: BM25's usual constants: term-frequency saturation and length normalisation
K1, B = 1.2, 0.75
MESSAGE_WEIGHT, HISTORY_WEIGHT = 2.0, 1.0


def flow_text(flow: Flow) -> str:
    """Everything a customer's words may match in a flow."""
    parts = [flow.id.replace("_", " ").replace("-", " "), flow.name, flow.description]
    for step in flow.collect_steps():
        parts += [str(step.collect).replace("_", " "), step.description or ""]
    return " ".join(parts + flow.examples)


@dataclass(frozen=True)
class _Document:
    flow_id: str
    tf: Counter[str]
    length: int


class FlowRetriever:
    """Ranks flows for a query with Okapi BM25; the index is built once per set of flows.

    Example::

        retriever = FlowRetriever(assistant.flows.user_flows())
        retriever.rank("my parcel arrived damaged")[:3]   # [("delivery_issue", 7.9), ...]
    """

    def __init__(self, flows: Iterable[Flow]) -> None:
        self._docs = [self._document(f) for f in flows]
        self._avg = sum(d.length for d in self._docs) / len(self._docs) if self._docs else 1.0
        df: Counter[str] = Counter()
        for doc in self._docs:
            df.update(doc.tf.keys())
        n = len(self._docs)
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}

    @staticmethod
    def _document(flow: Flow) -> _Document:
        words = terms(flow_text(flow), unique=False)
        return _Document(flow.id, Counter(words), max(1, len(words)))

    def rank(self, message: str, history: Iterable[str] = ()) -> list[tuple[str, float]]:
        """Flows with a positive score, best first (ties keep the flows' order)."""
        query: dict[str, float] = {}
        for term in terms(message):
            query[term] = query.get(term, 0.0) + MESSAGE_WEIGHT
        for text in history:
            for term in terms(text):
                query[term] = query.get(term, 0.0) + HISTORY_WEIGHT
        scored = [(d.flow_id, self._score(d, query)) for d in self._docs]
        ranked = [(flow_id, score) for flow_id, score in scored if score > 0]
        return sorted(ranked, key=lambda pair: -pair[1])

    def _score(self, doc: _Document, query: dict[str, float]) -> float:
        score = 0.0
        norm = K1 * (1 - B + B * doc.length / self._avg)
        for term, weight in query.items():
            tf = doc.tf.get(term, 0)
            if tf:
                score += weight * self._idf[term] * tf * (K1 + 1) / (tf + norm)
        return score


def select_flows(startable: list[Flow], required: Iterable[str], ranked: list[tuple[str, float]],
                 limit: int) -> list[Flow]:
    """The required flows plus the best-ranked ones, at most ``limit`` in all (unless the required
    ones alone are more), in the assistant's order so that equal selections render identically."""
    allowed = {f.id for f in startable}
    chosen = [f for f in required if f in allowed]
    for flow_id, _score in ranked:
        if len(chosen) >= limit:
            break
        if flow_id in allowed and flow_id not in chosen:
            chosen.append(flow_id)
    keep = set(chosen)
    return [f for f in startable if f.id in keep]
