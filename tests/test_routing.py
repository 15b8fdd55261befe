"""The router's parts (classifier, temperature, in-scope scorer), their composite and the training step."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from feedback_nlp.config import TrainingConfig
from feedback_nlp.route_policy import RouteThresholds
from feedback_nlp.routing import (
    InScopeScorer,
    TemperatureScaling,
    ThemeClassifier,
    ThemeRouter,
    TrainedRouter,
    train_router,
)


def blobs(n_per: int, centers: int, dim: int = 32, noise: float = 0.05, seed: int = 42):
    rng = np.random.RandomState(seed)
    means = np.linalg.qr(rng.randn(dim, dim))[0][:centers]  # orthonormal directions: well separated
    X = np.vstack([m + noise * rng.randn(n_per, dim) for m in means])
    return X.astype(np.float32), np.repeat(np.arange(centers), n_per)


def router(temperature: float | None = None, text_features: bool = True, **in_scope) -> ThemeRouter:
    return ThemeRouter(
        classifier=ThemeClassifier(text_features=text_features),
        calibration=TemperatureScaling(temperature=temperature),
        in_scope=InScopeScorer(**in_scope),
    )


# -- the parts, each on its own ---------------------------------------------------------------------------


UNFITTED_CALLS = [
    (ThemeClassifier(), lambda e: e.predict(np.zeros((1, 2)))),
    (TemperatureScaling(), lambda e: e.predict_proba(np.zeros((1, 2)))),
    (InScopeScorer(), lambda e: e.score(np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 2)))),
    (ThemeRouter(), lambda e: e.predict_proba_and_in_scope(np.zeros((1, 2)))),
    (ThemeRouter(), lambda e: e.predict(np.zeros((1, 2)))),
]


@pytest.mark.parametrize(("estimator", "call"), UNFITTED_CALLS, ids=lambda e: type(e).__name__)
def test_the_constructors_only_store_and_predicting_before_fit_says_so(estimator, call):
    from sklearn.exceptions import NotFittedError

    assert not [name for name in vars(estimator) if name.endswith("_")]
    assert clone(estimator).get_params() == estimator.get_params()
    with pytest.raises(NotFittedError):
        call(estimator)


def test_the_classifier_orders_its_decision_values_by_class_and_returns_itself():
    X, y = blobs(40, 3, noise=0.3)
    classifier = ThemeClassifier()
    assert classifier.fit(X, y + 10) is classifier
    assert list(classifier.classes_) == [10, 11, 12] and not classifier.needs_texts
    assert classifier.decision_function(X).shape == (len(X), 3)
    assert (classifier.predict(X) == y + 10).mean() > 0.9
    binary = ThemeClassifier().fit(X[y < 2], y[y < 2])
    decision = binary.decision_function(X[:5])  # two themes: two columns of opposite sign
    np.testing.assert_allclose(decision[:, 0], -decision[:, 1])
    with pytest.raises(ValueError, match="two themes"):
        ThemeClassifier().fit(X[y == 0], y[y == 0])


def test_temperature_scaling_on_hand_made_decision_values():
    decision = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [2.0, 0.0]])
    fixed = TemperatureScaling(temperature=2.0).fit()
    np.testing.assert_allclose(fixed.predict_proba(decision)[0], [np.e / (np.e + 1), 1 / (np.e + 1)])
    # three of four right at margin 2: the best temperature makes p = 3/4, e^(2/T) = 3, T = 2 / ln 3
    fitted = TemperatureScaling().fit(decision, np.array([0, 1, 0, 1]))
    assert fitted.temperature_ == pytest.approx(2 / np.log(3), rel=1e-3)
    with pytest.raises(ValueError, match="decision values"):
        TemperatureScaling().fit()


def test_the_router_probabilities_are_calibrated_and_ordered_by_class():
    X, y = blobs(40, 3, noise=0.3)
    fitted = ThemeRouter().fit(X, y + 10)
    probabilities = fitted.predict_proba(X)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert list(fitted.classes_) == [10, 11, 12]
    assert (fitted.predict(X) == y + 10).mean() > 0.9


def test_temperature_scaling_sharpens_an_underconfident_router():
    X, y = blobs(40, 6, noise=0.25)
    raw = router(temperature=1.0).fit(X, y)
    scaled = router().fit(X, y)
    assert scaled.calibration_.temperature_ < 1.0  # C=10 on unit vectors is too soft
    assert scaled.predict_proba(X).max(axis=1).mean() > raw.predict_proba(X).max(axis=1).mean()
    np.testing.assert_array_equal(scaled.predict(X), raw.predict(X))  # a temperature never changes the argmax


def test_a_validation_set_fits_the_temperature_without_cross_validation_fits(monkeypatch):
    import feedback_nlp.routing as routing

    X, y = blobs(60, 6, noise=0.35)
    train = np.arange(len(y)) % 4 != 0
    fits = []
    real_fit = routing.LogisticRegression.fit
    monkeypatch.setattr(
        routing.LogisticRegression, "fit", lambda self, *a, **k: fits.append(1) or real_fit(self, *a, **k)
    )
    fitted = router(rehearsal_groups=0).fit(X[train], y[train], X_val=X[~train], y_val=y[~train])
    assert len(fits) == 1  # cross-validation would have fitted calibration_folds more
    raw = fitted.decision_function(X[~train])
    temperature = fitted.calibration_.temperature_

    # the temperature is the one that minimises the validation log loss: a nearby one does worse
    def log_loss(temperature):
        logits = raw / temperature
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return -log_p[np.arange(len(raw)), np.searchsorted(fitted.classes_, y[~train])].mean()

    assert log_loss(temperature) <= min(log_loss(temperature * 1.2), log_loss(temperature / 1.2))
    assert temperature != pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(fitted.predict_proba(X[:3]).sum(axis=1), 1.0, rtol=1e-5)


def test_validation_units_of_unknown_themes_are_ignored_and_missing_texts_refused():
    X, y = blobs(40, 4, noise=0.3)
    train = y < 3
    with_stranger = router(rehearsal_groups=0).fit(X[train][::2], y[train][::2], X_val=X[1::2], y_val=y[1::2])
    known_only = router(rehearsal_groups=0).fit(
        X[train][::2], y[train][::2], X_val=X[1::2][y[1::2] < 3], y_val=y[1::2][y[1::2] < 3]
    )
    assert with_stranger.calibration_.temperature_ == pytest.approx(known_only.calibration_.temperature_)
    with pytest.raises(ValueError, match="no validation unit"):
        router(rehearsal_groups=0).fit(X[train], y[train], X_val=X[~train], y_val=y[~train])
    texts = [f"text {label} {i}" for i, label in enumerate(y)]
    with pytest.raises(ValueError, match="texts_val"):
        router(rehearsal_groups=0).fit(X[::2], y[::2], texts[::2], X_val=X[1::2], y_val=y[1::2])


def test_a_given_temperature_is_used_instead_of_fitting_one():
    X, y = blobs(40, 6, noise=0.25)
    fitted = router().fit(X, y)
    temperature = fitted.calibration_.temperature_
    kept = router(temperature=temperature).fit(X, y)
    assert kept.calibration_.temperature_ == temperature
    np.testing.assert_allclose(kept.predict_proba(X), fitted.predict_proba(X), rtol=1e-5)
    assert (
        router(temperature=2 * temperature).fit(X, y).predict_proba(X).max(axis=1).mean()
        < fitted.predict_proba(X).max(axis=1).mean()
    )


def test_a_balanced_subsample_trims_the_largest_themes_and_keeps_the_small_ones_whole():
    from feedback_nlp.routing import balanced_subsample

    labels = np.repeat([7, 3, 9, 1], [500, 200, 40, 10])
    keep = balanced_subsample(labels, 300, random_state=1)
    kept = dict(zip(*np.unique(labels[keep], return_counts=True)))
    assert kept[9] == 40 and kept[1] == 10  # the small themes lose nothing
    assert kept[7] == kept[3] == 125 and len(keep) == 300  # the large ones cut to one size: 40 + 10 + 2 x 125
    assert np.all(np.diff(keep) > 0) and len(set(keep)) == len(keep)
    np.testing.assert_array_equal(keep, balanced_subsample(labels, 300, random_state=1))
    assert not np.array_equal(keep, balanced_subsample(labels, 300, random_state=2))
    np.testing.assert_array_equal(balanced_subsample(labels, 750), np.arange(750))


def test_cross_fitted_probabilities_use_the_other_halfs_temperature():
    from feedback_nlp.routing import _fit_temperature, _softmax, cross_fitted_probabilities

    rng = np.random.RandomState(3)
    target = rng.randint(0, 4, 400)
    logits = rng.randn(400, 4) + 3.0 * np.eye(4)[target] * (rng.rand(400, 1) < 0.8)
    probabilities = cross_fitted_probabilities(logits, target, random_state=5)
    halves = np.random.RandomState(5).permutation(400) % 2 == 0
    expected = _softmax(logits[halves] / _fit_temperature(logits[~halves], target[~halves]))
    np.testing.assert_allclose(probabilities[halves], expected, rtol=1e-6)
    assert not np.allclose(probabilities, _softmax(logits / _fit_temperature(logits, target)))
    np.testing.assert_array_equal(probabilities.argmax(axis=1), logits.argmax(axis=1))


def test_the_text_aware_router_reads_the_words_an_embedding_does_not_carry():
    rng = np.random.RandomState(0)
    words = ["invoice", "refund", "password", "export"]
    y = np.repeat(np.arange(4), 30)
    texts = [f"question about {words[label]} number {i}" for i, label in enumerate(y)]
    X = rng.randn(len(y), 16).astype(np.float32)  # embeddings that know nothing about the topic
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    train = np.arange(len(y)) % 3 != 0
    with_words = router().fit(X[train], y[train], [t for t, k in zip(texts, train) if k])
    blind = router(text_features=False).fit(X[train], y[train])
    test_texts = [t for t, k in zip(texts, train) if not k]
    assert with_words.needs_texts and not blind.needs_texts
    assert (with_words.predict(X[~train], test_texts) == y[~train]).mean() == 1.0
    assert (blind.predict(X[~train]) == y[~train]).mean() < 0.5
    probabilities = with_words.predict_proba(X[~train], test_texts)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    together, in_scope = with_words.predict_proba_and_in_scope(X[~train], test_texts)
    np.testing.assert_array_equal(together, probabilities)
    np.testing.assert_array_equal(in_scope, with_words.in_scope_score(X[~train], test_texts))
    with pytest.raises(ValueError, match="texts"):
        with_words.predict_proba(X[~train])
    with pytest.raises(ValueError, match="texts for"):
        with_words.predict_proba(X[~train], test_texts[:-1])


# -- the in-scope score ------------------------------------------------------------------------------------


def test_the_in_scope_score_is_learned_by_hiding_themes_and_flags_a_topic_never_seen():
    X, y = blobs(40, 12, noise=0.2)
    known = y < 10  # two themes the router never sees
    train = known & (np.arange(len(y)) % 4 != 0)
    fitted = router(rehearsal_groups=4, min_rehearsal_units=100).fit(X[train], y[train])
    novelty = fitted.in_scope_.novelty_
    assert novelty is not None and fitted.in_scope_.reference_confidence_ is None
    assert novelty.summary["groups"] == 4 and novelty.summary["hidden_units"] > 0
    in_scope = fitted.in_scope_score(X[known & ~train])
    never_seen = fitted.in_scope_score(X[~known])
    assert ((in_scope >= 0) & (in_scope <= 1)).all() and ((never_seen >= 0) & (never_seen <= 1)).all()
    assert np.median(never_seen) < np.quantile(in_scope, 0.05)
    probabilities, together = fitted.predict_proba_and_in_scope(X[~known])
    np.testing.assert_array_equal(together, never_seen)
    np.testing.assert_allclose(probabilities, fitted.predict_proba(X[~known]), rtol=1e-6)
    # a router refitted on all the known units takes the learned score over instead of rehearsing again
    refit = router(rehearsal_groups=0, novelty=novelty).fit(X[known], y[known])
    assert refit.in_scope_.novelty_.summary == novelty.summary  # a copy: clone copies what it is given
    assert router(rehearsal_groups=0).fit(X[known], y[known]).in_scope_.novelty_ is None
    assert np.median(refit.in_scope_score(X[~known])) < np.quantile(
        refit.in_scope_score(X[known & ~train]), 0.05
    )


def test_a_small_taxonomy_rehearses_with_fewer_groups_instead_of_falling_back():
    X, y = blobs(40, 12, noise=0.2)
    scaled = router(min_rehearsal_units=100).fit(X, y)  # the default 8 groups, 12 themes: 6 groups of 2
    assert scaled.in_scope_.novelty_ is not None
    assert scaled.in_scope_.novelty_.summary["groups"] == 6


def test_without_rehearsal_the_in_scope_score_is_the_percentile_score():
    X, y = blobs(40, 12, noise=0.2)
    off = router(rehearsal_groups=0).fit(X, y)
    few_themes = router(min_rehearsal_units=100).fit(
        *blobs(160, 3, noise=0.2)
    )  # 3 themes: no two groups of 2
    few_units = router(rehearsal_groups=4).fit(X, y)  # 480 units, under the default 500
    assert all(r.in_scope_.novelty_ is None for r in (off, few_themes, few_units))
    # the percentile score by hand: the mean of the confidence's and the neighbour similarity's percentiles
    probabilities, score = off.predict_proba_and_in_scope(X[:5])
    scorer = off.in_scope_
    confidence = np.searchsorted(scorer.reference_confidence_, probabilities.max(axis=1), side="right")
    unit = X[:5] / np.linalg.norm(X[:5], axis=1, keepdims=True)
    similarity = np.sort(unit @ scorer.reference_.T, axis=1)[:, -5:].mean(axis=1)
    neighbours = np.searchsorted(scorer.reference_similarity_, similarity, side="right")
    np.testing.assert_allclose(score, (confidence + neighbours) / len(X) / 2, atol=1e-6)
    # the scorer fitted on its own beside a rehearsed router's classifier gives that router's percentile score
    learned = router(rehearsal_groups=4, min_rehearsal_units=100).fit(X, y)
    percentile = InScopeScorer(rehearsal_groups=0).fit(
        X, y, classifier=learned.classifier_, calibration=learned.calibration_
    )
    decision = learned.decision_function(X)
    np.testing.assert_allclose(
        percentile.score(X, decision, learned.calibration_.predict_proba(decision)), off.in_scope_score(X)
    )


# -- the training job's step -------------------------------------------------------------------------------


def test_train_router_measures_on_a_hold_out_chooses_the_in_scope_bar_and_refits_on_all():
    X, y = blobs(60, 20, noise=0.2)  # 1,200 units of 20 themes: enough to rehearse in 8 groups
    X /= np.linalg.norm(X, axis=1, keepdims=True)  # unit length, as the encoders give: no near-copies
    texts = [f"unit {label} {i % 7}" for i, label in enumerate(y)]
    config = TrainingConfig(confidence_threshold=0.4, random_state=3)
    trained = train_router(X, y, texts, config)
    assert isinstance(trained, TrainedRouter)
    assert trained.metrics["in_scope_threshold"] is not None
    assert trained.thresholds == RouteThresholds(0.4, trained.metrics["in_scope_threshold"])
    assert trained.metrics["trained_on_units"] == trained.metrics["units_available"] == 1200
    assert trained.metrics["holdout_accuracy"] > 0.9 and trained.metrics["rehearsal"]["groups"] == 8
    final = trained.router
    assert final.needs_texts and len(final.in_scope_.reference_) == 1200  # refitted on all units
    with pytest.raises(AttributeError):
        trained.thresholds.in_scope = 0.0  # frozen: the bars travel with the router as they were chosen


def test_train_router_without_enough_units_for_a_hold_out_sets_no_in_scope_bar():
    X, y = blobs(4, 3, noise=0.2)
    trained = train_router(X, y, None, TrainingConfig(router_text_features=False))
    assert trained.thresholds == RouteThresholds(confidence=0.5, in_scope=None)
    assert set(trained.metrics) == {"trained_on_units", "units_available"}
    assert trained.router.in_scope_.novelty_ is None and list(trained.router.classes_) == [0, 1, 2]


# -- how the classifier is stored --------------------------------------------------------------------------


def _worded_units(n_per: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Four themes told apart by their words, ``n_per`` units each, every text with a serial of its own (so
    the vocabulary grows with the units) and a non-ASCII word."""
    rng = np.random.RandomState(seed)
    words = ["invoice", "refund", "password", "export"]
    y = np.repeat(np.arange(4), n_per)
    texts = [f"question über {words[label]} ref{i} code{i * 7}" for i, label in enumerate(y)]
    X = rng.randn(len(y), 16).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True), y, texts


