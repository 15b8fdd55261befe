"""Theme discovery, labels and routing estimators on small inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from feedback_nlp.ctfidf import class_tfidf_keywords
from feedback_nlp.labeling import theme_name
from feedback_nlp.roadmap import map_themes_to_roadmap
from feedback_nlp.themes import UNASSIGNED, ThemeDiscoverer, refine_partition


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


# -- near-duplicate merging: one request split in two merges back, distinct requests stay apart -------------
def test_a_request_the_tree_split_in_two_merges_back():
    X, y = blobs(60, 2)  # two requests, but min_themes makes the tree cut each in two
    split = ThemeDiscoverer(min_themes=4, min_theme_size=5, merge_significance=None).fit(X)
    merged = ThemeDiscoverer(min_themes=4, min_theme_size=5).fit(X)
    assert split.n_themes_ == 4 and split.merged_duplicates_ == 0
    assert merged.n_themes_ == 2 and merged.merged_duplicates_ == 2
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, merged.labels_) == 1.0


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5])
def test_a_merge_level_outside_0_to_1_is_refused(level):
    with pytest.raises(ValueError, match="merge_significance"):
        ThemeDiscoverer(merge_significance=level).fit(blobs(20, 2)[0])


def test_distinct_requests_side_by_side_are_not_merged():
    from feedback_nlp.themes import merge_near_duplicates

    rng = np.random.RandomState(42)
    # two requests close together (centres 0.6 apart, spread 0.1): nearest to each other, still two modes
    X = np.vstack([rng.randn(50, 16) * 0.1, rng.randn(50, 16) * 0.1 + np.r_[0.6, np.zeros(15)]])
    labels = np.repeat([0, 1], 50)
    kept, merged = merge_near_duplicates(X, labels, significance=0.01)
    assert merged == [] and np.array_equal(kept, labels)
    # the same 100 units cut across the middle of one request do merge, into the smaller label
    one = rng.randn(100, 16) * 0.1
    halves = (one[:, 0] > 0).astype(int)
    kept, merged = merge_near_duplicates(one, halves, significance=0.01)
    assert merged == [(0, 1)] and set(kept) == {0}


def test_merging_keeps_the_theme_ids_of_the_previous_model():
    from test_registry import _previous

    from feedback_nlp.registry import assign_theme_ids

    X, _ = blobs(60, 2)
    keys = [f"u{i}" for i in range(len(X))]
    split = ThemeDiscoverer(min_themes=4, min_theme_size=5, merge_significance=None).fit(X)
    previous = _previous(
        {k: 10 + int(t) for k, t in zip(keys, split.labels_)},
        {10 + t: c for t, c in enumerate(split.centroids_)},
    )
    merged = ThemeDiscoverer(min_themes=4, min_theme_size=5).fit(X)
    result = assign_theme_ids(merged.labels_, merged.centroids_, keys, ["a", "b"], "v2", previous)
    # each merged theme keeps the id of one of its halves; the other half retires into it, no id is new
    assert set(result.cluster_ids) <= {10, 11, 12, 13} and len(set(result.cluster_ids)) == 2
    assert result.changes["new"] == [] and len(result.changes["merged"]) == 2


def _on_circle(degrees) -> np.ndarray:
    angles = np.radians(degrees)
    return np.c_[np.cos(angles), np.sin(angles)]


def test_refinement_moves_a_unit_to_its_nearest_theme():
    # The unit at 80 degrees was put with the units at 0 to 10 (their centroid with it: about 21.5 degrees)
    # though the other theme's centroid (90 degrees) is 10 degrees away: one step moves it, the second
    # moves nothing (centroids at 5 and 87.5 degrees). Theme labels keep their values.
    X = _on_circle([0, 5, 10, 80, 85, 90, 95])
    labels = np.array([3, 3, 3, 3, 7, 7, 7])
    refined, steps = refine_partition(X, labels, max_steps=10)
    assert refined.tolist() == [3, 3, 3, 7, 7, 7, 7]
    assert steps == 1
    again, steps = refine_partition(X, refined, max_steps=10)
    assert again.tolist() == refined.tolist() and steps == 0  # a fixed point
    unrefined, steps = refine_partition(X, labels, max_steps=0)
    assert unrefined.tolist() == labels.tolist() and steps == 0


def test_discovery_with_refinement_is_deterministic_and_reports_its_steps():
    X, y = blobs(40, 5, noise=0.3)  # overlapping blobs, so the tree leaves units to move
    first = ThemeDiscoverer(min_themes=2, max_themes=20, min_theme_size=5, refine_steps=20).fit(X)
    second = ThemeDiscoverer(min_themes=2, max_themes=20, min_theme_size=5, refine_steps=20).fit(X.copy())
    np.testing.assert_array_equal(first.labels_, second.labels_)
    np.testing.assert_array_equal(first.centroids_, second.centroids_)
    assert 1 <= first.refine_steps_taken_ <= first.refine_steps  # units moved, and it stopped
    unrefined = ThemeDiscoverer(min_themes=2, max_themes=20, min_theme_size=5).fit(X)
    assert unrefined.refine_steps_taken_ == 0  # off by default
    with pytest.raises(ValueError, match="refine_steps"):
        ThemeDiscoverer(refine_steps=-1).fit(X)


def test_the_partition_step_gets_the_count_and_the_rest_of_discovery_follows_it():
    # The seam bench_representation.py measures other partitions through: the step is given the centred,
    # unit-length sample and HDBSCAN's count, and everything after it (near-duplicate test, centroids,
    # assignment) works on the partition it returns.
    from sklearn.metrics import adjusted_rand_score

    X, y = blobs(30, 4)
    discoverer = ThemeDiscoverer(min_themes=2, max_themes=20, min_theme_size=5, merge_significance=None)
    given = {}

    def first_two_blobs_as_one(shaped, n_themes):
        given.update(n_themes=n_themes, norms=np.linalg.norm(shaped, axis=1))
        return np.where(y == 1, 0, y) + 1, shaped

    discoverer._partition = first_two_blobs_as_one
    discoverer.fit(X)
    assert given["n_themes"] == 4
    np.testing.assert_allclose(given["norms"], 1.0, atol=1e-9)
    assert discoverer.n_themes_ == 3
    assert adjusted_rand_score(np.where(y == 1, 0, y), discoverer.labels_) == 1.0
