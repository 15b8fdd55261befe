"""A golden snapshot of the bundled sample's model: themes, unit assignments, routes and scores.

It pins what the training job and the scoring path produce on the sample (with the deterministic hashing
embedder, so it runs without torch) so that restructuring them can be checked to change nothing. A change
that is meant to alter the model regenerates the snapshot on purpose:

    FEEDBACK_NLP_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden_snapshot.py

and the diff of ``tests/golden/sample_snapshot.json`` shows what moved.
"""

from __future__ import annotations

import json
import os
from datetime import UTC
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO_ROOT

GOLDEN = Path(__file__).parent / "golden" / "sample_snapshot.json"

# Texts scored against the sample model: sample tickets, a call note, and text from no theme at all.
PROBE_TEXTS = [
    ("ticket", "My new card still has not arrived after two weeks"),
    ("ticket", "the CSV export times out"),
    ("ticket", "Why was I charged a fee for topping up with my card?"),
    ("ticket", "The exchange rate you gave me for euros was terrible"),
    ("ticket", "I can't verify my identity, the app keeps rejecting my passport photo"),
    ("ticket", "How do I change my PIN?"),
    ("ticket", "My top up failed but the money left my bank account"),
    ("ticket", "Can we sync expenses to QuickBooks automatically?"),
    ("ticket", "A payment I made yesterday is still pending"),
    ("ticket", "My card was declined at the supermarket"),
    ("ticket", "I want to cancel a transfer I sent by mistake"),
    ("ticket", "Is there a dark mode for the dashboard?"),
    ("ticket", "What is the weather like in Lisbon in spring?"),
    ("ticket", "Please give me a recipe for banana bread"),
    (
        "call_note",
        "Good call with the finance lead. They want SSO with Okta before renewal. Also the CSV "
        "export keeps timing out on large ledgers. Next check-in in two weeks.",
    ),
]


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def sample_snapshot(model_dir: Path) -> dict:
    from feedback_nlp.model import FeedbackModel
    from feedback_nlp.schemas import FeedbackRecord

    themes = json.loads((model_dir / "themes.json").read_text(encoding="utf-8"))
    assignments = {}
    with open(model_dir / "assignments.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            assignments[f"{row['item_id']}#{row['unit_index']}"] = row["theme_id"]
    model = FeedbackModel.load(model_dir)
    from datetime import datetime

    now = datetime(2026, 11, 20, tzinfo=UTC)
    records = [
        FeedbackRecord(id=f"P-{n}", text=text, source=source, created_at=now)
        for n, (source, text) in enumerate(PROBE_TEXTS)
    ]
    scores = []
    for item in model.score(records):
        for unit in item.units:
            scores.append(
                {
                    "id": item.id,
                    "unit": unit.unit_index,
                    "text": unit.text,
                    "theme_id": unit.theme_id,
                    "area_id": unit.area_id,
                    "confidence": _round(unit.confidence),
                    "route": unit.route,
                    "owner": unit.owner,
                    "roadmap_item": (unit.roadmap_item or {}).get("id"),
                    "in_scope": _round(unit.explanation.get("in_scope")),
                    "runner_up": (unit.explanation.get("runner_up") or {}).get("theme_id"),
                    "nearest": [example["text"] for example in unit.explanation["nearest_examples"]],
                }
            )
    return {
        "themes": [
            {
                "id": t["id"],
                "name": t["name"],
                "area_id": t["area_id"],
                "area_name": t["area_name"],
                "keywords": t["keywords"],
                "size": t["size"],
                "examples": t["examples"],
                "roadmap_item": (t["roadmap_item"] or {}).get("id"),
                "roadmap_score": _round(t["roadmap_score"]),
                "owner": t["owner"],
            }
            for t in themes
        ],
        "assignments": assignments,
        "scores": scores,
    }


@pytest.fixture(scope="module")
def sample_model_dir(tmp_path_factory, preparer) -> Path:
    from feedback_nlp.config import TrainingConfig
    from feedback_nlp.pipeline import train

    values = TrainingConfig.from_yaml(REPO_ROOT / "training" / "config.yaml").to_dict()
    values["encoder"] = "hashing"
    values["cache_dir"] = None
    config = TrainingConfig.from_dict(values)
    feedback = [
        EXAMPLES / "feedback" / name for name in ("tickets.csv", "call_notes.jsonl", "legacy_export.csv")
    ]
    models_dir = tmp_path_factory.mktemp("golden") / "models"
    return train(feedback, EXAMPLES / "roadmap.yaml", models_dir, config, preparer=preparer).path


def test_the_sample_model_matches_its_golden_snapshot(sample_model_dir):
    snapshot = sample_snapshot(sample_model_dir)
    if os.environ.get("FEEDBACK_NLP_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert snapshot["themes"] == expected["themes"]
    assert snapshot["assignments"] == expected["assignments"]
    assert snapshot["scores"] == expected["scores"]
