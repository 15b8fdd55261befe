"""Step 5: stable theme IDs across retrains, the curator's decisions, and the themes' names and centroids.

A theme has an ID in four spaces, held together by :class:`ThemeIds`:

- *local*: this run's clusters, 0..n_local-1 (seed themes included);
- *raw*: the registry's ID of each local cluster, stable across retrains;
- *served*: the ID after the curator's merges (what the API, the store and the report show);
- *dense*: the served theme's position in ``themes.json`` (largest first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from feedback_nlp import artifact
from feedback_nlp.config import TrainingConfig
from feedback_nlp.errors import ModelLoadError
from feedback_nlp.labeling import theme_name
from feedback_nlp.naming import GroupName, NamingRequest
from feedback_nlp.registry import IdAssignment, PreviousThemes, assign_theme_ids, registry_names
from feedback_nlp.roadmap import RoadmapItem
from feedback_nlp.steps.count import UnitCounts
from feedback_nlp.steps.discover import DiscoveredThemes
from feedback_nlp.taxonomy import ResolvedTaxonomy, Seed, Taxonomy, resolve
from feedback_nlp.themes import UNASSIGNED


@dataclass(frozen=True)
class ThemeIds:
    """Lookups between the four ID spaces (module docstring); each array is indexed by local theme."""

    local_to_raw: np.ndarray
    local_to_served: np.ndarray
    local_to_dense: np.ndarray  # UNASSIGNED for a local theme whose served theme has no units
    served_ids: tuple[int, ...]  # in dense order

    def served(self, local_labels: np.ndarray) -> np.ndarray:
        """Served theme of each unit from its local label (UNASSIGNED stays)."""
        served = np.full(len(local_labels), UNASSIGNED, dtype=np.int64)
        assigned = local_labels >= 0
        served[assigned] = self.local_to_served[local_labels[assigned]]
        return served


@dataclass(frozen=True)
class IdentifiedThemes:
    """The served themes, in dense order, with the registry outcome and the curation that shaped them."""

    ids: ThemeIds
    assignment: IdAssignment
    curation: ResolvedTaxonomy
    merged_into: dict[int, int]  # raw id -> the served id it was merged into
    merges: dict[int, dict[str, Any]]  # served id -> the (first) curator's merge into it
    seeds_by_id: dict[int, tuple[Seed, np.ndarray]]  # raw id of a seed theme -> (seed, its example centroid)
    sizes: dict[int, int]  # served id -> units
    keywords: list[list[str]]
    centroids: np.ndarray
    names: list[str]
    previous_names: dict[int, str]


def identify_themes(
    discovered: DiscoveredThemes,
    counts: UnitCounts,
    taxonomy: Taxonomy,
    roadmap: tuple[RoadmapItem, ...],
    previous_dir: Path | None,
    version: str,
    encoder_sha256: str,
    config: TrainingConfig,
    namer: Callable[[NamingRequest], list[GroupName]],
) -> IdentifiedThemes:
    """Match this run's clusters to the serving model's themes, apply the curation, and name the themes.

    ``namer`` names new clusters in words (:func:`feedback_nlp.stages.name_theme_groups`); a theme matched
    to the serving model keeps its name, and the curator's renames and merge names win over both.
    """
    seeds = taxonomy.seeds
    local_keywords = counts.terms.keywords(discovered.n_local, None, config.n_keywords)
    previous = PreviousThemes.load(previous_dir, keys=set(discovered.sample.keys)) if previous_dir else None
    if discovered.kept is not None and previous is not None:  # kept borders: every theme keeps its name
        names_before = previous.registry.names()
        local_names = [names_before[int(raw)] for raw in discovered.kept.previous.raw_ids]
    else:
        local_names = _local_names(discovered, local_keywords, [seed.name for seed in seeds], namer)
    assignment = assign_theme_ids(
        discovered.labels,
        discovered.centroids,
        discovered.sample.keys,
        local_names,
        version,
        previous,
        seed_names={c: s.name for c, s in zip(discovered.seed_clusters, seeds)},
        seed_ids={c: s.theme_id for c, s in zip(discovered.seed_clusters, seeds) if s.theme_id is not None},
        encoder_sha256=encoder_sha256,
    )
    raw_ids = list(assignment.cluster_ids)
    curation = resolve(taxonomy, assignment.theme_registry, set(raw_ids), {item.id for item in roadmap})
    merged_into = {member: merge["into"] for merge in curation.merges for member in merge["themes"]}
    seeds_by_id = {
        assignment.cluster_ids[c]: (seed, discovered.seeds.vectors[n])
        for n, (c, seed) in enumerate(zip(discovered.seed_clusters, seeds))
    }
    ids, sizes = _theme_ids(raw_ids, merged_into, set(seeds_by_id), counts.sizes)
    n_served = len(ids.served_ids)
    dense_of_local = {c: int(ids.local_to_dense[c]) for c in range(discovered.n_local)}
    keywords = counts.terms.keywords(n_served, dense_of_local, config.n_keywords)
    centroids = _served_centroids(ids, counts, sizes, seeds_by_id)
    previous_names = _previous_theme_names(previous_dir)
    registry_name = registry_names(assignment.theme_registry)
    merges: dict[int, dict[str, Any]] = {}
    for merge in curation.merges:  # the first merge into a theme names it
        merges.setdefault(merge["into"], merge)
    names = [
        curation.renames.get(theme_id)
        or merges.get(theme_id, {}).get("name")
        or previous_names.get(theme_id)
        or registry_name.get(theme_id)
        or theme_name(keywords[n])
        for n, theme_id in enumerate(ids.served_ids)
    ]
    return IdentifiedThemes(
        ids,
        assignment,
        curation,
        merged_into,
        merges,
        seeds_by_id,
        sizes,
        keywords,
        centroids,
        names,
        previous_names,
    )


def _local_names(
    discovered: DiscoveredThemes,
    keywords: list[list[str]],
    seed_names: list[str],
    namer: Callable[[NamingRequest], list[GroupName]],
) -> list[str]:
    """Each local cluster's name: a seed's own name, the others named in words from their sample units."""
    seed_of = dict(zip(discovered.seed_clusters, seed_names))
    named = [c for c in range(discovered.n_local) if c not in seed_of]
    texts: list[list[str]] = [[] for _ in range(discovered.n_local)]
    for text, label in zip(discovered.sample.texts, discovered.labels):
        if label >= 0:
            texts[label].append(text)
    request = NamingRequest(
        group_texts=tuple(tuple(texts[c]) for c in named),
        centroids=discovered.centroids[named],
        keywords=tuple(tuple(keywords[c]) for c in named),
        reserved=tuple(seed_names),
    )
    names = dict(zip(named, (group.name for group in namer(request)))) if named else {}
    return [seed_of.get(c) or names[c] for c in range(discovered.n_local)]


def _theme_ids(
    raw_ids: list[int], merged_into: dict[int, int], seed_ids: set[int], local_sizes: np.ndarray
) -> tuple[ThemeIds, dict[int, int]]:
    """Served themes (every served theme with units, and seeds not merged away), largest first."""
    local_to_served = np.asarray([merged_into.get(i, i) for i in raw_ids], dtype=np.int64)
    n_local = len(raw_ids)
    served_ids = sorted(
        {int(local_to_served[c]) for c in range(n_local) if local_sizes[c] > 0}
        | (seed_ids - set(merged_into))
    )
    sizes = {theme_id: 0 for theme_id in served_ids}
    for c in range(n_local):
        if local_sizes[c]:
            sizes[int(local_to_served[c])] += int(local_sizes[c])
    served_ids.sort(key=lambda theme_id: (-sizes[theme_id], theme_id))
    dense = {theme_id: n for n, theme_id in enumerate(served_ids)}
    local_to_dense = np.asarray([dense.get(int(i), UNASSIGNED) for i in local_to_served], dtype=np.int64)
    ids = ThemeIds(np.asarray(raw_ids, dtype=np.int64), local_to_served, local_to_dense, tuple(served_ids))
    return ids, sizes


def _served_centroids(
    ids: ThemeIds, counts: UnitCounts, sizes: dict[int, int], seeds_by_id: dict[int, tuple[Seed, np.ndarray]]
) -> np.ndarray:
    """Unit-length mean of each served theme's units; a seed with no units yet is described by its
    examples."""
    dense_sums = np.zeros((len(ids.served_ids), counts.sums.shape[1]), dtype=np.float64)
    for c, dense in enumerate(ids.local_to_dense):
        if dense >= 0:
            dense_sums[dense] += counts.sums[c]
    norms = np.linalg.norm(dense_sums, axis=1, keepdims=True)
    centroids = np.divide(dense_sums, norms, out=np.zeros_like(dense_sums), where=norms > 0).astype(
        np.float32
    )
    for n, theme_id in enumerate(ids.served_ids):
        if sizes[theme_id] == 0 and theme_id in seeds_by_id:
            centroids[n] = seeds_by_id[theme_id][1]
    return centroids


def _previous_theme_names(previous_dir: Path | None) -> dict[int, str]:
    if previous_dir is None:
        return {}
    try:
        themes = artifact.read_json(previous_dir, artifact.THEMES_FILE)
    except ModelLoadError:
        return {}
    return {int(t["id"]): t["name"] for t in themes}
