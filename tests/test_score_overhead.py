"""What scoring spends around the encoder (issue 20): the router's arithmetic without scikit-learn's per-call
checks, and the nearest-example lookup without a per-call cast, each giving the values of the slow path."""

from __future__ import annotations

import cProfile
import csv
import pstats
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from feedback_nlp.artifact import NeighborRows
from feedback_nlp.model import Neighbors
from feedback_nlp.routing import (
    InScopeScorer,
    TemperatureScaling,
    ThemeClassifier,
    ThemeRouter,
    _pipeline_decision,
    _vectorizers,
    side_by_side,
    tfidf_transform,
)

SAMPLE_TICKETS = Path(__file__).resolve().parents[1] / "examples" / "feedback" / "tickets.csv"
WORDS = ["invoice", "refund", "password", "export", "card", "transfer"]
TEXTS = [
    "question about invoice number 12",
    "the refund never arrived, refund please",
    "Password reset e-mail: ÜBER-slow… 🙂",
    "export export export to CSV",
    "",
    "zzzz qqqq words the vocabulary never saw",
    "card",
]

# scikit-learn's input checks, which scoring with the embedder's own float32 rows skips
VALIDATION = {
    "check_array",
    "validate_data",
    "_check_feature_names",
    "_assert_all_finite",
    "_check_vocabulary",
}


def _texts_and_embeddings(n: int, dim: int = 16, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    y = np.arange(n) % len(WORDS)
    texts = [
        f"a question about the {WORDS[label]} page, item {i} of {rng.randint(99)}"
        for i, label in enumerate(y)
    ]
    X = rng.randn(n, dim).astype(np.float32)
    X[:, 0] += y  # the embeddings carry some of the theme
    return texts, (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), y


def _validation_calls(call) -> set[str]:
    profile = cProfile.Profile()
    profile.enable()
    call()
    profile.disable()
    called = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return {name for (path, _, name) in called if "sklearn" in path and name in VALIDATION}


@pytest.fixture(scope="module")
def fitted_router() -> tuple[ThemeRouter, list[str], np.ndarray]:
    texts, X, y = _texts_and_embeddings(240)
    router = ThemeRouter(
        classifier=ThemeClassifier(),
        calibration=TemperatureScaling(),
        in_scope=InScopeScorer(rehearsal_groups=3, min_rehearsal_units=100),
    ).fit(X[:180], y[:180], texts[:180])
    assert router.in_scope_.novelty_ is not None  # the learned score, the one served models use
    return router, texts[180:], X[180:]


@pytest.mark.parametrize("which", ["words", "characters"])
def test_the_tfidf_without_checks_is_the_vectorizers_own_transform_bit_for_bit(which):
    texts, _, _ = _texts_and_embeddings(60)
    vectorizer = _vectorizers()[0 if which == "words" else 1].fit(texts + TEXTS[:3])
    for batch in (TEXTS, TEXTS[:1], TEXTS[4:5], texts[:17]):
        want = vectorizer.transform(batch)
        got = tfidf_transform(vectorizer, batch)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got.indptr, want.indptr)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.data, want.data)
    with pytest.raises(ValueError, match="string object received"):
        tfidf_transform(vectorizer, "one text, not a list")


@pytest.mark.parametrize(
    "options",
    [{"binary": True}, {"norm": "l1"}, {"use_idf": False}, {"sublinear_tf": False, "dtype": np.float64}],
)
def test_a_vectorizer_with_other_options_gives_its_own_transform(options):
    vectorizer = TfidfVectorizer(**options).fit(TEXTS)
    want, got = vectorizer.transform(TEXTS), tfidf_transform(vectorizer, TEXTS)
    np.testing.assert_array_equal(got.toarray(), want.toarray())


@pytest.mark.parametrize("rows", [0, 1, 2, 7])
def test_blocks_side_by_side_are_hstacks_matrix_entry_for_entry(rows):
    rng = np.random.default_rng(rows)
    words = sparse.random(rows, 30, density=0.2, format="csr", dtype=np.float32, random_state=1)
    chars = sparse.random(rows, 11, density=0.5, format="csr", dtype=np.float32, random_state=2)
    nothing = sparse.csr_matrix((rows, 0), dtype=np.float32)
    dense = rng.normal(size=(rows, 5)).astype(np.float32)
    if rows:
        dense[0, 2] = 0.0  # left out, as a CSR conversion leaves it out
        no_words = words.toarray()
        no_words[rows - 1] = 0.0  # a row with no words at all
        words = sparse.csr_matrix(no_words)
    blocks = [words, nothing, chars, dense]
    want = sparse.hstack([words, nothing, chars, sparse.csr_matrix(dense)], format="csr")
    got = side_by_side(blocks)
    assert got.shape == want.shape and got.dtype == want.dtype
    for part in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(got, part), getattr(want, part))


