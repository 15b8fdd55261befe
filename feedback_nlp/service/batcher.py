"""Adaptive batching: concurrent scoring requests gathered into encoder calls, as model servers do.

The encoder scores 64 texts in one call much faster than in 64 calls (one forward pass, one set of thread
wake-ups). So a request of fewer than ``batch_max_items`` items is queued, and everything queued (up to
``batch_max_items`` items, for the same model and unit limit) is scored in one call of ``model.score``; each
request gets its own results back.

The scoring threads share the cores as model servers' CPU instances do: ``max_concurrent`` long-lived threads
(owned by the batcher, started and stopped with it), each running the encoder on ``cores // max_concurrent``
threads of its own, by default one thread on each core. On 2 cores two batches of 4 short tickets scored side
by side, one core each, did 137 to 151 items/s against 106 to 111 for one batch at a time on both cores: the
encoder's own threads wait for each other after every small operator, and preparation and routing use one
core while the other idles (benchmarks/README.md, issue 20). A batch of 16 or more items is cut into as many
parts as there are free scoring threads, so a lone request of 64 still uses every core.

On an idle service the queue is scored at once (waiting would only add to a lone client's latency). While
every core is busy the requests that arrive wait for a scoring thread to end and then go together, as one
batch; the first queued request waits at most ``batch_max_wait_ms``, so that a slow batch (a 20 KB text, a
model being swapped) holds up the others no longer than that, and then goes beside it (more scoring threads
than cores, when set so, share them).

The scoring threads are the batcher's own, never the event loop's shared worker threads, where the records,
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
from feedback_nlp.errors import WorkBudgetError
from feedback_nlp.schemas import FeedbackRecord, ItemScore

logger = logging.getLogger(__name__)


# A call of fewer short texts than this costs the encoder markedly more per item (its fixed cost per call:
# model.score took 11.7 ms of CPU per short ticket in calls of 4, 10.5 in calls of 8, 8.6 in calls of 64;
# benchmarks/README.md), so a batch is cut for more scoring threads only where each part keeps this many.
MIN_ITEMS_PER_PART = 8


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
        max_items: most items gathered into one batch; a request this large or larger is a batch of its own.
        max_wait_seconds: longest a request waits for a busy service before its batch is scored (0: no
            gathering, every request is scored on its own).
        max_concurrent: the number of scoring threads: most batches (or parts of one) scored at once.
        cores: the cores the scoring threads share (None: ``threads.thread_count()``, the usable cores or
            ``FEEDBACK_NLP_THREADS``).
        thread_count: encoder and BLAS threads of each scoring thread (None: ``cores // max_concurrent``, at
            least 1).
        on_batch: called with the number of requests each gathered batch answers (the service's metrics).
    """

    def __init__(
        self,
        max_items: int,
        max_wait_seconds: float,
        max_concurrent: int = 2,
        cores: int | None = None,
        thread_count: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.max_items = max_items
        self.max_wait_seconds = max_wait_seconds
        self.max_concurrent = max_concurrent
        self.cores = cores
        self.thread_count = thread_count
        self.on_batch = on_batch
        self._executor: ThreadPoolExecutor | None = None
        self._queue: list[_Request] = []
        self._wakeup: asyncio.Event | None = None  # set when a request arrives and when a batch ends
        self._busy = 0  # scoring threads taken by the batches being scored
        self._scoring_requests = 0  # requests in the batches being scored
        self._runner: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self.batches = 0  # encoder calls made, and requests they answered (for tests and the benchmark)
        self.requests = 0

    @property
    def enabled(self) -> bool:
        return self.max_wait_seconds > 0 and self.max_items > 1

    @property
    def core_count(self) -> int:
        """The cores the scoring threads share."""
        return self.cores if self.cores is not None else threads.thread_count()

    @property
    def threads_per_call(self) -> int:
        """Encoder threads of each scoring thread."""
        if self.thread_count is not None:
            return self.thread_count
        return max(1, self.core_count // self.max_concurrent)

    def start(self) -> None:
        """Start the scoring threads, and gathering when enabled (inside the running event loop)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.max_concurrent,
                thread_name_prefix="score",
                initializer=threads.apply,
                initargs=(self.threads_per_call,),
            )
        if self.enabled and self._runner is None:
            self._wakeup = asyncio.Event()
            self._busy = self._scoring_requests = 0
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
        if self._runner is None or self._wakeup is None:
            return await self._score_parts(model, records, max_units_per_item, self._parts(len(records)))
        loop = asyncio.get_running_loop()
        request = _Request(model, records, max_units_per_item, loop.create_future(), loop.time())
        self._queue.append(request)
        self._wakeup.set()
        return await request.future

    async def _run_forever(self) -> None:
        assert self._wakeup is not None
        while True:
            while not self._queue or self._busy >= self.max_concurrent:
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._gather()  # meanwhile, more requests queue up
            batch = self._take_batch()
            if not batch:
                continue
            items = sum(len(request.records) for request in batch)
            parts = self._parts(items, free=self.max_concurrent - self._busy)
            self._busy += parts
            self._scoring_requests += len(batch)
            task = asyncio.create_task(self._score_batch(batch, parts))
            self._in_flight.add(task)
            task.add_done_callback(functools.partial(self._finished, parts=parts, requests=len(batch)))

    async def _gather(self) -> None:
        """Let the queue grow while the service is busy, until it is worth going or the wait is over.

        With nothing being scored the queue goes at once: waiting would only add to a lone client's latency,
        and requests that arrive while it is scored gather for the next batch. While the batches being
        scored use every core, another started beside them would only share those cores, in smaller (so
        dearer per item) encoder calls: the queue waits for one to end. With a core free beside a batch, the
        queue goes once it holds its share of the requests being served (those scored and those queued,
        shared among the scoring threads): a free thread that took each request as it came scored batches of
        2 at 8 concurrent clients, each dearer per item than the 4 that a fair share gives. The queue also
        goes when it holds ``max_items``, or when its first request has waited ``max_wait_seconds``, so
        that one slow batch (a 20 KB text, a model being swapped) holds up the others for no longer than that.
        """
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while self._queue and self._worth_waiting():
            remaining = self._queue[0].arrived + self.max_wait_seconds - loop.time()
            if remaining <= 0:
                return
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)

    def _worth_waiting(self) -> bool:
        if not self._in_flight or self._queued_items() >= self.max_items:
            return False
        if self._busy * self.threads_per_call >= self.core_count:  # every core taken
            return True
        served = self._scoring_requests + len(self._queue)
        return len(self._queue) * self.max_concurrent < served  # less than its share of the requests

    def _parts(self, items: int, free: int | None = None) -> int:
        """How many scoring threads a batch of ``items`` items is cut for: as many as are free, each part
        at least ``MIN_ITEMS_PER_PART`` items."""
        free = self.max_concurrent if free is None else free
        return max(1, min(free, items // MIN_ITEMS_PER_PART))

    def _finished(self, task: asyncio.Task[None], parts: int, requests: int) -> None:
        self._in_flight.discard(task)
        assert self._wakeup is not None
        self._busy -= parts
        self._scoring_requests -= requests
        self._wakeup.set()  # the queue waiting for this batch to end may go

    def _queued_items(self) -> int:
        return sum(len(request.records) for request in self._queue)

    def _take_batch(self) -> list[_Request]:
        """The oldest request (whatever its size) and the next ones that share its model and unit limit, up
        to max_items in all."""
        self._queue = [request for request in self._queue if not request.future.done()]  # timed out
        if not self._queue:
            return []
        first = self._queue[0]
        batch: list[_Request] = [first]
        items = len(first.records)
        rest: list[_Request] = []
        for request in self._queue[1:]:
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

    async def _score_batch(self, batch: list[_Request], parts: int) -> None:
        self.batches += 1
        self.requests += len(batch)
        if self.on_batch is not None:
            self.on_batch(len(batch))
        first = batch[0]
        records = [record for request in batch for record in request.records]
        try:
            scores = await self._score_parts(first.model, records, first.max_units_per_item, parts)
        except Exception as exc:
            if len(batch) == 1:
                _answer(first, exception=exc)
                return
            # whose failure it was, and what the others' answers are: each request on its own
            logger.debug("a batch of %d requests failed (%s); scoring each on its own", len(batch), exc)
            for request in batch:
                try:
                    own_scores = await self._score_parts(
                        request.model, request.records, request.max_units_per_item, 1
                    )
                    _answer(request, own_scores)
                except Exception as own:
                    _answer(request, exception=own)
            return
        position = 0
        for request in batch:
            _answer(request, scores[position : position + len(request.records)])
            position += len(request.records)

    async def _score_parts(
        self, model: Any, records: Sequence[FeedbackRecord], max_units_per_item: int | None, parts: int
    ) -> list[ItemScore]:
        """``model.score`` of ``records`` cut into ``parts`` consecutive parts, each on a scoring thread of
        its own; the results in order. A failure is the first failing part's, with an item's position
        counted in all the records (as one call would give it)."""
        size = -(-len(records) // max(1, parts))
        starts = range(0, len(records), size) if records else range(0)
        if len(starts) <= 1:
            return await self.run(functools.partial(_score, model, records, max_units_per_item))
        results = await asyncio.gather(
            *(
                self.run(functools.partial(_score, model, records[start : start + size], max_units_per_item))
                for start in starts
            ),
            return_exceptions=True,
        )
        scores: list[ItemScore] = []
        for start, result in zip(starts, results, strict=True):
            if isinstance(result, WorkBudgetError):
                raise WorkBudgetError(start + result.index, result.field, result.message) from result
            if isinstance(result, BaseException):
                raise result
            scores.extend(result)
        return scores

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
