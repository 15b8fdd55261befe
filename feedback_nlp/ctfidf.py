"""Class-based TF-IDF (as in BERTopic): the keywords that set one theme apart from the others.

All units of a class are treated as one document: a term scores high when it is frequent in the class and
rare across classes. Terms are the unigrams and bigrams of the units' lemmas
(:func:`feedback_nlp.terms.keyword_terms`).

The counts are kept per class and can be added up, so each partition counts its own units and the sums
(in partition order, on the driver, or in a tree of Dask tasks) give the keywords of the whole corpus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from feedback_nlp.terms import keyword_terms


@dataclass
class ClassTermCounts:
    """Term counts per class over assigned units, and in how many assigned units each term occurs."""

    per_class: dict[int, Counter] = field(default_factory=dict)
    document_frequency: Counter = field(default_factory=Counter)
    n_documents: int = 0

    @classmethod
    def count(
        cls, lemmas_per_unit: Iterable[list[str]], labels: Sequence[int] | np.ndarray
    ) -> ClassTermCounts:
        """Counts of the units whose label is not negative (unassigned units are left out)."""
        counts = cls()
        for lemmas, label in zip(lemmas_per_unit, labels):
            if label < 0:
                continue
            terms = keyword_terms(lemmas)
            counts.per_class.setdefault(int(label), Counter()).update(terms)
            counts.document_frequency.update(set(terms))
            counts.n_documents += 1
        return counts

    def add(self, other: ClassTermCounts) -> ClassTermCounts:
        """Add ``other``'s counts to these (in place) and return them."""
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
        """Top c-TF-IDF keywords per theme; classes are summed into themes by ``theme_of_class``.

        A term counts when at least ``min_df`` units (or all of them, when there are fewer) use it.
        """
        if self.n_documents == 0:
            return [[] for _ in range(n_themes)]
        per_theme, vocabulary = self._per_theme(n_themes, theme_of_class, min(min_df, self.n_documents))
        if not vocabulary:
            return [[] for _ in range(n_themes)]
        row_sums = np.asarray(per_theme.sum(axis=1)).ravel()
        column_sums = np.asarray(per_theme.sum(axis=0)).ravel()
        idf = _idf(column_sums, per_theme.sum() / max(n_themes, 1))
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

    def _per_theme(
        self, n_themes: int, theme_of_class: dict[int, int] | None, floor: int
    ) -> tuple[sparse.csr_matrix, list[str]]:
        """Term counts per theme ``(n_themes, n_terms)`` over the terms used by ``floor`` units or more."""
        vocabulary = sorted(term for term, df in self.document_frequency.items() if df >= floor)
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
        return per_theme, vocabulary


def class_tfidf_keywords(
    lemmas_per_unit: Sequence[list[str]],
    labels: np.ndarray,
    n_themes: int,
    n_keywords: int = 10,
    min_df: int = 2,
) -> list[list[str]]:
    """Top keywords per theme of units held in memory; theme ``t`` gets ``result[t]``."""
    return ClassTermCounts.count(lemmas_per_unit, labels).keywords(n_themes, None, n_keywords, min_df)


def class_tfidf_scores(per_class: Sequence[Counter[str]]) -> list[dict[str, float]]:
    """c-TF-IDF of any terms (theme names' candidate phrases) already counted per class: class ``c`` gets
    ``result[c]``, term -> score, with the weighting of :meth:`ClassTermCounts.keywords`."""
    column_sums: Counter[str] = Counter()
    for counter in per_class:
        column_sums.update(counter)
    average_words = sum(column_sums.values()) / max(len(per_class), 1)
    scores = []
    for counter in per_class:
        total = max(sum(counter.values()), 1)
        scores.append(
            {
                term: count / total * float(_idf(np.asarray(column_sums[term]), average_words))
                for term, count in counter.items()
            }
        )
    return scores


def _idf(column_sums: np.ndarray, average_words: float) -> np.ndarray:
    """BERTopic's class-based IDF: high for a term whose total count is small beside the classes' mean
    size."""
    return np.log(1 + average_words / np.maximum(column_sums, 1))


def _drop_redundant(terms: list[str]) -> list[str]:
    """Keep a bigram and drop its words when they are listed after it (``card arrival``, ``card``)."""
    kept: list[str] = []
    covered: set[str] = set()
    for term in terms:
        words = term.split()
        if len(words) == 1 and term in covered:
            continue
        if len(words) == 2 and all(w in {k for k in kept if " " not in k} for w in words):
            continue  # both words already listed on their own
        kept.append(term)
        if len(words) == 2:
            covered.update(words)
    return kept
