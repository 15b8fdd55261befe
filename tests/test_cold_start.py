"""Cold start: commands that only read JSON or the store load neither torch nor spaCy, and the service says
ready only once a model has scored a warm-up text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from feedback_nlp.model import FeedbackModel
from feedback_nlp.service.main import create_app
from feedback_nlp.service.model_holder import WARM_UP_TEXT
from feedback_nlp.store import open_store
from tests.test_service import READ, copy_version, make_settings, point_latest, ticket

REPO_ROOT = Path(__file__).resolve().parents[1]
# printed by the command's process after it ran: which heavy libraries it loaded
PROBE = """
import json, sys
from feedback_nlp.cli import main
code = main(sys.argv[1:])
heavy = ("torch", "spacy", "sentence_transformers", "transformers")
print(json.dumps({"code": code, "loaded": [name for name in heavy if name in sys.modules]}))
"""


def run_cli(*argv: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FEEDBACK_NLP_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_themes_and_report_load_neither_torch_nor_spacy(tmp_path, tiny_model_dir):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))
    themes = run_cli("themes", "--models-dir", str(models_dir))
    assert themes == {"code": 0, "loaded": []}
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    open_store(url).close()  # an empty, migrated store
    report = run_cli(
        "report",
        "--models-dir",
        str(models_dir),
        "--database-url",
        url,
        "--week",
        "2026-W40",
        "--out",
        str(tmp_path / "reports"),
    )
    assert report == {"code": 0, "loaded": []}
    assert (tmp_path / "reports" / "report-2026-W40.json").is_file()


def test_ready_only_after_the_model_scored_a_warm_up_text(tmp_path, tiny_model_dir, monkeypatch):
    scored: list[list[str]] = []
    original = FeedbackModel.score_texts

    def recording(self, texts, source="ticket"):
        scored.append(list(texts))
        return original(self, texts, source)

    monkeypatch.setattr(FeedbackModel, "score_texts", recording)
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))
    app = create_app(make_settings(tmp_path, models_dir))
    assert app.state.service.holder.model is None
    with TestClient(app) as client:
        assert scored == [[WARM_UP_TEXT]]  # during start-up, before any request
        assert client.get("/readyz").status_code == 200
        assert client.post("/v1/score", json=ticket("W-1"), headers=READ).status_code == 200
        assert app.state.service.store.get_item("0") is None  # the warm-up text is never stored
