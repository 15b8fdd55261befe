"""Per-key rate limiting (429 with ``Retry-After``), with the ``limits`` library's in-memory moving window.

Each valid API key has its own budget (``FEEDBACK_NLP_RATE_LIMIT``); requests without a valid key are counted
per client address (``FEEDBACK_NLP_RATE_LIMIT_UNAUTHENTICATED``), so that guessing keys is slow too. The
counts live in this process: with several workers, each allows the full rate.
"""

from __future__ import annotations

import hashlib
import math
import time

from fastapi import HTTPException, status
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from feedback_nlp.service.metrics import ServiceMetrics

SCOPE_KEY = "key"
SCOPE_ADDRESS = "address"


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
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._metrics = metrics

    def check(self, scope: str, identity: str) -> None:
        """Count one request of ``identity`` (a key or an address) in ``scope``.

        Raises:
            HTTPException: 429 with ``Retry-After`` (whole seconds) when a limit is used up.
        """
        # the key itself is never held: only a digest of it
        name = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        for item in self._limits[scope]:
            if not self._limiter.hit(item, scope, name):
                self._metrics.rate_limited.labels(scope=scope).inc()
                raise _too_many(scope, item, self._retry_after(item, scope, name))

    def _retry_after(self, item: RateLimitItem, scope: str, name: str) -> int:
        reset_at = self._limiter.get_window_stats(item, scope, name).reset_time
        return max(1, math.ceil(reset_at - time.time()))


def _too_many(scope: str, item: RateLimitItem, retry_after: int) -> HTTPException:
    who = "this API key" if scope == SCOPE_KEY else "requests without a valid API key from this address"
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"rate limit of {item} for {who} reached; retry after {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )
