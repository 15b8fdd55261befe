"""The Dask engine trains the same model as the local one, survives a dying worker, and never half-publishes.

These tests start a real ``LocalCluster`` of worker processes (two workers, one thread each).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_embedders import FailingEmbedder, WorkerKillingEmbedder
from tiny_data import tiny_config, write_tiny_dataset

from feedback_nlp import artifact
from feedback_nlp.pipeline import train

distributed = pytest.importorskip("distributed")

PARTITION_BYTES = 1500  # the tiny set in about ten partitions, so that both workers get several


def _data(tmp_path: Path) -> tuple[list[Path], Path]:
    feedback, roadmap = write_tiny_dataset(tmp_path / "data", seed=3)
    legacy = tmp_path / "data" / "legacy.csv"
    legacy.write_text(
        "id,text,source,created_at\n"
        "L-1,The CSV export times out again on the big ledger,ticket,2026-10-01\n"
        "T-0003,a row reusing an id from the tickets file,ticket,2026-10-01\n"
        ",no id here,ticket,2026-10-01\n"
        "L-2,,ticket,2026-10-01\n"
        "L-3,card declined when paying a supplier,ticket,not a date\n"
        'L-4,"a quote that never closes,ticket,2026-10-01\n'
        "L-5,the row after an unterminated quote is read on its own,ticket,2026-10-01\n",
        encoding="utf-8",
    )
    return feedback + [legacy], roadmap


def _outputs(version_dir: Path) -> dict:
    themes = json.loads((version_dir / artifact.THEMES_FILE).read_text())
    for theme in themes:
        theme["roadmap_score"] = round(theme["roadmap_score"], 3)
    return {
        "themes": themes,
        "assignments": (version_dir / artifact.ASSIGNMENTS_FILE).read_text().splitlines(),
        "quarantine": [
            (row["file"], row["line"], row["reason"])
            for row in map(json.loads, (version_dir / artifact.QUARANTINE_FILE).read_text().splitlines())
        ],
        "registry": [
            {k: v for k, v in theme.items() if k not in ("created_in", "retired_in")}
            for theme in json.loads((version_dir / artifact.REGISTRY_FILE).read_text())["themes"]
        ],
        "neighbor_texts": json.loads((version_dir / artifact.NEIGHBOR_TEXTS_FILE).read_text()),
        "evidence": json.loads((version_dir / artifact.EVIDENCE_FILE).read_text()),
    }


def _http_status(engine, path: str) -> int:
    import urllib.error
    import urllib.request

    port = engine.cluster.scheduler.http_server.port
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(scope="module")
def dask_engine():
    from feedback_nlp.engine import DaskEngine

    engine = DaskEngine(n_workers=2)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("local")
    feedback, roadmap = _data(tmp_path)
    result = train(feedback, roadmap, tmp_path / "models", tiny_config(partition_bytes=PARTITION_BYTES))
    return feedback, roadmap, result


def test_dask_on_two_workers_trains_the_same_model_as_local(tmp_path, dask_engine, local_run):
    feedback, roadmap, local = local_run
    assert dask_engine.n_workers == 2
    assert _http_status(dask_engine, "/status") == 404  # no dashboard unless --dashboard is given
    assert _http_status(dask_engine, "/health") == 200  # (the scheduler's own health route is there)
    remote = train(
        feedback,
        roadmap,
        tmp_path / "models",
        tiny_config(partition_bytes=PARTITION_BYTES),
        engine=dask_engine,
    )
    assert local.summary["partitions"] == remote.summary["partitions"] >= 8
    assert remote.summary["engine"]["engine"] == "dask" and remote.summary["engine"]["workers"] == 2
    ours, theirs = _outputs(local.path), _outputs(remote.path)
    assert theirs["themes"] == ours["themes"]
    assert theirs["assignments"] == ours["assignments"]
    assert theirs["quarantine"] == ours["quarantine"]
    assert theirs["registry"] == ours["registry"]
    assert theirs["neighbor_texts"] == ours["neighbor_texts"]
    for key in (
        "rows_read",
        "rows_accepted",
        "rows_quarantined",
        "quarantine_reasons",
        "units",
        "themes",
        "unassigned_units",
        "accepted_by_source",
        "router",
        "alignment",
        "unplanned_demand",
    ):
        assert remote.summary[key] == local.summary[key], key
    # the defects of legacy.csv, each once, with the duplicate id found across files and partitions
    assert local.summary["quarantine_reasons"] == {
        "bad_created_at": 1,
        "duplicate_id": 1,
        "empty_text": 1,
        "missing_id": 1,
        "unterminated_quote": 1,
    }
    # the served model works the same whichever engine trained it
    from feedback_nlp.model import FeedbackModel

    text = "the CSV export keeps timing out"
    theirs_scored = FeedbackModel.load(remote.path).score_texts([text])[0].primary
    ours_scored = FeedbackModel.load(local.path).score_texts([text])[0].primary
    assert (theirs_scored.theme_id, theirs_scored.confidence) == (
        ours_scored.theme_id,
        ours_scored.confidence,
    )


def test_partitioning_does_not_change_the_themes(tmp_path, local_run):
    feedback, roadmap, local = local_run
    whole = train(feedback, roadmap, tmp_path / "models", tiny_config())
    assert whole.summary["partitions"] == len(feedback) < local.summary["partitions"]
    ours, theirs = _outputs(local.path), _outputs(whole.path)
    assert theirs["assignments"] == ours["assignments"]
    assert [(t["id"], t["name"], t["size"], t["keywords"]) for t in theirs["themes"]] == [
        (t["id"], t["name"], t["size"], t["keywords"]) for t in ours["themes"]
    ]


def test_a_worker_that_dies_mid_run_costs_a_rerun_of_its_task_not_the_run(tmp_path, dask_engine, local_run):
    feedback, roadmap, local = local_run
    marker = tmp_path / "killed.pid"
    result = train(
        feedback,
        roadmap,
        tmp_path / "models",
        tiny_config(partition_bytes=PARTITION_BYTES),
        embedder=WorkerKillingEmbedder(str(marker)),
        engine=dask_engine,
    )
    assert marker.is_file(), "no worker was killed: the test did not test anything"
    assert _outputs(result.path)["assignments"] == _outputs(local.path)["assignments"]
    assert artifact.read_latest(tmp_path / "models") == result.version
    dask_engine.client.wait_for_workers(2, timeout=60)  # the nanny restarts the dead worker


def test_a_failed_dask_run_leaves_latest_and_the_models_folder_untouched(tmp_path, dask_engine, local_run):
    feedback, roadmap, _ = local_run
    models = tmp_path / "models"
    first = train(feedback, roadmap, models, tiny_config(partition_bytes=PARTITION_BYTES), engine=dask_engine)
    before = sorted(p.name for p in models.iterdir())
    with pytest.raises(RuntimeError, match="encoder failed"):
        train(
            feedback,
            roadmap,
            models,
            tiny_config(partition_bytes=PARTITION_BYTES, cache_dir=str(tmp_path / "c2")),
            embedder=FailingEmbedder(),
            engine=dask_engine,
        )
    assert artifact.read_latest(models) == first.version
    assert sorted(p.name for p in models.iterdir()) == before  # no staging or work folder left behind


def test_ingest_on_a_running_scheduler_stores_what_local_ingest_stores(tmp_path, dask_engine, local_run):
    import io
    from contextlib import redirect_stdout

    from feedback_nlp.cli import main
    from feedback_nlp.store import open_store

    feedback, _, local = local_run
    stored = {}
    for engine in ("local", "dask"):
        url = f"sqlite:///{tmp_path}/{engine}.sqlite"
        argv = ["ingest", "--models-dir", str(local.path.parent), "--database-url", url, "--engine", engine]
        if engine == "dask":
            argv += ["--scheduler", dask_engine.client.scheduler.address]
        output = io.StringIO()
        with redirect_stdout(output):
            assert main(argv + [str(p) for p in feedback]) == 0
        store = open_store(url)
        try:
            first_line = output.getvalue().splitlines()[0]
            items = {}
            for path in feedback[:2]:  # the tiny set's tickets and notes
                for line in (
                    path.read_text().splitlines()[1:]
                    if path.suffix == ".csv"
                    else path.read_text().splitlines()
                ):
                    item_id = line.split(",")[0] if path.suffix == ".csv" else json.loads(line)["id"]
                    found = store.get_item(item_id)
                    items[item_id] = (found["theme_id"], [u["theme_id"] for u in found["units"]])
            stored[engine] = (first_line.split(" (model")[0], store.count_items(), items)
        finally:
            store.close()
    assert stored["dask"] == stored["local"]
    assert "quarantined 5" in stored["local"][0]
