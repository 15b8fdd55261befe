"""The per-partition work of the training job, in three passes that any engine can run anywhere.

1. :func:`prepare_partition`: read and validate the partition's rows, split and redact them with spaCy,
   embed the units (both through the shared caches), and spill the result to the job's work folder.
2. :func:`label_partition`: drop rows whose id came earlier in the input, give every unit its local theme,
   and count what the driver needs to name themes and find their centroids.
3. :func:`finish_partition`: with the final theme ids and centroids, pick example candidates, add up the
   lexical roadmap scores, pick neighbour candidates, detect alignment signals, and write the unit
   assignments.

Each pass returns a small summary; the driver adds them up in partition order. Units and embeddings stay in
the work folder (shared storage on a cluster), so the driver never holds them all. A task reads and writes
only its own partition's files, so a task rerun after a worker died repeats the same work.

The loaded spaCy pipeline and encoder are kept per process (:func:`resources`), so each worker loads them
once and reuses them for every task.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from feedback_nlp.bm25 import BM25Corpus
from feedback_nlp.config import TrainingConfig
from feedback_nlp.ctfidf import ClassTermCounts
from feedback_nlp.embedding import CachedEmbedder, Embedder, backend_of, build_embedder
from feedback_nlp.evidence import EVIDENCE_BM25_B, EVIDENCE_BM25_K1
from feedback_nlp.ingest import Quarantine, QuarantinedRow, duplicate_reason, iter_validated
from feedback_nlp.labeling import distinct_examples
from feedback_nlp.naming import GroupName, NamingRequest, name_groups
from feedback_nlp.partitions import Partition, id_hash
from feedback_nlp.prepare import PreparedCache, PreparedUnit, TextPreparer
from feedback_nlp.registry import unit_key
from feedback_nlp.schemas import FeedbackRecord, ItemScore
from feedback_nlp.themes import UNASSIGNED

PREPARE_CHUNK = 512
DROPPED = -2  # label of a unit whose record was a duplicate id


@dataclass(frozen=True)
class JobSpec:
    """What every task needs to know: where the work folder and caches are, and the configuration."""

    work_dir: str
    cache_dir: str
    config: TrainingConfig
    embedder: Any = None  # an injected encoder (tests); None: each process loads the configured one once
    preparer: Any = None  # an injected spaCy preparer (local engine only: a loaded pipeline does not travel)

    def part(self, index: int, suffix: str) -> Path:
        return Path(self.work_dir) / f"part-{index:05d}.{suffix}"


@dataclass(frozen=True)
class CacheCounts:
    hits: int
    misses: int


@dataclass(frozen=True)
class EncoderInfo:
    """The encoder a partition was embedded with: its name, weights' sha256, dimension and what ran it."""

    name: str
    sha256: str
    dim: int
    backend: str = "torch"


@dataclass(frozen=True)
class PreparedPartition:
    """Pass 1's summary of a partition; its units and embeddings stay spilled in the work folder."""

    partition: int
    file_index: int
    id_hashes: np.ndarray  # per accepted record, for the duplicate-id check across partitions
    units_per_record: np.ndarray
    unit_hashes: np.ndarray  # per unit, its seeded place in the discovery sampling order
    quarantine: list[QuarantinedRow]
    prepared_cache: CacheCounts
    embedding_cache: CacheCounts
    encoder: EncoderInfo
    prepare_seconds: float
    embed_seconds: float
    worker: str


@dataclass(frozen=True)
class LabelledPartition:
    """Pass 2's counts for a partition: what the driver needs to name themes and find their centroids."""

    partition: int
    quarantine: list[QuarantinedRow]  # rows dropped as duplicate ids
    records: int
    sources: Counter[str]
    units: int
    unassigned: int
    counts: np.ndarray  # units per local theme
    sums: np.ndarray  # embedding sum per local theme
    terms: ClassTermCounts
    lexical: BM25Corpus


