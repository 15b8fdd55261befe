"""Areas (feedback_nlp/areas.py), the data-driven grain of themes, and roadmap links with margins."""

from __future__ import annotations

import numpy as np
import pytest

from feedback_nlp.areas import AreaEntry, AreaRegistry, assign_area_ids, candidate_counts, group_themes
from feedback_nlp.roadmap import map_themes_to_roadmap
from feedback_nlp.themes import ThemeDiscoverer


def _clusters(n_groups: int, per_group: int, dim: int, spread: float, seed: int = 42):
    """``per_group`` noisy copies of each of ``n_groups`` random unit directions, and the group of each."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_groups, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    points = np.repeat(centres, per_group, axis=0) + rng.normal(
        scale=spread / np.sqrt(dim), size=(n_groups * per_group, dim)
    )
    return points.astype(np.float32), np.repeat(np.arange(n_groups), per_group)


def test_three_groups_of_themes_make_three_areas_and_every_theme_has_one():
    groups, _ = _clusters(3, 1, 32, 0.0, seed=1)
    rng = np.random.default_rng(0)
    themes = np.repeat(groups, 4, axis=0) + rng.normal(scale=0.05, size=(12, 32))
    themes /= np.linalg.norm(themes, axis=1, keepdims=True)
    areas = group_themes(themes)
    assert len(areas) == 12 and set(areas) == {0, 1, 2}
    for group in range(3):
        assert len(set(areas[group * 4 : group * 4 + 4])) == 1  # a group's themes share one area


@pytest.mark.parametrize("n_themes, low, high", [(2, 1, 1), (9, 2, 6), (40, 3, 13), (300, 8, 35)])
def test_the_number_of_areas_considered_scales_with_the_themes(n_themes, low, high):
    counts = candidate_counts(n_themes)
    assert (counts.start, counts.stop - 1) == (low, high)


def test_area_ids_follow_the_themes_they_hold_and_new_areas_get_fresh_ids():
    previous = AreaRegistry(
        next_id=7, areas=(AreaEntry(3, "Cards", "active", "v1"), AreaEntry(5, "Fees", "active", "v1"))
    )
    previous_area_of_theme = {10: 3, 11: 3, 12: 5, 13: 5}
    # local area 0 now holds the old "Fees" themes, local area 1 the "Cards" ones, local area 2 is new
    local = np.array([0, 0, 1, 1, 2])
    ids, next_id = assign_area_ids(
        local, [12, 13, 10, 11, 20], [5, 5, 5, 5, 5], previous_area_of_theme, previous
    )
    assert list(ids) == [5, 3, 7] and next_id == 8


def test_a_retired_area_id_is_never_given_again():
    previous = AreaRegistry(next_id=4, areas=(AreaEntry(3, "Old", "retired", "v1"),))
    ids, next_id = assign_area_ids(np.array([0]), [1], [9], {}, previous)
    assert list(ids) == [4] and next_id == 5


def test_many_more_distinct_requests_than_80_give_many_more_themes_than_80():
    X, truth = _clusters(n_groups=160, per_group=8, dim=64, spread=0.5)
    discoverer = ThemeDiscoverer(min_theme_size=5, random_state=42).fit(X)
    assert discoverer.n_themes_ >= 150
    from sklearn.metrics import normalized_mutual_info_score

    assert normalized_mutual_info_score(truth, discoverer.labels_) > 0.95


def test_a_cap_a_person_set_still_binds_and_is_logged(caplog):
    X, _ = _clusters(n_groups=30, per_group=8, dim=64, spread=0.5)
    with caplog.at_level("INFO", logger="feedback_nlp.themes"):
        discoverer = ThemeDiscoverer(min_theme_size=5, max_themes=10).fit(X)
    assert discoverer.n_themes_ <= 10
    assert "capped to 10 themes (max_themes)" in caplog.text


def test_a_broad_item_near_every_theme_swallows_none_of_them():
    themes = np.eye(8, dtype=np.float32)
    broad = np.full((1, 8), 1 / np.sqrt(8), dtype=np.float32)  # cosine 0.35 to every theme
    specific = themes[:1] * 0.9 + broad * 0.1
    items = np.vstack([broad, specific / np.linalg.norm(specific)])
    before = map_themes_to_roadmap(themes, items, ["BROAD", "S"], 0.3)
    assert [m.item_id for m in before] == ["S"] + ["BROAD"] * 7  # what one threshold alone does
    matches = map_themes_to_roadmap(themes, items, ["BROAD", "S"], 0.3, margin=0.1)
    assert [m.item_id for m in matches] == ["S"] + [None] * 7


def test_a_sibling_links_the_other_half_of_a_split_request():
    item = np.array([[1.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    themes = np.array(
        [[0.8, 0.6, 0, 0], [0.6, 0.8, 0, 0], [0.4, 0.0, 0.9165, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 1, 0, 0]],
        dtype=np.float32,
    )
    alone = map_themes_to_roadmap(themes, item, ["R"], threshold=0.7, margin=0.1)
    assert [m.item_id for m in alone] == ["R", None, None, None, None, None]  # 0.6 misses the threshold
    with_areas = map_themes_to_roadmap(
        themes, item, ["R"], threshold=0.7, theme_areas=[0, 0, 0, 1, 2, 3], margin=0.1
    )
    # the near miss (0.6) follows its sibling; the sibling far from the item (0.4) does not
    assert [m.item_id for m in with_areas] == ["R", "R", None, None, None, None]


def test_an_item_naming_an_area_takes_its_unlinked_themes_only():
    from feedback_nlp.areas import ThemeAreas
    from feedback_nlp.errors import RoadmapError
    from feedback_nlp.roadmap import RoadmapItem, RoadmapMatch, parse_roadmap
    from feedback_nlp.steps.link import _area_items

    areas = ThemeAreas((4, 4, 9), (4, 9), {4: "Cards", 9: "Fees"}, {4: [], 9: []}, AreaRegistry(10, ()))
    roadmap = [RoadmapItem("R-1", "Card programme", "", "a@x.io", "planned", area=4)]
    matches = [RoadmapMatch("R-7", 0.6), RoadmapMatch(None, 0.2), RoadmapMatch(None, 0.1)]
    assert [m.item_id for m in _area_items(matches, areas, roadmap)] == ["R-7", "R-1", None]
    with pytest.raises(RoadmapError, match="area .cards. is not an area id"):
        parse_roadmap([{"id": "R-2", "title": "t", "owner": "a@x.io", "status": "planned", "area": "cards"}])
