"""The model folder: the one module that knows its file names, writes it, verifies it and reads it.

A version lives in ``models/<version>/``; ``models/LATEST`` names the serving one, and must name a folder
directly inside ``models/``. A version is written into a hidden staging folder, checksummed into
``metadata.json`` (and signed, when ``FEEDBACK_NLP_MODEL_SIGNING_KEY`` is set) and renamed into place;
``LATEST`` is replaced atomically only after that. Readers come in two kinds:

- :func:`read_json` and :func:`read_metadata` for the report and the CLI: JSON files only, nothing that
  could run code.
- :func:`load` for scoring: each file is read once into memory, checked against its sha256 in
  ``metadata.json`` and parsed from those same bytes, so nothing can be swapped between the check and the
  use. The router is stored with skops, which builds only the types it is told to trust (listed in
  :data:`ROUTER_TRUSTED_TYPES`) instead of running whatever a pickle says; everything else is JSON or numpy
  without pickles. With a signing key, an unsigned folder or a manifest changed after signing is refused,
  so a folder whose files *and* manifest were replaced is refused too.

``metadata.json`` carries ``format_version``; a folder written in another format is refused with a message
that says to retrain, instead of compatibility branches in the scoring path.

A run that is killed leaves its hidden staging and work folders behind (raw text included); the next
training run removes them (:func:`sweep_stale_runs`), using the lock each run holds while it works to tell a
dead run from one still running.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import shutil
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from feedback_nlp.embedding import sha256_file
from feedback_nlp.errors import ConfigError, ModelLoadError

try:  # POSIX; elsewhere runs are not locked and the sweep goes by age alone
    import fcntl
except ImportError:  # pragma: no cover - the project runs on Linux
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

# 2: metadata.json gained format_version; theme_model.joblib is no longer written (nothing scored with it).
# 3: the router is stored with skops (router.skops) instead of joblib, so loading it cannot run code.
# 4: themes.json gives each theme its area (area_id, area_name); theme_registry.json holds the area registry.
# 5: router.skops keeps its vectorizers' vocabularies as arrays (routing.pack_vocabulary). A format-4 reader
#    would load such a router without them and fail on the first score, so it must refuse the folder instead;
#    format-4 folders (vocabulary dicts) still load here.
FORMAT_VERSION = 5
READABLE_FORMAT_VERSIONS = (4, 5)

LATEST_FILE = "LATEST"
METADATA_FILE = "metadata.json"
THEMES_FILE = "themes.json"
ROADMAP_FILE = "roadmap.json"
ROUTER_FILE = "router.skops"
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
SIGNATURE_FILE = "SIGNATURE"

STAGING_PREFIX = ".tmp-"
WORK_PREFIX = ".work-"
RUN_LOCK_PREFIX = ".run-"

SIGNING_KEY_ENV = "FEEDBACK_NLP_MODEL_SIGNING_KEY"
SIGNATURE_ALGORITHM = "hmac-sha256"
# 32 characters of secrets.token_urlsafe carry about 190 bits; a short key could be guessed offline from one
# signed folder.
MIN_SIGNING_KEY_CHARS = 32

# The types of our own that the router is made of; skops builds these and scikit-learn's, numpy's and
# scipy's own safe types, and refuses a router.skops that names any other.
ROUTER_TRUSTED_TYPES = (
    "feedback_nlp.routing.InScopeScorer",
    "feedback_nlp.routing.NoveltyModel",
    "feedback_nlp.routing.TemperatureScaling",
    "feedback_nlp.routing.ThemeClassifier",
    "feedback_nlp.routing.ThemeRouter",
)

# Leftover staging or work folders without a run lock come from a feedback-nlp that did not lock its runs;
# removed only after a day so that a run of such a version still going during an upgrade keeps its folders.
UNLOCKED_STALE_AFTER_S = 24 * 3600

# Files the model cannot score without; each is checked against the sha256 in metadata.json on load.
REQUIRED_FILES = (THEMES_FILE, ROADMAP_FILE, ROUTER_FILE, NEIGHBORS_FILE, NEIGHBOR_TEXTS_FILE)
# Files load() parses: read once, checked and parsed from the same bytes. The others listed in the manifest
# (assignments, quarantine, summary...) are only hashed, streamed, so a large assignments.jsonl is never held.
LOADED_FILES = frozenset({*REQUIRED_FILES, EVIDENCE_FILE})
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
    """The name written in ``models_dir/LATEST`` (not yet checked: see :func:`version_dir`), or None when
    there is none yet."""
    try:
        name = (Path(models_dir) / LATEST_FILE).read_text(encoding="utf-8", errors="replace").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return name or None


def is_version_name(name: str) -> bool:
    """Whether ``name`` can be a version folder directly inside a models dir: one path part, not ``.`` or
    ``..``, not hidden (hidden folders are runs' staging and work folders), no control characters."""
    return (
        bool(name)
        and name not in (".", "..")
        and not name.startswith(".")
        and len(PurePosixPath(name).parts) == 1
        and len(PureWindowsPath(name).parts) == 1  # also refuses "a\\b" and "C:x" wherever we run
        and not any(unicodedata.category(char) == "Cc" for char in name)
    )


def version_dir(models_dir: Path | str, name: str) -> Path:
    """``models_dir/name``, refused unless ``name`` is a folder directly inside ``models_dir``.

    LATEST is a plain file anyone with write access to the models dir can change; following ``../x`` or
    an absolute path would load a folder outside the models dir.

    Raises:
        ModelLoadError: ``name`` is not a plain version folder name.
    """
    if not is_version_name(name):
        raise ModelLoadError(
            f"{Path(models_dir) / LATEST_FILE} names {name!r}, which is not a version folder directly inside "
            f"{models_dir}; LATEST must hold one folder name such as 20260101T120000Z-1a2b3c4d (no '/', "
            "'..', absolute path or hidden folder): point it at a version listed there, or retrain "
            "(feedback-nlp train)"
        )
    return Path(models_dir) / name


def latest_dir(models_dir: Path | str) -> Path | None:
    """The folder LATEST names (None when there is no LATEST); the name is checked with
    :func:`version_dir`."""
    name = read_latest(models_dir)
    return None if name is None else version_dir(models_dir, name)


def write_latest(models_dir: Path, version: str) -> None:
    """Point LATEST at ``version`` atomically: write a temporary file, then rename over the old one."""
    version_dir(models_dir, version)
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
    latest = latest_dir(models_dir)
    if latest is None:
        raise ModelLoadError(no_model_message(models_dir))
    if not latest.is_dir():
        raise ModelLoadError(f"{models_dir}/{LATEST_FILE} names {latest.name!r}, but {latest} does not exist")
    return latest


def candidate_versions(models_dir: Path | str) -> list[Path]:
    """Version folders a service could fall back to, newest first: plainly named, not marked rejected by the
    promotion gate. Ordered by ``created_at`` in metadata.json (JSON only; an unreadable one sorts last),
    then by name; nothing here is verified, the caller loads (and so verifies) them in turn."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    found = []
    for path in models_dir.iterdir():
        if not is_version_name(path.name) or not path.is_dir() or (path / REJECTED_FILE).exists():
            continue
        try:
            created = str(read_json(path, METADATA_FILE).get("created_at") or "")
        except (ModelLoadError, AttributeError):
            created = ""
        found.append((created, path.name, path))
    return [path for _, _, path in sorted(found, reverse=True)]


@dataclass(frozen=True)
class VersionInfo:
    """One version folder of a models dir, as ``feedback-nlp models list`` shows it."""

    name: str
    created_at: str  # from metadata.json; "" when unreadable
    status: str  # "serving" (named in LATEST), "rejected" (REJECTED.json) or "kept" (could serve again)


def list_versions(models_dir: Path | str) -> list[VersionInfo]:
    """Every version folder (plainly named, holding metadata.json), newest first by ``created_at``."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    serving = read_latest(models_dir)
    found = []
    for path in models_dir.iterdir():
        if not is_version_name(path.name) or not (path / METADATA_FILE).is_file():
            continue
        try:
            created = str(read_json(path, METADATA_FILE).get("created_at") or "")
        except (ModelLoadError, AttributeError):
            created = ""
        status = (
            "serving" if path.name == serving else "rejected" if (path / REJECTED_FILE).exists() else "kept"
        )
        found.append(VersionInfo(path.name, created, status))
    return sorted(found, key=lambda info: (info.created_at, info.name), reverse=True)


@dataclass(frozen=True)
class PruneResult:
    kept: tuple[str, ...]
    removed: tuple[str, ...]


def prune_versions(models_dir: Path | str, keep: int, *, dry_run: bool = False) -> PruneResult:
    """Remove old and rejected versions: keep the ``keep`` newest accepted ones and always the serving one.

    Rejected versions never served and are removed whatever their age. Only folders holding metadata.json
    are touched (never LATEST, hidden staging or cache folders, or a folder a person put there). A training
    run that is promoting a version meanwhile is safe: its version is the newest, and ``keep`` is at least 1.

    Raises:
        ConfigError: ``keep`` is below 1.
    """
    if keep < 1:
        raise ConfigError(f"--keep {keep}: keep at least 1 version (the serving one is always kept)")
    versions = list_versions(models_dir)
    accepted = [info.name for info in versions if info.status != "rejected"]
    kept = set(accepted[:keep]) | {info.name for info in versions if info.status == "serving"}
    removed = [info.name for info in versions if info.name not in kept]
    if not dry_run:
        for name in removed:
            shutil.rmtree(Path(models_dir) / name)
            logger.info("removed model version %s", name)
    return PruneResult(tuple(info.name for info in versions if info.name in kept), tuple(removed))


def unique_version(models_dir: Path, version: str) -> str:
    """``version``, or ``version-2``, ``-3``... when two runs on the same data fall within one second."""
    candidate, attempt = version, 1
    while any(
        (models_dir / name).exists()
        for name in (candidate, f"{STAGING_PREFIX}{candidate}", _lock_name(candidate))
    ):
        attempt += 1
        candidate = f"{version}-{attempt}"
    return candidate


class Staging:
    """A hidden folder a version is written into; renamed into place only when the whole run succeeded.

    Used as a context manager: an exception (Ctrl-C included) removes the half-written folder and leaves
    ``LATEST`` alone. A ``kill -9`` leaves it behind for the next run's :func:`sweep_stale_runs`.
    """

    def __init__(self, models_dir: Path, version: str):
        self.models_dir = models_dir
        self.version = version
        self.path = models_dir / f"{STAGING_PREFIX}{version}"
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


# -- runs that were killed -----------------------------------------------------------------------------


def _lock_name(version: str) -> str:
    return f"{RUN_LOCK_PREFIX}{version}.lock"


def _lock_held_file(path: Path, *, wait: bool) -> int | None:
    """An open descriptor of ``path`` holding its exclusive lock, or None when another process holds it
    (``wait`` False) or the file is gone. The lock dies with its process, ``kill -9`` included."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT if wait else os.O_RDWR)
        except FileNotFoundError:
            return None
        if fcntl is None:  # pragma: no cover - not POSIX
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        # a sweeper removed the file between our open and our lock: lock the new one (or report it gone)
        os.close(fd)
        if not wait:
            return None


class RunLock:
    """Held by a training run for as long as its staging and work folders exist (``.run-<version>.lock``
    in the models dir), so that :func:`sweep_stale_runs` in another process leaves a live run alone."""

    def __init__(self, models_dir: Path, version: str):
        self.path = Path(models_dir) / _lock_name(version)
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = _lock_held_file(self.path, wait=True)
        return self

    def __exit__(self, *exc: object) -> None:
        # unlink before unlocking: a sweeper that opened the file meanwhile sees another inode and backs off
        self.path.unlink(missing_ok=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def sweep_stale_runs(models_dir: Path | str, *, now: float | None = None) -> list[Path]:
    """Remove the staging (``.tmp-*``) and work (``.work-*``) folders of runs that are no longer running.

    A run holds ``.run-<version>.lock`` while its folders exist. A folder whose lock can be taken belongs
    to a run that died (``kill -9``, a lost machine): it is removed with its raw text. A folder whose lock is
    held belongs to a live run, in this process or another, and is kept. A folder with no lock file at all
    was left by a feedback-nlp that did not lock its runs; it is removed once older than
    :data:`UNLOCKED_STALE_AFTER_S`. Returns the removed folders.
    """
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    now = time.time() if now is None else now
    folders: dict[str, list[Path]] = {}
    for path in models_dir.iterdir():
        for prefix in (STAGING_PREFIX, WORK_PREFIX):
            if path.name.startswith(prefix) and path.is_dir():
                folders.setdefault(path.name[len(prefix) :], []).append(path)
        if path.name.startswith(RUN_LOCK_PREFIX) and path.name.endswith(".lock"):
            folders.setdefault(path.name[len(RUN_LOCK_PREFIX) : -len(".lock")], [])
    removed: list[Path] = []
    for version, paths in sorted(folders.items()):
        lock_path = models_dir / _lock_name(version)
        if not lock_path.exists():
            old = [p for p in paths if now - p.stat().st_mtime > UNLOCKED_STALE_AFTER_S]
            removed.extend(_remove(old, "left by a run without a lock, over a day old"))
            continue
        fd = _lock_held_file(lock_path, wait=False)
        if fd is None:
            continue  # a live run
        try:
            removed.extend(_remove(paths, "its run is no longer running"))
            lock_path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return removed


def _remove(paths: list[Path], why: str) -> list[Path]:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
        logger.warning("removed %s: %s", path, why)
    return paths


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


def signing_key_from(value: str | None = None) -> bytes | None:
    """The model signing key: ``value``, or ``FEEDBACK_NLP_MODEL_SIGNING_KEY`` when ``value`` is None;
    None when neither is set (signatures are then neither written nor required).

    Raises:
        ConfigError: the key is shorter than :data:`MIN_SIGNING_KEY_CHARS` characters.
    """
    key = (os.environ.get(SIGNING_KEY_ENV, "") if value is None else value).strip()
    if not key:
        return None
    if len(key) < MIN_SIGNING_KEY_CHARS:
        raise ConfigError(
            f"{SIGNING_KEY_ENV} has {len(key)} characters, fewer than {MIN_SIGNING_KEY_CHARS}; generate one "
            "with python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return key.encode("utf-8")


def _signature(manifest: bytes, key: bytes) -> str:
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_model(
    folder: Path, contents: ModelContents, metadata: dict[str, Any], *, signing_key: str | None = None
) -> None:
    """Write every file of a version into ``folder``, then ``metadata.json`` with the sha256 of each, then
    ``SIGNATURE`` (HMAC-SHA256 of metadata.json's bytes) when there is a signing key.

    Args:
        signing_key: the key to sign with; None reads ``FEEDBACK_NLP_MODEL_SIGNING_KEY`` (unset or empty:
            the folder is not signed).
    """
    import skops.io

    key = signing_key_from(signing_key)
    contents.quarantine.write_jsonl(folder / QUARANTINE_FILE)
    write_json(folder / THEMES_FILE, contents.themes)
    write_json(folder / ROADMAP_FILE, contents.roadmap)
    if contents.evidence is not None:
        write_json(folder / EVIDENCE_FILE, contents.evidence)
    write_json(folder / REGISTRY_FILE, contents.registry)
    write_json(folder / CHANGELOG_FILE, contents.changelog)
    skops.io.dump(contents.router, folder / ROUTER_FILE)
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
    if key is not None:
        signature = _signature((folder / METADATA_FILE).read_bytes(), key)
        (folder / SIGNATURE_FILE).write_text(f"{SIGNATURE_ALGORITHM}:{signature}\n", encoding="ascii")
    if contents.rejected_reasons is not None:
        write_json(
            folder / REJECTED_FILE, {"version": metadata["version"], "reasons": contents.rejected_reasons}
        )


# -- reading -------------------------------------------------------------------------------------------


def read_json(path: Path, name: str) -> Any:
    """One JSON file of a version folder (nothing that could run code), with a clear error when unusable."""
    if name not in JSON_FILES:
        raise ValueError(f"{name} is not one of the model folder's JSON files")
    return _parse_json(path, name, _read_bytes(path, name))


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        return (path / name).read_bytes()
    except FileNotFoundError:
        if not path.is_dir():
            raise ModelLoadError(f"{path}: no such model folder") from None
        raise ModelLoadError(f"{path}: no {name}; not a complete model folder") from None
    except NotADirectoryError:
        raise ModelLoadError(f"{path}: not a model folder") from None
    except IsADirectoryError:
        raise ModelLoadError(f"{path}/{name}: is a folder, not a file") from None


def _parse_json(path: Path, name: str, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}/{name}: unreadable ({exc})") from None


def _check_format(path: Path, metadata: Any) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise ModelLoadError(f"{path / METADATA_FILE}: expected a JSON object")
    found = metadata.get("format_version")
    if found not in READABLE_FORMAT_VERSIONS:
        readable = " and ".join(str(version) for version in READABLE_FORMAT_VERSIONS)
        raise ModelLoadError(
            f"{path}: written in model format {found or 1}, this version of feedback-nlp reads formats "
            f"{readable}; retrain the model (`feedback-nlp train` or `make demo`)"
        )
    return metadata


def read_metadata(path: Path) -> dict[str, Any]:
    """``metadata.json``, refused when the folder was written in another format (not signature-checked:
    for showing provenance; :func:`verify` and :func:`load` check the signature)."""
    return _check_format(path, read_json(path, METADATA_FILE))


def check_signature(path: Path, manifest: bytes, key: bytes | None) -> None:
    """Refuse ``path`` unless its SIGNATURE is the HMAC-SHA256 of ``manifest`` (metadata.json's bytes)
    under ``key``; nothing is required when ``key`` is None.

    Raises:
        ModelLoadError: the folder is unsigned, its signature is malformed, or it does not match.
    """
    if key is None:
        return
    try:
        written = (path / SIGNATURE_FILE).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise ModelLoadError(
            f"{path}: not signed (no {SIGNATURE_FILE} file), and {SIGNING_KEY_ENV} is set, so only signed "
            f"models are loaded; retrain it with the same {SIGNING_KEY_ENV} (feedback-nlp train), or unset "
            f"{SIGNING_KEY_ENV} to load unsigned models"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}/{SIGNATURE_FILE}: unreadable ({exc}); retrain the model") from None
    algorithm, _, signature = written.partition(":")
    if algorithm != SIGNATURE_ALGORITHM or len(signature) != 64:
        raise ModelLoadError(
            f"{path}/{SIGNATURE_FILE}: expected '{SIGNATURE_ALGORITHM}:<64 hex digits>'; retrain the model "
            f"with {SIGNING_KEY_ENV} set"
        )
    # constant time: how long the comparison takes says nothing about how much of a forged signature matched
    if not hmac.compare_digest(signature.encode("ascii"), _signature(manifest, key).encode("ascii")):
        raise ModelLoadError(
            f"{path}: {SIGNATURE_FILE} does not match {METADATA_FILE} under the key in {SIGNING_KEY_ENV}: "
            "the folder was changed after training, or signed with another key; refusing to load it. "
            "Retrain with the current key (feedback-nlp train)"
        )


def _read_manifest(path: Path, signing_key: str | None) -> dict[str, Any]:
    """metadata.json, read once: its signature checked over the bytes read, then parsed from them."""
    key = signing_key_from(signing_key)
    manifest = _read_bytes(path, METADATA_FILE)
    check_signature(path, manifest, key)
    metadata = _check_format(path, _parse_json(path, METADATA_FILE, manifest))
    files = metadata.get("files")
    if not isinstance(files, dict):
        raise ModelLoadError(f"{path}: {METADATA_FILE} lists no file checksums; retrain the model")
    for name in REQUIRED_FILES:
        if name not in files:
            raise ModelLoadError(f"{path}: {METADATA_FILE} lists no checksum for {name}")
    for name in files:
        if not isinstance(name, str) or not is_version_name(name):  # a plain file name inside the folder
            raise ModelLoadError(f"{path}: {METADATA_FILE} lists {name!r}, which is not a file of the folder")
    return metadata


def _mismatch(path: Path, name: str) -> ModelLoadError:
    return ModelLoadError(f"{path}: {name} does not match its sha256 in {METADATA_FILE}; refusing to load it")


def _check_streamed(path: Path, name: str, expected: str) -> None:
    if not (path / name).is_file():
        raise ModelLoadError(f"{path}: {name} is missing")
    if sha256_file(path / name) != expected:
        raise _mismatch(path, name)


def verify(path: Path, *, signing_key: str | None = None) -> dict[str, Any]:
    """Check the signature (with a signing key) and every file metadata.json lists against its sha256.
    Returns the metadata.

    Args:
        signing_key: the key to require; None reads ``FEEDBACK_NLP_MODEL_SIGNING_KEY`` (unset: none).
    """
    path = Path(path)
    metadata = _read_manifest(path, signing_key)
    for name, expected in metadata["files"].items():
        _check_streamed(path, name, expected)
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


def load(path: Path | str, *, signing_key: str | None = None) -> LoadedParts:
    """Verify a version folder and load what scoring needs, each file parsed from the bytes that were checked.

    Args:
        signing_key: the key to require; None reads ``FEEDBACK_NLP_MODEL_SIGNING_KEY`` (unset: signatures
            are not required).

    Raises:
        ModelLoadError: the folder is missing, incomplete, unsigned or wrongly signed (with a key), in
            another format, or a file was changed.
    """
    path = Path(path)
    metadata = _read_manifest(path, signing_key)
    checked: dict[str, bytes] = {}
    for name, expected in metadata["files"].items():
        if name not in LOADED_FILES:
            _check_streamed(path, name, expected)
            continue
        data = _read_bytes(path, name)
        if hashlib.sha256(data).hexdigest() != expected:
            raise _mismatch(path, name)
        checked[name] = data
    try:
        with np.load(io.BytesIO(checked[NEIGHBORS_FILE]), allow_pickle=False) as arrays:
            neighbors = NeighborRows(
                embeddings=arrays["embeddings"].astype(np.float32),
                theme_ids=arrays["theme_ids"],
                texts=_parse_json(path, NEIGHBOR_TEXTS_FILE, checked[NEIGHBOR_TEXTS_FILE]),
            )
        evidence = checked.get(EVIDENCE_FILE)
        return LoadedParts(
            path,
            metadata,
            themes=_parse_json(path, THEMES_FILE, checked[THEMES_FILE]),
            roadmap=_parse_json(path, ROADMAP_FILE, checked[ROADMAP_FILE]),
            router=_load_router(path, checked[ROUTER_FILE]),
            neighbors=neighbors,
            evidence=_parse_json(path, EVIDENCE_FILE, evidence) if evidence is not None else None,
        )
    except ModelLoadError:
        raise
    except Exception as exc:  # any failure to read a verified file means the artifact is unusable
        raise ModelLoadError(f"{path}: cannot be loaded ({type(exc).__name__}: {exc})") from exc


def _load_router(path: Path, data: bytes) -> Any:
    """The router from router.skops's bytes, building only scikit-learn's types and ours."""
    import skops.io

    untrusted = set(skops.io.get_untrusted_types(data=data)) - set(ROUTER_TRUSTED_TYPES)
    if untrusted:
        raise ModelLoadError(
            f"{path}/{ROUTER_FILE} holds types this version of feedback-nlp does not build "
            f"({', '.join(sorted(untrusted))}); refusing to load it. Retrain the model with this version"
        )
    return skops.io.loads(data, trusted=list(ROUTER_TRUSTED_TYPES))


def load_centroids(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The raw (registry) theme ids and their centroids, for matching a retrain's themes to these."""
    with np.load(path / CENTROIDS_FILE, allow_pickle=False) as arrays:
        return arrays["ids"].astype(np.int64), arrays["centroids"].astype(np.float32)


def has_registry(path: Path) -> bool:
    return (path / REGISTRY_FILE).is_file() and (path / CENTROIDS_FILE).is_file()


def iter_assignments(path: Path) -> Iterator[dict[str, Any]]:
    """The training units' theme assignments, one dict per unit, in input order."""
    with open(path / ASSIGNMENTS_FILE, encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)