@dataclass(frozen=True)
class FinishedPartition:
    """Pass 3's candidates for a partition: examples, neighbours, lexical evidence and alignment signals."""

    partition: int
    examples: dict[int, list[tuple[float, int, str]]]
    lexical_sums: np.ndarray
    members: np.ndarray
    evidence_best: np.ndarray
    neighbors: dict[int, list[tuple[int, int, np.ndarray, str, int]]]
    signals: list[Any]
    alignment_seconds: float


_RESOURCES: dict[tuple, Any] = {}


def _preparer_key(config: TrainingConfig) -> tuple:
    return ("preparer", config.max_unit_chars, tuple(sorted(config.redaction_keep_terms)))


def _embedder_key(config: TrainingConfig) -> tuple:
    return (
        "embedder",
        config.encoder,
        config.encoder_sha256,
        config.embedding_batch_size,
        config.encoder_backend,
    )


def resources(job: JobSpec) -> tuple[TextPreparer, Embedder]:
    """The job's spaCy preparer and encoder: the injected ones, or this process's, loaded once and reused."""
    config = job.config
    preparer = job.preparer
    if preparer is None:
        key = _preparer_key(config)
        if key not in _RESOURCES:
            _RESOURCES[key] = TextPreparer(
                max_unit_chars=config.max_unit_chars, keep_terms=config.redaction_keep_terms
            )
        preparer = _RESOURCES[key]
    embedder = job.embedder
    if embedder is None:
        key = _embedder_key(config)
        if key not in _RESOURCES:
            _RESOURCES[key] = build_embedder(
                config.encoder, config.encoder_sha256, config.embedding_batch_size, config.encoder_backend
            )
        embedder = _RESOURCES[key]
    return preparer, embedder


def _worker_name() -> str:
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def sample_hash(key: str, seed: int) -> int:
    """A unit's seeded place in the sampling order: the same on every engine and for any partitioning."""
    return int.from_bytes(hashlib.sha1(f"{seed}\x00{key}".encode()).digest()[:8], "little")


def global_position(partition_index: int, position: np.ndarray) -> np.ndarray:
    """A unit's place in the whole input (partition, then position), as one sortable integer."""
    return (np.int64(partition_index) << np.int64(32)) + np.asarray(position, dtype=np.int64)


# -- pass 1 --------------------------------------------------------------------------------------------


def prepare_partition(partition: Partition, job: JobSpec) -> PreparedPartition:
    config = job.config
    started = time.perf_counter()
    quarantine = Quarantine()
    validated = list(
        iter_validated(
            partition.rows(),
            partition.path,
            quarantine,
            max_text_chars=config.max_text_chars,
            raw_metadata_columns=config.raw_metadata_columns,
        )
    )
    records = [record for record, _ in validated]
    read_seconds = time.perf_counter() - started
    preparer, embedder = resources(job)
    prepared_cache = PreparedCache(Path(job.cache_dir), config.max_unit_chars, config.redaction_keep_terms)
    cached = CachedEmbedder(embedder, Path(job.cache_dir))
    try:
        units_by_record, X, prepared_seconds, embed_seconds = prepare_and_embed(
            records, preparer, prepared_cache, cached
        )
    finally:
        prepared_cache.close()
        cached.cache.close()
    prepared_seconds += read_seconds
    units = [unit for record_units in units_by_record for unit in record_units]

    keys = [unit_key(p.unit.item_id, p.unit.text) for p in units]
    write_spill(
        job.part(partition.index, "pkl"),
        {"records": records, "rows": [row for _, row in validated], "units": units_by_record, "keys": keys},
    )
    np.save(job.part(partition.index, "emb.npy"), X.astype(np.float32))
    return PreparedPartition(
        partition=partition.index,
        file_index=partition.file_index,
        id_hashes=np.array([id_hash(r.id) for r in records], dtype=np.uint64),
        units_per_record=np.array([len(u) for u in units_by_record], dtype=np.int64),
        unit_hashes=np.array([sample_hash(k, config.random_state) for k in keys], dtype=np.uint64),
        quarantine=quarantine.rows,
        prepared_cache=CacheCounts(prepared_cache.hits, prepared_cache.misses),
        embedding_cache=CacheCounts(cached.hits, cached.misses),
        encoder=EncoderInfo(
            embedder.name, embedder.fingerprint, int(X.shape[1]) if X.ndim == 2 else 0, backend_of(embedder)
        ),
        prepare_seconds=prepared_seconds,
        embed_seconds=embed_seconds,
        worker=_worker_name(),
    )