def _skops_round_trip(estimator):
    import io
    import zipfile

    import skops.io

    from feedback_nlp.artifact import ROUTER_TRUSTED_TYPES

    data = skops.io.dumps(estimator)
    schema = zipfile.ZipFile(io.BytesIO(data)).read("schema.json")
    return skops.io.loads(data, trusted=list(ROUTER_TRUSTED_TYPES)), len(data), len(schema)


def test_a_stored_classifier_keeps_its_vocabularies_as_arrays_and_routes_the_same():
    import skops.io

    sizes = {}
    for n_per in (10, 80):
        X, y, texts = _worded_units(n_per)
        classifier = ThemeClassifier().fit(X, y, texts)
        loaded, file_bytes, schema_bytes = _skops_round_trip(classifier)
        for saved, restored in zip(classifier.text_vectorizers_, loaded.text_vectorizers_, strict=True):
            assert restored.vocabulary_ == saved.vocabulary_
        np.testing.assert_array_equal(
            loaded.decision_function(X, texts), classifier.decision_function(X, texts)
        )
        terms = sum(len(v.vocabulary_) for v in classifier.text_vectorizers_)
        characters = sum(len(term) for v in classifier.text_vectorizers_ for term in v.vocabulary_)
        weights = classifier.estimator_.coef_.nbytes + classifier.estimator_.intercept_.nbytes
        idf = sum(v.idf_.nbytes for v in classifier.text_vectorizers_)
        sizes[n_per] = (terms, schema_bytes)
        # the vocabularies cost their UTF-8 text and one 8-byte offset a term; the rest is the weights, the
        # IDF and a schema that does not grow with the vocabulary
        assert file_bytes - weights - idf - schema_bytes <= characters + 8 * terms + 4096
        # a dict written by skops costs hundreds of bytes a term
        assert file_bytes < len(skops.io.dumps([dict(v.vocabulary_) for v in classifier.text_vectorizers_]))
    (few_terms, few_schema), (many_terms, many_schema) = sizes[10], sizes[80]
    assert many_terms > 4 * few_terms
    assert abs(many_schema - few_schema) < 200


