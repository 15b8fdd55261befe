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

A request given a store has its results written there by the scoring thread that scored them, before it is
answered: the batch's requests in one transaction (group commit), each request whole or not at all. Handing
the results back to the event loop to queue them for a writer thread, and the answer back again, cost the
closed loop of concurrent clients two thread hand-offs per batch while its scoring thread idled (at 8 clients
writing here served a few percent more items a second, within the box's spread; CHANGELOG.md, issue 20).
When the gathered transaction fails, each request is written again on its own, so that a row the database
refuses fails only its own request. Transactions of the two scoring threads may run at once (the database
serialises what must be); only a batch holding an id that an earlier batch still has to store waits for
that one to end before it is scored, so that a later version of an item never lands under an earlier one.

When a batch fails (one item over the unit limit, a bug on one text), each of its requests is scored again
on its own, so that one request's failure is never another's. A request that stops waiting (the scoring
timeout) before its results are taken for storing is dropped from its batch: nothing of it is stored, the
batch runs on to its end. Once its results are being stored, its answer is that write's, timeout or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio

from feedback_nlp import threads
from feedback_nlp.errors import WorkBudgetError
from feedback_nlp.schemas import FeedbackRecord, ItemScore
from feedback_nlp.store import FeedbackStore

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
# a request's answer: its scores, or what failed it
_Outcome = list[ItemScore] | BaseException


# A call of fewer short texts than this costs the encoder markedly more per item (its fixed cost per call:
# model.score took 11.7 ms of CPU per short ticket in calls of 4, 10.5 in calls of 8, 8.6 in calls of 64;
# benchmarks/README.md), so a batch is cut for more scoring threads only where each part keeps this many.
MIN_ITEMS_PER_PART = 8


class _Claim:
    """Who settles a request first: the scoring thread, taking its results to store them, or the request
    itself, giving up waiting (the scoring timeout). Whichever comes second finds it settled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken = False
        self.abandoned = False

    def take(self) -> bool:
        """On the scoring thread: the results will be stored (False: the request gave up first)."""
        with self._lock:
            self._taken = not self.abandoned
            return self._taken

    def abandon(self) -> bool:
        """On the event loop: nothing of the request will be stored (False: its results are being stored)."""
        with self._lock:
            self.abandoned = not self._taken
            return self.abandoned


@dataclass
class _Request:
    model: Any
    records: Sequence[FeedbackRecord]
    max_units_per_item: int | None
    future: asyncio.Future[list[ItemScore]]
    arrived: float = field(default=0.0)
    store: FeedbackStore | None = None
    claim: _Claim = field(default_factory=_Claim)


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
        on_write: called with the number of requests each store transaction wrote (the service's metrics).
    """

    def __init__(
        self,
        max_items: int,
        max_wait_seconds: float,
        max_concurrent: int = 2,
        cores: int | None = None,
        thread_count: int | None = None,
        on_batch: Callable[[int], None] | None = None,
        on_write: Callable[[int], None] | None = None,
    ) -> None:
        self.max_items = max_items
        self.max_wait_seconds = max_wait_seconds
        self.max_concurrent = max_concurrent
        self.cores = cores
        self.thread_count = thread_count
        self.on_batch = on_batch
        self.on_write = on_write
        self._executor: ThreadPoolExecutor | None = None
        self._queue: list[_Request] = []
        self._wakeup: asyncio.Event | None = None  # set when a request arrives and when a batch ends
        self._busy = 0  # scoring threads taken by the batches being scored
        self._scoring_requests = 0  # requests in the batches being scored
        self._runner: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self.batches = 0  # encoder calls made, and requests they answered (for tests and the benchmark)
        self.requests = 0
        self.transactions = 0  # store transactions written (for tests)
        self._transactions_lock = threading.Lock()
        # the item ids of the batches still to be stored, oldest first, each with the future its end sets: a
        # later batch holding one of them waits, on the event loop, before it takes a scoring thread
        self._unwritten: list[tuple[frozenset[str], asyncio.Future[None]]] = []

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
        self,
        model: Any,
        records: Sequence[FeedbackRecord],
        max_units_per_item: int | None,
        store: FeedbackStore | None = None,
    ) -> list[ItemScore]:
        """``model.score(records, max_units_per_item=...)``, in a batch with other requests when it helps;
        with ``store``, the results are stored (``upsert_scored_batch``) before they are returned.

        Raises:
            whatever scoring raised for this request's own items, or the store for their write
            (``SQLAlchemyError``: nothing of the request was stored).
        """
        loop = asyncio.get_running_loop()
        request = _Request(model, records, max_units_per_item, loop.create_future(), loop.time(), store)
        if self._runner is None or self._wakeup is None:
            task = asyncio.create_task(self._score_batch([request], self._parts(len(records))))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        else:
            self._queue.append(request)
            self._wakeup.set()
        try:
            return await asyncio.shield(request.future)
        except asyncio.CancelledError:
            if request.claim.abandon():  # nothing of it will be stored; its batch's answer is dropped
                request.future.cancel()
                raise
            # its results are being stored: the answer is that write's (a few milliseconds away)
            with anyio.CancelScope(shield=True):
                scores = await request.future
            return scores

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
        """The oldest request (whatever its size) and the next ones that share its model, unit limit and
        store, up to max_items in all."""
        self._queue = [request for request in self._queue if not request.claim.abandoned]  # timed out
        if not self._queue:
            return []
        first = self._queue[0]
        batch: list[_Request] = [first]
        items = len(first.records)
        rest: list[_Request] = []
        for request in self._queue[1:]:
            compatible = (
                request.model is first.model
                and request.max_units_per_item == first.max_units_per_item
                and request.store is first.store
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
        try:
            try:
                outcomes = await self._score_and_store(batch, parts)
            except Exception as exc:
                if len(batch) == 1:
                    _answer(batch[0], exc)
                    return
                # whose failure it was, and what the others' answers are: each request on its own
                logger.debug("a batch of %d requests failed (%s); scoring each on its own", len(batch), exc)
                outcomes = []
                for request in batch:
                    try:
                        outcomes += await self._score_and_store([request], 1)
                    except Exception as own:
                        outcomes.append(own)
            for request, outcome in zip(batch, outcomes, strict=True):
                _answer(request, outcome)
        except asyncio.CancelledError:  # the service is stopping
            for request in batch:
                _answer(request, RuntimeError("the service is stopping"))
            raise

    async def _score_and_store(self, batch: list[_Request], parts: int) -> list[_Outcome]:
        """Each request's scores, or the exception its write raised. A batch on one scoring thread is
        scored and stored in one go there; one cut into parts is stored once every part is scored, so that
        a request's items always go in one transaction. Raises what scoring raised.

        A batch holding an item that an earlier batch still has to store waits for that batch to end before
        it takes a thread, so that a later version never lands first. It waits here, on the event loop, not
        on a scoring thread: the earlier batch may still need one (to store the parts it scored)."""
        first = batch[0]
        records = [record for request in batch for record in request.records]
        earlier, done = self._hold(batch)
        try:
            if earlier:
                await asyncio.gather(*earlier)
            if parts <= 1:
                return await self.run(functools.partial(self._score_and_store_here, batch, records))
            scores = await self._score_parts(first.model, records, first.max_units_per_item, parts)
            return await self.run(functools.partial(self._store, batch, scores))
        finally:
            self._release(done)

    def _score_and_store_here(self, batch: list[_Request], records: list[FeedbackRecord]) -> list[_Outcome]:
        first = batch[0]
        return self._store(batch, _score(first.model, records, first.max_units_per_item))

    def _store(self, batch: list[_Request], scores: list[ItemScore]) -> list[_Outcome]:
        """On a scoring thread: the batch's results, each request's in order, written to its store when it
        has one; the requests that gave up waiting are left out (nothing of them is stored)."""
        slices: list[list[ItemScore]] = []
        position = 0
        for request in batch:
            slices.append(scores[position : position + len(request.records)])
            position += len(request.records)
        outcomes: list[_Outcome] = list(slices)
        store = batch[0].store
        taken = [index for index, request in enumerate(batch) if store is not None and request.claim.take()]
        if store is None or not taken:
            return outcomes

        def pairs(index: int) -> list[tuple[FeedbackRecord, ItemScore]]:
            return list(zip(batch[index].records, slices[index], strict=True))

        try:
            self._write(store, [pair for index in taken for pair in pairs(index)], len(taken))
        except Exception as exc:
            if len(taken) == 1:
                outcomes[taken[0]] = exc
                return outcomes
            # whose failure it was: each request's items on their own, so that the others are kept
            logger.debug("a transaction of %d requests failed (%s); each on its own", len(taken), exc)
            for index in taken:
                try:
                    self._write(store, pairs(index), 1)
                except Exception as own:
                    outcomes[index] = own
        return outcomes

    def _write(
        self, store: FeedbackStore, pairs: list[tuple[FeedbackRecord, ItemScore]], requests: int
    ) -> None:
        with self._transactions_lock:
            self.transactions += 1
        if self.on_write is not None:
            self.on_write(requests)
        store.upsert_scored_batch(pairs)

    def _hold(self, batch: list[_Request]) -> tuple[list[asyncio.Future[None]], asyncio.Future[None] | None]:
        """On the event loop, in the order batches are formed: the ends of the earlier batches still to be
        stored that hold one of this batch's items, and this batch's own end (None: nothing to store)."""
        if batch[0].store is None:
            return [], None
        ids = frozenset(record.id for request in batch for record in request.records)
        earlier = [done for other, done in self._unwritten if not other.isdisjoint(ids)]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._unwritten.append((ids, done))
        return earlier, done

    def _release(self, done: asyncio.Future[None] | None) -> None:
        if done is None:
            return
        self._unwritten = [entry for entry in self._unwritten if entry[1] is not done]
        done.set_result(None)

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

    async def run(self, work: Callable[[], _T]) -> _T:
        """``work()`` on a scoring thread (a shared worker thread before :meth:`start`).

        A caller that stops waiting (the scoring timeout) does not wait for the thread: the call runs on to
        its end and its result is dropped.
        """
        if self._executor is None:
            return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)


def _answer(request: _Request, outcome: _Outcome) -> None:
    if request.future.done():  # the client stopped waiting (timeout)
        return
    if isinstance(outcome, BaseException):
        request.future.set_exception(outcome)
    else:
        request.future.set_result(outcome)


def _score(model: Any, records: Sequence[FeedbackRecord], max_units_per_item: int | None) -> list[ItemScore]:
    return list(model.score(records, max_units_per_item=max_units_per_item))