def write_spill(path: Path, spilled: dict[str, Any]) -> None:
    """Write a partition's records, rows, units and keys for passes 2 and 3 (plain Python objects only).

    The standard library's C pickler, not ``joblib.dump``: joblib's pickler is written in Python (to take
    numpy arrays apart) and cost about 0.14 ms per short ticket here against 0.01 ms; arrays go to ``.npy``.
    """
    with open(path, "wb") as handle:
        pickle.dump(spilled, handle, protocol=pickle.HIGHEST_PROTOCOL)


def read_spill(path: Path) -> dict[str, Any]:
    """What :func:`write_spill` wrote: this job's own work folder, never a file from elsewhere."""
    with open(path, "rb") as handle:
        spilled: dict[str, Any] = pickle.load(handle)  # the job's own spill: no foreign file
    return spilled


def prepare_and_embed(
    records: Sequence[FeedbackRecord],
    preparer: TextPreparer,
    prepared_cache: PreparedCache,
    cached: CachedEmbedder,
) -> tuple[list[list[PreparedUnit]], np.ndarray, float, float]:
    """Prepare and embed ``records`` chunk by chunk: spaCy on the next chunk while the encoder embeds one.

    spaCy and torch each spend much of their time outside the GIL, so on two cores the two overlap (as in
    :meth:`feedback_nlp.model.FeedbackModel.score_batches`); one chunk ahead keeps the memory bounded. The
    results are those of preparing, then embedding, everything at once.

    Returns:
        the units of each record, their embeddings (one row per unit, in order), and the seconds spent
        preparing and embedding (each on its own thread, so together they may exceed the wall-clock time).
    """
    chunks = [records[start : start + PREPARE_CHUNK] for start in range(0, len(records), PREPARE_CHUNK)]

    def prepare_chunk(chunk: Sequence[FeedbackRecord]) -> tuple[list[list[PreparedUnit]], float]:
        tick = time.perf_counter()
        return prepared_cache.prepare(preparer, chunk), time.perf_counter() - tick

    units_by_record: list[list[PreparedUnit]] = []
    vectors: list[np.ndarray] = []
    prepare_seconds = embed_seconds = 0.0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare") as pool:
        upcoming = pool.submit(prepare_chunk, chunks[0]) if chunks else None
        for index in range(len(chunks)):
            assert upcoming is not None
            chunk_units, seconds = upcoming.result()
            prepare_seconds += seconds
            if index + 1 < len(chunks):
                upcoming = pool.submit(prepare_chunk, chunks[index + 1])
            tick = time.perf_counter()
            vectors.append(cached.embed([p.unit.text for units in chunk_units for p in units]))
            embed_seconds += time.perf_counter() - tick
            units_by_record.extend(chunk_units)
    X = np.concatenate(vectors) if vectors else cached.embed([])
    return units_by_record, X, prepare_seconds, embed_seconds


def load_units(item: tuple[int, np.ndarray], job: JobSpec) -> tuple[np.ndarray, list[str], list[str]]:
    """Embeddings, keys and texts of some units of a partition (the discovery sample)."""
    index, positions = item
    X = np.load(job.part(index, "emb.npy"), mmap_mode="r")
    spilled = read_spill(job.part(index, "pkl"))
    keys = spilled["keys"]
    units = [unit for record_units in spilled["units"] for unit in record_units]
    return (
        np.asarray(X[positions], dtype=np.float32),
        [keys[i] for i in positions],
        [units[i].unit.text for i in positions],
    )


def name_theme_groups(request: NamingRequest, job: JobSpec) -> list[GroupName]:
    """Names in words for groups of units (:func:`feedback_nlp.naming.name_groups`) with the job's spaCy
    pipeline and encoder: candidate phrases are embedded through the job's cache, once per phrase."""
    preparer, _ = resources(job)
    return name_groups(
        request.group_texts,
        request.centroids,
        lambda texts: embed_texts(texts, job),
        preparer._get_nlp(),
        keywords=request.keywords,
        reserved=request.reserved,
        random_state=job.config.random_state,
        subjects=request.subjects,
        members=request.members,
    )


