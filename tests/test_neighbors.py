"""Nearest training units for explanations, found for a whole batch at once (issue 20)."""

from __future__ import annotations

import numpy as np

from feedback_nlp.artifact import NeighborRows
from feedback_nlp.model import Neighbors


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_a_batch_finds_what_one_full_sort_per_vector_finds_ties_going_to_the_earlier_unit():
    rng = np.random.default_rng(42)
    embeddings = _unit(rng.normal(size=(50, 8)))
    embeddings[[7, 30, 31]] = embeddings[12]  # duplicated training texts: exact ties
    neighbors = Neighbors(NeighborRows(embeddings, np.arange(50) % 4, [f"unit {i}" for i in range(50)]))
    queries = np.vstack([embeddings[12], _unit(rng.normal(size=(5, 8)))])
    for query, found in zip(queries, neighbors.nearest_many(queries, k=3)):
        expected = np.argsort(-(embeddings @ query), kind="stable")[:3]
        assert [f["text"] for f in found] == [f"unit {i}" for i in expected]
    assert [f["text"] for f in neighbors.nearest(queries[0], k=3)] == ["unit 7", "unit 12", "unit 30"]


def test_fewer_units_than_asked_and_none_at_all():
    embeddings = _unit(np.eye(2, 4))
    two = Neighbors(NeighborRows(embeddings, np.array([1, 2]), ["a", "b"]))
    assert [f["theme_id"] for f in two.nearest_many(embeddings[1:], k=3)[0]] == [2, 1]
    empty = Neighbors(NeighborRows(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), []))
    assert empty.nearest_many(embeddings, k=3) == [[], []]
