"""Incremental retraining: what a retrain reuses from the serving model, and the record of what it reused.

When the data did not move, a retrain keeps the serving model's theme borders (every unit it had keeps its
theme, a new unit goes to the nearest of its themes' centroids, so the theme IDs are the same) and, its themes
being unchanged, refits only the router's classifier, keeping the temperature, the in-scope score (its
rehearsal) and the in-scope bar measured for the serving router (:func:`feedback_nlp.routing.refit_router`).
Otherwise, or with ``incremental: false``, the retrain is a full one; the reason is logged and written to the
run summary (``incremental``), as is what was reused.

The data "did not move" when:

- the encoder, the curation's seed themes and the configuration keys that shape themes and the router are the
  serving model's (:data:`SHAPING_KEYS`);
- the share of units new since the themes were last discovered stays within ``incremental_max_new_share``;
- the new units fit the kept themes about as well as the old ones do: at most
  ``incremental_max_misfit_share`` of them are less similar to their nearest theme than 95% of the old units
  are to their own (new data like the old has about 5% such units; a new topic has many more), or fewer than
  ``min_theme_size`` (too few to form a theme of their own).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from feedback_nlp import artifact
from feedback_nlp.config import TrainingConfig
from feedback_nlp.errors import ModelLoadError
from feedback_nlp.registry import ACTIVE, ThemeRegistry
from feedback_nlp.route_policy import RouteThresholds
from feedback_nlp.routing import ThemeRouter, TrainedRouter
from feedback_nlp.taxonomy import Taxonomy
from feedback_nlp.themes import UNASSIGNED

logger = logging.getLogger(__name__)

# Configuration keys whose change makes the serving model's themes or router no longer what this run would
# build: an incremental retrain needs them unchanged.
SHAPING_KEYS = (
    "encoder",
    "min_themes",
    "max_themes",
    "min_theme_size",
    "min_similarity",
    "max_fit_units",
    "sample_units",
    "random_state",
    "seed_absorb_similarity",
    "router_C",
    "router_text_features",
    "router_rehearsal_groups",
    "router_max_units",
    "calibration",
    "confidence_threshold",
    "in_scope_quantile",
)
# The share of old units the new ones are compared with: a new unit "misfits" when it is less similar to its
# nearest theme than this share of the old units are to their own.
OLD_FIT_QUANTILE = 0.05


@dataclass(frozen=True)
class PreviousModel:
    """The serving model's parts an incremental retrain reuses."""

    path: Path
    version: str
    raw_ids: np.ndarray  # the registry ID of each local theme, in the serving model's local order
    centroids: np.ndarray = field(repr=False)  # its local themes' centroids: the borders
    seed_ids: dict[str, int]  # active seed name -> registry ID
    router: TrainedRouter = field(repr=False)
    borders_from: str  # the version whose discovery drew these borders
    new_share_since_discovery: float  # share of units new since then, as the serving model recorded it


@dataclass(frozen=True)
class KeptBorders:
    """The discovery sample labelled with the serving model's borders."""

    previous: PreviousModel
    new_units: np.ndarray  # per sample unit: new since the serving model
    new_share_since_discovery: float
    misfit_share: float


@dataclass(frozen=True)
class IncrementalRecord:
    """What a run reused from the serving model, or why it did not (``summary.json["incremental"]``)."""

    mode: str  # "incremental" or "full"
    reason: str | None  # why the run is (or fell back to) a full one
    reused: tuple[str, ...]
    borders_from: str | None = None
    new_units: int = 0
    new_share_since_discovery: float | None = None
    misfit_share: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "reason": self.reason,
            "reused": list(self.reused),
            "borders_from": self.borders_from,
            "new_units": self.new_units,
            "new_share_since_discovery": self.new_share_since_discovery,
            "misfit_share": self.misfit_share,
        }


def load_previous(
    previous_dir: Path | None, config: TrainingConfig, encoder_sha256: str, taxonomy: Taxonomy
) -> PreviousModel | str:
    """The serving model's reusable parts, or the reason a full retrain is needed."""
    if not config.incremental:
        return "incremental: false in the configuration"
    if previous_dir is None:
        return "no serving model to start from"
    if not artifact.has_registry(previous_dir):
        return f"the serving model {previous_dir.name} has no theme registry"
    try:
        parts = artifact.load(previous_dir)
    except ModelLoadError as exc:
        return f"the serving model cannot be loaded ({exc})"
    registry = ThemeRegistry.from_dict(artifact.read_json(previous_dir, artifact.REGISTRY_FILE))
    seed_ids = {t.seed: t.id for t in registry.themes if t.seed is not None and t.status == ACTIVE}
    raw_ids, centroids = artifact.load_centroids(previous_dir)
    reason = _not_reusable(parts, config, encoder_sha256, taxonomy, seed_ids, raw_ids)
    if reason is not None:
        return reason
    history = parts.metadata.get("incremental") or {}
    routing = parts.metadata.get("routing") or {}
    thresholds = RouteThresholds(
        routing.get("confidence_threshold", config.confidence_threshold), routing.get("in_scope_threshold")
    )
    return PreviousModel(
        path=previous_dir,
        version=previous_dir.name,
        raw_ids=raw_ids,
        centroids=centroids,
        seed_ids=seed_ids,
        router=TrainedRouter(parts.router, thresholds, _previous_router_metrics(previous_dir)),
        borders_from=history.get("borders_from") or previous_dir.name,
        new_share_since_discovery=float(history.get("new_share_since_discovery") or 0.0),
    )


