"""Step 2: read, validate, split & redact, and embed every partition (pass 1), then settle duplicate ids."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from feedback_nlp.errors import TrainingError
from feedback_nlp.input_format import InputFormat
from feedback_nlp.partitions import find_duplicates, plan_partitions
from feedback_nlp.stages import EncoderInfo, JobSpec, PreparedPartition, kept_units, prepare_partition


@dataclass(frozen=True)
class PreparedCorpus:
    """The prepared input: per partition its summary, the records dropped as duplicate ids and the units kept.

    The units and their embeddings themselves stay spilled in the job's work folder.
    """

    partitions: tuple[PreparedPartition, ...]
    duplicates: tuple[np.ndarray, ...]  # per partition, positions of records whose id came earlier
    kept: tuple[np.ndarray, ...]  # per partition, a mask over its units
    encoder: EncoderInfo

    @property
    def n_units(self) -> int:
        return sum(int(k.sum()) for k in self.kept)

    @property
    def n_read_quarantined(self) -> int:
        return sum(len(p.quarantine) for p in self.partitions) + sum(len(d) for d in self.duplicates)

    def cache_counts(self) -> dict[str, dict[str, int]]:
        return {
            "embedding_cache": {
                "hits": sum(p.embedding_cache.hits for p in self.partitions),
                "misses": sum(p.embedding_cache.misses for p in self.partitions),
            },
            "prepared_cache": {
                "hits": sum(p.prepared_cache.hits for p in self.partitions),
                "misses": sum(p.prepared_cache.misses for p in self.partitions),
            },
        }

    def seconds(self) -> dict[str, float]:
        """Total seconds of each stage, and the busiest worker's share: what it costs in wall-clock time."""
        per_worker: dict[str, dict[str, float]] = {"prepare": {}, "embed": {}}
        for part in self.partitions:
            for stage, seconds in (("prepare", part.prepare_seconds), ("embed", part.embed_seconds)):
                per_worker[stage][part.worker] = per_worker[stage].get(part.worker, 0.0) + seconds
        return {
            "prepare": sum(p.prepare_seconds for p in self.partitions),
            "embed": sum(p.embed_seconds for p in self.partitions),
            "prepare_busiest_worker": max(per_worker["prepare"].values()),
            "embed_busiest_worker": max(per_worker["embed"].values()),
        }


def prepare_corpus(
    paths: list[Path], job: JobSpec, engine: Any, input_format: InputFormat | None = None
) -> PreparedCorpus:
    """Run pass 1 over the input's partitions on ``engine`` and drop records whose id came earlier.

    Raises:
        TrainingError: too few usable units to find themes; the message gives the commonest reasons
            rows were rejected.
    """
    config = job.config
    planned = plan_partitions(paths, config.partition_bytes, input_format)
    partitions = engine.map(prepare_partition, planned, job=job)
    duplicates = find_duplicates([p.id_hashes for p in partitions])
    corpus = PreparedCorpus(
        partitions=tuple(partitions),
        duplicates=tuple(duplicates),
        kept=tuple(kept_units(p.units_per_record, d) for p, d in zip(partitions, duplicates)),
        encoder=partitions[0].encoder,
    )
    needed = 4 * config.min_theme_size
    if corpus.n_units < needed:
        raise TrainingError(
            f"only {corpus.n_units} usable feedback units after quarantine ({corpus.n_read_quarantined} rows "
            f"rejected{_top_reasons(partitions)}); need at least {needed} to find themes"
        )
    return corpus


def _top_reasons(partitions: list[PreparedPartition], top: int = 3) -> str:
    """The commonest quarantine reasons, so "1200 rows rejected" says why."""
    reasons = Counter(row.reason for part in partitions for row in part.quarantine)
    if not reasons:
        return ""
    return ", most for " + "; ".join(f"{reason} ({count})" for reason, count in reasons.most_common(top))