def embed_texts(texts: Sequence[str], job: JobSpec) -> np.ndarray:
    """Embed a few texts (roadmap items, seed examples) with the job's encoder and cache."""
    _, embedder = resources(job)
    cached = CachedEmbedder(embedder, Path(job.cache_dir))
    try:
        return cached.embed(list(texts))
    finally:
        cached.cache.close()


# -- pass 2 --------------------------------------------------------------------------------------------


@dataclass
class UnitLabeler:
    """Gives a unit its local theme: the fitted discoverer's nearest theme, or with seed themes, the nearest
    of the discovered and seed centroids (see ``pipeline._apply_seeds``)."""

    discoverer: Any
    centroids: np.ndarray | None = None  # set when seed themes take part
    min_similarity: float = 0.3

    @property
    def n_local(self) -> int:
        return len(self.centroids) if self.centroids is not None else int(self.discoverer.n_themes_)

    def label(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0, dtype=np.int64)
        if self.centroids is None:
            return np.asarray(self.discoverer.predict(X), dtype=np.int64)
        similarity = X @ self.centroids.T
        nearest = similarity.argmax(axis=1)
        nearest[similarity.max(axis=1) < self.min_similarity] = UNASSIGNED
        return nearest.astype(np.int64)


def kept_units(units_per_record: np.ndarray, dropped_records: np.ndarray) -> np.ndarray:
    keep_record = np.ones(len(units_per_record), dtype=bool)
    keep_record[np.asarray(dropped_records, dtype=np.int64)] = False
    return np.repeat(keep_record, units_per_record)


def label_partition(
    item: tuple[int, np.ndarray, np.ndarray, np.ndarray],
    job: JobSpec,
    labeler: UnitLabeler,
    lexical: BM25Corpus,
) -> LabelledPartition:
    index, dropped_records, sample_positions, sample_labels = item
    spilled = read_spill(job.part(index, "pkl"))
    records, rows, units_by_record = spilled["records"], spilled["rows"], spilled["units"]
    quarantine = Quarantine()
    for i in dropped_records:
        record = records[i]
        quarantine.add(rows[i], duplicate_reason(record.id), "id", record.origin_file, record.origin_line)
    units_per_record = np.array([len(u) for u in units_by_record], dtype=np.int64)
    keep = kept_units(units_per_record, dropped_records)
    X = np.load(job.part(index, "emb.npy"))
    labels = np.full(len(keep), DROPPED, dtype=np.int64)
    labels[keep] = labeler.label(X[keep])
    labels[np.asarray(sample_positions, dtype=np.int64)] = sample_labels  # the sample keeps its fitted themes
    np.save(job.part(index, "labels.npy"), labels)

    units = [unit for record_units in units_by_record for unit in record_units]
    n_local = labeler.n_local
    assigned = labels >= 0
    terms = ClassTermCounts.count((p.lemmas for p in units), labels)
    sums = np.zeros((n_local, X.shape[1] if X.ndim == 2 else 0), dtype=np.float64)
    np.add.at(sums, labels[assigned], X[assigned].astype(np.float64))
    lexical = BM25Corpus(lexical.query_terms).count(units[i].unit.text for i in np.flatnonzero(assigned))
    dropped = set(int(i) for i in dropped_records)
    sources = Counter(r.source for n, r in enumerate(records) if n not in dropped)
    return LabelledPartition(
        partition=index,
        quarantine=quarantine.rows,
        records=len(records) - len(dropped),
        sources=sources,
        units=int(keep.sum()),
        unassigned=int((labels == UNASSIGNED).sum()),
        counts=np.bincount(labels[assigned], minlength=n_local),
        sums=sums,
        terms=terms,
        lexical=lexical,
    )


# -- pass 3 --------------------------------------------------------------------------------------------


