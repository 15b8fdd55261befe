"""Theme identity across retrains: match new clusters to the previous model's themes and keep their IDs.

Each new cluster is matched to a previous theme by the units they share (Jaccard over units present in
both runs) and by centroid similarity, solved as an assignment problem (Hungarian). Matched clusters keep
the previous ID and name; unmatched clusters get fresh IDs (never reused); previous themes left without a
match are retired. Splits (a previous theme whose units now fall in two or more themes) and merges (two or
more previous themes whose units now fall in one) are recognised and recorded as lineage.

The registry is a frozen :class:`ThemeRegistry`; each run writes a new one. Its JSON form
(``theme_registry.json``, :attr:`IdAssignment.registry`) is what model folders hold.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
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


ACTIVE = "active"
RETIRED = "retired"


@dataclass(frozen=True)
class ThemeEntry:
    """One theme ID for life: its name, the version that made it, how it came to be and what replaced it."""

    id: int
    name: str
    status: str  # ACTIVE or RETIRED
    created_in: str
    retired_in: str | None
    lineage: str  # "new", "split" or "seed"
    parents: tuple[int, ...]
    successors: tuple[int, ...]
    seed: str | None = None  # the taxonomy seed's name, for seed themes

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ThemeEntry:
        # Only id, name and status are required: a hand-written registry (a test's) may leave out the rest.
        return cls(
            id=int(raw["id"]),
            name=raw["name"],
            status=raw["status"],
            created_in=raw.get("created_in", ""),
            retired_in=raw.get("retired_in"),
            lineage=raw.get("lineage", "new"),
            parents=tuple(int(p) for p in raw.get("parents") or ()),
            successors=tuple(int(s) for s in raw.get("successors") or ()),
            seed=raw.get("seed"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The entry as theme_registry.json holds it (``seed`` only on seed themes)."""
        entry: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "created_in": self.created_in,
            "retired_in": self.retired_in,
            "lineage": self.lineage,
            "parents": list(self.parents),
            "successors": list(self.successors),
        }
        if self.seed is not None:
            entry["seed"] = self.seed
        return entry


