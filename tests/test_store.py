"""The feedback store on SQLite: migrations, idempotent upserts, the queries the service and report use."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import store_checks
from sqlalchemy import text

from feedback_nlp.errors import ConfigError, ValidationError
from feedback_nlp.store import check_record_fits, open_store
from feedback_nlp.store_schema import feedback_units


@pytest.fixture
def store(tmp_path):
    opened = open_store(f"sqlite:///{tmp_path}/nested/dir/feedback.sqlite")
    yield opened
    opened.close()


def test_open_store_creates_the_file_and_migrates_to_head(tmp_path, store):
    assert (tmp_path / "nested" / "dir" / "feedback.sqlite").is_file()
    store_checks.check_schema_is_store_schema(store)
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0008"
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1


def test_reopening_keeps_the_data_and_does_not_migrate_again(tmp_path, store):
    store.upsert_scored(store_checks.record("K-1"), store_checks.score("K-1", [store_checks.unit(0, 1)]))
    again = open_store(store.engine.url.render_as_string(hide_password=False))
    try:
        assert again.count_items() == 1
    finally:
        again.close()


def test_units_and_items_carry_their_theme_area(store):
    units = [store_checks.unit(0, 23), store_checks.unit(1, None, route="triage")]
    store.upsert_scored(store_checks.record("A-1"), store_checks.score("A-1", units))
    with store.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT unit_index, area_id, area_name FROM feedback_units ORDER BY unit_index")
        ).all()
        item_area = connection.execute(text("SELECT area_id FROM feedback_items")).scalar_one()
    assert [tuple(r) for r in rows] == [(0, 2, "area 2"), (1, None, None)] and item_area == 2


def test_a_store_from_before_areas_is_migrated_and_keeps_its_rows(tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from feedback_nlp.store import MIGRATIONS_DIR

    url = f"sqlite:///{tmp_path}/old.sqlite"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = create_engine(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.execute(
            text(
                "INSERT INTO feedback_items (id, source, created_at, text_redacted, n_units, route, "
                "model_version, scored_at) VALUES ('OLD-1', 'ticket', '2026-11-02', 't', 1, 'owner', 'v0', "
                "'2026-11-02')"
            )
        )
    engine.dispose()
    opened = open_store(url)
    try:
        store_checks.check_schema_is_store_schema(opened)
        with opened.engine.connect() as connection:
            assert connection.execute(text("SELECT id, area_id FROM feedback_items")).one() == ("OLD-1", None)
    finally:
        opened.close()


def test_same_id_updates_and_replaces_units(store):
    store_checks.check_same_id_updates_and_replaces_units(store)


def test_batch_writes_each_id_once(store):
    store_checks.check_batch_writes_each_id_once(store)


def test_queries(store):
    store_checks.check_queries(store)


def test_concurrent_writers_never_duplicate(store):
    store_checks.check_concurrent_writers_never_duplicate(store)


def test_writes_build_their_statements_once_per_store(store, monkeypatch):
    """Building the upsert (SQLAlchemy's ``excluded`` columns) cost more CPU than running it for a one-item
    request (issue 20); a one-item write is 4 statements besides the transaction's own."""
    from sqlalchemy import event
    from sqlalchemy.dialects.sqlite.dml import Insert

    built = []
    build = Insert.on_conflict_do_update
    monkeypatch.setattr(
        Insert, "on_conflict_do_update", lambda self, *a, **k: built.append(1) or build(self, *a, **k)
    )
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for n in range(3):
        store.upsert_scored(
            store_checks.record(f"B-{n}"), store_checks.score(f"B-{n}", [store_checks.unit(0, 1)])
        )
    assert built == [1]
    assert len(statements) == 3 * 4
    assert store.count_items() == 3 and store.count_units() == 3


def test_deleting_an_item_deletes_its_units(store):
    store.upsert_scored(
        store_checks.record("D-1"),
        store_checks.score("D-1", [store_checks.unit(0, 1), store_checks.unit(1, 2)]),
    )
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM feedback_items WHERE id = 'D-1'"))
        assert connection.execute(feedback_units.select()).fetchall() == []


def test_in_memory_store_is_shared_across_threads():
    store = open_store("sqlite://")
    try:
        store_checks.check_concurrent_writers_never_duplicate(store)
    finally:
        store.close()


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://x/y"])
def test_bad_url_is_a_config_error(url):
    with pytest.raises(ConfigError, match="URL"):
        open_store(url)


def test_unreachable_database_is_a_config_error_without_password():
    with pytest.raises(ConfigError, match="cannot open the feedback store") as caught:
        open_store("postgresql+psycopg://user:secret-pw@127.0.0.1:1/feedback?connect_timeout=2")
    assert "secret-pw" not in str(caught.value)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"id": "x" * 201}, "id"),
        ({"source": "s" * 51}, "source"),
        ({"text": "nul \x00 byte"}, "text"),
        ({"text": "lone \ud800 surrogate"}, "text"),
        ({"account_arr": float("nan")}, "account_arr"),
        ({"metadata": {"nested": [float("inf")]}}, "metadata"),
        ({"metadata": {"k": "nul\x00"}}, "metadata"),
    ],
)
def test_records_that_do_not_fit_the_columns_are_validation_errors(overrides, field):
    values = dict(overrides)
    item_id = values.pop("id", "R-1")
    with pytest.raises(ValidationError) as caught:
        check_record_fits(store_checks.record(item_id, **values))
    assert caught.value.field == field


