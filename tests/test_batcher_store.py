"""Group commit on the scoring thread (feedback_nlp/service/batcher.py): the results of the requests scored
in one encoder call are written in one transaction of the real SQLite store before they are answered, one
request's failure stays its own, a later version of an item is never overtaken, and a timeout answers
"nothing stored" only when nothing is."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError

from feedback_nlp.service.batcher import ScoreBatcher
from feedback_nlp.service.main import create_app
from feedback_nlp.store import FeedbackStore, open_store
from tests.service_fakes import FakeModel, make_versions
from tests.test_batcher import CountingModel, record
from tests.test_service import READ, make_settings, ticket


class CountingStore(FeedbackStore):
    """The real SQLite store, counting its transactions; refuses any transaction holding an id ``BAD-...``,
    and writes a text starting "slow" half a second late."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.transactions: list[list[str]] = []

    def upsert_scored_batch(self, pairs):
        ids = [record.id for record, _ in pairs]
        self.transactions.append(ids)
        if any(record.text.startswith("slow") for record, _ in pairs):
            time.sleep(0.5)
        if any(item_id.startswith("BAD") for item_id in ids):
            raise IntegrityError("INSERT", {}, Exception("refused by the database"))
        return super().upsert_scored_batch(pairs)


@pytest.fixture
def store(tmp_path) -> CountingStore:
    opened = open_store(f"sqlite:///{tmp_path}/store.sqlite")
    counting = CountingStore(opened.engine, alignment_detector=False)
    yield counting
    opened.close()


async def score_and_store(batcher: ScoreBatcher, model, store, requests, stagger: float = 0.0):
    """Each request's answer (its scores or its exception), sent ``stagger`` seconds apart."""
    batcher.start()
    try:
        pending = []
        for records in requests:
            pending.append(asyncio.ensure_future(batcher.score(model, records, None, store)))
            await asyncio.sleep(stagger)
        return await asyncio.gather(*pending, return_exceptions=True)
    finally:
        await batcher.stop()


def ids(answer) -> list[str]:
    return [score.id for score in answer]


def test_requests_scored_together_are_stored_together_before_they_are_answered(tmp_path, store):
    model = CountingModel(tmp_path)
    requests = [[record(f"A-{i}")] for i in range(7)] + [[record("B-1"), record("B-2")]]
    answers = asyncio.run(score_and_store(ScoreBatcher(64, 0.05), model, store, requests))
    assert [ids(answer) for answer in answers] == [[r.id for r in records] for records in requests]
    # one transaction per encoder call, and the requests of a call together
    assert len(store.transactions) == len(model.calls) < len(requests)
    assert sorted(i for ids in store.transactions for i in ids) == sorted(r.id for rs in requests for r in rs)
    for item_id in [f"A-{i}" for i in range(7)] + ["B-1", "B-2"]:
        assert store.get_item(item_id) is not None


def test_a_failing_write_does_not_lose_the_others(tmp_path, store):
    model = CountingModel(tmp_path)
    requests = [[record("OK-1")], [record("OK-2")], [record("BAD-1"), record("OK-3")], [record("OK-4")]]
    answers = asyncio.run(score_and_store(ScoreBatcher(64, 0.05), model, store, requests))
    assert [type(answer) for answer in answers] == [list, list, IntegrityError, list]
    for item_id in ("OK-1", "OK-2", "OK-4"):
        assert store.get_item(item_id) is not None
    # the failing request's items are all left out, its good one too: a request is stored whole or not at all
    assert store.get_item("BAD-1") is None and store.get_item("OK-3") is None


def test_a_request_cut_across_scoring_threads_is_still_stored_in_one_transaction(tmp_path, store):
    model = CountingModel(tmp_path)
    big = [record(f"BIG-{i}") for i in range(32)]  # cut in two parts, one per scoring thread
    [answer] = asyncio.run(score_and_store(ScoreBatcher(64, 0.05, max_concurrent=2), model, store, [big]))
    assert ids(answer) == [r.id for r in big]
    assert model.calls == [16, 16]
    assert store.transactions == [[r.id for r in big]]


def test_the_same_id_in_two_concurrent_requests_keeps_the_later_one(tmp_path, store):
    model = CountingModel(tmp_path)
    first, later = record("SAME", "the first text"), record("SAME", "the later text")
    asyncio.run(score_and_store(ScoreBatcher(64, 0.05), model, store, [[record("X")], [first], [later]]))
    assert store.get_item("SAME")["text_redacted"] == "the later text"


