"""Adaptive batching (feedback_nlp/service/batcher.py): concurrent requests share one encoder call, each gets
its own answers, one request's failure stays its own, and the scoring timeout still answers."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from feedback_nlp.errors import ValidationError
from feedback_nlp.schemas import FeedbackRecord
from feedback_nlp.service.batcher import ScoreBatcher
from feedback_nlp.service.main import create_app
from tests.service_fakes import FakeModel, make_versions
from tests.test_service import READ, copy_version, make_settings, point_latest, ticket


class CountingModel(FakeModel):
    """The fake model, counting its calls and the items in each."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls: list[int] = []

    def score(self, records, max_units_per_item=None):
        self.calls.append(len(records))
        time.sleep(0.01)  # long enough for the other requests to queue behind the first call
        return super().score(records, max_units_per_item)


def record(item_id: str, text: str = "the CSV export times out") -> FeedbackRecord:
    return FeedbackRecord(
        id=item_id, text=text, source="ticket", created_at=datetime(2026, 11, 2, tzinfo=UTC)
    )


async def score_concurrently(batcher: ScoreBatcher, model, requests: list[list[FeedbackRecord]]):
    batcher.start()
    try:
        return await asyncio.gather(
            *(batcher.score(model, records, None) for records in requests), return_exceptions=True
        )
    finally:
        await batcher.stop()


def test_concurrent_requests_share_encoder_calls_and_get_their_own_answers(tmp_path):
    model = CountingModel(tmp_path)
    requests = [[record(f"A-{i}")] for i in range(7)] + [[record("B-1"), record("B-2")]]
    answers = asyncio.run(score_concurrently(ScoreBatcher(64, 0.05), model, requests))
    assert [[score.id for score in answer] for answer in answers] == [
        [r.id for r in records] for records in requests
    ]
    assert sum(model.calls) == 9
    assert len(model.calls) <= 2  # 8 requests, at most two encoder calls (the first may go alone)


def test_a_batch_is_never_larger_than_max_items(tmp_path):
    model = CountingModel(tmp_path)
    requests = [[record(f"A-{i}")] for i in range(10)]
    answers = asyncio.run(score_concurrently(ScoreBatcher(4, 0.05), model, requests))
    assert [answer[0].id for answer in answers] == [f"A-{i}" for i in range(10)]
    assert max(model.calls) <= 4 and sum(model.calls) == 10


def test_one_failing_request_does_not_fail_the_others(tmp_path):
    model = CountingModel(tmp_path)
    requests = [[record("OK-1")], [record("BAD", "library-rejects this")], [record("OK-2")]]
    ok_1, bad, ok_2 = asyncio.run(score_concurrently(ScoreBatcher(64, 0.05), model, requests))
    assert isinstance(bad, ValidationError)
    assert [score.id for score in ok_1] == ["OK-1"]
    assert [score.id for score in ok_2] == ["OK-2"]


def test_a_lone_request_on_an_idle_service_does_not_wait_for_company(tmp_path):
    model = CountingModel(tmp_path)
    started = time.perf_counter()
    [answer] = asyncio.run(score_concurrently(ScoreBatcher(64, 30.0), model, [[record("A-1")]]))
    assert [score.id for score in answer] == ["A-1"]
    assert time.perf_counter() - started < 10  # not the 30 s it would wait for company


class SlowModel(CountingModel):
    def score(self, records, max_units_per_item=None):
        time.sleep(0.5)  # the first batch is still being scored when the others arrive
        return super().score(records, max_units_per_item)


def test_requests_arriving_while_a_batch_is_scored_wait_for_each_other(tmp_path):
    model = SlowModel(tmp_path)
    batcher = ScoreBatcher(64, 1.0, cores=1)  # the batch being scored takes every core

    async def staggered():
        batcher.start()
        try:
            first = asyncio.ensure_future(batcher.score(model, [record("FIRST")], None))
            await asyncio.sleep(0.1)
            later = []
            for i in range(4):  # one at a time, as separate clients' requests arrive
                later.append(asyncio.ensure_future(batcher.score(model, [record(f"L-{i}")], None)))
                await asyncio.sleep(0.02)
            return await asyncio.gather(first, *later)
        finally:
            await batcher.stop()

    answers = asyncio.run(staggered())
    assert [answer[0].id for answer in answers] == ["FIRST", "L-0", "L-1", "L-2", "L-3"]
    assert model.calls == [1, 4]


def test_without_a_wait_every_request_is_scored_alone(tmp_path):
    model = CountingModel(tmp_path)
    requests = [[record(f"A-{i}")] for i in range(4)]
    asyncio.run(score_concurrently(ScoreBatcher(64, 0.0), model, requests))
    assert model.calls == [1, 1, 1, 1]


