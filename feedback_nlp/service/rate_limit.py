"""Per-key rate limiting (429 with ``Retry-After``): a moving window in this process's memory.

Each valid API key has its own budget (``FEEDBACK_NLP_RATE_LIMIT``); requests without a valid key are counted
per client address (``FEEDBACK_NLP_RATE_LIMIT_UNAUTHENTICATED``), so that guessing keys is slow too. The
counts live in this process: with several workers, each allows the full rate.

The limits are written and parsed in the ``limits`` library's syntax (``600/minute``, ``10/second;600/hour``)
and counted as its moving window counts them: a request is refused when the window already holds ``amount``
accepted requests, and a refused one is not counted. The counting is our own: the library's in-memory
storage starts a new expiry thread (``threading.Timer``) on every request that comes more than 10 ms after
the previous one, which cost about 0.5 ms of CPU per request (benchmarks/README.md, issue 20). Here each
identity keeps the times of its accepted requests, dropped as they leave the window, and identities whose
windows are empty are swept on a later request.
"""

from __future__ import annotations

import collections
import hashlib
import math
import threading
import time
from collections.abc import Callable

from fastapi import HTTPException, status
from limits import RateLimitItem, parse_many

from feedback_nlp.service.metrics import ServiceMetrics

SCOPE_KEY = "key"
SCOPE_ADDRESS = "address"


# How often identities with an empty window are forgotten: a sweep walks every identity, so not on every
# request; between sweeps the memory held is bounded by the identities seen in the last minute or window.
SWEEP_SECONDS = 60.0


class MovingWindow:
    """Accepted requests per identity within each limit's window, in memory; thread-safe.

    Args:
        clock: seconds, never going back (``time.monotonic``; tests pass their own).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # (scope, identity, limit) -> the limit's window in seconds and the times of its accepted requests
        self._accepted: dict[tuple[str, str, str], tuple[float, collections.deque[float]]] = {}
        self._lock = threading.Lock()
        self._next_sweep = clock() + SWEEP_SECONDS

    def hit(self, item: RateLimitItem, scope: str, name: str) -> float:
        """Count one request of ``name`` against ``item``; 0 when accepted, else the seconds until the window
        has room again (then the request is not counted)."""
        window = float(item.get_expiry())
        key = (scope, name, item.key_for())
        with self._lock:
            now = self._clock()
            if now >= self._next_sweep:
                self._sweep(now)
            _, accepted = self._accepted.setdefault(key, (window, collections.deque()))
            while accepted and accepted[0] < now - window:  # as the library: in the window at its edge
                accepted.popleft()
            if len(accepted) >= item.amount:
                # room again when the oldest of the last ``amount`` accepted requests leaves the window
                return max(accepted[len(accepted) - item.amount] + window - now, 1e-6)
            accepted.append(now)
            return 0.0

    def identities(self) -> int:
        """How many (scope, identity, limit) windows are held (for tests)."""
        return len(self._accepted)

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + SWEEP_SECONDS
        stale = [
            key
            for key, (window, accepted) in self._accepted.items()
            if not accepted or accepted[-1] < now - window
        ]
        for key in stale:
            del self._accepted[key]


class RateLimiter:
    """Counts requests per API key and per client address; :meth:`check` raises 429 over the limit.

    Args:
        per_key: limits per valid key in the ``limits`` syntax ("600/minute"); "" for none.
        per_address: limits per client address for requests without a valid key; "" for none.
        metrics: counts the requests turned away, by scope.
    """

    def __init__(self, per_key: str, per_address: str, metrics: ServiceMetrics) -> None:
        self._limits = {
            SCOPE_KEY: parse_many(per_key) if per_key else [],
            SCOPE_ADDRESS: parse_many(per_address) if per_address else [],
        }
        self._window = MovingWindow()
        self._metrics = metrics

    def check(self, scope: str, identity: str) -> None:
        """Count one request of ``identity`` (a key or an address) in ``scope``.

        Raises:
            HTTPException: 429 with ``Retry-After`` (whole seconds) when a limit is used up.
        """
        # the key itself is never held: only a digest of it
        name = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        for item in self._limits[scope]:
            wait = self._window.hit(item, scope, name)
            if wait:
                self._metrics.rate_limited.labels(scope=scope).inc()
                raise _too_many(scope, item, max(1, math.ceil(wait)))


def _too_many(scope: str, item: RateLimitItem, retry_after: int) -> HTTPException:
    who = "this API key" if scope == SCOPE_KEY else "requests without a valid API key from this address"
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"rate limit of {item} for {who} reached; retry after {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )
