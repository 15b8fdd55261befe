"""The work budget of one scoring request: text and unit limits that bound its CPU, and a timeout.

Preparation costs CPU in proportion to characters and the encoder in proportion to units, so a request is
refused (422, naming the field) before any work when its text is over ``max_text_chars`` per item or
``batch_chars_limit`` in all, and after splitting, before embedding, when an item has more units than
``units_per_item_limit``. Scoring runs on a scoring thread; past ``score_timeout_seconds`` the client gets 503
with ``Retry-After``. A thread cannot be stopped: the abandoned one finishes in the background (its result is
dropped, nothing is stored), and the text limits are what bound how long it runs. Results already being
stored when the timeout comes are answered as stored (:mod:`feedback_nlp.service.batcher`).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from typing import Any

import anyio
from fastapi import HTTPException, status

from feedback_nlp.errors import WorkBudgetError
from feedback_nlp.schemas import FeedbackRecord, ItemScore
from feedback_nlp.service.batcher import ScoreBatcher
from feedback_nlp.service.errors import FieldErrors
from feedback_nlp.service.metrics import ServiceMetrics
from feedback_nlp.settings import Settings
from feedback_nlp.store import FeedbackStore

logger = logging.getLogger(__name__)


def check_batch_chars(texts: Sequence[str], settings: Settings, metrics: ServiceMetrics) -> None:
    """Refuse a request whose texts hold more characters in all than the batch limit (422 on ``items``)."""
    total = sum(len(text) for text in texts)
    limit = settings.batch_chars_limit
    if total > limit:
        metrics.work_budget_rejections.labels(limit="batch_chars").inc()
        raise FieldErrors(
            [
                (
                    "items",
                    f"{total} characters of text in all, over the limit of {limit} per request "
                    "(FEEDBACK_NLP_MAX_BATCH_CHARS); send smaller batches",
                )
            ]
        )


async def score_in_time(
    model: Any,
    records: Sequence[FeedbackRecord],
    settings: Settings,
    metrics: ServiceMetrics,
    field_prefix: str,
    batcher: ScoreBatcher | None = None,
    store: FeedbackStore | None = None,
) -> list[ItemScore]:
    """``model.score(records)`` on a scoring thread (the batcher's), within the unit limit and the timeout;
    with ``store``, the results are stored before they are returned.

    Args:
        field_prefix: how an item's fields are named in errors, "items.{index}." for a batch, "" for one item.
        batcher: gathers this request with concurrent ones into one encoder call (None: scored alone).
        store: where the results are written (by the scoring thread, with the other requests of its batch).

    Raises:
        FieldErrors: an item splits into more units than allowed (422).
        HTTPException: 503 with ``Retry-After`` when scoring takes longer than ``score_timeout_seconds``.
        SQLAlchemyError: the store refused this request's results (nothing of it is stored).
    """
    work = functools.partial(model.score, records, max_units_per_item=settings.units_per_item_limit)
    timeout = settings.score_timeout_seconds or None
    try:
        with anyio.fail_after(timeout):
            if batcher is not None:
                return await batcher.score(model, records, settings.units_per_item_limit, store)
            # abandon_on_cancel: the answer does not wait for the thread, which runs on to its end
            scores = await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except WorkBudgetError as exc:
        metrics.work_budget_rejections.labels(limit="units_per_item").inc()
        prefix = field_prefix.format(index=exc.index)
        raise FieldErrors([(f"{prefix}{exc.field}", exc.message)]) from None
    except TimeoutError:
        metrics.score_timeouts.inc()
        retry_after = max(1, math.ceil(settings.score_timeout_seconds))
        logger.warning(
            "scoring %d items took over %.1f s; answered 503", len(records), settings.score_timeout_seconds
        )
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"scoring took longer than {settings.score_timeout_seconds:g} s "
            "(FEEDBACK_NLP_SCORE_TIMEOUT_SECONDS); nothing was stored; "
            "retry later or send fewer or shorter items",
            headers={"Retry-After": str(retry_after)},
        ) from None
    if store is not None:  # past the timeout's reach: a write under way is never answered "nothing stored"
        await anyio.to_thread.run_sync(store.upsert_scored_batch, list(zip(records, scores, strict=True)))
    return scores