def test_batched_results_equal_results_alone(tmp_path, tiny_model_dir):
    """The tiny (hashing) model: a unit's scores do not depend on the other texts in its encoder call."""
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))
    texts = [
        "The CSV export times out on the full ledger",
        "We need single sign-on with Okta for the admin console",
        "Card payments are declined abroad",
        "Please add an API for invoices",
    ]
    app = create_app(make_settings(tmp_path, models_dir, batch_max_wait_ms=50))
    with TestClient(app) as client:
        alone = [
            client.post("/v1/score", json=ticket(f"T-{i}", text), headers=READ)
            for i, text in enumerate(texts)
        ]
        batcher = app.state.service.batcher

        def post(index: int, results: dict) -> None:
            results[index] = client.post("/v1/score", json=ticket(f"T-{index}", texts[index]), headers=READ)

        # an idle service scores the first request at once and gathers those arriving meanwhile: whether any
        # arrive in time depends on thread scheduling, so the round is repeated until two shared a call
        for _ in range(5):
            before = batcher.batches
            together: dict[int, object] = {}
            workers = [threading.Thread(target=post, args=(i, together)) for i in range(len(texts))]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            for index, response in enumerate(alone):
                assert response.status_code == 200 and together[index].status_code == 200
                assert together[index].json() == response.json()
            if batcher.batches - before < len(texts):
                break
        assert batcher.batches - before < len(texts)  # at least two requests shared an encoder call


def test_the_timeout_answers_a_batched_request_and_the_next_one_is_scored(tmp_path):
    gate = threading.Event()
    models_dir = make_versions(tmp_path / "models", "v1")
    app = create_app(
        make_settings(tmp_path, models_dir, score_timeout_seconds=0.3, batch_max_wait_ms=20),
        model_loader=lambda path: FakeModel(path, gate=gate),
    )
    with TestClient(app) as client:
        try:
            started = time.monotonic()
            response = client.post("/v1/score", json=ticket("S-1"), headers=READ)
            assert time.monotonic() - started < 5
            assert response.status_code == 503
        finally:
            gate.set()
        assert client.post("/v1/score", json=ticket("S-2"), headers=READ).status_code == 200
        assert app.state.service.store.get_item("S-1") is None


@pytest.mark.parametrize("wait_ms", [0, 5])
def test_batching_settings_are_read(tmp_path, wait_ms):
    models_dir = make_versions(tmp_path / "models", "v1")
    app = create_app(make_settings(tmp_path, models_dir, batch_max_wait_ms=wait_ms, batch_max_items=16))
    batcher = app.state.service.batcher
    assert batcher.max_items == 16 and batcher.enabled == (wait_ms > 0)


