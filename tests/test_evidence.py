"""Unit-level roadmap evidence (feedback_nlp/evidence.py): scores, serving statistics and the round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from feedback_nlp.bm25 import BM25Corpus, bm25_scores
from feedback_nlp.embedding import HashingEmbedder
from feedback_nlp.evidence import (
    EVIDENCE_BM25_B,
    EVIDENCE_BM25_K1,
    RoadmapEvidence,
    score_feedback_for_items,
)
from feedback_nlp.roadmap import RoadmapItem, embed_roadmap

ITEMS = [
    RoadmapItem(
        id="RM-1",
        title="Offline listening",
        description="Download songs to play without a connection.",
        owner="@audio",
        status="planned",
        keywords=["download songs"],
    ),
    RoadmapItem(
        id="RM-2",
        title="Rate movies",
        description="Give a film stars after watching it.",
        owner="@catalog",
        status="planned",
    ),
]
TEXTS = [
    "please let me download songs so I can listen offline on the plane",
    "I would love to rate movies after I watch them",
    "the app crashes every time I open it",
    "offline listening would be great, downloads fail now",
    "ratings for films please, five stars for this one",
    "customer service never answered my email",
]


@pytest.fixture(scope="module")
def embedded():
    embedder = HashingEmbedder(n_features=256)
    return embedder.embed(TEXTS), embed_roadmap(ITEMS, embedder.embed)


def test_corpus_scores_match_the_whole_corpus_bm25(embedded):
    corpus = BM25Corpus.for_queries([item.lexical_text() for item in ITEMS]).count(TEXTS)
    expected = bm25_scores(
        TEXTS, [item.lexical_text() for item in ITEMS], k1=EVIDENCE_BM25_K1, b=EVIDENCE_BM25_B
    )
    np.testing.assert_allclose(
        corpus.scores(TEXTS, k1=EVIDENCE_BM25_K1, b=EVIDENCE_BM25_B), expected, rtol=1e-5
    )


def test_scores_are_cosine_plus_scaled_word_match(embedded):
    X, vectors = embedded
    evidence = RoadmapEvidence.fit(ITEMS, vectors, TEXTS, lexical_weight=0.3)
    scores = evidence.scores(X, TEXTS)
    cosine = X @ vectors.T
    lexical = (scores - cosine) / 0.3
    assert lexical.min() >= -1e-6 and np.allclose(lexical.max(axis=0), 1.0, atol=1e-5)  # the best unit gets 1
    assert lexical[2].max() == pytest.approx(0.0, abs=1e-6)  # names neither item
    assert np.argmax(scores[0]) == 0 and np.argmax(scores[1]) == 1
    np.testing.assert_allclose(score_feedback_for_items(X, vectors, TEXTS, ITEMS, 0.3), scores, rtol=1e-6)
    np.testing.assert_allclose(evidence.scores(X), cosine, rtol=1e-6)  # without texts: the cosine alone


def test_a_new_unit_is_scored_on_its_own_with_the_training_statistics(embedded):
    X, vectors = embedded
    evidence = RoadmapEvidence.fit(ITEMS, vectors, TEXTS)
    restored = RoadmapEvidence.from_dict(json.loads(json.dumps(evidence.to_dict())))
    np.testing.assert_allclose(restored.scores(X, TEXTS), evidence.scores(X, TEXTS), atol=1e-5)
    # alone or in a batch, the same score: nothing depends on the other units scored with it
    alone = np.vstack([restored.scores(X[i : i + 1], TEXTS[i : i + 1]) for i in range(len(TEXTS))])
    np.testing.assert_allclose(alone, restored.scores(X, TEXTS), atol=1e-6)
    # words the training units never used still score (the rarest possible), and the word part stays <= 1
    new = ["download download songs songs offline listening listening"]
    lexical = (restored.scores(X[:1], new) - X[:1] @ vectors.T) / restored.lexical_weight
    assert 0 < lexical[0, 0] <= 1.0 + 1e-6
    assert restored.matched_terms(new[0], 0) == ["download", "listen", "offlin", "song"]


def test_best_items_respects_the_threshold(embedded):
    X, vectors = embedded
    evidence = RoadmapEvidence.fit(ITEMS, vectors, TEXTS, threshold=0.45)
    columns, best = evidence.best_items(X, TEXTS)
    scores = evidence.scores(X, TEXTS)
    np.testing.assert_allclose(best, scores.max(axis=1), rtol=1e-6)
    assert np.array_equal(columns >= 0, best >= 0.45)
    assert columns[0] == 0 and columns[1] == 1 and columns[2] == -1
    strict = RoadmapEvidence.fit(ITEMS, vectors, TEXTS, threshold=1.9)
    assert (strict.best_items(X, TEXTS)[0] == -1).all()


def test_no_items_means_no_evidence():
    X = np.eye(3, 4, dtype=np.float32)
    evidence = RoadmapEvidence.fit([], np.zeros((0, 4), dtype=np.float32), ["a", "b", "c"])
    assert evidence.scores(X, ["a", "b", "c"]).shape == (3, 0)
    columns, _ = evidence.best_items(X, ["a", "b", "c"])
    assert (columns == -1).all()
