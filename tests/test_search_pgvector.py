"""Search by meaning on PostgreSQL with pgvector (migration 0008, feedback_nlp.search.PgVectorIndex).

Runs when FEEDBACK_NLP_TEST_POSTGRES_URL is set and the server has the ``vector`` extension installed in
the database (``.ci/run`` installs Debian's postgresql-<version>-pgvector and creates it as the superuser);
skipped otherwise. Each test gets its own schema, with ``public`` (where the extension lives) behind it.
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import numpy as np
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from test_search import found, keep

from feedback_nlp import search
from feedback_nlp.search import VECTOR_DIMENSIONS, InMemoryIndex, PgVectorIndex, SearchFilters, open_index
from feedback_nlp.store import MIGRATIONS_DIR, FeedbackStore, open_store

POSTGRES_URL = os.environ.get("FEEDBACK_NLP_TEST_POSTGRES_URL", "")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="FEEDBACK_NLP_TEST_POSTGRES_URL is not set"),
]


@pytest.fixture
def schema_url():
    """A fresh schema's URL, ``public`` on its search path; skips when the server has no pgvector."""
    admin = create_engine(POSTGRES_URL)
    with admin.connect() as connection:
        if not connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).scalar():
            admin.dispose()
            pytest.skip("the vector extension is not installed in the test database (.ci/run creates it)")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema},public')}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(schema_url):
    opened = open_store(schema_url)
    opened.alignment_detector = False
    yield opened
    opened.close()


def vector(*weights: float) -> np.ndarray:
    """A unit vector of the column's width, its first components ``weights``."""
    out = np.zeros(VECTOR_DIMENSIONS, dtype=np.float32)
    out[: len(weights)] = weights
    return out / np.linalg.norm(out)


def test_the_migration_adds_the_column_and_its_hnsw_index(store):
    assert store.vector_column
    assert isinstance(open_index(store), PgVectorIndex)
    with store.engine.connect() as connection:
        definition = connection.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_feedback_units_embedding_hnsw'")
        ).scalar()
    assert "hnsw" in definition and "halfvec_cosine_ops" in definition


@pytest.mark.parametrize("exact_up_to", [search.EXACT_UP_TO, 0])  # 0: every filter walks the HNSW graph
def test_filters_in_sql_give_the_exact_answers(store, monkeypatch, exact_up_to):
    monkeypatch.setattr(search, "EXACT_UP_TO", exact_up_to)
    keep(store, "cards-1", [vector(1)], theme_id=1, source="ticket", account="acme", day="2026-11-02")
    keep(store, "cards-2", [vector(0.9, 0.1)], theme_id=2, source="call_note", day="2026-11-20")
    keep(store, "far", [vector(0, 0, 0, 1)], theme_id=2, source="call_note", account="acme", day="2026-11-25")
    keep(store, "two", [vector(0, 1), vector(0.5, 0.5)], theme_id=3, day="2026-11-10")
    pg, exact = PgVectorIndex(store), InMemoryIndex(store)
    query = vector(1)
    cases = [
        {},
        {"theme_ids": (2,)},
        {"theme_ids": ()},
        {"source": "call_note", "account_id": "acme"},
        {"since": datetime(2026, 11, 20, tzinfo=UTC)},
        {"until": datetime(2026, 11, 20, tzinfo=UTC), "theme_ids": (1, 3)},
    ]
    for filters in cases:
        assert found(pg, query, **filters) == found(exact, query, **filters), filters
    result = pg.search(query, 2, SearchFilters())
    assert [h.item_id for h in result.hits] == ["cards-1", "cards-2"]
    assert result.hits[0].score == pytest.approx(1.0, abs=1e-3)
    assert result.searched == 5 and result.without_embedding == 0


def test_replaced_units_leave_the_index_and_vectorless_ones_are_counted(store):
    keep(store, "a", [vector(1)])
    keep(store, "a", [vector(0, 1)])  # re-ingested: the old vector is gone
    keep(store, "old", [None])
    result = PgVectorIndex(store).search(vector(1), 5, SearchFilters())
    assert [(h.item_id, h.unit_index) for h in result.hits] == [("a", 0)]
    assert result.hits[0].score == pytest.approx(0.0, abs=1e-3)
    assert (result.searched, result.without_embedding) == (1, 1)


def test_another_encoders_width_is_searched_exactly_in_memory(store):
    keep(store, "small", [np.eye(8, dtype=np.float32)[0]])
    result = PgVectorIndex(store).search(np.eye(8, dtype=np.float32)[0], 5, SearchFilters())
    assert [h.item_id for h in result.hits] == ["small"]


def test_a_store_without_pgvector_on_its_path_keeps_the_in_memory_index_until_migrated_again(
    schema_url, caplog
):
    # the schema alone on the search path: the extension's types are out of reach, so 0008 changes nothing
    without_public = schema_url.replace(quote(",public"), "")
    with caplog.at_level(logging.WARNING, logger="feedback_nlp.migrations"):
        plain = open_store(without_public)
    plain.alignment_detector = False
    assert not plain.vector_column and isinstance(open_index(plain), InMemoryIndex)
    assert "keeps the in-memory index" in caplog.text and "search_path" in caplog.text
    keep(plain, "before", [vector(1)])
    plain.close()
    # the documented way to enable it later: downgrade to 0007 and upgrade, which fills the new column
    engine = create_engine(schema_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
        command.upgrade(config, "head")
    upgraded = FeedbackStore(engine)
    assert upgraded.vector_column
    assert found(PgVectorIndex(upgraded), vector(1)) == [("before", 0)]
    upgraded.close()