def test_a_scoring_request_takes_few_thread_hops(tmp_path, tiny_model_dir, monkeypatch):
    """Cheap dependencies (key, rate limit, model, store) run on the event loop: every hop to a worker
    thread waits for the GIL behind the encoder's Python work, and a request once took about 17."""
    import anyio.to_thread

    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))
    app = create_app(make_settings(tmp_path, models_dir, batch_max_wait_ms=0))
    hops: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func, *args, **kwargs):
        hops.append(getattr(func, "__name__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    with TestClient(app) as client:
        client.post("/v1/score", json=ticket("T-0", "Please add an API for invoices"), headers=READ)
        monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
        response = client.post(
            "/v1/score", json=ticket("T-1", "Card payments are declined abroad"), headers=READ
        )
    assert response.status_code == 200
    # the records, the scoring and the store write: each may block, the rest must not leave the loop
    assert len(hops) <= 3, hops


class ThreadRecordingModel(CountingModel):
    """The fake model, recording the OS thread of each call."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.threads: list[int] = []

    def score(self, records, max_units_per_item=None):
        self.threads.append(threading.get_ident())
        return super().score(records, max_units_per_item)


@pytest.mark.parametrize("wait_seconds", [0.0, 0.05])  # requests scored alone, and gathered into batches
def test_every_encoder_call_runs_on_the_batchers_own_scoring_thread(tmp_path, wait_seconds):
    """torch gives each OS thread that enters it its own OpenMP team: calls spread over the event loop's
    shared worker threads woke a cold team each time, so scoring stays on the batcher's thread."""
    import anyio.to_thread

    model = ThreadRecordingModel(tmp_path)

    async def rounds():
        batcher = ScoreBatcher(64, wait_seconds, max_concurrent=1)
        batcher.start()
        try:
            for round_ in range(3):
                # the shared worker threads are busy too, as the records and the store writes keep them
                busy = [anyio.to_thread.run_sync(time.sleep, 0.01) for _ in range(4)]
                requests = [batcher.score(model, [record(f"R{round_}-{i}")], None) for i in range(6)]
                await asyncio.gather(*busy, *requests)
            # too large to batch: scored alone, on the same thread
            await batcher.score(model, [record(f"BIG-{i}") for i in range(64)], None)
        finally:
            await batcher.stop()

    asyncio.run(rounds())
    assert sum(model.calls) == 3 * 6 + 64
    assert len(set(model.threads)) == 1
    assert model.threads[0] != threading.get_ident()


def test_stopping_the_batcher_stops_its_scoring_threads(tmp_path):
    model = ThreadRecordingModel(tmp_path)

    async def one_request():
        batcher = ScoreBatcher(64, 0.05, max_concurrent=2)
        batcher.start()
        try:
            await batcher.score(model, [record("A-1")], None)
        finally:
            await batcher.stop()

    asyncio.run(one_request())
    [scoring_thread] = set(model.threads)
    for _ in range(100):
        if scoring_thread not in {thread.ident for thread in threading.enumerate()}:
            break
        time.sleep(0.05)
    assert scoring_thread not in {thread.ident for thread in threading.enumerate()}


def test_the_service_runs_blas_single_threaded_and_restores_it_when_it_stops(tmp_path, tiny_model_dir):
    """OpenBLAS threads busy-wait after each small matrix product (the router, spaCy in the store's alignment
    parse): the service limits them to one, process-wide, while it runs."""
    from threadpoolctl import threadpool_info

    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))

    def blas_threads() -> dict[str, int]:
        return {lib["filepath"]: lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    before = blas_threads()
    app = create_app(make_settings(tmp_path, models_dir))
    with TestClient(app) as client:
        assert set(blas_threads().values()) == {1}
        assert client.post("/v1/score", json=ticket("T-1"), headers=READ).status_code == 200
        assert set(blas_threads().values()) == {1}  # model.score's own limit restores what it found
    after = blas_threads()
    assert {path: after[path] for path in before} == before


def test_requests_queued_behind_a_batch_go_when_it_ends_not_at_the_wait_bound(tmp_path):
    """While a batch is being scored the queue waits for it to end (no second, smaller batch beside it), and
    goes as soon as it does: the wait bound is only for a batch that is slow."""
    model = SlowModel(tmp_path)  # 0.5 s a call
    batcher = ScoreBatcher(64, 5.0, max_concurrent=2, cores=1)  # two scoring threads share one core

    async def staggered():
        batcher.start()
        try:
            first = asyncio.ensure_future(batcher.score(model, [record("FIRST")], None))
            await asyncio.sleep(0.1)
            later = []
            for i in range(4):
                later.append(asyncio.ensure_future(batcher.score(model, [record(f"L-{i}")], None)))
                await asyncio.sleep(0.05)
            started = time.perf_counter()
            answers = await asyncio.gather(first, *later)
            return answers, time.perf_counter() - started
        finally:
            await batcher.stop()

    answers, waited = asyncio.run(staggered())
    assert [answer[0].id for answer in answers] == ["FIRST", "L-0", "L-1", "L-2", "L-3"]
    assert model.calls == [1, 4]  # the free second slot did not start a batch of the first one or two
    assert waited < 3.0  # about 0.9 s: the four went when FIRST's batch ended, not at the 5 s bound


class GatedModel(CountingModel):
    """Holds the call that holds the record ``SLOW`` until ``release`` is set; other calls go through."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.release = threading.Event()

    def score(self, records, max_units_per_item=None):
        if any(r.id == "SLOW" for r in records):
            assert self.release.wait(10), "the test never released the slow call"
        return super().score(records, max_units_per_item)


def test_a_slow_batch_holds_up_the_others_no_longer_than_the_wait_bound(tmp_path):
    model = GatedModel(tmp_path)
    batcher = ScoreBatcher(64, 0.2, max_concurrent=2, cores=1)  # the slow batch takes the one core

    async def slow_and_fast():
        batcher.start()
        try:
            slow = asyncio.ensure_future(batcher.score(model, [record("SLOW")], None))
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            fast = await asyncio.wait_for(batcher.score(model, [record("FAST")], None), 5)
            waited = time.perf_counter() - started
            assert not slow.done()  # answered on the second slot while the slow one is still being scored
            model.release.set()
            return fast, await slow, waited
        finally:
            model.release.set()
            await batcher.stop()

    fast, slow, waited = asyncio.run(slow_and_fast())
    assert [fast[0].id, slow[0].id] == ["FAST", "SLOW"]
    assert 0.15 <= waited < 3.0  # it waited for the slow batch until the bound (0.2 s), then went beside it


def test_gathered_batches_are_counted_in_the_metrics(tmp_path):
    model = CountingModel(tmp_path)
    sizes: list[int] = []
    requests = [[record(f"A-{i}")] for i in range(6)]
    asyncio.run(score_concurrently(ScoreBatcher(64, 0.05, on_batch=sizes.append), model, requests))
    assert sum(sizes) == 6 and len(sizes) == len(model.calls)


class TimedModel(CountingModel):
    """Records when each call started and ended, and on which thread."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.spans: list[tuple[float, float, int]] = []

    def score(self, records, max_units_per_item=None):
        started = time.perf_counter()
        time.sleep(0.3)
        results = super().score(records, max_units_per_item)
        self.spans.append((started, time.perf_counter(), threading.get_ident()))
        return results


def overlapped(spans: list[tuple[float, float, int]]) -> bool:
    (start_a, end_a, thread_a), (start_b, end_b, thread_b) = sorted(spans)[:2]
    return start_b < end_a and thread_a != thread_b


def test_on_two_cores_a_queue_goes_beside_a_batch_once_it_holds_its_share(tmp_path):
    """Each scoring thread runs the encoder on a core of its own, so a second batch need not wait for the
    first to end; it waits only until it holds its share of the requests (4 of 8), not for each to come."""
    model = TimedModel(tmp_path)
    batcher = ScoreBatcher(64, 5.0, max_concurrent=2, cores=2)

    async def two_groups():
        batcher.start()
        try:
            first = [asyncio.ensure_future(batcher.score(model, [record(f"F-{i}")], None)) for i in range(4)]
            await asyncio.sleep(0.05)
            later = []
            for i in range(4):  # one at a time, as the clients of the first group come back
                later.append(asyncio.ensure_future(batcher.score(model, [record(f"L-{i}")], None)))
                await asyncio.sleep(0.02)
            return await asyncio.gather(*first, *later)
        finally:
            await batcher.stop()

    answers = asyncio.run(two_groups())
    assert [answer[0].id for answer in answers] == [f"F-{i}" for i in range(4)] + [f"L-{i}" for i in range(4)]
    assert model.calls == [4, 4]  # not 4, 1, 3: the free thread waited for the queue's share
    assert overlapped(model.spans)  # and went while the first batch was still being scored


def test_a_large_request_is_cut_for_every_free_scoring_thread(tmp_path):
    model = TimedModel(tmp_path)
    batcher = ScoreBatcher(64, 0.05, max_concurrent=2, cores=2)
    records = [record(f"BIG-{i}") for i in range(64)]
    [answer] = asyncio.run(score_concurrently(batcher, model, [records]))
    assert [score.id for score in answer] == [r.id for r in records]  # in order
    assert model.calls == [32, 32]
    assert overlapped(model.spans)


def test_a_small_batch_is_not_cut(tmp_path):
    model = CountingModel(tmp_path)
    batcher = ScoreBatcher(64, 0.05, max_concurrent=2, cores=2)
    asyncio.run(score_concurrently(batcher, model, [[record(f"S-{i}") for i in range(12)]]))
    assert model.calls == [12]  # two parts of 6 would each cost the encoder more per item


def test_an_item_over_the_unit_limit_in_a_cut_request_is_named_by_its_place_in_the_request(
    tmp_path, tiny_model_dir
):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))
    many = " ".join(f"We need the CSV export number {i} to stop timing out on the ledger." for i in range(6))
    items = [ticket(f"U-{i}") for i in range(24)]
    items[20] = ticket("U-20", many, source="call_note")  # in the second part of 12, at its place 8
    settings = make_settings(
        tmp_path, models_dir, max_units_per_item=3, max_batch_items=32, threads=2, batch_max_concurrent=2
    )
    app = create_app(settings)
    with TestClient(app) as client:
        response = client.post("/v1/score", json={"items": items}, headers=READ)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "items.20.text"
    assert "'U-20' splits into 6 units, over the limit of 3" in error["message"]


def test_the_scoring_threads_share_the_cores(tmp_path):
    from feedback_nlp import threads

    models_dir = make_versions(tmp_path / "models", "v1")
    before = threads.applied()
    try:
        default = create_app(make_settings(tmp_path, models_dir, threads=4)).state.service.batcher
        assert (default.max_concurrent, default.threads_per_call) == (4, 1)  # one per core, one thread each
        assert threads.applied() == 1  # what the encoder's session is made with when the model loads
        one_core = create_app(make_settings(tmp_path, models_dir, threads=1)).state.service.batcher
        assert (one_core.max_concurrent, one_core.threads_per_call) == (2, 1)  # a second for a slow batch
        settings = make_settings(tmp_path, models_dir, threads=4, batch_max_concurrent=1)
        fewer = create_app(settings).state.service.batcher
        assert (fewer.max_concurrent, fewer.threads_per_call) == (1, 4)  # one batch on all of them
        assert threads.applied() == 4
    finally:
        threads.apply(before)
