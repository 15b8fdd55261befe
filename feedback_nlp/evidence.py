"""Roadmap evidence per unit: how strongly one piece of feedback speaks to each roadmap item.

A theme is linked to at most one roadmap item, so feedback reaches an item through its theme only when the
whole theme is about that item. Feedback that names a feature inside a broader theme ("love the app, but
let me rate movies") never reached the item's owner. On IS-22 (24 app features as roadmap items, each app's
reviews as feedback) the theme link attaches 34% of the relevant reviews, at 64% precision over the judged
ones, and leaves 10 of the 24 features with none. Letting a unit whose own evidence score reaches 0.65 go
to its best item (else to its theme's item, as before) attaches 56% at 74% precision, and 23 features get
evidence. On the bundled sample, where themes follow the tickets' intents closely, the same rule moves
item precision from 0.759 to 0.766 and recall from 0.784 to 0.791. A lower threshold finds more on IS-22
and costs the sample (0.6: IS-22 69% at 72%; sample 0.748 / 0.774), see ``benchmarks/README.md``.

The unit's evidence score for an item is the cosine of the unit and item vectors plus ``lexical_weight``
times the unit's BM25 score for the item's title and keywords, divided by the best BM25 score a training
unit reached for that item (so the lexical part lies in [0, 1], capped at 1 for new units). The corpus
statistics (document frequencies of the items' words, mean unit length) come from the training units, so a
new unit is scored on its own, in any process, without the corpus at hand.

The BM25 here saturates term frequency early and barely normalises for length (``k1`` 0.5, ``b`` 0.2
instead of the usual 1.2 and 0.75): evidence is whether a unit names the feature, not how much of a long
review is about it (IS-22 mean precision@10 0.758 -> 0.79 at the same weight).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from feedback_nlp.bm25 import BM25Corpus
from feedback_nlp.roadmap import RoadmapItem
from feedback_nlp.terms import terms

EVIDENCE_BM25_K1 = 0.5
EVIDENCE_BM25_B = 0.2


@dataclass
class RoadmapEvidence:
    """Scores units against roadmap items with statistics of a reference corpus (the training units).

    Attributes:
        item_ids: roadmap item ids, in column order.
        item_vectors: unit-length item vectors, ``(n_items, dim)``.
        corpus: BM25 statistics of the reference units for the items' words.
        best_lexical: the best BM25 score any reference unit reached per item (1 where none matched).
        lexical_weight: weight of the scaled BM25 part beside the cosine.
        threshold: evidence score from which a unit counts as evidence for an item.
    """

    item_ids: list[str]
    item_vectors: np.ndarray
    corpus: BM25Corpus
    best_lexical: np.ndarray
    lexical_weight: float
    threshold: float

    @classmethod
    def fit(
        cls,
        items: Sequence[RoadmapItem],
        item_vectors: np.ndarray,
        texts: Sequence[str],
        lexical_weight: float = 0.3,
        threshold: float = 0.65,
    ) -> RoadmapEvidence:
        """Statistics from ``texts`` (the reference corpus) in one pass; for corpora that fit in memory."""
        corpus = BM25Corpus.for_queries([item.lexical_text() for item in items]).count(texts)
        evidence = cls(
            [item.id for item in items],
            np.asarray(item_vectors, dtype=np.float32),
            corpus,
            np.ones(len(items)),
            lexical_weight,
            threshold,
        )
        evidence.best_lexical = best_per_item(evidence.lexical(texts))
        return evidence

    def lexical(self, texts: Sequence[str]) -> np.ndarray:
        """Raw evidence BM25 of each text for each item, ``(n_texts, n_items)``."""
        return self.corpus.scores(texts, k1=EVIDENCE_BM25_K1, b=EVIDENCE_BM25_B)

    def scores(self, X: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        """Evidence score per unit and item, ``(n_units, n_items)``; the cosine alone without texts."""
        if len(self.item_ids) == 0:
            return np.zeros((len(X), 0), dtype=np.float32)
        cosine = np.asarray(X, dtype=np.float32) @ self.item_vectors.T
        if texts is None or self.lexical_weight <= 0 or len(texts) == 0:
            return cosine.astype(np.float32)
        scaled = np.minimum(self.lexical(texts) / self.best_lexical, 1.0)
        return (cosine + self.lexical_weight * scaled).astype(np.float32)

    def best(self, X: np.ndarray, texts: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per unit, the column of its best item and that score, whatever the threshold (-1 with no items)."""
        scores = self.scores(X, texts)
        if scores.shape[1] == 0:
            return np.full(len(X), -1), np.zeros(len(X), dtype=np.float32)
        best = np.argmax(scores, axis=1)
        return best, scores[np.arange(len(scores)), best]

    def best_items(self, X: np.ndarray, texts: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per unit, the column of its best item and that score (-1 where no item reaches the threshold)."""
        best, best_score = self.best(X, texts)
        return np.where(best_score >= self.threshold, best, -1), best_score

    def matched_terms(self, text: str, column: int) -> list[str]:
        """The item's (stemmed) words that the text contains: what the explanation shows."""
        return sorted(self.corpus.query_terms[column].intersection(terms(text)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_ids": list(self.item_ids),
            "item_vectors": np.round(self.item_vectors.astype(np.float64), 6).tolist(),
            "query_terms": [sorted(terms) for terms in self.corpus.query_terms],
            "n_documents": self.corpus.n_documents,
            "total_length": self.corpus.total_length,
            "document_frequency": dict(sorted(self.corpus.document_frequency.items())),
            "best_lexical": [float(v) for v in self.best_lexical],
            "lexical_weight": self.lexical_weight,
            "threshold": self.threshold,
            "bm25": {"k1": EVIDENCE_BM25_K1, "b": EVIDENCE_BM25_B},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoadmapEvidence:
        corpus = BM25Corpus(
            tuple(frozenset(terms) for terms in data["query_terms"]),
            int(data["n_documents"]),
            int(data["total_length"]),
            Counter({str(k): int(v) for k, v in data["document_frequency"].items()}),
        )
        vectors = np.asarray(data["item_vectors"], dtype=np.float32).reshape(len(data["item_ids"]), -1)
        return cls(
            list(data["item_ids"]),
            vectors,
            corpus,
            np.asarray(data["best_lexical"], dtype=np.float64),
            float(data["lexical_weight"]),
            float(data["threshold"]),
        )


def best_per_item(lexical: np.ndarray) -> np.ndarray:
    """The best score per item (column), 1 where no unit scored, so dividing by it never divides by 0."""
    best = lexical.max(axis=0) if len(lexical) else np.ones(lexical.shape[1])
    return np.where(best > 0, best, 1.0).astype(np.float64)


def score_feedback_for_items(
    X: np.ndarray,
    item_embeddings: np.ndarray,
    texts: Sequence[str] | None = None,
    items: Sequence[RoadmapItem] | None = None,
    lexical_weight: float = 0.3,
) -> np.ndarray:
    """Evidence scores of the units for the items, with the units themselves as the reference corpus.

    What the quality benchmark ranks each IS-22 feature's reviews by; the training job fits the same
    :class:`RoadmapEvidence` on its training units and the service scores new units with it.
    """
    if len(item_embeddings) == 0:
        return np.zeros((len(X), 0), dtype=np.float32)
    if texts is None or items is None or lexical_weight <= 0 or len(texts) == 0:
        return (np.asarray(X, dtype=np.float32) @ np.asarray(item_embeddings, dtype=np.float32).T).astype(
            np.float32
        )
    return RoadmapEvidence.fit(items, item_embeddings, texts, lexical_weight).scores(X, texts)
