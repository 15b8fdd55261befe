"""What the report needs from a trained model, read from its JSON files only (no encoder, no joblib).

The report runs where the model cannot or need not be loaded (a cron job, a laptop without torch), so it
reads ``themes.json``, ``metadata.json`` and ``roadmap.json`` of a version folder through
:func:`feedback_nlp.artifact.read_json`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedback_nlp import artifact
from feedback_nlp.errors import ModelLoadError

logger = logging.getLogger(__name__)

DEFAULT_TRIAGE_OWNER = "triage"


@dataclass
class ModelInfo:
    """The parts of a model the report reads (:meth:`of` takes them from a loaded ``FeedbackModel``)."""

    version: str
    metadata: dict[str, Any]
    themes: list[dict[str, Any]]
    roadmap: list[dict[str, Any]]
    default_owner: str
    path: Path | None = None
    previous_version: str | None = field(default=None)

    @classmethod
    def of(cls, model: Any) -> ModelInfo:
        """The report's view of a loaded :class:`feedback_nlp.model.FeedbackModel`."""
        return cls(
            version=model.version_,
            metadata=model.metadata_,
            themes=model.themes_,
            roadmap=model.roadmap_,
            default_owner=model.default_owner,
            path=model.path_,
        )


def _read_json(folder: Path, name: str) -> Any:
    try:
        return artifact.read_json(folder, name)
    except ModelLoadError as exc:
        raise ModelLoadError(f"{exc}; train a model with `feedback-nlp train` or pass --model") from None


def _as_list(raw: Any, key: str, path: Path) -> list[dict[str, Any]]:
    """themes.json / roadmap.json may be a bare list or a mapping holding the list under ``key``."""
    if isinstance(raw, dict) and key in raw:
        raw = raw[key]
    if not isinstance(raw, list) or not all(isinstance(entry, dict) for entry in raw):
        raise ModelLoadError(f"{path}: expected a list of objects")
    return raw


def load_model_info(models_dir: Path, model: Path | None = None) -> ModelInfo:
    """Read the JSON files of a version folder into a :class:`ModelInfo`.

    ``roadmap.json`` (a list of roadmap items, written by training) is optional: without it the roadmap is
    rebuilt from the items the themes link to, so items with no theme cannot be listed as lacking evidence.

    Raises:
        ModelLoadError: naming the missing or broken file.
    """
    folder = artifact.resolve_model_dir(models_dir, model)
    metadata = _read_json(folder, artifact.METADATA_FILE)
    if not isinstance(metadata, dict):
        raise ModelLoadError(f"{folder / artifact.METADATA_FILE}: expected a JSON object")
    themes = _as_list(_read_json(folder, artifact.THEMES_FILE), "themes", folder / artifact.THEMES_FILE)
    roadmap_path = folder / artifact.ROADMAP_FILE
    if roadmap_path.exists():
        roadmap = _as_list(_read_json(folder, artifact.ROADMAP_FILE), "items", roadmap_path)
    else:
        logger.warning("%s: missing; using only the roadmap items that themes link to", roadmap_path)
        roadmap = _roadmap_from_themes(themes)
    config = metadata.get("config") or {}
    default_owner = str(config.get("default_owner") or DEFAULT_TRIAGE_OWNER)
    return ModelInfo(
        version=str(metadata.get("version") or folder.name),
        metadata=metadata,
        themes=themes,
        roadmap=roadmap,
        default_owner=default_owner,
        path=folder,
    )


def _roadmap_from_themes(themes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    for theme in themes:
        link = theme.get("roadmap_item")
        if link and link.get("id") not in items:
            items[str(link["id"])] = {
                "id": str(link["id"]),
                "title": link.get("title") or "",
                "description": "",
                "owner": theme.get("owner") or "",
                "status": "unknown",
                "keywords": [],
            }
    return list(items.values())


def _created_at(folder: Path) -> datetime | None:
    try:
        raw = artifact.read_json(folder, artifact.METADATA_FILE).get("created_at")
        parsed = datetime.fromisoformat(str(raw))
    except (ModelLoadError, ValueError, AttributeError, TypeError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def find_previous_themes(models_dir: Path, current: Path) -> tuple[str | None, list[dict[str, Any]] | None]:
    """The themes of the version trained just before ``current`` (newest other folder with themes.json).

    Order is by ``metadata.json["created_at"]``; folders without it sort by name, before dated ones.
    Returns ``(version, themes)`` or ``(None, None)`` when there is no earlier model.
    """
    models_dir = Path(models_dir)
    current = Path(current).resolve()
    if not models_dir.is_dir():
        return None, None
    current_created = _created_at(current)
    candidates: list[tuple[tuple[int, datetime, str], Path]] = []
    for folder in models_dir.iterdir():
        if (
            not folder.is_dir()
            or folder.resolve() == current
            or not (folder / artifact.THEMES_FILE).is_file()
        ):
            continue
        created = _created_at(folder)
        if current_created is not None and created is not None and created >= current_created:
            continue  # trained after the model being reported on: not "previous"
        key = (1 if created else 0, created or datetime.min.replace(tzinfo=UTC), folder.name)
        candidates.append((key, folder))
    if not candidates:
        return None, None
    _, folder = max(candidates)
    try:
        themes = _as_list(_read_json(folder, artifact.THEMES_FILE), "themes", folder / artifact.THEMES_FILE)
    except ModelLoadError as exc:
        logger.warning("previous model %s unreadable, skipping new-theme comparison: %s", folder.name, exc)
        return None, None
    return folder.name, themes
