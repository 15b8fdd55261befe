"""Group commit: the store writes of concurrent scoring requests gathered into one transaction.

Each scored request is written to the store before it is answered. Written one transaction per request, a
single item cost about three times the CPU of an item in a transaction of eight (the transaction, the
statements and the alignment detector's per-call work; benchmarks/README.md, issue 20), and the requests of
one gathered scoring batch all reach the store at the same moment. So writes are queued and one writer thread
writes everything queued in one call of ``FeedbackStore.upsert_scored_batch``: on an idle service a write
goes at once; the writes that arrive while it runs (the other requests of the same batch among them) go
together in the next one.

When a gathered write fails, each of its requests is written again on its own, so that one request's failure
(a row the database refuses) is never another's; each request gets its own exception. Writes run on a
thread of their own, never on the event loop's shared worker threads, and one at a time (SQLite takes one
writer at a time anyway; on PostgreSQL the gathered transaction takes its row locks in id order).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from feedback_nlp.schemas import FeedbackRecord, ItemScore
from feedback_nlp.store import FeedbackStore

logger = logging.getLogger(__name__)

ScoredPairs = Sequence[tuple[FeedbackRecord, ItemScore]]


@dataclass
class _Write:
    store: FeedbackStore
    pairs: ScoredPairs
    future: asyncio.Future[None]


class StoreWriter:
    """Writes scored items to the store, concurrent requests in one transaction; :meth:`start` and
    :meth:`stop` in the app's lifespan (before :meth:`start`, each write goes alone on a worker thread).

    Args:
        max_items: most items in one gathered transaction (a longer transaction holds the store's write
            lock longer, and one request's items always go together however many they are).
        on_write: called with the number of requests each transaction wrote (the service's metrics).
    """

    def __init__(self, max_items: int = 1024, on_write: Callable[[int], None] | None = None) -> None:
        self.max_items = max_items
        self.on_write = on_write
        self._queue: list[_Write] = []
        self._writing: list[_Write] = []  # the transaction under way
        self._wakeup: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.transactions = 0  # transactions written, for tests and the benchmark

    def start(self) -> None:
        """Start the writer thread and the task that gathers writes (inside the running event loop)."""
        if self._runner is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-write")
            self._wakeup = asyncio.Event()
            self._runner = asyncio.create_task(self._run_forever(), name="store-writer")

    async def stop(self) -> None:
        """Stop writing; writes still queued are answered with an error (nothing of them is stored)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        executor, self._executor = self._executor, None
        if executor is not None:  # a transaction under way ends (commits or rolls back) first
            await asyncio.to_thread(executor.shutdown, True)
        for write in [*self._writing, *self._queue]:
            _settle(write, RuntimeError("the service is stopping"))
        self._queue.clear()

    async def write(self, store: FeedbackStore, pairs: ScoredPairs) -> None:
        """``store.upsert_scored_batch(pairs)``, in one transaction with concurrent writes when there are.

        Raises:
            whatever the store raised for this request's own items (``SQLAlchemyError``).
        """
        loop = asyncio.get_running_loop()
        if self._runner is None or self._wakeup is None:
            await loop.run_in_executor(None, store.upsert_scored_batch, pairs)
            return
        write = _Write(store, pairs, loop.create_future())
        self._queue.append(write)
        self._wakeup.set()
        await write.future

    async def _run_forever(self) -> None:
        assert self._wakeup is not None
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            self._writing = self._take()
            await self._write_all(self._writing)
            self._writing = []

    def _take(self) -> list[_Write]:
        """The oldest write and the next ones to the same store, up to ``max_items`` (at least one)."""
        first = self._queue[0]
        taken: list[_Write] = []
        rest: list[_Write] = []
        items = 0
        for write in self._queue:
            fits = not taken or items + len(write.pairs) <= self.max_items
            if write.store is first.store and fits and not rest:
                taken.append(write)
                items += len(write.pairs)
            else:
                rest.append(write)  # in order: a later write of the same id must not overtake this one
        self._queue = rest
        return taken

    async def _write_all(self, writes: list[_Write]) -> None:
        self.transactions += 1
        if self.on_write is not None:
            self.on_write(len(writes))
        pairs = [pair for write in writes for pair in write.pairs]
        try:
            await self._run(writes[0].store, pairs)
        except Exception as exc:
            if len(writes) == 1:
                _settle(writes[0], exc)
                return
            # whose failure it was: each request's items on their own, so that the others are kept
            logger.debug("a transaction of %d requests failed (%s); each on its own", len(writes), exc)
            for write in writes:
                try:
                    await self._run(write.store, write.pairs)
                except Exception as own:
                    _settle(write, own)
                else:
                    _settle(write)
            return
        for write in writes:
            _settle(write)

    async def _run(self, store: FeedbackStore, pairs: ScoredPairs) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, store.upsert_scored_batch, pairs)


def _settle(write: _Write, exception: BaseException | None = None) -> None:
    if write.future.done():  # the request was cancelled (the client went away)
        return
    if exception is not None:
        write.future.set_exception(exception)
    else:
        write.future.set_result(None)
