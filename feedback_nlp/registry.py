"""Theme identity across retrains: match new clusters to the previous model's themes and keep their IDs.

Each new cluster is matched to a previous theme by the units they share (Jaccard over units present in
both runs) and by centroid similarity, solved as an assignment problem (Hungarian). Matched clusters keep
the previous ID and name; unmatched clusters get fresh IDs (never reused); previous themes left without a
match are retired. Splits (a previous theme whose units now fall in two or more themes) and merges (two or
more previous themes whose units now fall in one) are recognised and recorded as lineage.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from feedback_nlp.errors import ModelLoadError

logger = logging.getLogger(__name__)

UNASSIGNED = -1


def unit_key(item_id: str, text: str) -> str:
    """A unit's identity across runs: its item and its (redacted) text."""
    return hashlib.sha1(f"{item_id}\x00{text}".encode()).hexdigest()[:20]


@dataclass
class PreviousThemes:
    """What the registry needs from the model that is serving now."""

    version: str
    registry: dict[str, Any]
    centroids: dict[int, np.ndarray]
    assignments: dict[str, int]  # unit key -> raw theme id
    encoder_sha256: str | None = None

    @classmethod
    def load(cls, model_dir: Path, keys: Container[str] | None = None) -> PreviousThemes | None:
        """Read a previous model's registry; None for models written before the registry existed.

        With ``keys``, only those units' previous themes are kept (the discovery sample's), so the driver's
        memory does not grow with the previous model's size.
        """
        from feedback_nlp import artifact

        if not artifact.has_registry(model_dir):
            return None
        registry = artifact.read_json(model_dir, artifact.REGISTRY_FILE)
        ids, vectors = artifact.load_centroids(model_dir)
        centroids = {int(i): c for i, c in zip(ids, vectors)}
        assignments = {
            row["key"]: int(row["raw_theme_id"])
            for row in artifact.iter_assignments(model_dir)
            if row.get("raw_theme_id") is not None and row.get("key") and (keys is None or row["key"] in keys)
        }
        try:
            encoder = artifact.read_json(model_dir, artifact.METADATA_FILE)["encoder"]["sha256"]
        except (ModelLoadError, KeyError, TypeError):
            encoder = None
        return cls(
            version=registry.get("version", model_dir.name),
            registry=registry,
            centroids=centroids,
            assignments=assignments,
            encoder_sha256=encoder,
        )


@dataclass
class IdAssignment:
    """The outcome of matching: an ID per new cluster, the updated registry, and what changed."""

    cluster_ids: list[int]
    registry: dict[str, Any]
    changes: dict[str, Any] = field(default_factory=dict)


