"""Theme discovery, labels and routing estimators on small inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from feedback_nlp.ctfidf import class_tfidf_keywords
from feedback_nlp.labeling import theme_name
from feedback_nlp.roadmap import map_themes_to_roadmap
from feedback_nlp.routing import ThemeRouter
from feedback_nlp.themes import UNASSIGNED, ThemeDiscoverer


def blobs(n_per: int, centers: int, dim: int = 32, noise: float = 0.05, seed: int = 42):
    rng = np.random.RandomState(seed)
    means = np.linalg.qr(rng.randn(dim, dim))[0][:centers]  # orthonormal directions: well separated
    X = np.vstack([m + noise * rng.randn(n_per, dim) for m in means])
    return X.astype(np.float32), np.repeat(np.arange(centers), n_per)


@pytest.mark.parametrize("centers", [4, 7])
def test_discovers_the_number_of_well_separated_themes(centers):
    from sklearn.metrics import adjusted_rand_score

    X, y = blobs(30, centers)
    discoverer = ThemeDiscoverer(min_themes=2, max_themes=20, min_theme_size=5)
    assert discoverer.fit(X) is discoverer
    assert discoverer.n_themes_ == centers
    assert adjusted_rand_score(y, discoverer.labels_) == 1.0
    assert discoverer.centroids_.shape == (centers, X.shape[1])
    np.testing.assert_array_equal(discoverer.predict(X), discoverer.labels_)


def test_theme_ids_run_from_the_largest_theme():
    X, _ = blobs(10, 3)
    big, _ = blobs(40, 1, seed=1)
    X = np.vstack([X, big * -1])
    labels = ThemeDiscoverer(min_themes=2, max_themes=10, min_theme_size=5).fit(X).labels_
    sizes = np.bincount(labels[labels >= 0])
    assert list(sizes) == sorted(sizes, reverse=True)


def test_a_unit_that_fits_no_theme_is_unassigned():
    X, _ = blobs(20, 3)
    discoverer = ThemeDiscoverer(min_themes=2, max_themes=10, min_theme_size=5, min_similarity=0.5).fit(X)
    stranger = np.zeros((1, X.shape[1]), dtype=np.float32)
    stranger[0, -1] = 1.0  # orthogonal to every blob direction
    assert discoverer.predict(stranger)[0] == UNASSIGNED


def test_sampled_fit_still_assigns_every_unit():
    X, y = blobs(200, 5)
    discoverer = ThemeDiscoverer(min_themes=2, max_themes=20, max_fit_units=300).fit(X)
    assert len(discoverer.labels_) == len(X) and discoverer.n_themes_ == 5


def test_the_fit_sample_follows_the_units_not_their_positions():
    from feedback_nlp.themes import _fit_sample

    X, _ = blobs(200, 5)  # 1,000 units
    new, _ = blobs(50, 1, seed=9)
    retrain = np.vstack([new, X[::-1][50:]])  # 5% replaced, the rest in another order
    first = {X[i].tobytes() for i in _fit_sample(X, 300, random_state=0)}
    again = {retrain[i].tobytes() for i in _fit_sample(retrain, 300, random_state=0)}
    assert len(first) == len(again) == 300
    assert len(first & again) >= 0.85 * 300  # a drawn sample of positions would share about 30%
    assert {X[i].tobytes() for i in _fit_sample(X, 300, random_state=1)} != first
    np.testing.assert_array_equal(_fit_sample(X, 2000, random_state=0), np.arange(len(X)))


def test_class_tfidf_prefers_words_distinct_to_a_theme():
    docs = [
        ["export", "csv", "slow"],
        ["export", "csv", "timeout"],
        ["card", "decline", "slow"],
        ["card", "decline", "hotel"],
    ]
    keywords = class_tfidf_keywords(docs, np.array([0, 0, 1, 1]), 2, n_keywords=3, min_df=1)
    assert keywords[0][0] in ("export", "csv", "export csv") and "slow" not in keywords[0][:2]
    assert keywords[1][0] in ("card", "decline", "card decline")
    assert all(not set(k.split()) & {"export", "csv"} for k in keywords[1])


def test_theme_name_is_short_and_readable():
    assert theme_name(["card arrival", "card", "delivery", "week"]) == "card arrival / delivery"
    assert theme_name([]) == "unnamed theme"


def test_roadmap_mapping_leaves_dissimilar_themes_unplanned():
    centroids = np.eye(3, dtype=np.float32)
    items = np.array([[1, 0, 0], [0, 0.6, 0.8]], dtype=np.float32)
    matches = map_themes_to_roadmap(centroids, items, ["A", "B"], threshold=0.7)
    assert [m.item_id for m in matches] == ["A", None, "B"]
    assert matches[1].score == pytest.approx(0.6)


def test_router_probabilities_are_calibrated_and_ordered_by_class():
    X, y = blobs(40, 3, noise=0.3)
    router = ThemeRouter(calibration="temperature").fit(X, y + 10)
    probabilities = router.predict_proba(X)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert list(router.classes_) == [10, 11, 12]
    assert (router.predict(X) == y + 10).mean() > 0.9


def test_theme_name_skips_words_that_say_nothing_alone():
    assert theme_name(["work", "top-up", "try", "fail"]) == "top-up / fail"
    assert theme_name(["work", "try"]) == "work / try"  # nothing better to say


def test_the_feedback_words_break_a_near_tie_between_items():
    from feedback_nlp.roadmap import RoadmapItem, theme_item_lexical

    items = [
        RoadmapItem("RM-1", "Card activation flow", "", "a@x.io", "shipped", ["activate card", "new card"]),
        RoadmapItem("RM-2", "Card delivery tracking", "", "b@x.io", "planned", ["delivery", "tracking"]),
    ]
    texts = [
        "my new card delivery is late",
        "where is the delivery of my card",
        "tracking the delivery",
        "cannot activate card",
    ]
    labels = np.array([0, 0, 0, 1])
    lexical = theme_item_lexical(texts, labels, 2, items)
    assert lexical[0, 1] == 1.0 and lexical[0, 1] > lexical[0, 0] and lexical[1, 0] == 1.0
    centroids = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    item_vectors = np.array([[0.80, 0.60], [0.78, 0.62]], dtype=np.float32)  # theme 0 slightly nearer RM-1
    plain = map_themes_to_roadmap(centroids, item_vectors, ["RM-1", "RM-2"], threshold=0.5)
    mixed = map_themes_to_roadmap(centroids, item_vectors, ["RM-1", "RM-2"], 0.5, lexical, 0.3)
    assert plain[0].item_id == "RM-1" and mixed[0].item_id == "RM-2"
    assert mixed[0].score == pytest.approx(0.78)  # the reported score stays the cosine
    strict = map_themes_to_roadmap(centroids, item_vectors, ["RM-1", "RM-2"], 0.9, lexical, 0.3)
    assert strict[0].item_id is None  # the threshold applies to the cosine alone


def test_temperature_scaling_sharpens_an_underconfident_router():
    X, y = blobs(40, 6, noise=0.25)
    raw = ThemeRouter(calibration=None).fit(X, y)
    scaled = ThemeRouter(calibration="temperature").fit(X, y)
    assert scaled.temperature_ is not None and scaled.temperature_ < 1.0  # C=10 on unit vectors is too soft
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
    router = ThemeRouter(rehearsal_groups=0).fit(X[train], y[train], X_val=X[~train], y_val=y[~train])
    assert len(fits) == 1  # cross-validation would have fitted calibration_folds more
    raw = router.decision_function(X[~train])

    # the temperature is the one that minimises the validation log loss: a nearby one does worse
    def log_loss(temperature):
        logits = raw / temperature
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return -log_p[np.arange(len(raw)), np.searchsorted(router.classes_, y[~train])].mean()

    assert log_loss(router.temperature_) <= min(
        log_loss(router.temperature_ * 1.2), log_loss(router.temperature_ / 1.2)
    )
    assert router.temperature_ != pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(router.predict_proba(X[:3]).sum(axis=1), 1.0, rtol=1e-5)


def test_validation_units_of_unknown_themes_are_ignored_and_missing_texts_refused():
    X, y = blobs(40, 4, noise=0.3)
    train = y < 3
    with_stranger = ThemeRouter(rehearsal_groups=0).fit(
        X[train][::2], y[train][::2], X_val=X[1::2], y_val=y[1::2]
    )
    known_only = ThemeRouter(rehearsal_groups=0).fit(
        X[train][::2], y[train][::2], X_val=X[1::2][y[1::2] < 3], y_val=y[1::2][y[1::2] < 3]
    )
    assert with_stranger.temperature_ == pytest.approx(known_only.temperature_)
    with pytest.raises(ValueError, match="no validation unit"):
        ThemeRouter(rehearsal_groups=0).fit(X[train], y[train], X_val=X[~train], y_val=y[~train])
    texts = [f"text {label} {i}" for i, label in enumerate(y)]
    with pytest.raises(ValueError, match="texts_val"):
        ThemeRouter(rehearsal_groups=0).fit(X[::2], y[::2], texts[::2], X_val=X[1::2], y_val=y[1::2])


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
    with_words = ThemeRouter().fit(X[train], y[train], [t for t, k in zip(texts, train) if k])
    blind = ThemeRouter(text_features=False).fit(X[train], y[train])
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


def test_the_in_scope_score_is_learned_by_hiding_themes_and_flags_a_topic_never_seen():
    X, y = blobs(40, 12, noise=0.2)
    known = y < 10  # two themes the router never sees
    train = known & (np.arange(len(y)) % 4 != 0)
    router = ThemeRouter(rehearsal_groups=4, min_rehearsal_units=100).fit(X[train], y[train])
    assert router.novelty_model_ is not None
    assert router.rehearsal_["groups"] == 4 and router.rehearsal_["hidden_units"] > 0
    in_scope = router.in_scope_score(X[known & ~train])
    never_seen = router.in_scope_score(X[~known])
    assert ((in_scope >= 0) & (in_scope <= 1)).all() and ((never_seen >= 0) & (never_seen <= 1)).all()
    assert np.median(never_seen) < np.quantile(in_scope, 0.05)
    probabilities, together = router.predict_proba_and_in_scope(X[~known])
    np.testing.assert_array_equal(together, never_seen)
    np.testing.assert_allclose(probabilities, router.predict_proba(X[~known]), rtol=1e-6)
    # a router refitted on all the known units takes the learned score over instead of rehearsing again
    refit = ThemeRouter(rehearsal_groups=0).fit(X[known], y[known])
    assert refit.novelty_model_ is None
    assert refit.adopt_novelty_model(router).novelty_model_ is router.novelty_model_
    assert np.median(refit.in_scope_score(X[~known])) < np.quantile(
        refit.in_scope_score(X[known & ~train]), 0.05
    )


def test_without_rehearsal_the_in_scope_score_is_the_percentile_score():
    X, y = blobs(40, 12, noise=0.2)
    off = ThemeRouter(rehearsal_groups=0).fit(X, y)
    few_themes = ThemeRouter(min_rehearsal_units=100).fit(
        X, y
    )  # 12 themes: under two per group of the default 8
    few_units = ThemeRouter(rehearsal_groups=4).fit(X, y)  # 480 units, under the default 500
    assert (
        off.novelty_model_ is None and few_themes.novelty_model_ is None and few_units.novelty_model_ is None
    )
    learned = ThemeRouter(rehearsal_groups=4, min_rehearsal_units=100).fit(X, y)
    # a router saved before rehearsal existed has no novelty model: it scores with the percentiles
    del learned.novelty_model_
    np.testing.assert_allclose(learned.in_scope_score(X), off.in_scope_score(X))


def test_a_given_temperature_is_used_instead_of_fitting_one():
    X, y = blobs(40, 6, noise=0.25)
    fitted = ThemeRouter().fit(X, y)
    kept = ThemeRouter(temperature=fitted.temperature_).fit(X, y)
    assert kept.temperature_ == fitted.temperature_
    np.testing.assert_allclose(kept.predict_proba(X), fitted.predict_proba(X), rtol=1e-5)
    assert (
        ThemeRouter(temperature=2 * fitted.temperature_).fit(X, y).predict_proba(X).max(axis=1).mean()
        < fitted.predict_proba(X).max(axis=1).mean()
    )
