"""Search by meaning (feedback_nlp/search.py, GET /v1/search, the workbench's search page): vectors kept
with the units, the in-memory index and its filters, one path through the real encoder."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from test_service import READ, READ_KEY, copy_version, make_settings, point_latest
from test_workbench import sign_in

from feedback_nlp.corrections import Correction
from feedback_nlp.schemas import FeedbackRecord, ItemScore, UnitScore
from feedback_nlp.search import InMemoryIndex, SearchFilters, decode_vectors, open_index, top_k
from feedback_nlp.service.main import create_app
from feedback_nlp.store import open_store
from feedback_nlp.store_schema import feedback_units


@pytest.fixture
def store(tmp_path):
    opened = open_store(f"sqlite:///{tmp_path}/search.sqlite")
    opened.alignment_detector = False  # not what these tests are about
    yield opened
    opened.close()


def axis(n: int, dim: int = 8) -> np.ndarray:
    vector = np.zeros(dim, dtype=np.float32)
    vector[n] = 1.0
    return vector


def keep(store, item_id, vectors, theme_id=1, source="ticket", account=None, day="2026-11-02", text=None):
    """Store one item whose units have these vectors (None: a unit stored before vectors were kept)."""
    record = FeedbackRecord(
        id=item_id,
        text=f"text of {item_id}",
        source=source,
        created_at=datetime.fromisoformat(day).replace(tzinfo=UTC),
        account_id=account,
    )
    units = [
        UnitScore(
            n,
            0,
            1,
            f"{item_id} unit {n}",
            theme_id,
            f"theme {theme_id}",
            0.9,
            None,
            "o",
            "owner",
            {},
            vector=vector,
        )  # fmt: skip
        for n, vector in enumerate(vectors)
    ]
    store.upsert_scored(record, ItemScore(item_id, source, "v1", units))


def found(index, query, k=10, **filters):
    return [(hit.item_id, hit.unit_index) for hit in index.search(query, k, SearchFilters(**filters)).hits]


def test_top_k_is_the_exact_cosine_order_over_the_allowed_rows():
    vectors = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0]], dtype=np.float32)
    query = np.array([1, 0], dtype=np.float32)
    assert [row for row, _ in top_k(vectors, query, 3, None)] == [0, 1, 2]
    allowed = np.array([False, True, True, True])
    assert top_k(vectors, query, 2, allowed) == [(1, pytest.approx(0.8)), (2, pytest.approx(0.0))]
    assert top_k(vectors, query, 10, np.zeros(4, bool)) == []


def test_stored_units_keep_their_vector_as_float16(store, tiny_model):
    [score] = tiny_model.score([{"id": "a", "text": "The CSV export times out", "source": "ticket"}])
    store.upsert_scored_batch(
        [(FeedbackRecord("a", "The CSV export times out", "ticket", datetime.now(UTC)), score)]
    )
    with store.engine.connect() as connection:
        blobs = connection.execute(select(feedback_units.c.embedding)).scalars().all()
    assert len(blobs) == len(score.units) and all(blobs)
    stored = decode_vectors(blobs)
    expected = np.stack([unit.vector for unit in score.units])
    np.testing.assert_allclose(stored, expected, atol=1e-3)  # float16 keeps about 3 decimals
    assert "vector" not in score.to_dict()["units"][0]  # never part of the API's answer


def test_filters_restrict_before_ranking(store):
    keep(store, "cards-1", [axis(0)], theme_id=1, source="ticket", account="acme", day="2026-11-02")
    keep(store, "cards-2", [axis(0) * 0.9 + axis(1) * 0.1], theme_id=2, source="call_note", day="2026-11-20")
    keep(store, "far", [axis(3)], theme_id=2, source="call_note", account="acme", day="2026-11-25")
    index = InMemoryIndex(store)
    query = axis(0)
    assert found(index, query, k=1) == [("cards-1", 0)]
    # the best match is filtered out: the next allowed one is found, however far down the ranking
    assert found(index, query, k=1, theme_ids=(2,)) == [("cards-2", 0)]
    assert found(index, query, source="call_note", account_id="acme") == [("far", 0)]
    november_20 = datetime(2026, 11, 20, tzinfo=UTC)
    assert found(index, query, since=november_20) == [("cards-2", 0), ("far", 0)]
    assert found(index, query, until=november_20) == [("cards-1", 0)]
    assert found(index, query, theme_ids=()) == []


def test_the_index_follows_writes_replacements_and_corrections(store):
    index = InMemoryIndex(store, check_every=0)
    keep(store, "a", [axis(0)])
    assert found(index, axis(0)) == [("a", 0)]
    keep(store, "b", [axis(1), axis(2)])
    assert found(index, axis(2), k=1) == [("b", 1)]
    # re-ingesting an item replaces its units: the old vectors are gone, nothing is counted twice
    keep(store, "b", [axis(3)])
    assert sorted(found(index, axis(2))) == [("a", 0), ("b", 0)]
    assert found(index, axis(3), k=1) == [("b", 0)]
    # a correction re-routes a unit in place: the theme filter follows it
    store.add_correction(
        Correction(item_id="a", unit_index=0, kind="theme", theme_id=7, actor="t"), {"theme_id": 7}
    )
    assert found(index, axis(0), theme_ids=(7,)) == [("a", 0)]


def test_a_burst_of_searches_shares_one_check_of_the_store(store):
    index = InMemoryIndex(store, check_every=3600)
    keep(store, "a", [axis(0)])
    assert found(index, axis(1)) == [("a", 0)]
    keep(store, "b", [axis(1)])
    assert found(index, axis(1)) == [("a", 0)]  # within the interval: not asked again
    index.refresh()
    assert found(index, axis(1), k=1) == [("b", 0)]


def test_units_stored_without_a_vector_are_counted_not_crashed_on(store):
    keep(store, "old", [None])
    index = InMemoryIndex(store, check_every=0)
    result = index.search(axis(0), 5, SearchFilters())
    assert result.hits == () and result.searched == 0 and result.without_embedding == 1
    keep(store, "new", [axis(0)])
    result = index.search(axis(0), 5, SearchFilters())
    assert [hit.item_id for hit in result.hits] == ["new"] and result.without_embedding == 1
    # a unit's vector cleared behind the index's back (as before migration 0007) on the next rebuild
    with store.engine.begin() as connection:
        connection.execute(update(feedback_units).values(embedding=None))
    assert InMemoryIndex(store).search(axis(0), 5, SearchFilters()).without_embedding == 2


def test_sqlite_has_no_vector_column_and_keeps_the_in_memory_index(store):
    # migration 0008 changes nothing outside PostgreSQL with pgvector (tests/test_search_pgvector.py)
    assert not store.vector_column and isinstance(open_index(store), InMemoryIndex)
    with store.engine.connect() as connection:
        columns = [row[1] for row in connection.exec_driver_sql("PRAGMA table_info(feedback_units)")]
    assert "embedding" in columns and "embedding_vector" not in columns


def test_vectors_from_another_encoder_are_reported_not_compared(store):
    keep(store, "a", [axis(0, dim=8)])
    result = InMemoryIndex(store).search(axis(0, dim=16), 5, SearchFilters())
    assert result.hits == () and result.searched == 0 and result.without_embedding == 1


@pytest.mark.slow
def test_a_meaning_query_finds_what_words_miss_with_the_real_encoder(store):
    from feedback_nlp.embedding import SentenceTransformerEmbedder

    encoder = SentenceTransformerEmbedder()
    texts = {
        "netsuite": "The accounting sync with NetSuite fails every night",
        "password": "I cannot reset my password, the email never arrives",
        "dark": "Please add a dark mode to the mobile app",
        "invoice": "The invoice PDF shows the wrong currency symbol",
    }
    for (item_id, text), vector in zip(texts.items(), encoder.embed(list(texts.values()))):
        keep(store, item_id, [vector], text=text)
    query = "customers who can't export to NetSuite"
    assert store.find_units(words=query) == [] and len(store.find_units(words="NetSuite")) == 1
    [query_vector] = encoder.embed([query])
    assert found(InMemoryIndex(store), query_vector, k=1) == [("netsuite", 0)]


@pytest.fixture
def service(tmp_path, tiny_model_dir):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))
    with TestClient(create_app(make_settings(tmp_path, models_dir)), follow_redirects=False) as client:
        yield client


TICKETS = [
    {"id": "t1", "text": "The CSV export times out on the full ledger", "source": "ticket"},
    {"id": "t2", "text": "Exporting the ledger to CSV never finishes", "source": "ticket"},
    {"id": "t3", "text": "I was charged twice for my subscription", "source": "call_note"},
]


def test_the_api_searches_by_meaning_and_by_words(service, tiny_model):
    assert service.post("/v1/score?store=true", json={"items": TICKETS}, headers=READ).status_code == 200
    answer = service.get("/v1/search", params={"q": "ledger export to CSV is slow"}, headers=READ)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["mode"] == "meaning" and body["searched"] == 3 and body["without_embedding"] == 0
    assert {u["item_id"] for u in body["units"][:2]} == {"t1", "t2"}
    scores = [u["score"] for u in body["units"]]
    assert scores == sorted(scores, reverse=True)
    first = body["units"][0]
    assert first["text"] and first["theme_name"] == tiny_model.theme(first["theme_id"])["name"]
    only_calls = service.get("/v1/search", params={"q": "ledger export", "source": "call_note"}, headers=READ)
    assert [u["item_id"] for u in only_calls.json()["units"]] == ["t3"]
    words = service.get("/v1/search", params={"q": "charged twice", "mode": "words"}, headers=READ).json()
    assert [(u["item_id"], u["score"]) for u in words["units"]] == [("t3", None)]


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x", "mode": "vibes"},
        {"q": ""},
        {},
        {"q": "x", "limit": 0},
        {"q": "x", "since": "yesterday"},
        {"q": "x", "area": -1},
    ],
)
def test_bad_search_parameters_are_a_422_problem(service, params):
    answer = service.get("/v1/search", params=params, headers=READ)
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["field"].startswith("query.")


def test_the_workbench_searches_by_meaning_by_default_with_an_area_filter(service, tiny_model):
    assert service.post("/v1/score?store=true", json={"items": TICKETS}, headers=READ).status_code == 200
    sign_in(service, READ_KEY)
    page = service.get("/ui/search", params={"q": "ledger export to CSV is slow"}).text
    assert 'value="meaning" checked' in page and "3 results" in page and "Match" in page
    area = next(t["area_id"] for t in tiny_model.themes_ if t.get("area_id") is not None)
    in_area = {int(t["id"]) for t in tiny_model.themes_ if t.get("area_id") == area}
    filtered = service.get("/ui/search", params={"q": "ledger", "area": str(area)}).text
    shown = {int(t) for t in re.findall(r'href="/ui/themes/(\d+)"', filtered)}
    assert shown <= in_area
    assert 'id="area"' in filtered
    for bad in ("cards", "-1", str(2**70)):
        assert "not one of the ids" in service.get("/ui/search", params={"q": "x", "area": bad}).text
