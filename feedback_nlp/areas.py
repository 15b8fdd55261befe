"""Areas: the readable top level above themes, found from the themes' own structure, with stable IDs.

Themes are grouped by average-linkage agglomerative clustering of their centroids (centred first: sentence
embeddings share a common direction that makes every pair look alike). The number of areas is the one with
the best silhouette among candidates that scale with the number of themes (about the square root of it, from
half to twice that), so a product with 40 themes reads as about 6 areas and one with 300 as about 17, without
a constant tuned to one data set. Every theme belongs to exactly one area; the router predicts themes and a
unit's area follows from its theme.

Area IDs survive retrains like theme IDs: a new area keeps the ID of the previous area whose themes (by their
stable theme IDs, weighted by size) it shares most, solved as an assignment problem; an area without such a
match gets a fresh ID, never reused. The area registry travels inside ``theme_registry.json`` (key
``areas``), so one file holds the identity of both levels.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import silhouette_score

logger = logging.getLogger(__name__)

# themes.json key of a theme's area, and theme_registry.json key of the area registry
AREA_ID = "area_id"
AREA_NAME = "area_name"
REGISTRY_KEY = "areas"


def candidate_counts(n_themes: int) -> range:
    """The numbers of areas considered for ``n_themes`` themes: sqrt(n) / 2 to 2 sqrt(n) (at least 2, and
    fewer than the themes so that an area is a grouping)."""
    if n_themes < 3:
        return range(1, 2)
    root = math.sqrt(n_themes)
    low = max(2, math.floor(root / 2))
    high = min(n_themes - 1, math.ceil(2 * root))
    return range(low, max(low, high) + 1)


def group_themes(centroids: np.ndarray) -> np.ndarray:
    """Local area (0..n_areas-1, the area with most themes first) of each theme, from its unit-length
    centroid (one row per theme). Deterministic: the tree and the silhouette involve no draw."""
    n_themes = len(centroids)
    if n_themes < 3:
        return np.zeros(n_themes, dtype=np.int64)
    shaped = centroids.astype(np.float64) - centroids.mean(axis=0)
    norms = np.linalg.norm(shaped, axis=1, keepdims=True)
    shaped = shaped / np.where(norms == 0, 1.0, norms)
    tree = linkage(shaped, method="average", metric="cosine")
    best_labels, best_score = np.zeros(n_themes, dtype=np.int64), -np.inf
    for k in candidate_counts(n_themes):
        labels = fcluster(tree, t=k, criterion="maxclust")
        if len(np.unique(labels)) < 2:
            continue
        score = silhouette_score(shaped, labels, metric="cosine")
        if score > best_score:
            best_labels, best_score = labels, score
    return _largest_first(best_labels)


def _largest_first(labels: np.ndarray) -> np.ndarray:
    values, counts = np.unique(labels, return_counts=True)
    order = values[np.argsort(-counts, kind="stable")]
    remap = {int(v): n for n, v in enumerate(order)}
    return np.asarray([remap[int(v)] for v in labels], dtype=np.int64)


@dataclass(frozen=True)
class AreaEntry:
    """One area ID for life: its last name and whether it is still in use."""

    id: int
    name: str
    status: str  # "active" or "retired"
    created_in: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "status": self.status, "created_in": self.created_in}


@dataclass(frozen=True)
class AreaRegistry:
    """Every area ID ever given (retired ones too, so IDs are never reused)."""

    next_id: int
    areas: tuple[AreaEntry, ...]

    @classmethod
    def from_registry(cls, registry: Mapping[str, Any] | None) -> AreaRegistry:
        """The area registry inside a theme registry's JSON form; empty when it has none (older models)."""
        raw = (registry or {}).get(REGISTRY_KEY) or {}
        entries = tuple(
            AreaEntry(int(a["id"]), str(a["name"]), str(a["status"]), str(a.get("created_in", "")))
            for a in raw.get("areas") or ()
        )
        return cls(int(raw.get("next_id", 0)), entries)

    def to_dict(self) -> dict[str, Any]:
        return {"next_id": self.next_id, "areas": [a.to_dict() for a in self.areas]}


@dataclass(frozen=True)
class ThemeAreas:
    """Each served theme's area (by position in the served order) and the areas' IDs and names."""

    area_of_theme: tuple[int, ...]  # area ID of each served theme, in served (dense) order
    ids: tuple[int, ...]  # area IDs, largest area (by units) first
    names: dict[int, str]
    keywords: dict[int, list[str]]
    registry: AreaRegistry

    def area_name(self, area_id: int) -> str:
        return self.names[area_id]

    def summary(self, themes: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Each area as ``summary.json`` lists it: ID, name, units, keywords and its themes' IDs (themes in
        served order, the order of ``themes``)."""
        return [
            {
                "id": area_id,
                "name": self.names[area_id],
                "size": sum(int(t["size"]) for t, a in zip(themes, self.area_of_theme) if a == area_id),
                "keywords": self.keywords[area_id],
                "themes": [int(t["id"]) for t, a in zip(themes, self.area_of_theme) if a == area_id],
            }
            for area_id in self.ids
        ]


def assign_area_ids(
    local_areas: np.ndarray,
    theme_ids: Sequence[int],
    sizes: Sequence[int],
    previous_area_of_theme: Mapping[int, int],
    previous: AreaRegistry,
) -> tuple[np.ndarray, int]:
    """Stable area ID of each local area: the previous area whose themes it shares most (by units).

    Args:
        local_areas: local area of each theme (0..n_areas-1).
        theme_ids: stable ID of each theme (same order).
        sizes: units of each theme (same order).
        previous_area_of_theme: the serving model's area ID of each of its theme IDs.
        previous: the serving model's area registry.

    Returns:
        The area ID of each local area, and the next fresh ID.
    """
    n_areas = int(local_areas.max()) + 1 if len(local_areas) else 0
    old_ids = sorted({a.id for a in previous.areas if a.status == "active"})
    overlap = np.zeros((n_areas, len(old_ids)))
    column = {area_id: n for n, area_id in enumerate(old_ids)}
    for area, theme_id, size in zip(local_areas, theme_ids, sizes):
        old = previous_area_of_theme.get(int(theme_id))
        if old in column:
            overlap[int(area), column[old]] += max(int(size), 1)
    ids = np.full(n_areas, -1, dtype=np.int64)
    if overlap.size:
        rows, cols = linear_sum_assignment(-overlap)
        for row, col in zip(rows, cols):
            if overlap[row, col] > 0:
                ids[row] = old_ids[col]
    next_id = max(previous.next_id, max(old_ids, default=-1) + 1)
    for area in range(n_areas):
        if ids[area] < 0:
            ids[area] = next_id
            next_id += 1
    return ids, next_id