@dataclass
class FinishState:
    """What pass 3 needs from the driver: how local themes map to served ones, and the served centroids."""

    local_to_raw: np.ndarray  # raw (registry) theme id per local theme
    local_to_served: np.ndarray  # served theme id per local theme (after merges)
    local_to_dense: np.ndarray  # index of the served theme in themes.json order
    centroids: np.ndarray  # per served theme, in themes.json order
    theme_names: list[str]  # per served theme, in themes.json order
    ignored: list[bool]
    lexical: BM25Corpus
    n_examples: int
    neighbors_per_theme: int
    random_state: int
    model_version: str
    n_themes: int = field(init=False)

    def __post_init__(self) -> None:
        self.n_themes = len(self.centroids)


def _lookup(table: np.ndarray, labels: np.ndarray) -> np.ndarray:
    result = np.full(len(labels), UNASSIGNED, dtype=np.int64)
    assigned = labels >= 0
    result[assigned] = table[labels[assigned]]
    return result


def finish_partition(index: int, job: JobSpec, state: FinishState) -> FinishedPartition:
    from feedback_nlp.alignment import AlignmentDetector, SignalCache, UnitInput

    spilled = read_spill(job.part(index, "pkl"))
    records, units_by_record, keys = spilled["records"], spilled["units"], spilled["keys"]
    labels = np.load(job.part(index, "labels.npy"))
    X = np.load(job.part(index, "emb.npy"), mmap_mode="r")
    units = [unit for record_units in units_by_record for unit in record_units]
    record_of_unit = np.repeat(np.arange(len(records)), [len(u) for u in units_by_record])
    raw = _lookup(state.local_to_raw, labels)
    served = _lookup(state.local_to_served, labels)
    dense = _lookup(state.local_to_dense, labels)
    positions = global_position(index, np.arange(len(units)))

    examples: dict[int, list[tuple[float, int, str]]] = {}
    lexical_sums = np.zeros((state.n_themes, len(state.lexical.query_terms)), dtype=np.float64)
    evidence_best = np.zeros(len(state.lexical.query_terms), dtype=np.float64)
    members = np.bincount(dense[dense >= 0], minlength=state.n_themes)
    neighbors: dict[int, list[tuple[int, int, np.ndarray, str, int]]] = {}
    assigned = np.flatnonzero(dense >= 0)
    if len(assigned):
        similarity = np.einsum(
            "ij,ij->i", np.asarray(X[assigned], dtype=np.float32), state.centroids[dense[assigned]]
        )
        assigned_texts = [units[i].unit.text for i in assigned]
        lexical_scores = state.lexical.scores(assigned_texts)
        np.add.at(lexical_sums, dense[assigned], lexical_scores)
        # the per-unit evidence score is scaled by the best a training unit reached (feedback_nlp/evidence.py)
        evidence_best = np.maximum(
            evidence_best,
            state.lexical.scores(assigned_texts, k1=EVIDENCE_BM25_K1, b=EVIDENCE_BM25_B).max(
                axis=0, initial=0.0
            ),
        )
        hashes = np.array([sample_hash(keys[i], state.random_state + 1) for i in assigned], dtype=np.uint64)
        for theme in np.unique(dense[assigned]):
            in_theme = np.flatnonzero(dense[assigned] == theme)
            # examples: the theme's units closest to its centroid, one per distinct text
            ranked = in_theme[np.argsort(-similarity[in_theme], kind="stable")]
            examples[int(theme)] = distinct_examples(
                (
                    (float(similarity[j]), int(positions[assigned[j]]), units[assigned[j]].unit.text)
                    for j in ranked
                ),
                state.n_examples,
            )
            # neighbours for explanations: a seeded sample of the theme's units, the smallest hashes
            picked = in_theme[np.argsort(hashes[in_theme], kind="stable")[: state.neighbors_per_theme]]
            neighbors[int(theme)] = [
                (
                    int(hashes[j]),
                    int(positions[assigned[j]]),
                    np.asarray(X[assigned[j]], dtype=np.float16),
                    units[assigned[j]].unit.text,
                    int(served[assigned[j]]),
                )
                for j in picked
            ]

    # alignment signals; the roadmap link of each theme is filled in by the driver
    inputs = []
    for i, prepared in enumerate(units):
        if labels[i] == DROPPED:
            continue
        record = records[record_of_unit[i]]
        theme = int(dense[i])
        named = theme >= 0 and not state.ignored[theme]
        inputs.append(
            UnitInput(
                item_id=record.id,
                unit_index=prepared.unit.index,
                text=prepared.unit.text,
                source=record.source,
                created_at=record.created_at,
                account_id=record.account_id,
                account_arr=record.account_arr,
                channel=record.channel,
                theme_id=int(served[i]) if named else None,
                theme_name=state.theme_names[theme] if named else None,
                model_version=state.model_version,
            )
        )
    tick = time.perf_counter()
    preparer, _ = resources(job)
    cache = SignalCache(Path(job.cache_dir))
    try:
        signals = AlignmentDetector(nlp=preparer._get_nlp()).detect(inputs, cache=cache)
    finally:
        cache.close()
    alignment_seconds = time.perf_counter() - tick

    with open(job.part(index, "assignments.jsonl"), "w", encoding="utf-8") as handle:
        for i, prepared in enumerate(units):
            if labels[i] == DROPPED:
                continue
            unit = prepared.unit
            handle.write(
                json.dumps(
                    {
                        "item_id": unit.item_id,
                        "unit_index": unit.index,
                        "start": unit.start,
                        "end": unit.end,
                        "key": keys[i],
                        "theme_id": int(served[i]) if served[i] >= 0 else None,
                        "raw_theme_id": int(raw[i]) if raw[i] >= 0 else None,
                    }
                )
                + "\n"
            )
    return FinishedPartition(
        partition=index,
        examples=examples,
        lexical_sums=lexical_sums,
        members=members,
        evidence_best=evidence_best,
        neighbors=neighbors,
        signals=signals,
        alignment_seconds=alignment_seconds,
    )


