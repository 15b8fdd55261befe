"""Where the per-partition work of a job runs: in this process (``local``) or on Dask workers (``dask``).

Both engines run the same functions on the same partitions and hand the results back in partition order,
so a model trained on either is the same model. The local engine needs nothing beyond the package; the
Dask engine needs ``dask[distributed]`` (``pip install 'feedback-nlp[dask]'``) and either starts a
``LocalCluster`` sized to the machine or connects to a running scheduler.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from feedback_nlp.errors import ConfigError

logger = logging.getLogger(__name__)

ENGINES = ("local", "dask")


class LocalEngine:
    """Runs each task in this process, one after the other."""

    name = "local"
    n_workers = 1

    def map(self, function: Callable[..., Any], items: Sequence[Any], **shared: Any) -> list[Any]:
        return [function(item, **shared) for item in items]

    def imap(
        self, function: Callable[..., Any], items: Iterable[Any], window: int = 4, **shared: Any
    ) -> Iterator[Any]:
        for item in items:
            yield function(item, **shared)

    def submit(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "workers": 1}

    def close(self) -> None:
        pass

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class DaskEngine:
    """Runs tasks on a Dask cluster: a ``LocalCluster`` of this machine, or the scheduler at ``scheduler``.

    A worker that dies mid-task costs a rerun of that task on another worker (the scheduler's own
    bookkeeping); an exception inside a task is retried ``retries`` times and then fails the job.

    Args:
        scheduler: address of a running scheduler (``tcp://host:8786``); None starts a LocalCluster.
        n_workers: LocalCluster size (default: one worker per core, each with one thread, so that each
            worker's encoder and spaCy pipeline use one core).
        retries: reruns of a task that raised.
        dashboard: address for the LocalCluster's web dashboard (``:8787``); None (the default) starts none,
            and the cluster logs only errors: a scheduled run's log stays quiet unless asked.
    """

    name = "dask"

    def __init__(
        self,
        scheduler: str | None = None,
        n_workers: int | None = None,
        retries: int = 1,
        memory_limit: str | float | None = "auto",
        dashboard: str | None = None,
    ):
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - dask is in the dev extra, so the tests always have it
            raise ConfigError(
                "--engine dask needs dask.distributed: pip install 'feedback-nlp[dask]'"
            ) from None
        self.retries = retries
        self.cluster = None
        if scheduler:
            self.client = Client(scheduler, timeout="30s")
        else:
            n_workers = n_workers or os.cpu_count() or 1
            self.cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                memory_limit=memory_limit,
                dashboard_address=dashboard,
                silence_logs=logging.ERROR,
            )
            self.client = Client(self.cluster)
        self.client.wait_for_workers(1, timeout=120)
        logger.info("dask engine: %s", self.describe())

    @property
    def n_workers(self) -> int:
        return len(self.client.scheduler_info()["workers"])

    def _shared(self, shared: dict[str, Any]) -> dict[str, Any]:
        # Large shared arguments (centroids, the fitted discoverer) go to each worker once, not once per task.
        return {
            name: self.client.scatter(value, broadcast=True, hash=False) for name, value in shared.items()
        }

    def map(self, function: Callable[..., Any], items: Sequence[Any], **shared: Any) -> list[Any]:
        if not items:
            return []
        futures = self.client.map(
            function, list(items), pure=False, retries=self.retries, **self._shared(shared)
        )
        try:
            return self.client.gather(futures)
        finally:
            self.client.cancel(futures)

    def imap(
        self, function: Callable[..., Any], items: Iterable[Any], window: int = 0, **shared: Any
    ) -> Iterator[Any]:
        """Results in input order, with at most ``window`` tasks in flight (default: two per worker)."""
        window = window or 2 * max(self.n_workers, 1)
        scattered = self._shared(shared)
        pending: deque = deque()
        try:
            for item in items:
                pending.append(
                    self.client.submit(function, item, pure=False, retries=self.retries, **scattered)
                )
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            self.client.cancel(list(pending))

    def submit(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self.client.submit(function, *args, pure=False, retries=self.retries, **kwargs).result()

    def describe(self) -> dict[str, Any]:
        return {
            "engine": self.name,
            "workers": self.n_workers,
            "scheduler": self.client.scheduler.address if self.client.scheduler else None,
        }

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> DaskEngine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def make_engine(
    engine: str = "local",
    scheduler: str | None = None,
    n_workers: int | None = None,
    dashboard: str | None = None,
):
    """The engine named on the command line."""
    if engine == "local":
        if scheduler or dashboard:
            raise ConfigError(f"{'--scheduler' if scheduler else '--dashboard'} needs --engine dask")
        return LocalEngine()
    if engine == "dask":
        return DaskEngine(scheduler=scheduler, n_workers=n_workers, dashboard=dashboard)
    raise ConfigError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