def _not_reusable(
    parts: artifact.LoadedParts,
    config: TrainingConfig,
    encoder_sha256: str,
    taxonomy: Taxonomy,
    seed_ids: dict[str, int],
    raw_ids: np.ndarray,
) -> str | None:
    """Why the serving model's themes and router are not what this run would build, or None."""
    name = parts.path.name
    changed = _changed_keys(parts.metadata.get("config") or {}, config)
    if changed:
        return f"configuration changed since {name}: {', '.join(changed)}"
    if (parts.metadata.get("encoder") or {}).get("sha256") != encoder_sha256:
        return f"the encoder changed since {name}"
    if set(seed_ids) != {seed.name for seed in taxonomy.seeds}:
        return f"the curation's seed themes changed since {name}"
    if not set(seed_ids.values()) <= set(raw_ids.tolist()):
        return f"a seed theme of {name} has no centroid"
    if not isinstance(parts.router, ThemeRouter):
        return f"the serving model {name} has no router to refit"
    return None


def keep_borders(
    X: np.ndarray,
    keys: list[str],
    previous: PreviousModel,
    config: TrainingConfig,
) -> tuple[np.ndarray, KeptBorders] | str:
    """The sample's local themes under the serving model's borders, or the reason to rediscover them.

    A unit the serving model had keeps its theme; a new one goes to the nearest centroid (unassigned under
    ``min_similarity``, as discovery would leave it).
    """
    local_of_raw = {int(raw): n for n, raw in enumerate(previous.raw_ids)}
    before = _previous_assignments(previous.path, set(keys))
    new = np.asarray([key not in before for key in keys], dtype=bool)
    n_new = int(new.sum())
    share = 1.0 - (1.0 - previous.new_share_since_discovery) * (1.0 - n_new / max(len(keys), 1))
    if share > config.incremental_max_new_share:
        return (
            f"{share:.1%} of the units are new since themes were discovered in {previous.borders_from} "
            f"(incremental_max_new_share {config.incremental_max_new_share:.0%})"
        )
    labels = np.full(len(keys), UNASSIGNED, dtype=np.int64)
    for n in np.flatnonzero(~new):
        raw = before[keys[n]]
        labels[n] = local_of_raw.get(raw, UNASSIGNED) if raw is not None else UNASSIGNED
    similarity = X[new] @ previous.centroids.T if n_new else np.zeros((0, len(previous.centroids)))
    nearest = similarity.argmax(axis=1) if n_new else np.zeros(0, dtype=np.int64)
    best = similarity.max(axis=1) if n_new else np.zeros(0, dtype=np.float32)
    labels[new] = np.where(best >= config.min_similarity, nearest, UNASSIGNED)
    misfit = _misfit_share(X, labels, new, best, previous.centroids)
    # fewer misfits than a theme's least size could not form a theme of their own, however large their share
    if misfit > config.incremental_max_misfit_share and misfit * n_new >= config.min_theme_size:
        return (
            f"{misfit:.1%} of the new units fit no theme of {previous.version} as well as 95% of its units "
            f"fit theirs (incremental_max_misfit_share {config.incremental_max_misfit_share:.0%})"
        )
    return labels, KeptBorders(previous, new, round(share, 4), round(misfit, 4))


def record(
    previous: PreviousModel | str, kept: KeptBorders | None, full_reason: str | None, router: TrainedRouter
) -> IncrementalRecord:
    """The run's incremental record from what each step did."""
    if kept is None:
        reason = previous if isinstance(previous, str) else full_reason
        return IncrementalRecord("full", reason, ())
    refit = router.metrics.get("refit_from")
    reused: tuple[str, ...] = ("theme_borders",)
    if refit is not None:
        reused += tuple(router.metrics.get("reused", ()))
    return IncrementalRecord(
        "incremental",
        None if refit is not None else router.metrics.get("full_refit_reason"),
        reused,
        kept.previous.borders_from,
        int(kept.new_units.sum()),
        kept.new_share_since_discovery,
        kept.misfit_share,
    )


def _changed_keys(previous_config: dict[str, Any], config: TrainingConfig) -> list[str]:
    current = config.to_dict()
    return [key for key in SHAPING_KEYS if key in previous_config and previous_config[key] != current[key]]


def _previous_assignments(path: Path, keys: set[str]) -> dict[str, int | None]:
    """The serving model's raw theme (None: unassigned) of each of ``keys`` it had."""
    return {
        row["key"]: row.get("raw_theme_id")
        for row in artifact.iter_assignments(path)
        if row.get("key") in keys
    }


def _misfit_share(
    X: np.ndarray, labels: np.ndarray, new: np.ndarray, best: np.ndarray, centroids: np.ndarray
) -> float:
    """Share of the new units less similar to their nearest theme than OLD_FIT_QUANTILE of the old units
    are to their own."""
    old = ~new & (labels >= 0)
    if not new.any() or not old.any():
        return 0.0 if not new.any() else 1.0
    own = np.einsum("ij,ij->i", X[old], centroids[labels[old]])
    return float((best < np.quantile(own, OLD_FIT_QUANTILE)).mean())


def _previous_router_metrics(path: Path) -> dict[str, Any]:
    try:
        return dict(artifact.read_json(path, artifact.SUMMARY_FILE).get("router") or {})
    except (ModelLoadError, AttributeError):
        return {}
