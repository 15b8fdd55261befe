"""The model folder: the one module that knows its file names, writes it, verifies it and reads it.

A version lives in ``models/<version>/``; ``models/LATEST`` names the serving one. A version is written into
a hidden staging folder, checksummed into ``metadata.json`` and renamed into place; ``LATEST`` is replaced
atomically only after that. Readers come in two kinds:

- :func:`read_json` and :func:`read_metadata` for the report and the CLI: JSON files only, no joblib.
- :func:`load` for scoring: every file is checked against its sha256 first, because joblib files can run
  code when loaded; load only folders this project wrote.

``metadata.json`` carries ``format_version``; a folder written in another format is refused with a message
that says to retrain, instead of compatibility branches in the scoring path.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from feedback_nlp.embedding import sha256_file
from feedback_nlp.errors import ModelLoadError

# 2: metadata.json gained format_version; theme_model.joblib is no longer written (nothing scored with it).
FORMAT_VERSION = 2

LATEST_FILE = "LATEST"
METADATA_FILE = "metadata.json"
THEMES_FILE = "themes.json"
ROADMAP_FILE = "roadmap.json"
ROUTER_FILE = "router.joblib"
NEIGHBORS_FILE = "neighbors.npz"
NEIGHBOR_TEXTS_FILE = "neighbors.json"
SUMMARY_FILE = "summary.json"
QUARANTINE_FILE = "quarantine.jsonl"
ASSIGNMENTS_FILE = "assignments.jsonl"
EVIDENCE_FILE = "roadmap_evidence.json"
REGISTRY_FILE = "theme_registry.json"
CENTROIDS_FILE = "theme_centroids.npz"
CHANGELOG_FILE = "changelog.json"
REJECTED_FILE = "REJECTED.json"

# Files the model cannot score without; each is checked against the sha256 in metadata.json on load.
REQUIRED_FILES = (THEMES_FILE, ROADMAP_FILE, ROUTER_FILE, NEIGHBORS_FILE, NEIGHBOR_TEXTS_FILE)
JSON_FILES = (
    METADATA_FILE,
    THEMES_FILE,
    ROADMAP_FILE,
    NEIGHBOR_TEXTS_FILE,
    SUMMARY_FILE,
    EVIDENCE_FILE,
    REGISTRY_FILE,
    CHANGELOG_FILE,
    REJECTED_FILE,
)


# -- where versions live -----------------------------------------------------------------------------


def read_latest(models_dir: Path | str) -> str | None:
    """The version named in ``models_dir/LATEST``, or None when there is none yet."""
    try:
        name = (Path(models_dir) / LATEST_FILE).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return name or None


def write_latest(models_dir: Path, version: str) -> None:
    """Point LATEST at ``version`` atomically: write a temporary file, then rename over the old one."""
    temporary = models_dir / f".{LATEST_FILE}.{os.getpid()}.tmp"
    temporary.write_text(version + "\n", encoding="utf-8")
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, models_dir / LATEST_FILE)


def no_model_message(models_dir: Path | str) -> str:
    """The one wording for "no model yet", shared by every command and the service."""
    return (
        f"no trained model yet in {models_dir} (no {LATEST_FILE} file); train one with `feedback-nlp train` "
        "(or `make demo` for the bundled sample)"
    )


def resolve_model_dir(models_dir: Path | str, model: Path | str | None = None) -> Path:
    """The version folder to use: ``model`` when given, else the one named in ``models_dir/LATEST``."""
    if model is not None:
        path = Path(model)
        if not path.is_dir():
            raise ModelLoadError(f"{path}: no such model folder")
        return path
    models_dir = Path(models_dir)
    if models_dir.exists() and not models_dir.is_dir():
        raise ModelLoadError(f"{models_dir}: is a file, not a models folder")
    version = read_latest(models_dir)
    if version is None:
        raise ModelLoadError(no_model_message(models_dir))
    path = models_dir / version
    if not path.is_dir():
        raise ModelLoadError(f"{models_dir}/{LATEST_FILE} names {version!r}, but {path} does not exist")
    return path


def unique_version(models_dir: Path, version: str) -> str:
    """``version``, or ``version-2``, ``-3``... when two runs on the same data fall within one second."""
    candidate, attempt = version, 1
    while (models_dir / candidate).exists() or (models_dir / f".tmp-{candidate}").exists():
        attempt += 1
        candidate = f"{version}-{attempt}"
    return candidate


class Staging:
    """A hidden folder a version is written into; renamed into place only when the whole run succeeded.

    Used as a context manager: an exception (Ctrl-C included) removes the half-written folder and leaves
    ``LATEST`` alone.
    """

    def __init__(self, models_dir: Path, version: str):
        self.models_dir = models_dir
        self.version = version
        self.path = models_dir / f".tmp-{version}"
        self.final = models_dir / version

    def __enter__(self) -> Staging:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir()
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)

    def publish(self, *, promote: bool) -> Path:
        """Rename the folder into place; point ``LATEST`` at it when ``promote``."""
        self.path.rename(self.final)
        if promote:
            write_latest(self.models_dir, self.version)
        return self.final


# -- writing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NeighborRows:
    """Training units kept for explanations: embeddings (float16 on disk), served theme ids, redacted text."""

    embeddings: np.ndarray
    theme_ids: np.ndarray
    texts: list[str]


@dataclass(frozen=True)
class ModelContents:
    """Everything a version folder holds, as the training job hands it over."""

    themes: list[dict[str, Any]]
    roadmap: list[dict[str, Any]]
    evidence: dict[str, Any] | None
    registry: dict[str, Any]
    changelog: dict[str, Any]
    router: Any
    centroid_ids: np.ndarray
    centroids: np.ndarray
    neighbors: NeighborRows
    assignment_pieces: list[Path]
    quarantine: Any  # feedback_nlp.ingest.Quarantine: the rejected rows with file, line and reason
    summary: dict[str, Any]
    rejected_reasons: list[str] | None


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_model(folder: Path, contents: ModelContents, metadata: dict[str, Any]) -> None:
    """Write every file of a version into ``folder``, then ``metadata.json`` with the sha256 of each."""
    contents.quarantine.write_jsonl(folder / QUARANTINE_FILE)
    write_json(folder / THEMES_FILE, contents.themes)
    write_json(folder / ROADMAP_FILE, contents.roadmap)
    if contents.evidence is not None:
        write_json(folder / EVIDENCE_FILE, contents.evidence)
    write_json(folder / REGISTRY_FILE, contents.registry)
    write_json(folder / CHANGELOG_FILE, contents.changelog)
    joblib.dump(contents.router, folder / ROUTER_FILE)
    np.savez(
        folder / CENTROIDS_FILE,
        ids=np.asarray(contents.centroid_ids, dtype=np.int64),
        centroids=contents.centroids,
    )
    neighbors = contents.neighbors
    np.savez_compressed(
        folder / NEIGHBORS_FILE,
        embeddings=np.asarray(neighbors.embeddings, dtype=np.float16),
        theme_ids=np.asarray(neighbors.theme_ids, dtype=np.int64),
    )
    write_json(folder / NEIGHBOR_TEXTS_FILE, list(neighbors.texts))
    with open(folder / ASSIGNMENTS_FILE, "wb") as handle:
        for piece in contents.assignment_pieces:
            with open(piece, "rb") as part:
                shutil.copyfileobj(part, handle)
    write_json(folder / SUMMARY_FILE, contents.summary)
    files = {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file()}
    write_json(folder / METADATA_FILE, {"format_version": FORMAT_VERSION, **metadata, "files": files})
    if contents.rejected_reasons is not None:
        write_json(
            folder / REJECTED_FILE, {"version": metadata["version"], "reasons": contents.rejected_reasons}
        )


# -- reading -------------------------------------------------------------------------------------------


def read_json(path: Path, name: str) -> Any:
    """One JSON file of a version folder (no joblib is touched), with a clear error when it is unusable."""
    if name not in JSON_FILES:
        raise ValueError(f"{name} is not one of the model folder's JSON files")
    try:
        return json.loads((path / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: no {name}; not a complete model folder") from None
    except NotADirectoryError:
        raise ModelLoadError(f"{path}: not a model folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}/{name}: unreadable ({exc})") from None


def read_metadata(path: Path) -> dict[str, Any]:
    """``metadata.json``, refused when the folder was written in another format."""
    metadata = read_json(path, METADATA_FILE)
    if not isinstance(metadata, dict):
        raise ModelLoadError(f"{path / METADATA_FILE}: expected a JSON object")
    found = metadata.get("format_version")
    if found != FORMAT_VERSION:
        raise ModelLoadError(
            f"{path}: written in model format {found or 1}, this version of feedback-nlp reads format "
            f"{FORMAT_VERSION}; retrain the model (`feedback-nlp train` or `make demo`)"
        )
    return metadata


def verify(path: Path) -> dict[str, Any]:
    """Read metadata.json and check every file it lists against its sha256. Returns the metadata."""
    metadata = read_metadata(path)
    files = metadata.get("files") or {}
    for name in REQUIRED_FILES:
        if name not in files:
            raise ModelLoadError(f"{path}: {METADATA_FILE} lists no checksum for {name}")
    for name, expected in files.items():
        file_path = path / name
        if not file_path.is_file():
            raise ModelLoadError(f"{path}: {name} is missing")
        if sha256_file(file_path) != expected:
            raise ModelLoadError(
                f"{path}: {name} does not match its sha256 in {METADATA_FILE}; refusing to load it"
            )
    return metadata


@dataclass(frozen=True)
class LoadedParts:
    """A verified version folder's scoring parts (the encoder is built by the caller from ``metadata``)."""

    path: Path
    metadata: dict[str, Any]
    themes: list[dict[str, Any]]
    roadmap: list[dict[str, Any]]
    router: Any
    neighbors: NeighborRows
    evidence: dict[str, Any] | None