def merge_quarantine(rows: Sequence[QuarantinedRow], file_index: dict[str, int]) -> Quarantine:
    """One quarantine in input order (file, then line), as reading the files one by one gives it."""
    quarantine = Quarantine()
    quarantine.extend(
        row
        for _, row in sorted(
            enumerate(rows),
            key=lambda pair: (file_index.get(pair[1].file or "", -1), pair[1].line or 0, pair[0]),
        )
    )
    return quarantine


# -- bulk scoring (feedback-nlp ingest) ---------------------------------------------------------------

_MODELS: dict[str, Any] = {}


@dataclass(frozen=True)
class ScoredPartition:
    """A partition scored for ``feedback-nlp ingest``: its records with their scores, in input order."""

    partition: int
    scored: list[tuple[FeedbackRecord, ItemScore]]
    quarantine: list[QuarantinedRow]
    model_version: str


def score_partition(
    partition: Partition, model_dir: str, max_text_chars: int, raw_metadata_columns: str = ""
) -> ScoredPartition:
    """Read, validate and score one partition with the model in ``model_dir`` (loaded once per process).

    ``raw_metadata_columns`` is comma-separated, as in the settings: extra columns kept as written.

    Returns the scored records in input order and the quarantined rows; duplicate ids are settled by the
    caller, which sees the partitions in order.
    """
    from feedback_nlp.model import FeedbackModel
    from feedback_nlp.store import quarantine_if_unstorable

    if model_dir not in _MODELS:
        _MODELS[model_dir] = FeedbackModel.load(Path(model_dir))
    model = _MODELS[model_dir]
    quarantine = Quarantine()
    records = []
    for record, _ in iter_validated(
        partition.rows(),
        partition.path,
        quarantine,
        max_text_chars=max_text_chars,
        raw_metadata_columns=[c.strip() for c in raw_metadata_columns.split(",") if c.strip()],
    ):
        if not quarantine_if_unstorable(record, quarantine):
            records.append(record)
    rows: list[tuple[FeedbackRecord, ItemScore]] = []
    for rows_records in (records[start : start + 256] for start in range(0, len(records), 256)):
        rows.extend(zip(rows_records, model.score(rows_records), strict=True))
    return ScoredPartition(partition.index, rows, quarantine.rows, model.version_)
