"""A stand-in with the FeedbackModel interface, for tests about the API itself (slow or failing models)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from feedback_nlp.errors import ModelLoadError, ValidationError
from feedback_nlp.schemas import FeedbackRecord, ItemScore, UnitScore

THEMES = [
    {
        "id": 0,
        "name": "export",
        "keywords": ["export"],
        "size": 3,
        "examples": ["export is slow"],
        "roadmap_item": {"id": "R-1", "title": "Fast export"},
        "roadmap_score": 0.7,
        "owner": "data@example.com",
    },
]
ROADMAP = [
    {
        "id": "R-1",
        "title": "Fast export",
        "description": "",
        "owner": "data@example.com",
        "status": "planned",
        "keywords": ["export"],
    }
]


class FakeModel:
    """Scores every item as one unit of theme 0; ``gate`` (when set) holds scoring until it is released."""

    def __init__(
        self, path: Path, gate: threading.Event | None = None, started: threading.Event | None = None
    ) -> None:
        if (Path(path) / "BROKEN").exists():
            raise ModelLoadError(f"{path}: a file does not match its sha256")
        self.path_ = Path(path)
        self.version_ = self.path_.name
        self.themes_ = THEMES
        self.roadmap_ = ROADMAP
        self.default_owner = "triage"
        self.gate = gate
        self.started = started

    def theme(self, theme_id: int) -> dict | None:
        return next((theme for theme in self.themes_ if theme["id"] == theme_id), None)

    def score(
        self, records: Sequence[FeedbackRecord], max_units_per_item: int | None = None
    ) -> list[ItemScore]:
        if self.started is not None:
            self.started.set()
        if self.gate is not None:
            assert self.gate.wait(10), "the test never released the gate"
        results = []
        for record in records:
            if "library-rejects" in record.text:
                raise ValidationError("text", "rejected by the library")
            explanation = {
                "reason": "fake",
                "keywords": ["export"],
                "nearest_examples": [],
                "runner_up": None,
            }
            unit = UnitScore(
                0,
                0,
                len(record.text),
                record.text,
                0,
                "export",
                0.9,
                {"id": "R-1", "title": "Fast export"},
                "data@example.com",
                "owner",
                explanation,
            )
            results.append(ItemScore(record.id, record.source, self.version_, [unit]))
        return results


def make_versions(models_dir: Path, *names: str, latest: str | None = None) -> Path:
    for name in names:
        (models_dir / name).mkdir(parents=True, exist_ok=True)
    (models_dir / "LATEST").write_text((latest or names[-1]) + "\n", encoding="utf-8")
    return models_dir