def assign_theme_ids(
    labels: np.ndarray,
    centroids: np.ndarray,
    keys: list[str],
    names: list[str],
    version: str,
    previous: PreviousThemes | None,
    *,
    min_overlap: float = 0.3,
    min_centroid_similarity: float = 0.85,
    lineage_share: float = 0.2,
    seed_names: dict[int, str] | None = None,
    encoder_sha256: str | None = None,
) -> IdAssignment:
    """Give each new cluster (0..k-1 in ``labels``) a stable theme ID.

    Args:
        labels: local cluster per unit, -1 for unassigned.
        centroids: unit-length centroid per local cluster.
        keys: :func:`unit_key` per unit.
        names: automatic name per local cluster (used for new themes only: matched ones keep their name).
        version: the version being trained.
        previous: the serving model's themes, or None on a first run.
        min_overlap: Jaccard of shared units from which a pair may match.
        min_centroid_similarity: centroid cosine from which a pair may match without shared units.
        lineage_share: share of a previous theme's units that must move for a split or merge to count.
        seed_names: local clusters that are seed themes (from the taxonomy), by seed name: a seed keeps
            its ID by name, not by matching.
        encoder_sha256: the encoder of this run; centroids are compared only when the previous model used
            the same one (another encoder's vectors live in another space), else matching uses shared units.
    """
    n_clusters = len(centroids)
    seed_names = dict(seed_names or {})
    if previous is None:
        registry: dict[str, Any] = {"version": version, "next_id": 0, "themes": []}
        ids = [
            _seed_id(registry, seed_names[c], version)
            if c in seed_names
            else _new_theme(registry, names[c], version, parents=[], kind="new")
            for c in range(n_clusters)
        ]
        changes = {
            "previous_version": None,
            "new": sorted(ids),
            "retired": [],
            "split": [],
            "merged": [],
            "renamed": [],
            "churn": 0.0,
            "common_units": 0,
        }
        return IdAssignment(ids, registry, changes)

    registry = json.loads(json.dumps(previous.registry))  # a copy we may change
    registry["version"] = version
    active = [t["id"] for t in registry["themes"] if t["status"] == "active"]
    active_index = {theme_id: j for j, theme_id in enumerate(active)}

    # Contingency over units present in both runs and assigned in both.
    overlap = np.zeros((n_clusters, len(active)), dtype=np.float64)
    cluster_common = np.zeros(n_clusters)
    previous_common = np.zeros(len(active))
    common_units = 0
    for key, label in zip(keys, labels):
        old = previous.assignments.get(key)
        if old is None or label < 0 or old not in active_index:
            continue
        common_units += 1
        overlap[label, active_index[old]] += 1
        cluster_common[label] += 1
        previous_common[active_index[old]] += 1
    union = cluster_common[:, None] + previous_common[None, :] - overlap
    jaccard = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)
    same_space = (encoder_sha256 is None or previous.encoder_sha256 in (None, encoder_sha256)) and all(
        previous.centroids[i].shape == centroids.shape[1:] for i in active
    )
    if active and same_space:
        similarity = centroids @ np.vstack([previous.centroids[i] for i in active]).T
    else:
        similarity = np.zeros((n_clusters, len(active)))

    ids: list[int | None] = [
        _seed_id(registry, seed_names[c], version) if c in seed_names else None for c in range(n_clusters)
    ]
    free_clusters = [c for c in range(n_clusters) if ids[c] is None]
    taken = {i for i in ids if i is not None}
    free_old = [j for j, theme_id in enumerate(active) if theme_id not in taken]
    if free_clusters and free_old:
        score = jaccard[np.ix_(free_clusters, free_old)] + similarity[np.ix_(free_clusters, free_old)]
        rows, cols = linear_sum_assignment(-score)
        for r, c in zip(rows, cols):
            cluster, j = free_clusters[r], free_old[c]
            if jaccard[cluster, j] >= min_overlap or similarity[cluster, j] >= min_centroid_similarity:
                ids[cluster] = active[j]
    matched_old = {i for i in ids if i is not None}

    # Lineage: where did each previous theme's units go, and where did each new theme's units come from?
    share_of_old = np.divide(
        overlap, previous_common[None, :], out=np.zeros_like(overlap), where=previous_common[None, :] > 0
    )
    split, merged = [], []
    for cluster in range(n_clusters):
        if ids[cluster] is None:
            parents = [active[j] for j in np.flatnonzero(share_of_old[cluster] >= lineage_share)]
            kind = "split" if parents else "new"
            ids[cluster] = _new_theme(registry, names[cluster], version, parents=parents, kind=kind)
    for j, old_id in enumerate(active):
        children = [ids[c] for c in np.flatnonzero(share_of_old[:, j] >= lineage_share)]
        if len(children) >= 2:
            split.append({"theme": old_id, "into": sorted(int(c) for c in children)})
    for cluster in range(n_clusters):
        sources = [active[j] for j in np.flatnonzero(share_of_old[cluster] >= lineage_share)]
        if len(sources) >= 2:
            merged.append({"themes": sorted(sources), "into": int(ids[cluster])})

    retired = []
    successors: dict[int, list[int]] = {}
    for j, old_id in enumerate(active):
        if old_id in matched_old:
            continue
        children = sorted(int(ids[c]) for c in np.flatnonzero(share_of_old[:, j] >= lineage_share))
        successors[old_id] = children
        retired.append({"theme": old_id, "successors": children})
        for entry in registry["themes"]:
            if entry["id"] == old_id:
                entry.update(status="retired", retired_in=version, successors=children)
    final_ids = [int(i) for i in ids]

    changed = 0
    new_by_cluster = dict(enumerate(final_ids))
    for key, label in zip(keys, labels):
        old = previous.assignments.get(key)
        if old is None or label < 0 or old not in active_index:
            continue
        changed += new_by_cluster[int(label)] != old
    previous_ids = set(active)
    changes = {
        "previous_version": previous.version,
        "new": sorted(i for i in final_ids if i not in previous_ids),
        "retired": retired,
        "split": split,
        "merged": merged,
        "renamed": [],
        "churn": round(changed / common_units, 4) if common_units else 0.0,
        "common_units": common_units,
    }
    logger.info(
        "theme ids: %d kept, %d new, %d retired, churn %.1f%%",
        len(matched_old),
        len(changes["new"]),
        len(retired),
        100 * changes["churn"],
    )
    return IdAssignment(final_ids, registry, changes)


def _new_theme(registry: dict[str, Any], name: str, version: str, parents: list[int], kind: str) -> int:
    theme_id = int(registry["next_id"])
    registry["next_id"] = theme_id + 1
    registry["themes"].append(
        {
            "id": theme_id,
            "name": name,
            "status": "active",
            "created_in": version,
            "retired_in": None,
            "lineage": kind,
            "parents": [int(p) for p in parents],
            "successors": [],
        }
    )
    return theme_id


def _seed_id(registry: dict[str, Any], name: str, version: str) -> int:
    """A seed theme's ID: the active registry entry for this seed name, or a new one."""
    for entry in registry["themes"]:
        if entry.get("seed") == name and entry["status"] == "active":
            return int(entry["id"])
    theme_id = _new_theme(registry, name, version, parents=[], kind="seed")
    registry["themes"][-1]["seed"] = name
    return theme_id


def registry_names(registry: dict[str, Any]) -> dict[int, str]:
    return {entry["id"]: entry["name"] for entry in registry["themes"]}


def successor_of(registry: dict[str, Any], theme_id: int) -> int | None:
    """Follow a retired theme to its single successor; None when the lineage is not clear."""
    by_id = {entry["id"]: entry for entry in registry["themes"]}
    seen = set()
    current = theme_id
    while current in by_id and by_id[current]["status"] == "retired" and current not in seen:
        seen.add(current)
        successors = by_id[current].get("successors") or []
        if len(successors) != 1:
            return None
        current = successors[0]
    entry = by_id.get(current)
    return current if entry is not None and entry["status"] == "active" else None
