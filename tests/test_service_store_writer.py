"""Group commit (feedback_nlp/service/store_writer.py): concurrent scoring requests' results are written in
one transaction of the real SQLite store, and one request's failure stays its own."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError

from feedback_nlp.schemas import FeedbackRecord, ItemScore, UnitScore
from feedback_nlp.service.main import create_app
from feedback_nlp.service.store_writer import StoreWriter
from feedback_nlp.store import FeedbackStore, open_store
from tests.service_fakes import FakeModel, make_versions
from tests.test_service import READ, make_settings, ticket


def scored(item_id: str, text: str = "the CSV export times out") -> tuple[FeedbackRecord, ItemScore]:
    created = datetime(2026, 11, 2, tzinfo=UTC)
    record = FeedbackRecord(id=item_id, text=text, source="ticket", created_at=created)
    unit = UnitScore(
        0, 0, len(text), text, 0, "export", 0.9, None, "data@example.com", "owner", {"reason": "test"}
    )
    return record, ItemScore(item_id, "ticket", "v1", [unit])


class CountingStore(FeedbackStore):
    """The real SQLite store, counting its transactions; refuses any transaction holding an id ``BAD-...``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.transactions: list[list[str]] = []

    def upsert_scored_batch(self, pairs):
        ids = [record.id for record, _ in pairs]
        self.transactions.append(ids)
        if any(item_id.startswith("BAD") for item_id in ids):
            raise IntegrityError("INSERT", {}, Exception("refused by the database"))
        return super().upsert_scored_batch(pairs)


@pytest.fixture
def store(tmp_path) -> CountingStore:
    opened = open_store(f"sqlite:///{tmp_path}/store.sqlite")
    counting = CountingStore(opened.engine, alignment_detector=False)
    yield counting
    opened.close()


async def write_concurrently(writer: StoreWriter, store, requests):
    writer.start()
    try:
        writes = (writer.write(store, pairs) for pairs in requests)
        return await asyncio.gather(*writes, return_exceptions=True)
    finally:
        await writer.stop()


def test_concurrent_writes_go_in_one_transaction(store):
    requests = [[scored(f"A-{i}")] for i in range(7)] + [[scored("B-1"), scored("B-2")]]
    answers = asyncio.run(write_concurrently(StoreWriter(), store, requests))
    assert answers == [None] * 8
    # the first goes at once on an idle writer; the others queue meanwhile and go together
    assert len(store.transactions) <= 2
    assert sorted(i for ids in store.transactions for i in ids) == sorted(
        [f"A-{i}" for i in range(7)] + ["B-1", "B-2"]
    )
    for item_id in [f"A-{i}" for i in range(7)] + ["B-1", "B-2"]:
        assert store.get_item(item_id) is not None


def test_a_failing_write_does_not_lose_the_others(store):
    requests = [[scored("OK-1")], [scored("OK-2")], [scored("BAD-1"), scored("OK-3")], [scored("OK-4")]]
    answers = asyncio.run(write_concurrently(StoreWriter(), store, requests))
    assert [type(answer) for answer in answers] == [type(None), type(None), IntegrityError, type(None)]
    for item_id in ("OK-1", "OK-2", "OK-4"):
        assert store.get_item(item_id) is not None
    # the failing request's items are all left out, its good one too: a request is stored whole or not at all
    assert store.get_item("BAD-1") is None and store.get_item("OK-3") is None


def test_a_transaction_is_never_larger_than_max_items_but_a_request_is_never_split(store):
    requests = [[scored(f"A-{i}")] for i in range(5)] + [[scored(f"B-{i}") for i in range(4)]]
    asyncio.run(write_concurrently(StoreWriter(max_items=3), store, requests))
    assert max(len(ids) for ids in store.transactions if not ids[0].startswith("B")) <= 3
    assert ["B-0", "B-1", "B-2", "B-3"] in store.transactions  # over max_items alone: written whole


def test_the_same_id_in_two_concurrent_requests_keeps_the_later_one(store):
    first, later = scored("SAME", "the first text"), scored("SAME", "the later text")
    asyncio.run(write_concurrently(StoreWriter(), store, [[scored("X")], [first], [later]]))
    assert store.get_item("SAME")["text_redacted"] == "the later text"


def test_concurrent_scoring_requests_are_all_stored_through_the_writer(tmp_path):
    models_dir = make_versions(tmp_path / "models", "v1")
    app = create_app(make_settings(tmp_path, models_dir), model_loader=FakeModel)
    with TestClient(app) as client:
        writer = app.state.service.store_writer
        results: dict[int, object] = {}

        def post(index: int) -> None:
            results[index] = client.post("/v1/score", json=ticket(f"T-{index}"), headers=READ)

        workers = [threading.Thread(target=post, args=(i,)) for i in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert all(results[i].status_code == 200 for i in range(8))
        assert all(app.state.service.store.get_item(f"T-{i}") is not None for i in range(8))
        assert 1 <= writer.transactions <= 8
        metrics = client.get("/metrics", headers=READ).text
        assert "feedback_nlp_store_write_requests_sum 8.0" in metrics
