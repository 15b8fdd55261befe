"""Okapi BM25 of documents (feedback units) for queries (roadmap items' titles and keywords).

The corpus statistics BM25 needs (how many documents, their total length, and in how many documents each
query term occurs) are counted per partition and added up, so no step needs every text at once, and they
can be saved with a model so that a new unit is scored on its own. Terms are
:func:`feedback_nlp.terms.terms`; a query term counts once however often the query repeats it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from feedback_nlp.terms import terms

BM25_K1 = 1.2
BM25_B = 0.75


@dataclass
class BM25Corpus:
    """What BM25 needs from the whole corpus: document count, total length, and query-term frequencies."""

    query_terms: tuple[frozenset[str], ...]  # unique terms of each query
    n_documents: int = 0
    total_length: int = 0
    document_frequency: Counter = field(default_factory=Counter)

    @classmethod
    def for_queries(cls, queries: Sequence[str]) -> BM25Corpus:
        """An empty corpus for ``queries``; :meth:`count` documents into it."""
        return cls(tuple(frozenset(terms(query)) for query in queries))

    def count(self, documents: Iterable[str]) -> BM25Corpus:
        """Count ``documents`` into the statistics (in place) and return the corpus."""
        wanted = frozenset().union(*self.query_terms) if self.query_terms else frozenset()
        for document in documents:
            document_terms = terms(document)
            self.n_documents += 1
            self.total_length += len(document_terms)
            self.document_frequency.update(wanted.intersection(document_terms))
        return self

    def add(self, other: BM25Corpus) -> BM25Corpus:
        """Add ``other``'s statistics (counted for the same queries) to these and return them."""
        self.n_documents += other.n_documents
        self.total_length += other.total_length
        self.document_frequency.update(other.document_frequency)
        return self

    def scores(self, documents: Sequence[str], k1: float = BM25_K1, b: float = BM25_B) -> np.ndarray:
        """Okapi BM25 of each document for each query, ``(n_documents, n_queries)``, with corpus-wide idf."""
        result = np.zeros((len(documents), len(self.query_terms)), dtype=np.float64)
        if self.n_documents == 0 or not self.query_terms:
            return result
        average = max(self.total_length / self.n_documents, 1e-9)
        # every query term has an idf: one the counted corpus never used (df 0) is the rarest there is
        idf = {
            term: math.log1p((self.n_documents - df + 0.5) / (df + 0.5))
            for term in frozenset().union(*self.query_terms)
            for df in [self.document_frequency.get(term, 0)]
        }
        for i, document in enumerate(documents):
            document_terms = terms(document)
            counts = Counter(document_terms)
            norm = k1 * (1 - b + b * len(document_terms) / average)
            for q, query in enumerate(self.query_terms):
                score = 0.0
                for term in sorted(query.intersection(counts)):
                    tf = counts[term]
                    score += idf[term] * tf * (k1 + 1) / (tf + norm)
                result[i, q] = score
        return result


def bm25_scores(
    documents: Sequence[str], queries: Sequence[str], k1: float = BM25_K1, b: float = BM25_B
) -> np.ndarray:
    """Okapi BM25 of every document for every query, ``(n_documents, n_queries)``, the documents being the
    corpus."""
    documents = list(documents)
    corpus = BM25Corpus.for_queries(queries).count(documents)
    return corpus.scores(documents, k1, b).astype(np.float32)
