"""Step 6: with the final themes, describe the units (pass 3): examples, neighbours for explanations,
lexical roadmap evidence, alignment signals, and every unit's assignment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from feedback_nlp.alignment import Signal
from feedback_nlp.artifact import NeighborRows
from feedback_nlp.labeling import distinct_examples
from feedback_nlp.roadmap import scale_per_item
from feedback_nlp.stages import FinishState, JobSpec, finish_partition
from feedback_nlp.steps.count import UnitCounts
from feedback_nlp.steps.identify import IdentifiedThemes
from feedback_nlp.steps.prepare import PreparedCorpus


@dataclass(frozen=True)
class UnitDescriptions:
    """What pass 3 found, kept bounded on the driver: the best candidates so far, not every unit."""

    examples: dict[int, list[tuple[float, int, str]]]  # dense theme -> (similarity, position, text)
    neighbors: NeighborRows
    lexical: np.ndarray  # per theme and roadmap item, the mean lexical score scaled per item
    evidence_best: np.ndarray  # per roadmap item, the best unit-level BM25 score
    signals: list[Signal]
    assignment_pieces: list[Path]  # per partition, its units' assignments (JSON lines)
    alignment_seconds: float


def describe_units(
    corpus: PreparedCorpus,
    themes: IdentifiedThemes,
    counts: UnitCounts,
    n_items: int,
    version: str,
    job: JobSpec,
    engine: Any,
) -> UnitDescriptions:
    """Run pass 3 and keep, per theme, only the best example and neighbour candidates seen so far."""
    config = job.config
    n_themes = len(themes.ids.served_ids)
    state = FinishState(
        local_to_raw=themes.ids.local_to_raw,
        local_to_served=themes.ids.local_to_served,
        local_to_dense=themes.ids.local_to_dense,
        centroids=themes.centroids,
        theme_names=themes.names,
        ignored=[theme_id in themes.curation.ignored for theme_id in themes.ids.served_ids],
        lexical=counts.lexical,
        n_examples=config.n_examples,
        neighbors_per_theme=config.neighbors_per_theme,
        random_state=config.random_state,
        model_version=version,
    )
    lexical_sums = np.zeros((n_themes, n_items), dtype=np.float64)
    members = np.zeros(n_themes, dtype=np.int64)
    evidence_best = np.zeros(n_items, dtype=np.float64)
    examples: dict[int, list] = {}
    neighbors: dict[int, list] = {}
    signals: list[Signal] = []
    alignment_seconds = 0.0
    for part in engine.imap(finish_partition, (p.partition for p in corpus.partitions), job=job, state=state):
        alignment_seconds += part.alignment_seconds
        lexical_sums += part.lexical_sums
        members += part.members
        evidence_best = np.maximum(evidence_best, part.evidence_best)
        for theme, found in part.examples.items():
            merged = sorted(examples.get(theme, []) + found, key=lambda c: (-c[0], c[1]))
            examples[theme] = distinct_examples(merged, config.n_examples)
        for theme, found in part.neighbors.items():
            neighbors[theme] = sorted(neighbors.get(theme, []) + found, key=lambda row: (row[0], row[1]))[
                : config.neighbors_per_theme
            ]
        signals.extend(part.signals)
    return UnitDescriptions(
        examples=examples,
        neighbors=_neighbor_rows(neighbors, n_themes, themes.centroids.shape[1]),
        lexical=scale_per_item(lexical_sums, members),
        evidence_best=evidence_best,
        signals=signals,
        assignment_pieces=[job.part(p.partition, "assignments.jsonl") for p in corpus.partitions],
        alignment_seconds=alignment_seconds,
    )


def _neighbor_rows(candidates: dict[int, list], n_themes: int, dim: int) -> NeighborRows:
    rows = sorted(
        (row for theme in range(n_themes) for row in candidates.get(theme, [])), key=lambda row: row[1]
    )
    return NeighborRows(
        embeddings=np.asarray([row[2] for row in rows], dtype=np.float16).reshape(len(rows), dim),
        theme_ids=np.asarray([row[4] for row in rows], dtype=np.int64),
        texts=[row[3] for row in rows],
    )
