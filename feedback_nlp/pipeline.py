"""The batch training job: feedback files and a roadmap in, a versioned model folder out.

ingest -> split & redact -> embed (cached) -> discover themes -> group themes into areas -> label -> map to
roadmap -> train router -> promote -> write. Each step is a function in :mod:`feedback_nlp.steps`; the model
folder is written by :mod:`feedback_nlp.artifact` into a hidden staging folder and only renamed into place,
and ``LATEST`` only updated, after every step succeeded: a crash or Ctrl-C leaves the serving model untouched.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedback_nlp import artifact
from feedback_nlp.config import TrainingConfig
from feedback_nlp.corrections import Correction, flagged_themes, training_pairs
from feedback_nlp.curation import CurationAction
from feedback_nlp.embedding import Embedder
from feedback_nlp.engine import LocalEngine
from feedback_nlp.errors import TrainingError
from feedback_nlp.input_format import InputFormat
from feedback_nlp.prepare import TextPreparer
from feedback_nlp.progress import Progress
from feedback_nlp.stages import JobSpec, embed_texts, name_theme_groups
from feedback_nlp.steps.areas import group_into_areas
from feedback_nlp.steps.count import count_units
from feedback_nlp.steps.describe import describe_units
from feedback_nlp.steps.discover import DiscoveredThemes, discover_themes
from feedback_nlp.steps.identify import IdentifiedThemes, identify_themes
from feedback_nlp.steps.incremental import load_previous, record
from feedback_nlp.steps.inputs import read_inputs
from feedback_nlp.steps.link import link_to_roadmap
from feedback_nlp.steps.prepare import prepare_corpus
from feedback_nlp.steps.promote import promotion_gate
from feedback_nlp.steps.router import corrected_units, train_theme_router
from feedback_nlp.steps.write import TrainingRun, write_version

logger = logging.getLogger(__name__)


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
    feedback_paths: Sequence[Path | str] | Path | str,
    roadmap_path: Path | str,
    models_dir: Path | str,
    config: TrainingConfig | None = None,
    *,
    embedder: Embedder | None = None,
    preparer: TextPreparer | None = None,
    force: bool = False,
    engine: Any = None,
    signing_key: str | None = None,
    input_format: InputFormat | None = None,
    curation: Sequence[CurationAction] = (),
    corrections: Sequence[Correction] = (),
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
        signing_key: sign the model folder with this key; None reads ``FEEDBACK_NLP_MODEL_SIGNING_KEY``
            (unset: not signed).
        input_format: the delimiter and column names of feedback files laid out differently
            (``--delimiter``, ``--column``); detected delimiter and the schema's names when None.
        curation: the curation decisions kept in the store (``FeedbackStore.curation()``), applied over
            ``config.taxonomy``'s (the store's win for the same theme); ``feedback-nlp train`` reads them from
            the store by default.
        corrections: owners' corrections of single routes (``FeedbackStore.corrections()``): a unit
            corrected to a theme trains the router on it; themes many units were corrected away from are
            flagged for review in the summary (``corrections``).

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

    inputs = read_inputs(  # fail fast
        feedback_paths, roadmap_path, config, input_format=input_format, curation=curation
    )
    artifact.signing_key_from(signing_key)  # a key too short to sign with fails now, not after the run
    models_dir.mkdir(parents=True, exist_ok=True)
    # raw text left by a killed run goes before this one writes any (live runs hold their lock and are kept)
    artifact.sweep_stale_runs(models_dir)
    version = artifact.unique_version(models_dir, inputs.version)
    previous_dir = _serving_model(models_dir)
    with (
        artifact.RunLock(models_dir, version),
        artifact.Staging(models_dir, version) as staging,
        _work_folder(models_dir, version) as work_dir,
    ):
        job = _job_spec(models_dir, work_dir, config, embedder, preparer if engine.name == "local" else None)
        with _timed(timings, "read_prepare_embed"):
            corpus = prepare_corpus(inputs.paths, job, engine, inputs.input_format)
        timings.update(corpus.seconds())
        with _timed(timings, "discover"):
            previous = load_previous(previous_dir, config, corpus.encoder.sha256, inputs.taxonomy)
            if isinstance(previous, str) and previous_dir is not None:
                logger.info("full retrain: %s", previous)
            discovered = discover_themes(
                corpus, inputs.taxonomy, job, engine, None if isinstance(previous, str) else previous
            )
            counts = count_units(corpus, discovered, inputs.roadmap, inputs.paths, job, engine)
            themes = identify_themes(
                discovered, counts, inputs.taxonomy, inputs.roadmap, previous_dir, version,
                corpus.encoder.sha256, config,
                lambda request: engine.submit(name_theme_groups, request, job=job),
            )  # fmt: skip
            areas = group_into_areas(
                themes, previous_dir, version, config,
                lambda request: engine.submit(name_theme_groups, request, job=job),
                _sample_texts_by_theme(discovered, themes),
            )  # fmt: skip
        with _timed(timings, "label_and_map"):
            described = describe_units(corpus, themes, counts, len(inputs.roadmap), version, job, engine)
            links = link_to_roadmap(
                themes, areas, counts, described, inputs.roadmap,
                lambda texts: engine.submit(embed_texts, texts, job=job), config,
            )  # fmt: skip
        timings["alignment"] = described.alignment_seconds
        with _timed(timings, "route"):
            corrected = corrected_units(
                *training_pairs(corrections), themes, lambda texts: engine.submit(embed_texts, texts, job=job)
            )
            router = train_theme_router(discovered, themes, config, corrected)
        run = TrainingRun(
            version, config, inputs, corpus, discovered, counts, themes, areas, described, links, router,
            incremental=record(previous, discovered.kept, discovered.full_reason, router),
            corrections={
                "kept": len(corrections),
                "trained_on": corrected.used if corrected is not None else 0,
                "skipped": corrected.skipped if corrected is not None else 0,
                "flagged_for_review": flagged_themes(corrections, {t["id"]: t["size"] for t in links.themes}),
            },
        )  # fmt: skip
        promotion = promotion_gate(run.metrics(), run.changelog(), previous_dir, config, force)
        summary = write_version(staging.path, run, promotion, engine, timings, signing_key)
        final = staging.publish(promote=not promotion.rejected)
    if promotion.rejected:
        raise PromotionRejected(final, promotion.reasons)
    summary["seconds_total"] = round(time.perf_counter() - started, 2)

    logger.info("model %s written to %s", version, final)
    return TrainResult(version=version, path=final, summary=summary)


def _sample_texts_by_theme(discovered: DiscoveredThemes, themes: IdentifiedThemes) -> list[list[str]]:
    """The discovery sample's unit texts of each served theme, in dense order (areas are named from them)."""
    dense = {theme_id: n for n, theme_id in enumerate(themes.ids.served_ids)}
    texts: list[list[str]] = [[] for _ in dense]
    for text, served in zip(discovered.sample.texts, themes.ids.served(discovered.labels)):
        if int(served) in dense:
            texts[dense[int(served)]].append(text)
    return texts


def _serving_model(models_dir: Path) -> Path | None:
    """The version folder ``LATEST`` names, when there is one: its theme IDs are kept and it is the gate's
    reference."""
    path = artifact.latest_dir(models_dir)  # a LATEST naming anything but a folder in models_dir is refused
    return path if path is not None and path.is_dir() else None


@contextmanager
def _work_folder(models_dir: Path, version: str) -> Iterator[Path]:
    """Where the partitions' units and embeddings are spilled during the run; removed however it ends."""
    work_dir = models_dir / f"{artifact.WORK_PREFIX}{version}"
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
    """Time a stage into ``timings``; a progress line every 15 s while it runs, one when it ends."""
    tick = time.perf_counter()
    with Progress(f"train: {name}"):
        yield
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - tick
