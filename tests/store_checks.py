"""Store behaviour checked the same way on SQLite (test_store.py) and PostgreSQL (test_store_postgres.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import inspect

from feedback_nlp.schemas import FeedbackRecord, ItemScore, UnitScore
from feedback_nlp.store import FeedbackStore
from feedback_nlp.store_schema import metadata as schema_metadata

T0 = datetime(2026, 9, 7, 9, 0, tzinfo=UTC)


def record(
    item_id: str,
    text: str = "The CSV export times out",
    *,
    source: str = "ticket",
    created_at: datetime = T0,
    **extra,
) -> FeedbackRecord:
    return FeedbackRecord(id=item_id, text=text, source=source, created_at=created_at, **extra)


def unit(
    index: int,
    theme_id: int | None,
    roadmap_id: str | None = None,
    *,
    route: str = "owner",
    confidence: float = 0.9,
    text: str = "unit text",
) -> UnitScore:
    return UnitScore(
        unit_index=index,
        start=index * 10,
        end=index * 10 + 9,
        text=text,
        theme_id=theme_id,
        theme_name=None if theme_id is None else f"theme {theme_id}",
        area_id=None if theme_id is None else theme_id // 10,
        area_name=None if theme_id is None else f"area {theme_id // 10}",
        confidence=confidence,
        roadmap_item={"id": roadmap_id, "title": f"title {roadmap_id}"} if roadmap_id else None,
        owner="owner@example.com" if route == "owner" else "triage",
        route=route,
        explanation={},
    )


def score(item_id: str, units: list[UnitScore], *, version: str = "v1", source: str = "ticket") -> ItemScore:
    return ItemScore(id=item_id, source=source, model_version=version, units=units)


def check_schema_is_store_schema(store: FeedbackStore) -> None:
    """Migrations created exactly the tables and columns of store_schema.py (plus alembic_version)."""
    inspector = inspect(store.engine)
    tables = set(inspector.get_table_names())
    assert tables == set(schema_metadata.tables) | {"alembic_version"}
    for name, table in schema_metadata.tables.items():
        columns = {column["name"]: column for column in inspector.get_columns(name)}
        assert set(columns) == set(table.columns.keys()), name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, (name, column.name)
        assert set(inspector.get_pk_constraint(name)["constrained_columns"]) == {
            column.name for column in table.primary_key.columns
        }
        indexes = {index["name"] for index in inspector.get_indexes(name)}
        assert indexes >= {index.name for index in table.indexes}


def check_same_id_updates_and_replaces_units(store: FeedbackStore) -> None:
    store.upsert_scored(
        record("A-1", account_id="acme", account_arr=1000.0),
        score("A-1", [unit(0, 1, "R-1"), unit(1, 2, None, route="triage", confidence=0.3)]),
    )
    assert (store.count_items(), store.count_units()) == (1, 2)

    store.upsert_scored(
        record("A-1", "new text", account_id="acme", account_arr=2000.0, segment="ent"),
        score("A-1", [unit(0, 3, "R-2", text="new text")], version="v2"),
    )
    assert (store.count_items(), store.count_units()) == (1, 1)
    item = store.get_item("A-1")
    assert item["model_version"] == "v2" and item["theme_id"] == 3 and item["n_units"] == 1
    assert item["account_arr"] == 2000.0 and item["segment"] == "ent"
    assert item["text_redacted"] == "new text"
    assert item["created_at"] == T0  # read back timezone-aware, in UTC
    (only_unit,) = item["units"]
    assert only_unit["roadmap_item_id"] == "R-2"
    assert (only_unit["model_version"], only_unit["account_arr"]) == ("v2", 2000.0)


def check_batch_writes_each_id_once(store: FeedbackStore) -> None:
    pairs = [(record(f"B-{i}"), score(f"B-{i}", [unit(0, i % 3)])) for i in range(20)]
    pairs.append((record("B-0", "again"), score("B-0", [unit(0, 7), unit(1, 8)], version="v9")))
    assert store.upsert_scored_batch(pairs) == 20
    assert store.upsert_scored_batch(pairs) == 20  # the same batch again changes nothing
    assert (store.count_items(), store.count_units()) == (20, 21)
    assert [u["theme_id"] for u in store.get_item("B-0")["units"]] == [7, 8]  # the last version wins


def check_queries(store: FeedbackStore) -> None:
    later = T0 + timedelta(days=10)
    store.upsert_scored_batch(
        [
            (record("Q-1", created_at=T0), score("Q-1", [unit(0, 1, "R-1"), unit(1, 1, "R-1")])),
            (record("Q-2", created_at=later), score("Q-2", [unit(0, 1, "R-1"), unit(1, 2, "R-2")])),
            # an offset that is the same instant as `later` in UTC
            (
                record("Q-3", created_at=later.astimezone(timezone(timedelta(hours=-5)))),
                score("Q-3", [unit(0, None, None, route="triage")]),
            ),
        ]
    )
    assert store.theme_volume(1) == 3
    assert store.theme_volume(1, since=later) == 1
    assert store.theme_volume(1, since=later + timedelta(seconds=1)) == 0
    assert store.theme_volumes() == {1: 3, 2: 1}
    assert store.theme_volumes(since=later) == {1: 1, 2: 1}
    # evidence counts distinct items: Q-1 has two units on R-1 but counts once
    assert store.roadmap_evidence_counts() == {"R-1": 2, "R-2": 1}
    assert store.roadmap_evidence_counts(since=later) == {"R-1": 1, "R-2": 1}
    assert store.get_item("missing") is None
    assert store.ping() is True


def check_concurrent_writers_never_duplicate(store: FeedbackStore) -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for round_ in range(5):
                store.upsert_scored_batch(
                    [
                        (
                            record(f"C-{i}"),
                            score(f"C-{i}", [unit(j, worker) for j in range(1 + (i + round_) % 3)]),
                        )
                        for i in range(10)
                    ]
                )
        except BaseException as exc:  # collected and asserted in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count_items() == 10
    for i in range(10):
        item = store.get_item(f"C-{i}")
        assert item["n_units"] == len(item["units"])  # units always belong to the last write of the item