def test_a_classifier_stored_with_vocabulary_dicts_still_loads(monkeypatch):
    """Routers written before the vocabularies were packed hold their dicts inside the vectorizers."""
    from sklearn.base import BaseEstimator

    X, y, texts = _worded_units(10)
    classifier = ThemeClassifier().fit(X, y, texts)
    with monkeypatch.context() as patch:
        patch.setattr(ThemeClassifier, "__getstate__", BaseEstimator.__getstate__)
        loaded, _, legacy_schema = _skops_round_trip(classifier)
    assert legacy_schema > 100 * sum(len(v.vocabulary_) for v in classifier.text_vectorizers_)
    assert [v.vocabulary_ for v in loaded.text_vectorizers_] == [
        v.vocabulary_ for v in classifier.text_vectorizers_
    ]
    np.testing.assert_array_equal(loaded.decision_function(X, texts), classifier.decision_function(X, texts))


def test_a_packed_vocabulary_unpacks_to_the_same_dict_and_refuses_offsets_that_do_not_match():
    from feedback_nlp.routing import pack_vocabulary, unpack_vocabulary

    vocabulary = {"zoë": 2, "a b": 0, "": 3, "über alles": 1}
    terms, ends = pack_vocabulary(vocabulary)
    assert terms.dtype == np.uint8 and ends.tolist() == [3, 13, 16, 16]
    assert unpack_vocabulary(terms, ends) == vocabulary
    assert unpack_vocabulary(*pack_vocabulary({})) == {}
    with pytest.raises(ValueError, match="offsets"):
        unpack_vocabulary(terms, ends[:-1] - 1)
