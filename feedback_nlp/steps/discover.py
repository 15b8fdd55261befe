"""Step 3: discover themes on a bounded, seeded sample of the units; seed themes from the curation join."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from feedback_nlp.stages import JobSpec, UnitLabeler, embed_texts, load_units
from feedback_nlp.steps.incremental import KeptBorders, PreviousModel, keep_borders
from feedback_nlp.steps.prepare import PreparedCorpus
from feedback_nlp.taxonomy import Seed, Taxonomy
from feedback_nlp.themes import UNASSIGNED, ThemeDiscoverer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiscoverySample:
    """The units themes are found on (and the router trained on): embeddings, unit keys, redacted texts."""

    positions: tuple[np.ndarray, ...]  # per partition, positions of the sampled units
    X: np.ndarray
    keys: list[str]
    texts: list[str]


@dataclass(frozen=True)
class SeedThemes:
    """Curated seed themes: each seed's examples, their embeddings, and the seed's unit-length mean."""

    seeds: tuple[Seed, ...]
    texts: list[str]  # every seed's examples, seed after seed
    example_vectors: np.ndarray
    vectors: np.ndarray  # one per seed


@dataclass(frozen=True)
class DiscoveredThemes:
    """Local themes (0..n_local-1) of the sample, before they get stable IDs."""

    sample: DiscoverySample
    seeds: SeedThemes
    labels: np.ndarray  # local theme of each sample unit, or UNASSIGNED
    centroids: np.ndarray  # per local theme
    seed_clusters: list[int]  # the local theme of each seed
    labeler: UnitLabeler  # gives any other unit its local theme
    kept: KeptBorders | None = None  # set when the serving model's borders were kept (incremental retrain)
    full_reason: str | None = None  # why themes were discovered afresh although a serving model was given

    @property
    def n_local(self) -> int:
        return len(self.centroids)


def discover_themes(
    corpus: PreparedCorpus,
    taxonomy: Taxonomy,
    job: JobSpec,
    engine: Any,
    previous: PreviousModel | None = None,
) -> DiscoveredThemes:
    """Fit :class:`ThemeDiscoverer` on the discovery sample and add the curation's seed themes; with the
    serving model's parts (``previous``), keep its borders instead when the data did not move
    (:mod:`feedback_nlp.steps.incremental`)."""
    config = job.config
    sample = _load_sample(corpus, job, engine)
    seeds = _embed_seeds(taxonomy, sample.X.shape[1], job, engine)
    full_reason = None
    if previous is not None:
        kept = keep_borders(sample.X, sample.keys, previous, config)
        if not isinstance(kept, str):
            return _with_kept_borders(sample, seeds, taxonomy, *kept, config.min_similarity)
        full_reason = kept
        logger.info("incremental retrain: themes discovered afresh: %s", full_reason)
    discoverer = ThemeDiscoverer.from_config(config).fit(sample.X)
    labels, centroids, seed_clusters = apply_seeds(
        sample.X,
        discoverer.labels_,
        discoverer.centroids_,
        seeds.vectors,
        config.min_similarity,
        config.seed_absorb_similarity,
    )
    labeler = UnitLabeler(discoverer, centroids if len(seeds.vectors) else None, config.min_similarity)
    return DiscoveredThemes(sample, seeds, labels, centroids, seed_clusters, labeler, full_reason=full_reason)


def _with_kept_borders(
    sample: DiscoverySample,
    seeds: SeedThemes,
    taxonomy: Taxonomy,
    labels: np.ndarray,
    kept: KeptBorders,
    min_similarity: float,
) -> DiscoveredThemes:
    """The serving model's local themes (its centroids, seed themes included) as this run's."""
    previous = kept.previous
    local_of_raw = {int(raw): n for n, raw in enumerate(previous.raw_ids)}
    seed_clusters = [local_of_raw[previous.seed_ids[seed.name]] for seed in taxonomy.seeds]
    labeler = UnitLabeler(None, previous.centroids, min_similarity)
    logger.info(
        "incremental retrain: %d themes of %s kept, %d new units placed",
        len(previous.centroids),
        previous.version,
        int(kept.new_units.sum()),
    )
    return DiscoveredThemes(sample, seeds, labels, previous.centroids, seed_clusters, labeler, kept=kept)


def select_sample(corpus: PreparedCorpus, size: int) -> list[np.ndarray]:
    """Positions, per partition, of the discovery sample: every kept unit, or the ``size`` kept units with
    the smallest seeded hashes (the same units whatever the partitioning or engine)."""
    kept = corpus.kept
    if corpus.n_units <= size:
        return [np.flatnonzero(k) for k in kept]
    hashes = np.concatenate([p.unit_hashes[k] for p, k in zip(corpus.partitions, kept)])
    owner = np.concatenate([np.full(int(k.sum()), n, dtype=np.int64) for n, k in enumerate(kept)])
    position = np.concatenate([np.flatnonzero(k) for k in kept])
    chosen = np.argpartition(hashes, size - 1)[:size]
    chosen = chosen[np.lexsort((position[chosen], owner[chosen]))]
    return [position[chosen[owner[chosen] == n]] for n in range(len(kept))]


def _load_sample(corpus: PreparedCorpus, job: JobSpec, engine: Any) -> DiscoverySample:
    positions = select_sample(corpus, job.config.sample_units)
    loaded = engine.map(load_units, [(p.partition, s) for p, s in zip(corpus.partitions, positions)], job=job)
    dim = corpus.encoder.dim
    X = np.vstack([x for x, _, _ in loaded]) if loaded else np.zeros((0, dim), np.float32)
    return DiscoverySample(
        positions=tuple(positions),
        X=X,
        keys=[key for _, keys, _ in loaded for key in keys],
        texts=[text for _, _, texts in loaded for text in texts],
    )


def _embed_seeds(taxonomy: Taxonomy, dim: int, job: JobSpec, engine: Any) -> SeedThemes:
    texts = [example for seed in taxonomy.seeds for example in seed.examples]
    example_vectors = engine.submit(embed_texts, texts, job=job) if texts else np.zeros((0, dim), np.float32)
    vectors, start = [], 0
    for seed in taxonomy.seeds:
        mean = example_vectors[start : start + len(seed.examples)].mean(axis=0)
        start += len(seed.examples)
        vectors.append(mean / (np.linalg.norm(mean) or 1.0))
    seed_array = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), dim)
    return SeedThemes(tuple(taxonomy.seeds), texts, example_vectors, seed_array)


def apply_seeds(
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
    seeds = list(range(len(kept), len(combined)))
    return nearest, combined.astype(np.float32), seeds
