"""Feedback and roadmaps handed over in Python (records, dicts, a pandas DataFrame) rather than as files.

The public :class:`feedback_nlp.model.FeedbackModel` takes feedback in any of these shapes; they are checked
against the same contract as a file's rows (:func:`feedback_nlp.ingest.validate_row`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from feedback_nlp.embedding import Embedder, _normalise, backend_of
from feedback_nlp.errors import ValidationError
from feedback_nlp.ingest import validate_row
from feedback_nlp.input_format import InputFormat
from feedback_nlp.roadmap import RoadmapItem
from feedback_nlp.schemas import SOURCE_TICKET, FeedbackRecord

_RECORD_FIELDS = ("id", "text", "source", "created_at", "account_id", "account_arr", "segment", "channel")


def records_from(
    feedback: Any, *, default_source: str = SOURCE_TICKET, columns: Mapping[str, str] | None = None
) -> list[FeedbackRecord]:
    """Feedback as records: from texts, records, dicts or a pandas DataFrame in the feedback schema.

    A text or a row without ``id`` gets its position; without ``created_at``, now; without ``source``,
    ``default_source``. ``columns`` reads schema columns from keys of other names, as ``--column`` does
    for files: ``columns={"text": "body", "created_at": "date"}``.

    Raises:
        ValidationError: a row breaks the feedback schema; the message names the row and the field.
    """
    if isinstance(feedback, (str, FeedbackRecord, Mapping)):
        feedback = [feedback]
    elif hasattr(feedback, "to_dict") and hasattr(feedback, "columns"):  # a pandas DataFrame
        feedback = feedback.to_dict(orient="records")
    rename = InputFormat(columns=tuple(columns.items())).rename if columns else None
    now = datetime.now(UTC)
    records = []
    for position, item in enumerate(feedback):
        if isinstance(item, FeedbackRecord):
            records.append(item)
            continue
        row: dict[str, Any] = (
            {"text": item}
            if isinstance(item, str)
            else {str(k): _missing_as_none(v) for k, v in item.items()}
        )
        if rename is not None and not isinstance(item, str):
            row = rename(row)
        row.setdefault("id", str(position))
        row.setdefault("source", default_source)
        if row.get("created_at") is None:
            row["created_at"] = now
        try:
            records.append(validate_row(row))
        except ValidationError as exc:
            raise ValidationError(exc.field, f"{exc.message} (item {position}, id {row['id']!r})") from None
    return records


def _missing_as_none(value: Any) -> Any:
    """pandas marks a missing cell NaN or NaT; the feedback contract says None."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if type(value).__name__ in ("NaTType", "NAType"):
        return None
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return value.to_pydatetime()
    return value


def write_feedback_jsonl(records: Sequence[FeedbackRecord], path: Path) -> Path:
    """Write records as a JSON-lines file in the feedback schema (their metadata as extra columns)."""
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            row = {**record.metadata, **{name: getattr(record, name) for name in _RECORD_FIELDS}}
            row["created_at"] = record.created_at.isoformat()
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return path


def write_roadmap_yaml(items: Sequence[Mapping[str, Any] | RoadmapItem], path: Path) -> Path:
    """Write roadmap items (dicts or :class:`RoadmapItem`) as a roadmap YAML file."""
    rows = [asdict(item) if isinstance(item, RoadmapItem) else dict(item) for item in items]
    path.write_text(yaml.safe_dump(rows, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


class PrecomputedEmbedder:
    """Vectors given for known texts, the encoder for the rest (``FeedbackModel.fit(..., embeddings=)``).

    The vectors must come from ``base`` (they are recorded under its fingerprint, and new text is embedded
    with it at scoring time).
    """

    def __init__(self, base: Embedder, texts: Sequence[str], vectors: np.ndarray):
        if len(texts) != len(vectors):
            raise ValueError(f"embeddings has {len(vectors)} rows for {len(texts)} feedback items")
        self.base = base
        self.name = base.name
        self.backend = backend_of(base)
        self._known = dict(zip(texts, _normalise(vectors)))

    @property
    def fingerprint(self) -> str:
        return self.base.fingerprint

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._known]
        found = dict(zip(missing, self.base.embed(missing))) if missing else {}
        rows = [self._known[t] if t in self._known else found[t] for t in texts]
        dim = len(next(iter(self._known.values()))) if self._known else 0
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), dim)
