"""Step 4: give every unit its local theme and count what naming and centroids need (pass 2)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from feedback_nlp.bm25 import BM25Corpus
from feedback_nlp.ctfidf import ClassTermCounts
from feedback_nlp.ingest import Quarantine
from feedback_nlp.roadmap import RoadmapItem
from feedback_nlp.stages import JobSpec, label_partition, merge_quarantine
from feedback_nlp.steps.discover import DiscoveredThemes
from feedback_nlp.steps.prepare import PreparedCorpus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnitCounts:
    """Pass 2 added up: per local theme its size, embedding sum and term counts; the roadmap's BM25 corpus
    statistics; the whole quarantine (read errors and duplicate ids) in input order."""

    sizes: np.ndarray
    sums: np.ndarray
    terms: ClassTermCounts
    lexical: BM25Corpus
    quarantine: Quarantine
    sources: Counter[str]
    records: int
    unassigned: int

    @property
    def rows_read(self) -> int:
        return self.records + len(self.quarantine)


def count_units(
    corpus: PreparedCorpus,
    discovered: DiscoveredThemes,
    roadmap: Sequence[RoadmapItem],
    paths: Sequence[Path],
    job: JobSpec,
    engine: Any,
) -> UnitCounts:
    """Run pass 2 and add up the partitions' counts as they arrive (the driver holds one at a time)."""
    lexical = BM25Corpus.for_queries([item.lexical_text() for item in roadmap])
    positions = discovered.sample.positions
    bounds = np.cumsum([0] + [len(s) for s in positions])
    n_local, dim = discovered.n_local, discovered.sample.X.shape[1]
    terms = ClassTermCounts()
    sizes = np.zeros(n_local, dtype=np.int64)
    sums = np.zeros((n_local, dim), dtype=np.float64)
    duplicate_rows: list = []
    sources: Counter[str] = Counter()
    records = unassigned = 0
    tasks = (
        (p.partition, d, s, discovered.labels[bounds[n] : bounds[n + 1]])
        for n, (p, d, s) in enumerate(zip(corpus.partitions, corpus.duplicates, positions))
    )
    for part in engine.imap(label_partition, tasks, job=job, labeler=discovered.labeler, lexical=lexical):
        duplicate_rows.extend(part.quarantine)
        sources.update(part.sources)
        records += part.records
        unassigned += part.unassigned
        terms.add(part.terms)
        sizes += part.counts
        sums += part.sums
        lexical.add(part.lexical)
    file_index = {str(path): n for n, path in enumerate(paths)}
    quarantine = merge_quarantine(
        [row for p in corpus.partitions for row in p.quarantine] + duplicate_rows, file_index
    )
    logger.info(
        "read %d rows: %d accepted, %d quarantined; %d units in %d partitions",
        records + len(quarantine),
        records,
        len(quarantine),
        corpus.n_units,
        len(corpus.partitions),
    )
    return UnitCounts(sizes, sums, terms, lexical, quarantine, sources, records, unassigned)