def test_real_model_scores_round_trip(store, tiny_model):
    note = (
        "Good call with the finance team, they just got back from holiday. The CSV export times out when "
        "I export the full ledger. We need single sign-on with Okta for the admin console. Talk soon."
    )
    records = [store_checks.record("M-1"), store_checks.record("M-2", note, source="call_note")]
    scores = tiny_model.score(records)
    store.upsert_scored_batch(list(zip(records, scores, strict=True)))
    for item_score in scores:
        stored = store.get_item(item_score.id)
        assert stored["model_version"] == tiny_model.version_
        assert stored["theme_id"] == item_score.primary.theme_id
        assert [(u["start_char"], u["end_char"], u["theme_id"]) for u in stored["units"]] == [
            (u.start, u.end, u.theme_id) for u in item_score.units
        ]
    assert len(store.get_item("M-2")["units"]) >= 2


def _ingest(argv: list[str]) -> str:
    from feedback_nlp.cli import main

    output = io.StringIO()
    with redirect_stdout(output):
        assert main(argv) == 0
    return output.getvalue()


def test_ingest_command_loads_files_and_is_idempotent(tmp_path, tiny_model_dir):
    models_dir = tiny_model_dir.parent
    feedback = tmp_path / "feedback.jsonl"
    rows = [
        {"id": "I-1", "text": "The CSV export times out", "source": "ticket", "created_at": "2026-09-08"},
        {
            "id": "I-2",
            "text": "We need SSO with Okta",
            "source": "ticket",
            "created_at": "2026-09-09T10:00:00Z",
            "account_arr": 5000,
        },
        {"id": "I-3", "text": "", "source": "ticket", "created_at": "2026-09-09"},
        {"id": "I-1", "text": "duplicate id", "source": "ticket", "created_at": "2026-09-09"},
        {
            "id": "x" * 300,
            "text": "id too long for the store",
            "source": "ticket",
            "created_at": "2026-09-09",
        },
    ]
    feedback.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    url = f"sqlite:///{tmp_path}/ingest.sqlite"
    argv = [
        "ingest",
        "--models-dir",
        str(models_dir),
        "--database-url",
        url,
        "--batch-size",
        "1",
        str(feedback),
    ]

    first = _ingest(argv + ["--quarantine-out", str(tmp_path / "q.jsonl")])
    assert "read 5, accepted 2, quarantined 3, stored 2" in first
    assert "empty_text" in first and "duplicate_id" in first
    assert len((tmp_path / "q.jsonl").read_text(encoding="utf-8").splitlines()) == 3

    second = _ingest(argv)
    assert "stored 2" in second and "holds 2 items" in second
    store = open_store(url)
    try:
        assert store.count_items() == 2
        assert store.get_item("I-2")["account_arr"] == 5000.0
    finally:
        store.close()


def test_ingest_command_fails_cleanly_on_a_missing_file(tmp_path, tiny_model_dir, capsys):
    from feedback_nlp.cli import main

    code = main(
        [
            "ingest",
            "--models-dir",
            str(tiny_model_dir.parent),
            "--database-url",
            f"sqlite:///{tmp_path}/x.sqlite",
            str(tmp_path / "missing.csv"),
        ]
    )
    assert code == 2
    assert "no such file" in capsys.readouterr().err
    assert not Path(tmp_path / "x.sqlite").exists()


def test_connections_opening_a_new_sqlite_file_at_once_all_get_wal(tmp_path):
    # SQLite converts a file to WAL without calling its busy handler: of 16 connections switching a new file
    # at once, one in about fifty rounds got "database is locked" at once, whatever the busy timeout
    import sqlite3
    import threading

    from feedback_nlp.store import create_store_engine

    errors: list[str] = []
    for round_ in range(300):
        # an engine each, as separate processes have: one engine's first connection runs alone
        engines = [create_store_engine(f"sqlite:///{tmp_path}/{round_}.sqlite") for _ in range(16)]
        start = threading.Barrier(len(engines))

        def connect(engine, start=start) -> None:
            start.wait()
            try:
                engine.connect().close()
            except Exception as exc:  # named in the assertion
                errors.append(f"{exc.__class__.__name__}: {getattr(exc, 'orig', exc)}")

        workers = [threading.Thread(target=connect, args=(engine,)) for engine in engines]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        for engine in engines:
            engine.dispose()
    assert errors == []
    with sqlite3.connect(tmp_path / "299.sqlite") as check:
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _open_and_close(url: str, start, results) -> None:
    start.wait()  # every process opens at the same moment
    try:
        open_store(url).close()
        results.put("ok")
    except Exception as exc:  # reported to the parent, which names it
        results.put(f"{exc.__class__.__name__}: {exc}")


def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # real processes with their own engines
    url = f"sqlite:///{tmp_path}/new/feedback.sqlite"
    start = context.Barrier(10)
    results = context.Queue()
    processes = [context.Process(target=_open_and_close, args=(url, start, results)) for _ in range(10)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert outcomes == ["ok"] * 10
    store = open_store(url)
    try:
        store_checks.check_schema_is_store_schema(store)
    finally:
        store.close()