@dataclass(frozen=True)
class ThemeRegistry:
    """Every theme ID ever given (retired ones too, so IDs are never reused), as of ``version``."""

    version: str
    next_id: int
    themes: tuple[ThemeEntry, ...]

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ThemeRegistry:
        return cls(
            version=raw.get("version", ""),
            next_id=int(raw["next_id"]),
            themes=tuple(ThemeEntry.from_dict(entry) for entry in raw["themes"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to theme_registry.json."""
        return {
            "version": self.version,
            "next_id": self.next_id,
            "themes": [t.to_dict() for t in self.themes],
        }

    def active_ids(self) -> list[int]:
        return [t.id for t in self.themes if t.status == ACTIVE]

    def names(self) -> dict[int, str]:
        return {t.id: t.name for t in self.themes}

    def successor_of(self, theme_id: int) -> int | None:
        """Follow a retired theme to its single successor; None when the lineage is not clear."""
        by_id = {t.id: t for t in self.themes}
        seen = set()
        current = theme_id
        while current in by_id and by_id[current].status == RETIRED and current not in seen:
            seen.add(current)
            successors = by_id[current].successors
            if len(successors) != 1:
                return None
            current = successors[0]
        entry = by_id.get(current)
        return current if entry is not None and entry.status == ACTIVE else None


def as_registry(registry: ThemeRegistry | Mapping[str, Any]) -> ThemeRegistry:
    """A :class:`ThemeRegistry` from itself or from its JSON form (as theme_registry.json holds it)."""
    return registry if isinstance(registry, ThemeRegistry) else ThemeRegistry.from_dict(registry)


@dataclass(frozen=True)
class PreviousThemes:
    """What the registry needs from the model that is serving now.

    ``registry`` may be given in its JSON form; it is held as a :class:`ThemeRegistry`.
    """

    version: str
    registry: ThemeRegistry
    centroids: dict[int, np.ndarray]
    assignments: dict[str, int]  # unit key -> raw theme id
    encoder_sha256: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "registry", as_registry(self.registry))

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
        return cls(
            version=registry.get("version", model_dir.name),
            registry=ThemeRegistry.from_dict(registry),
            centroids=centroids,
            assignments=_read_raw_assignments(model_dir, keys),
            encoder_sha256=_encoder_sha256(model_dir),
        )


def _read_raw_assignments(model_dir: Path, keys: Container[str] | None) -> dict[str, int]:
    from feedback_nlp import artifact

    return {
        row["key"]: int(row["raw_theme_id"])
        for row in artifact.iter_assignments(model_dir)
        if row.get("raw_theme_id") is not None and row.get("key") and (keys is None or row["key"] in keys)
    }


def _encoder_sha256(model_dir: Path) -> str | None:
    from feedback_nlp import artifact

    try:
        return artifact.read_json(model_dir, artifact.METADATA_FILE)["encoder"]["sha256"]
    except (ModelLoadError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class IdAssignment:
    """The outcome of matching: an ID per new cluster, the updated registry, and what changed."""

    cluster_ids: list[int]
    theme_registry: ThemeRegistry
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def registry(self) -> dict[str, Any]:
        """The updated registry in its JSON form, as theme_registry.json holds it."""
        return self.theme_registry.to_dict()


class _Draft:
    """The registry being written for a new version: the previous entries, plus new ones and retirements."""

    def __init__(self, version: str, previous: ThemeRegistry | None = None):
        self.version = version
        self.next_id = previous.next_id if previous else 0
        self.themes = list(previous.themes) if previous else []

    def new_theme(self, name: str, parents: Iterable[int], kind: str, seed: str | None = None) -> int:
        theme_id = self.next_id
        self.next_id += 1
        self.themes.append(
            ThemeEntry(
                theme_id, name, ACTIVE, self.version, None, kind, tuple(int(p) for p in parents), (), seed
            )
        )
        return theme_id

    def seed_id(self, name: str, wanted: int | None = None) -> int:
        """A seed theme's ID: the active entry for this seed name, else ``wanted`` (a split's sub-group keeps
        the id the curator's split gave it) when no entry has it, else a new one."""
        for entry in self.themes:
            if entry.seed == name and entry.status == ACTIVE:
                return entry.id
        if wanted is not None and wanted >= 0 and all(entry.id != wanted for entry in self.themes):
            self.themes.append(ThemeEntry(wanted, name, ACTIVE, self.version, None, "split", (), (), name))
            self.next_id = max(self.next_id, wanted + 1)  # never handed out again
            return wanted
        return self.new_theme(name, [], kind="seed", seed=name)

    def retire(self, theme_id: int, successors: list[int]) -> None:
        self.themes = [
            replace(t, status=RETIRED, retired_in=self.version, successors=tuple(successors))
            if t.id == theme_id
            else t
            for t in self.themes
        ]

    def freeze(self) -> ThemeRegistry:
        return ThemeRegistry(self.version, self.next_id, tuple(self.themes))


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
    seed_ids: dict[int, int] | None = None,
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
        seed_ids: seed clusters' wanted IDs (a split's sub-groups), kept when no other theme has them.
    """
    seed_names = dict(seed_names or {})
    wanted = dict(seed_ids or {})
    if previous is None:
        return _first_ids(len(centroids), names, version, seed_names, wanted)

    draft = _Draft(version, previous.registry)
    active = previous.registry.active_ids()
    shared = _SharedUnits.count(labels, keys, previous.assignments, active, len(centroids))
    similarity = _centroid_similarity(centroids, previous, active, encoder_sha256)
    # Seeds first, by name; then the other clusters are matched to the previous themes left.
    ids: list[int | None] = [
        draft.seed_id(seed_names[c], wanted.get(c)) if c in seed_names else None
        for c in range(len(centroids))
    ]
    _match_previous(ids, active, shared.jaccard(), similarity, min_overlap, min_centroid_similarity)
    matched_old = {i for i in ids if i is not None}

    # Lineage: where did each previous theme's units go, and where did each new theme's units come from?
    moved = shared.share_of_old() >= lineage_share
    for cluster, theme_id in enumerate(ids):
        if theme_id is None:
            parents = [active[j] for j in np.flatnonzero(moved[cluster])]
            ids[cluster] = draft.new_theme(names[cluster], parents, kind="split" if parents else "new")
    final_ids = [int(i) for i in ids if i is not None]
    retired = _retire(draft, active, matched_old, final_ids, moved)
    previous_ids = set(active)
    changes: dict[str, Any] = {
        "previous_version": previous.version,
        "new": sorted(i for i in final_ids if i not in previous_ids),
        "retired": retired,
        "split": _splits(active, final_ids, moved),
        "merged": _merges(active, final_ids, moved),
        "renamed": [],
        "churn": shared.churn(final_ids, active),
        "common_units": shared.n_common,
    }
    logger.info(
        "theme ids: %d kept, %d new, %d retired, churn %.1f%%",
        len(matched_old),
        len(changes["new"]),
        len(retired),
        100 * changes["churn"],
    )
    return IdAssignment(final_ids, draft.freeze(), changes)


def _first_ids(
    n_clusters: int, names: list[str], version: str, seed_names: dict[int, str], wanted: dict[int, int]
) -> IdAssignment:
    """A first run: every cluster gets a fresh ID, seeds one by their name (or the one they want)."""
    draft = _Draft(version)
    # the seeds wanting an id first, so that no new theme takes it
    kept = {c: draft.seed_id(seed_names[c], wanted[c]) for c in wanted if c in seed_names}
    ids = [
        kept[c]
        if c in kept
        else draft.seed_id(seed_names[c])
        if c in seed_names
        else draft.new_theme(names[c], [], kind="new")
        for c in range(n_clusters)
    ]
    changes: dict[str, Any] = {
        "previous_version": None,
        "new": sorted(ids),
        "retired": [],
        "split": [],
        "merged": [],
        "renamed": [],
        "churn": 0.0,
        "common_units": 0,
    }
    return IdAssignment(ids, draft.freeze(), changes)


@dataclass(frozen=True)
class _SharedUnits:
    """Contingency of new clusters against previous active themes over units assigned in both runs."""

    overlap: np.ndarray  # (new cluster, previous theme) -> shared units
    cluster_common: np.ndarray
    previous_common: np.ndarray
    n_common: int

    @classmethod
    def count(
        cls,
        labels: np.ndarray,
        keys: list[str],
        previous_assignments: dict[str, int],
        active: list[int],
        n_clusters: int,
    ) -> _SharedUnits:
        active_index = {theme_id: j for j, theme_id in enumerate(active)}
        overlap = np.zeros((n_clusters, len(active)), dtype=np.float64)
        n_common = 0
        for label, old in _common_units(labels, keys, previous_assignments, active_index):
            n_common += 1
            overlap[label, active_index[old]] += 1
        return cls(overlap, overlap.sum(axis=1), overlap.sum(axis=0), n_common)

    def jaccard(self) -> np.ndarray:
        union = self.cluster_common[:, None] + self.previous_common[None, :] - self.overlap
        return np.divide(self.overlap, union, out=np.zeros_like(self.overlap), where=union > 0)

    def share_of_old(self) -> np.ndarray:
        """Share of each previous theme's shared units that each new cluster holds."""
        whole = self.previous_common[None, :]
        return np.divide(self.overlap, whole, out=np.zeros_like(self.overlap), where=whole > 0)

    def churn(self, final_ids: list[int], active: list[int]) -> float:
        """Share of the shared units whose theme ID changed."""
        if not self.n_common:
            return 0.0
        changed = sum(
            int(self.overlap[c, j]) for c, j in zip(*np.nonzero(self.overlap)) if final_ids[c] != active[j]
        )
        return round(changed / self.n_common, 4)


def _common_units(
    labels: np.ndarray, keys: list[str], previous_assignments: dict[str, int], active_index: dict[int, int]
) -> Iterator[tuple[int, int]]:
    """(new cluster, previous theme) of each unit present and assigned in both runs."""
    for key, label in zip(keys, labels):
        old = previous_assignments.get(key)
        if old is not None and label >= 0 and old in active_index:
            yield int(label), old


def _centroid_similarity(
    centroids: np.ndarray, previous: PreviousThemes, active: list[int], encoder_sha256: str | None
) -> np.ndarray:
    """Cosine of each new centroid to each previous active theme's; zeros when the spaces differ."""
    same_space = (encoder_sha256 is None or previous.encoder_sha256 in (None, encoder_sha256)) and all(
        previous.centroids[i].shape == centroids.shape[1:] for i in active
    )
    if active and same_space:
        return centroids @ np.vstack([previous.centroids[i] for i in active]).T
    return np.zeros((len(centroids), len(active)))


def _match_previous(
    ids: list[int | None],
    active: list[int],
    jaccard: np.ndarray,
    similarity: np.ndarray,
    min_overlap: float,
    min_centroid_similarity: float,
) -> None:
    """Give clusters without an ID the previous theme they best match (Hungarian), if close enough."""
    free_clusters = [c for c, theme_id in enumerate(ids) if theme_id is None]
    taken = {i for i in ids if i is not None}
    free_old = [j for j, theme_id in enumerate(active) if theme_id not in taken]
    if not (free_clusters and free_old):
        return
    score = jaccard[np.ix_(free_clusters, free_old)] + similarity[np.ix_(free_clusters, free_old)]
    rows, cols = linear_sum_assignment(-score)
    for r, c in zip(rows, cols):
        cluster, j = free_clusters[r], free_old[c]
        if jaccard[cluster, j] >= min_overlap or similarity[cluster, j] >= min_centroid_similarity:
            ids[cluster] = active[j]


def _splits(active: list[int], final_ids: list[int], moved: np.ndarray) -> list[dict[str, Any]]:
    """Previous themes whose units now fall in two or more themes."""
    split = []
    for j, old_id in enumerate(active):
        children = [final_ids[c] for c in np.flatnonzero(moved[:, j])]
        if len(children) >= 2:
            split.append({"theme": old_id, "into": sorted(children)})
    return split


def _merges(active: list[int], final_ids: list[int], moved: np.ndarray) -> list[dict[str, Any]]:
    """New themes holding the units of two or more previous themes."""
    merged = []
    for cluster, theme_id in enumerate(final_ids):
        sources = [active[j] for j in np.flatnonzero(moved[cluster])]
        if len(sources) >= 2:
            merged.append({"themes": sorted(sources), "into": theme_id})
    return merged


def _retire(
    draft: _Draft, active: list[int], matched_old: set[int], final_ids: list[int], moved: np.ndarray
) -> list[dict[str, Any]]:
    """Retire the previous themes no cluster kept, recording where their units went."""
    retired = []
    for j, old_id in enumerate(active):
        if old_id in matched_old:
            continue
        successors = sorted(final_ids[c] for c in np.flatnonzero(moved[:, j]))
        draft.retire(old_id, successors)
        retired.append({"theme": old_id, "successors": successors})
    return retired


def registry_names(registry: ThemeRegistry | Mapping[str, Any]) -> dict[int, str]:
    """Theme ID -> name, for every ID the registry holds (JSON form or typed)."""
    return as_registry(registry).names()


def successor_of(registry: ThemeRegistry | Mapping[str, Any], theme_id: int) -> int | None:
    """Follow a retired theme to its single successor; None when the lineage is not clear."""
    return as_registry(registry).successor_of(theme_id)