def test_a_later_version_scored_on_the_other_thread_waits_for_the_earlier_write(tmp_path, store):
    """Two scoring threads write at once, but never two versions of one item out of order: the earlier
    version's write is slow, the later one's batch is scored beside it and must not land first."""
    model = CountingModel(tmp_path)
    earlier, later = record("SAME", "slow: the first text"), record("SAME", "the later text")
    batcher = ScoreBatcher(64, 0.05, max_concurrent=2, cores=2)
    asyncio.run(score_and_store(batcher, model, store, [[earlier], [later]], stagger=0.05))
    assert model.calls == [1, 1]  # two batches, one on each thread
    assert store.get_item("SAME")["text_redacted"] == "the later text"


def test_other_items_are_not_held_up_by_a_slow_write(tmp_path, store):
    model = CountingModel(tmp_path)
    batcher = ScoreBatcher(64, 0.05, max_concurrent=2, cores=2)

    async def run():
        batcher.start()
        try:
            slow = asyncio.ensure_future(batcher.score(model, [record("S", "slow: export")], None, store))
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            await batcher.score(model, [record("F")], None, store)
            fast_seconds = time.perf_counter() - started
            await slow
            return fast_seconds
        finally:
            await batcher.stop()

    assert asyncio.run(run()) < 0.4  # the other thread's write of another item did not wait for the slow one
    assert store.get_item("F") is not None and store.get_item("S") is not None


def test_results_being_stored_when_the_timeout_comes_are_answered_as_stored(tmp_path, store):
    """The scoring thread took the results to store them before the timeout: the answer is the write's, so
    that a client is never told "nothing was stored" of an item that is in the store."""
    import anyio

    model = CountingModel(tmp_path)
    batcher = ScoreBatcher(64, 0.05)

    async def run():
        batcher.start()
        try:
            with anyio.fail_after(0.2):  # as score_in_time bounds it; the write takes 0.5 s
                return await batcher.score(model, [record("W", "slow: export")], None, store)
        finally:
            await batcher.stop()

    assert ids(asyncio.run(run())) == ["W"]
    assert store.get_item("W") is not None


def test_a_request_that_gave_up_before_its_results_were_taken_is_not_stored(tmp_path, store):
    import anyio

    gate = threading.Event()
    model = FakeModel(tmp_path, gate=gate)
    batcher = ScoreBatcher(64, 0.05)

    async def run():
        batcher.start()
        try:
            with anyio.fail_after(0.2):
                await batcher.score(model, [record("G")], None, store)
        finally:
            gate.set()
            await asyncio.sleep(0.2)  # the abandoned batch runs on to its end
            await batcher.stop()

    with pytest.raises(TimeoutError):
        asyncio.run(run())
    assert store.get_item("G") is None and store.transactions == []


def test_concurrent_scoring_requests_are_all_stored_by_the_scoring_threads(tmp_path):
    models_dir = make_versions(tmp_path / "models", "v1")
    app = create_app(make_settings(tmp_path, models_dir), model_loader=FakeModel)
    with TestClient(app) as client:
        batcher = app.state.service.batcher
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
        assert 1 <= batcher.transactions <= 8
        metrics = client.get("/metrics", headers=READ).text
        assert "feedback_nlp_store_write_requests_sum 8.0" in metrics


def test_later_versions_waiting_for_an_earlier_one_never_take_the_threads_it_needs(tmp_path, store):
    """Without gathering every request goes at once: a request of 32 items is scored in two parts, one per
    scoring thread, and then needs a thread again to store them. Two later versions of one of its items must
    wait for it without holding both threads (they did, and the three waited for each other for ever)."""
    model = CountingModel(tmp_path)
    big = [record(f"BIG-{i}") for i in range(31)] + [record("SAME", "the first text")]
    requests = [big, [record("SAME", "the second text")], [record("SAME", "the third text")]]

    async def run():
        return await asyncio.wait_for(
            score_and_store(ScoreBatcher(64, 0.0, max_concurrent=2, cores=2), model, store, requests), 20
        )

    answers = asyncio.run(run())
    assert [len(answer) for answer in answers] == [32, 1, 1]
    assert store.get_item("SAME")["text_redacted"] == "the third text"
