"""Step 1: check what a person must fix before any work, and fingerprint the inputs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedback_nlp.config import TrainingConfig
from feedback_nlp.curation import CurationAction, combine, to_taxonomy
from feedback_nlp.embedding import sha256_file
from feedback_nlp.errors import InputError
from feedback_nlp.ingest import check_inputs
from feedback_nlp.input_format import InputFormat
from feedback_nlp.roadmap import RoadmapItem, load_roadmap
from feedback_nlp.taxonomy import Taxonomy


@dataclass(frozen=True)
class InputFile:
    path: Path
    sha256: str
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256, "bytes": self.bytes}


@dataclass(frozen=True)
class JobInputs:
    """The checked inputs of a run: feedback files, roadmap and curation, and the version they name."""

    files: tuple[InputFile, ...]
    roadmap: tuple[RoadmapItem, ...]
    roadmap_path: Path
    roadmap_sha256: str
    taxonomy: Taxonomy
    created_at: datetime
    version: str  # <UTC time>-<hash of the inputs>; made unique in the models folder when written
    input_format: InputFormat = InputFormat()  # how the feedback files are laid out

    @property
    def paths(self) -> list[Path]:
        return [f.path for f in self.files]

    @property
    def data_sha256(self) -> str:
        return hashlib.sha256("".join(f.sha256 for f in self.files).encode()).hexdigest()


def read_inputs(
    feedback_paths: Sequence[Path | str] | Path | str,
    roadmap_path: Path | str,
    config: TrainingConfig,
    now: datetime | None = None,
    input_format: InputFormat | None = None,
    curation: Sequence[CurationAction] = (),
) -> JobInputs:
    """Fail fast on a broken roadmap, taxonomy or input file (a missing column too), before minutes of
    embedding. ``curation``: the store's decisions, applied over the config's taxonomy file.

    Raises:
        RoadmapError, ConfigError, InputError: naming what to fix.
    """
    if hasattr(feedback_paths, "columns"):  # a pandas DataFrame would be read as its column names
        raise InputError(
            "train() reads feedback files; for a DataFrame use FeedbackModel(config).fit(frame, roadmap)"
        )
    if isinstance(feedback_paths, (str, Path)):  # one path, not the characters of one
        feedback_paths = [feedback_paths]
    input_format = input_format or InputFormat()
    roadmap = load_roadmap(roadmap_path)
    taxonomy = Taxonomy.load(config.taxonomy)
    if curation:
        # the store's decisions (the service's /v1/curation) on top of the YAML's: every retrain applies them
        from_store = to_taxonomy(curation).taxonomy
        from_store.sources = [f"store ({len(curation)} decisions)"]
        taxonomy = combine(taxonomy, from_store)
    files = tuple(
        InputFile(p, sha256_file(p), p.stat().st_size) for p in check_inputs(feedback_paths, input_format)
    )
    roadmap_sha = sha256_file(Path(roadmap_path))
    now = now or datetime.now(UTC)
    inputs_hash = hashlib.sha256("".join([f.sha256 for f in files] + [roadmap_sha]).encode()).hexdigest()
    return JobInputs(
        files=files,
        roadmap=tuple(roadmap),
        roadmap_path=Path(roadmap_path),
        roadmap_sha256=roadmap_sha,
        taxonomy=taxonomy,
        created_at=now,
        version=f"{now.strftime('%Y%m%dT%H%M%SZ')}-{inputs_hash[:8]}",
        input_format=input_format,
    )