def load(path: Path | str) -> LoadedParts:
    """Verify a version folder, then load what scoring needs.

    Raises:
        ModelLoadError: the folder is incomplete, in another format, or a file was changed.
    """
    path = Path(path)
    metadata = verify(path)
    try:
        themes = read_json(path, THEMES_FILE)
        roadmap = read_json(path, ROADMAP_FILE)
        router = joblib.load(path / ROUTER_FILE)
        with np.load(path / NEIGHBORS_FILE) as arrays:
            neighbors = NeighborRows(
                embeddings=arrays["embeddings"].astype(np.float32),
                theme_ids=arrays["theme_ids"],
                texts=read_json(path, NEIGHBOR_TEXTS_FILE),
            )
        evidence = read_json(path, EVIDENCE_FILE) if EVIDENCE_FILE in metadata["files"] else None
    except ModelLoadError:
        raise
    except Exception as exc:  # any failure to read a verified file means the artifact is unusable
        raise ModelLoadError(f"{path}: cannot be loaded ({type(exc).__name__}: {exc})") from exc
    return LoadedParts(path, metadata, themes, roadmap, router, neighbors, evidence)


def load_centroids(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The raw (registry) theme ids and their centroids, for matching a retrain's themes to these."""
    with np.load(path / CENTROIDS_FILE) as arrays:
        return arrays["ids"].astype(np.int64), arrays["centroids"].astype(np.float32)


def has_registry(path: Path) -> bool:
    return (path / REGISTRY_FILE).is_file() and (path / CENTROIDS_FILE).is_file()


def iter_assignments(path: Path) -> Iterator[dict[str, Any]]:
    """The training units' theme assignments, one dict per unit, in input order."""
    with open(path / ASSIGNMENTS_FILE, encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)