def test_the_router_without_checks_gives_the_checked_routers_values_exactly(fitted_router):
    router, texts, X = fitted_router
    for rows in (slice(0, 1), slice(0, 2), slice(0, 60)):
        checked = router.predict_proba_and_in_scope(X[rows], texts[rows])
        unchecked = router.predict_proba_and_in_scope(X[rows], texts[rows], check_input=False)
        for want, got in zip(checked, unchecked, strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(
            router.predict_proba(X[rows], texts[rows], check_input=False), checked[0]
        )


def test_the_routers_arithmetic_is_its_fitted_scikit_learn_parts_own(fitted_router):
    router, texts, X = fitted_router
    classifier = router.classifier_
    words, chars = classifier.text_vectorizers_
    design = sparse.hstack(
        [words.transform(texts), chars.transform(texts), sparse.csr_matrix(X * np.float32(2.0))], format="csr"
    )
    np.testing.assert_array_equal(
        classifier.decision_function(X, texts), classifier.estimator_.decision_function(design)
    )
    novelty = router.in_scope_.novelty_
    signals = np.random.RandomState(1).randn(9, 8)
    np.testing.assert_array_equal(
        _pipeline_decision(novelty.model, signals), novelty.model.decision_function(signals)
    )


def test_routing_without_checks_runs_none_of_scikit_learns_input_validation(fitted_router):
    router, texts, X = fitted_router
    assert _validation_calls(lambda: router.predict_proba_and_in_scope(X[:1], texts[:1])) >= {"check_array"}
    assert (
        _validation_calls(lambda: router.predict_proba_and_in_scope(X[:1], texts[:1], check_input=False))
        == set()
    )


def test_scoring_one_item_runs_none_of_scikit_learns_input_validation(tiny_model, monkeypatch):
    """The whole score path outside the encoder (the hashing test embedder is scikit-learn's own hashing,
    which validates: its vectors are computed first and handed back)."""
    text = "The CSV export times out every morning"
    vectors = tiny_model.embedder.embed([text])
    monkeypatch.setattr(tiny_model.embedder, "embed", lambda texts: vectors[: len(texts)])
    expected = tiny_model.score([text])
    assert _validation_calls(lambda: tiny_model.score([text])) == set()
    assert tiny_model.score([text])[0].units[0].route == expected[0].units[0].route


def test_nearest_examples_cast_the_stored_float16_rows_once_not_on_every_call():
    rng = np.random.default_rng(0)
    stored = rng.normal(size=(20_000, 64)).astype(np.float16)
    neighbors = Neighbors(NeighborRows(stored, np.arange(20_000) % 7, [f"unit {i}" for i in range(20_000)]))
    query = rng.normal(size=(1, 64)).astype(np.float32)
    neighbors.nearest_many(query)
    tracemalloc.start()
    try:
        found = neighbors.nearest_many(query, k=3)[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < stored.size * 4 / 4  # a float32 copy of the rows is 5 MB; one call's similarities 80 KB
    exact = stored.astype(np.float64) @ query[0].astype(np.float64)
    best = np.argsort(-exact, kind="stable")[:3]
    assert [f["text"] for f in found] == [f"unit {i}" for i in best]
    np.testing.assert_allclose([f["similarity"] for f in found], np.round(exact[best], 4), atol=1.01e-4)


def test_the_demo_model_scores_with_no_validation_and_the_checked_routers_values(demo_model_dir, monkeypatch):
    """The real encoder and router: the unchecked path gives the checked one's values on the sample's texts,
    one scored item runs none of scikit-learn's input validation, and the passes cut by length give the
    greedy passes' vectors to float rounding."""
    import feedback_nlp.embedding as embedding
    from feedback_nlp.model import FeedbackModel

    model = FeedbackModel.load(demo_model_dir)
    with open(SAMPLE_TICKETS, encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)][:24]
    vectors = model.embedder.embed(texts)
    checked = model.router_.predict_proba_and_in_scope(vectors, texts)
    unchecked = model.router_.predict_proba_and_in_scope(vectors, texts, check_input=False)
    for want, got in zip(checked, unchecked, strict=True):
        np.testing.assert_array_equal(got, want)
    model.score(texts[:1])
    assert _validation_calls(lambda: model.score(texts[1:2])) == set()
    greedy_passes = embedding.length_batches
    monkeypatch.setattr(
        embedding,
        "length_batches",
        lambda lengths, budget, most, overhead=None: greedy_passes(lengths, budget, most),
    )
    np.testing.assert_allclose(model.embedder.embed(texts), vectors, atol=1e-6)
