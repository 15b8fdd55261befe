"""Corpus statistics that are counted per partition and added up, so no step needs every text at once.

Keywords (class-based TF-IDF) and the lexical theme-to-roadmap score (BM25) both need corpus-wide counts.
Each partition counts its own units; the counts are summed (in partition order, on the driver, or in a
tree of Dask tasks) and the scores are computed from the sums. With one partition the result is the same as
:func:`feedback_nlp.labeling.class_tfidf_keywords` and :func:`feedback_nlp.roadmap.theme_item_lexical`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from feedback_nlp.labeling import _drop_redundant, _unigrams_and_bigrams
from feedback_nlp.roadmap import _terms


@dataclass
class ClassTermCounts:
    """Term counts per class over assigned units, and in how many assigned units each term occurs."""

    per_class: dict[int, Counter] = field(default_factory=dict)
    document_frequency: Counter = field(default_factory=Counter)
    n_documents: int = 0

    @classmethod
    def count(cls, lemmas_per_unit: Iterable[list[str]], labels: Sequence[int]) -> ClassTermCounts:
        counts = cls()
        for lemmas, label in zip(lemmas_per_unit, labels):
            if label < 0:
                continue
            terms = _unigrams_and_bigrams(lemmas)
            counts.per_class.setdefault(int(label), Counter()).update(terms)
            counts.document_frequency.update(set(terms))
            counts.n_documents += 1
        return counts

    def add(self, other: ClassTermCounts) -> ClassTermCounts:
        for label, counter in other.per_class.items():
            self.per_class.setdefault(label, Counter()).update(counter)
        self.document_frequency.update(other.document_frequency)
        self.n_documents += other.n_documents
        return self

    def keywords(
        self,
        n_themes: int,
        theme_of_class: dict[int, int] | None = None,
        n_keywords: int = 10,
        min_df: int = 2,
    ) -> list[list[str]]:
        """Top c-TF-IDF keywords per theme; classes are summed into themes by ``theme_of_class``."""
        if self.n_documents == 0:
            return [[] for _ in range(n_themes)]
        floor = min(min_df, self.n_documents)
        vocabulary = sorted(term for term, df in self.document_frequency.items() if df >= floor)
        if not vocabulary:
            return [[] for _ in range(n_themes)]
        column = {term: j for j, term in enumerate(vocabulary)}
        rows, cols, values = [], [], []
        for label, counter in self.per_class.items():
            theme = label if theme_of_class is None else theme_of_class.get(label, -1)
            if theme < 0 or theme >= n_themes:
                continue
            for term, count in counter.items():
                j = column.get(term)
                if j is not None:
                    rows.append(theme)
                    cols.append(j)
                    values.append(count)
        per_theme = sparse.csr_matrix(
            (np.asarray(values, dtype=np.float64), (rows, cols)), shape=(n_themes, len(vocabulary))
        )
        per_theme.sum_duplicates()
        row_sums = np.asarray(per_theme.sum(axis=1)).ravel()
        column_sums = np.asarray(per_theme.sum(axis=0)).ravel()
        average_words = per_theme.sum() / max(n_themes, 1)
        idf = np.log(1 + average_words / np.maximum(column_sums, 1))
        keywords = []
        for theme in range(n_themes):
            start, end = per_theme.indptr[theme], per_theme.indptr[theme + 1]
            columns = per_theme.indices[start:end]
            order_by_column = np.argsort(columns, kind="stable")
            columns = columns[order_by_column]
            scores = per_theme.data[start:end][order_by_column] / max(row_sums[theme], 1) * idf[columns]
            order = np.argsort(-scores, kind="stable")
            chosen = [vocabulary[columns[i]] for i in order[: n_keywords * 2] if scores[i] > 0]
            keywords.append(_drop_redundant(chosen)[:n_keywords])
        return keywords


@dataclass
class BM25Corpus:
    """What BM25 needs from the whole corpus: document count, total length, and query-term frequencies."""

    query_terms: tuple[frozenset[str], ...]  # unique terms of each query
    n_documents: int = 0
    total_length: int = 0
    document_frequency: Counter = field(default_factory=Counter)

    @classmethod
    def for_queries(cls, queries: Sequence[str]) -> BM25Corpus:
        return cls(tuple(frozenset(_terms(query)) for query in queries))

    def count(self, documents: Iterable[str]) -> BM25Corpus:
        wanted = frozenset().union(*self.query_terms) if self.query_terms else frozenset()
        for document in documents:
            terms = _terms(document)
            self.n_documents += 1
            self.total_length += len(terms)
            self.document_frequency.update(wanted.intersection(terms))
        return self

    def add(self, other: BM25Corpus) -> BM25Corpus:
        self.n_documents += other.n_documents
        self.total_length += other.total_length
        self.document_frequency.update(other.document_frequency)
        return self

    def scores(self, documents: Sequence[str], k1: float = 1.2, b: float = 0.75) -> np.ndarray:
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
            terms = _terms(document)
            counts = Counter(terms)
            norm = k1 * (1 - b + b * len(terms) / average)
            for q, query in enumerate(self.query_terms):
                score = 0.0
                for term in sorted(query.intersection(counts)):
                    tf = counts[term]
                    score += idf[term] * tf * (k1 + 1) / (tf + norm)
                result[i, q] = score
        return result


def scale_per_item(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean score of each theme's units per item (rows: themes), divided by the best theme's for that item."""
    means = np.divide(
        sums, np.maximum(counts, 1)[:, None], out=np.zeros_like(sums), where=counts[:, None] > 0
    )
    best = means.max(axis=0, keepdims=True) if len(means) else np.ones((1, sums.shape[1]))
    best[best == 0] = 1.0
    return (means / best).astype(np.float32)
