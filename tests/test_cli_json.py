"""Every command takes --json and prints the documented shape (docs/CLI.md); score --explain prints the API's
answer; models list/prune; training.train names itself; serve takes --database-url and --log-level.

One module-scoped run of the whole command line on the tiny data set (hashing embedder) feeds the tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = dict(
    encoder="hashing",
    min_themes=3,
    max_themes=12,
    min_theme_size=5,
    min_similarity=0.05,
    roadmap_threshold=0.15,
    default_owner="triage@ledgerly.example",
    calibration="temperature",
)


def _cli(argv, capsys) -> tuple[int, str, str]:
    from feedback_nlp.cli import main

    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    from tiny_data import write_tiny_dataset

    root = tmp_path_factory.mktemp("cli-json")
    feedback, roadmap = write_tiny_dataset(root / "data")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(TINY_CONFIG), encoding="utf-8")
    return {
        "root": root,
        "feedback": feedback,
        "roadmap": roadmap,
        "config": config,
        "models": root / "models",
    }


@pytest.fixture(scope="module")
def trained(workspace):
    """``train --json`` once; its summary."""
    from feedback_nlp.cli import main

    argv = ["train", "--models-dir", workspace["models"], "--config", workspace["config"], "--json"]
    argv += ["--roadmap", workspace["roadmap"]]
    for path in workspace["feedback"]:
        argv += ["--feedback", path]
    out = workspace["root"] / "train.json"
    import contextlib

    with open(out, "w", encoding="utf-8") as handle, contextlib.redirect_stdout(handle):
        assert main([str(a) for a in argv]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def test_train_json_is_the_summary(trained, workspace):
    assert (workspace["models"] / "LATEST").read_text().strip() == trained["version"]
    assert trained["rows_read"] == trained["rows_accepted"] + trained["rows_quarantined"]


def test_ingest_report_themes_json(trained, workspace, capsys):
    url = f"sqlite:///{workspace['root'] / 'store.sqlite'}"
    models = workspace["models"]
    code, out, _ = _cli(
        ["ingest", "--models-dir", models, "--database-url", url, "--json", *workspace["feedback"]], capsys
    )
    counts = json.loads(out)
    assert code == 0 and counts["read"] == counts["accepted"] + counts["quarantined"] > 0
    assert counts["stored"] == counts["accepted"] and counts["model_version"] == trained["version"]
    shape = {"read", "accepted", "quarantined", "stored", "quarantine_reasons", "model_version", "store"}
    assert set(counts) == shape | {"store_items"}

    out_dir = workspace["root"] / "reports"
    code, out, _ = _cli(
        ["report", "--models-dir", models, "--database-url", url, "--out", out_dir, "--json"], capsys
    )
    written = json.loads(out)
    assert code == 0 and set(written["files"]) == {"html", "md", "json"}
    assert all(Path(path).is_file() for path in written["files"].values())
    assert written["files"]["html"].endswith(f"report-{written['week']}.html")

    code, out, _ = _cli(["themes", "--models-dir", models, "--json"], capsys)
    assert code == 0 and len(json.loads(out)) == trained["themes"]


def test_score_explain_prints_the_api_answer(trained, workspace, capsys, tmp_path):
    from fastapi.testclient import TestClient

    from feedback_nlp.service.main import create_app
    from feedback_nlp.settings import Settings

    text = "the CSV export times out"
    code, out, _ = _cli(["score", "--models-dir", workspace["models"], "--explain", "--json", text], capsys)
    assert code == 0
    from_cli = json.loads(out)
    settings = Settings(
        models_dir=workspace["models"],
        database_url=f"sqlite:///{tmp_path / 'api.sqlite'}",
        api_keys="k",
        reload_poll_seconds=0,
    )
    with TestClient(create_app(settings)) as client:
        from_api = client.post(
            "/v1/score",
            json={"id": from_cli["id"], "text": text, "source": "ticket"},
            headers={"X-API-Key": "k"},
        ).json()
    assert from_cli == from_api  # the same object, explanation and all
    assert from_cli["units"][from_cli["primary_unit"]]["explanation"]["nearest_examples"]

    code, out, _ = _cli(["score", "--models-dir", workspace["models"], text], capsys)
    assert "units" not in json.loads(out)  # without --explain: the decision only


def test_evaluate_json(workspace, capsys, tmp_path):
    import pandas as pd

    frame = pd.read_csv(workspace["feedback"][0])
    frame["label"] = frame.index // 24  # the tiny set writes 24 tickets per topic, topic by topic
    frame.iloc[::2].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[1::2].to_csv(tmp_path / "test.csv", index=False)
    argv = ["evaluate", "--train", tmp_path / "train.csv", "--test", tmp_path / "test.csv", "--json"]
    code, out, _ = _cli([*argv, "--config", workspace["config"], "--models-dir", tmp_path / "m"], capsys)
    assert code == 0 and json.loads(out)["encoder"] == "hashing"


def _fake_version(models_dir: Path, name: str, created_at: str, *, rejected: bool = False) -> None:
    folder = models_dir / name
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text(json.dumps({"created_at": created_at}), encoding="utf-8")
    if rejected:
        (folder / "REJECTED.json").write_text("{}", encoding="utf-8")


def test_models_prune_keeps_the_newest_and_the_serving_one(tmp_path, capsys):
    models = tmp_path / "models"
    for day in range(1, 6):
        _fake_version(models, f"v{day}", f"2026-11-0{day}T00:00:00Z", rejected=day == 5)
    (models / "LATEST").write_text("v2\n", encoding="utf-8")  # an older version serves (a rollback)
    (models / "notes").mkdir()  # not a version: no metadata.json
    (models / ".embedding-cache").mkdir()

    code, out, _ = _cli(["models", "list", "--models-dir", models, "--json"], capsys)
    listing = json.loads(out)["versions"]
    assert code == 0 and [v["name"] for v in listing] == ["v5", "v4", "v3", "v2", "v1"]
    assert {v["name"]: v["status"] for v in listing}["v2"] == "serving"

    code, out, _ = _cli(
        ["models", "prune", "--models-dir", models, "--keep", "1", "--dry-run", "--json"], capsys
    )
    assert json.loads(out)["removed"] == ["v5", "v3", "v1"] and (models / "v5").is_dir()

    code, out, _ = _cli(["models", "prune", "--models-dir", models, "--keep", "1", "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["kept"] == ["v4", "v2"] and result["removed"] == ["v5", "v3", "v1"]
    assert sorted(p.name for p in models.iterdir()) == [".embedding-cache", "LATEST", "notes", "v2", "v4"]

    code, _, err = _cli(["models", "prune", "--models-dir", models, "--keep", "0"], capsys)
    assert code == 2 and "keep at least 1" in err


def test_training_train_help_names_itself():
    run = subprocess.run(
        [sys.executable, "-m", "training.train", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    assert run.stdout.startswith("usage: python -m training.train ")
    assert "--feedback" in run.stdout and "feedback-nlp" not in run.stdout.split("\n", 1)[0]


def test_serve_takes_database_url_and_log_level(tmp_path, monkeypatch, capsys):
    import uvicorn

    seen = {}

    def fake_run(app, **kwargs):
        seen.update(kwargs, settings=app.state.service.settings)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setenv("FEEDBACK_NLP_API_KEYS", "k")
    from feedback_nlp.settings import get_settings

    get_settings.cache_clear()
    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    argv = [
        "serve",
        "--models-dir",
        tmp_path,
        "--database-url",
        url,
        "--log-level",
        "DEBUG",
        "--log-format",
        "json",
    ]
    code, out, _ = _cli(argv, capsys)
    get_settings.cache_clear()
    assert code == 0 and seen["settings"].store_url() == url and "elsewhere.sqlite" in out
    assert seen["log_level"] == "debug"
    assert seen["log_config"]["handlers"]["default"]["formatter"] == "json"


def test_the_default_store_is_beside_the_models_dir_not_in_the_current_directory(
    trained, workspace, tmp_path, monkeypatch, capsys
):
    from feedback_nlp.settings import Settings, get_settings

    assert Settings(models_dir=tmp_path / "m").store_url() == f"sqlite:///{tmp_path / 'feedback.sqlite'}"
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("FEEDBACK_NLP_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        code, out, _ = _cli(
            ["ingest", "--models-dir", workspace["models"], "--json", workspace["feedback"][0]], capsys
        )
    finally:
        get_settings.cache_clear()
    assert code == 0 and json.loads(out)["store"] == f"sqlite:///{workspace['root'] / 'feedback.sqlite'}"
    assert (workspace["root"] / "feedback.sqlite").is_file() and not list(elsewhere.iterdir())


def test_every_answer_carries_a_request_id_and_is_logged_with_it(tmp_path, caplog):
    from fastapi.testclient import TestClient

    from feedback_nlp.service.main import create_app
    from feedback_nlp.settings import Settings

    settings = Settings(
        models_dir=tmp_path / "none", database_url=f"sqlite:///{tmp_path / 's.sqlite'}", api_keys="k"
    )
    with caplog.at_level("INFO", logger="feedback_nlp.access"), TestClient(create_app(settings)) as client:
        given = client.get("/healthz", headers={"X-Request-ID": "support-tool-42"})
        made = client.get("/v1/themes")  # 401: errors are logged too
        unusable = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert given.headers["X-Request-ID"] == "support-tool-42"
    assert len(made.headers["X-Request-ID"]) == 32 and made.status_code == 401
    assert unusable.headers["X-Request-ID"] != "bad id\twith spaces"
    lines = [r for r in caplog.records if r.name == "feedback_nlp.access"]
    assert [(r.request_id, r.status, r.path) for r in lines] == [
        ("support-tool-42", 200, "/healthz"),
        (made.headers["X-Request-ID"], 401, "/v1/themes"),
        (unusable.headers["X-Request-ID"], 200, "/healthz"),
    ]


def test_json_log_lines_carry_the_access_fields():
    import logging

    from feedback_nlp.service.access_log import JsonFormatter, TextFormatter

    record = logging.LogRecord("feedback_nlp.access", logging.INFO, __file__, 1, "GET /healthz 200", (), None)
    record.request_id, record.status = "abc", 200
    entry = json.loads(JsonFormatter().format(record))
    assert entry["request_id"] == "abc" and entry["status"] == 200 and entry["message"] == "GET /healthz 200"
    assert TextFormatter().format(record).endswith("GET /healthz 200 request_id=abc")


def _wait_for(condition, seconds: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_progress_logs_plain_lines_while_work_runs_and_when_it_ends(caplog):
    from feedback_nlp.progress import Progress

    with caplog.at_level("INFO", logger="feedback_nlp.progress"):
        with Progress("ingest", "rows stored", every_seconds=0.05) as progress:
            progress.advance(1200)
            assert _wait_for(lambda: any("working" in r.getMessage() for r in caplog.records))
        messages = [r.getMessage() for r in caplog.records if r.name == "feedback_nlp.progress"]
    assert messages[0].startswith("ingest: working, 1,200 rows stored in ")
    assert messages[-1].startswith("ingest: done, 1,200 rows stored in ")


def test_ingest_logs_its_progress(trained, workspace, capsys, caplog, tmp_path):
    url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    with caplog.at_level("INFO", logger="feedback_nlp.progress"):
        code, out, _ = _cli(
            [
                "ingest",
                "--models-dir",
                workspace["models"],
                "--database-url",
                url,
                "--json",
                workspace["feedback"][0],
            ],
            capsys,
        )
    stored = json.loads(out)["stored"]
    assert code == 0 and stored > 0
    assert [r.getMessage().split(" in ")[0] for r in caplog.records if r.name == "feedback_nlp.progress"] == [
        f"ingest: done, {stored:,} rows stored"
    ]
