"""Adaptive batching: concurrent scoring requests gathered into one encoder call, as model servers do.

The encoder scores 64 texts in one call much faster than in 64 calls (one forward pass, one set of thread
wake-ups), and on a small machine concurrent calls only fight for the same cores. So a request of fewer than
``batch_max_items`` items is queued. On an idle service the queue is scored at once (waiting would only add to
a lone client's latency). While another batch is being scored, the requests that arrive wait for it to end and
then go together, as one batch: a second batch started beside it would share the same cores in two smaller
encoder calls (at 8 concurrent clients the batches stayed at 2 to 3 requests). The first queued request waits
at most ``batch_max_wait_ms``, so that a slow batch (a 20 KB text, a model being swapped) holds up the others
no longer than that. Everything queued (up to ``batch_max_items`` items, for the same model and unit limit) is
scored in one call of ``model.score``, and each request gets its own results back.

At most ``batch_max_concurrent`` batches are scored at once: more would only fight for the same cores,
and more than one keeps a slow request (a 20 KB text, a model being swapped) from holding up every other
one. They run on as many long-lived scoring threads, owned by the batcher (started and stopped with it,
their thread count set once in each), never on the event loop's shared worker threads, where the records,
the store writes and every other blocking call run too: torch gives each OS thread that enters it its own
OpenMP team, so encoder calls spread over the shared pool kept waking cold teams.

When a batch fails (one item over the unit limit, a bug on one text), each of its requests is scored again
on its own, so that one request's failure is never another's. A request that stops waiting (the scoring
timeout) is dropped from its batch's answers; the batch runs on to its end, its results unused.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import anyio

from feedback_nlp import threads
from feedback_nlp.schemas import FeedbackRecord, ItemScore

logger = logging.getLogger(__name__)


@dataclass
class _Request:
    model: Any
    records: Sequence[FeedbackRecord]
    max_units_per_item: int | None
    future: asyncio.Future[list[ItemScore]]
    arrived: float = field(default=0.0)


class ScoreBatcher:
    """Gathers scoring requests into batches; :meth:`start` and :meth:`stop` in the app's lifespan.

    Args:
        max_items: most items in one encoder call; a request this large or larger is scored on its own.
        max_wait_seconds: longest a request waits for others before its batch is scored (0: no batching).
        max_concurrent: most batches being scored at once, and the number of scoring threads.
        thread_count: torch and BLAS threads of each scoring thread (None: as ``threads.apply`` sizes).
        on_batch: called with the number of requests each gathered batch answers (the service's metrics).
    """

    def __init__(
        self,
        max_items: int,
        max_wait_seconds: float,
        max_concurrent: int = 2,
        thread_count: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.max_items = max_items
        self.max_wait_seconds = max_wait_seconds
        self.max_concurrent = max_concurrent
        self.thread_count = thread_count
        self.on_batch = on_batch
        self._executor: ThreadPoolExecutor | None = None
        self._queue: list[_Request] = []
        self._wakeup: asyncio.Event | None = None  # set when a request arrives and when a batch ends
        self._slots: asyncio.Semaphore | None = None
        self._runner: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self.batches = 0  # encoder calls made, and requests they answered (for tests and the benchmark)
        self.requests = 0

    @property
    def enabled(self) -> bool:
        return self.max_wait_seconds > 0 and self.max_items > 1

    def start(self) -> None:
        """Start the scoring threads, and gathering when enabled (inside the running event loop)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.max_concurrent,
                thread_name_prefix="score",
                initializer=threads.apply,
                initargs=(self.thread_count,),
            )
        if self.enabled and self._runner is None:
            self._wakeup = asyncio.Event()
            self._slots = asyncio.Semaphore(self.max_concurrent)
            self._runner = asyncio.create_task(self._run_forever(), name="score-batcher")

    async def stop(self) -> None:
        """Stop gathering; requests still queued are answered with an error."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        for task in list(self._in_flight):
            task.cancel()
        for request in self._queue:
            if not request.future.done():
                request.future.set_exception(RuntimeError("the service is stopping"))
        self._queue.clear()
        executor, self._executor = self._executor, None
        if executor is not None:
            # not waiting: an abandoned call (past the scoring timeout) finishes on its thread, as before
            executor.shutdown(wait=False, cancel_futures=True)

    async def score(
        self, model: Any, records: Sequence[FeedbackRecord], max_units_per_item: int | None
    ) -> list[ItemScore]:
        """``model.score(records, max_units_per_item=...)``, in a batch with other requests when it helps."""
        if self._runner is None or self._wakeup is None or len(records) >= self.max_items:
            return await self._score_alone(model, records, max_units_per_item)
        loop = asyncio.get_running_loop()
        request = _Request(model, records, max_units_per_item, loop.create_future(), loop.time())
        self._queue.append(request)
        self._wakeup.set()
        return await request.future

    async def _run_forever(self) -> None:
        assert self._wakeup is not None and self._slots is not None
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._slots.acquire()  # meanwhile, more requests queue up
            await self._gather()
            batch = self._take_batch()
            if not batch:
                self._slots.release()
                continue
            task = asyncio.create_task(self._score_batch(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    async def _gather(self) -> None:
        """Let the queue grow while another batch is being scored, until it ends or the wait is over.

        With nothing being scored the queue goes at once: waiting would only add to a lone client's latency,
        and requests that arrive while it is scored gather for the next batch. While another batch is being
        scored, a second one started beside it would only share the same cores with it, in two smaller (so
        dearer per item) encoder calls: the queue waits for it to end, and goes when it does, when it holds
        ``max_items``, or when its first request has waited ``max_wait_seconds``, so that one slow batch (a
        20 KB text, a model being swapped) holds up the others for no longer than that.
        """
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while self._in_flight and self._queue and self._queued_items() < self.max_items:
            remaining = self._queue[0].arrived + self.max_wait_seconds - loop.time()
            if remaining <= 0:
                return
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        assert self._slots is not None and self._wakeup is not None
        self._slots.release()
        self._wakeup.set()  # the queue waiting for this batch to end may go

    def _queued_items(self) -> int:
        return sum(len(request.records) for request in self._queue)

    def _take_batch(self) -> list[_Request]:
        """The oldest request and the next ones that share its model and unit limit, up to max_items."""
        self._queue = [request for request in self._queue if not request.future.done()]  # timed out
        if not self._queue:
            return []
        first = self._queue[0]
        batch: list[_Request] = []
        items = 0
        rest: list[_Request] = []
        for request in self._queue:
            compatible = (
                request.model is first.model and request.max_units_per_item == first.max_units_per_item
            )
            if compatible and items + len(request.records) <= self.max_items:
                batch.append(request)
                items += len(request.records)
            else:
                rest.append(request)
        self._queue = rest
        return batch

    async def _score_batch(self, batch: list[_Request]) -> None:
        self.batches += 1
        self.requests += len(batch)
        if self.on_batch is not None:
            self.on_batch(len(batch))
        first = batch[0]
        records = [record for request in batch for record in request.records]
        try:
            scores = await self._score_alone(first.model, records, first.max_units_per_item)
        except Exception as exc:
            if len(batch) == 1:
                _answer(first, exception=exc)
                return
            # whose failure it was, and what the others' answers are: each request on its own
            logger.debug("a batch of %d requests failed (%s); scoring each on its own", len(batch), exc)
            for request in batch:
                try:
                    own_scores = await self._score_alone(
                        request.model, request.records, request.max_units_per_item
                    )
                    _answer(request, own_scores)
                except Exception as own:
                    _answer(request, exception=own)
            return
        position = 0
        for request in batch:
            _answer(request, scores[position : position + len(request.records)])
            position += len(request.records)

    async def _score_alone(
        self, model: Any, records: Sequence[FeedbackRecord], max_units_per_item: int | None
    ) -> list[ItemScore]:
        work = functools.partial(_score, model, records, max_units_per_item)
        return await self.run(work)

    async def run(self, work: Callable[[], list[ItemScore]]) -> list[ItemScore]:
        """``work()`` on a scoring thread (a shared worker thread before :meth:`start`).

        A caller that stops waiting (the scoring timeout) does not wait for the thread: the call runs on to
        its end and its result is dropped.
        """
        if self._executor is None:
            return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)


def _answer(
    request: _Request, scores: list[ItemScore] | None = None, exception: BaseException | None = None
) -> None:
    if request.future.done():  # the client stopped waiting (timeout)
        return
    if exception is not None:
        request.future.set_exception(exception)
    else:
        request.future.set_result(scores or [])


def _score(model: Any, records: Sequence[FeedbackRecord], max_units_per_item: int | None) -> list[ItemScore]:
    return list(model.score(records, max_units_per_item=max_units_per_item))
