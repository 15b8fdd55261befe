"""POST /v1/score: score one item or a batch, write every result to the store."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, status
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from feedback_nlp.errors import ValidationError
from feedback_nlp.redact import redact_metadata
from feedback_nlp.schemas import FeedbackRecord, plain_json
from feedback_nlp.service.deps import ModelDep, SettingsDep, StateDep, StoreDep, require_reader
from feedback_nlp.service.errors import FieldErrors
from feedback_nlp.service.schemas import (
    BatchScoreResponse,
    FeedbackBatchIn,
    FeedbackItemIn,
    Problem,
    ScoreRequest,
    ScoreResult,
)
from feedback_nlp.service.work_budget import check_batch_chars, score_in_time
from feedback_nlp.store import check_record_fits

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["scoring"], dependencies=[Depends(require_reader)])


def _to_record(
    item: FeedbackItemIn, field_prefix: str, now: datetime, max_text_chars: int, raw_columns: list[str]
) -> FeedbackRecord:
    if len(item.text) > max_text_chars:
        raise FieldErrors(
            [
                (
                    f"{field_prefix}text",
                    f"{len(item.text)} characters, over the limit of {max_text_chars}; "
                    "split the text or send it as several items",
                )
            ]
        )
    created_at = item.created_at or now
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    record = FeedbackRecord(
        id=item.id,
        text=item.text,
        source=item.source,
        created_at=created_at.astimezone(UTC),
        account_id=item.account_id,
        account_arr=item.account_arr,
        segment=item.segment,
        channel=item.channel,
        metadata=redact_metadata(item.all_metadata(), raw_columns),  # stored and served like the text
    )
    try:
        check_record_fits(record)
    except ValidationError as exc:
        raise FieldErrors([(f"{field_prefix}{exc.field}", exc.message)]) from None
    return record


def _redacts_metadata(items: list[FeedbackItemIn], raw_columns: list[str]) -> bool:
    """Whether building the records redacts any metadata (a field kept raw is not redacted)."""
    return any(key not in raw_columns for item in items for key in item.all_metadata())


@router.post(
    "/score",
    response_model=ScoreResult | BatchScoreResponse,
    summary='Score one feedback item, or a batch as {"items": [...]}',
    responses={
        401: {"model": Problem, "description": "Missing or invalid X-API-Key"},
        413: {"model": Problem, "description": "Request body over the size limit"},
        422: {
            "model": Problem,
            "description": "Bad input, or over the work budget (characters per item and per request, "
            "units per item); each error names its field",
        },
        429: {"model": Problem, "description": "Rate limit reached; retry after Retry-After seconds"},
        503: {
            "model": Problem,
            "description": "No model loaded, the store is unreachable, or scoring ran past the timeout "
            "(with Retry-After)",
        },
    },
)
async def score(
    body: Annotated[ScoreRequest, Body()],
    state: StateDep,
    settings: SettingsDep,
    model: ModelDep,
    store: StoreDep,
) -> ScoreResult | BatchScoreResponse | dict[str, Any]:
    """Give each item its theme, roadmap item, owner, route and explanation; store every result.

    A call note is split into units and each unit is scored; ``units`` lists them with their character
    offsets into the text sent. The top-level fields are those of the most confident unit. A single item
    gets a single result; ``{"items": [...]}`` gets ``{"model_version", "results": [...]}`` in order.
    Scoring runs on a scoring thread, within the work budget (``feedback_nlp.service.work_budget``).
    """
    is_batch = isinstance(body, FeedbackBatchIn)
    items = body.items if isinstance(body, FeedbackBatchIn) else [body]
    if len(items) > settings.max_batch_items:
        raise FieldErrors(
            [
                (
                    "items",
                    f"{len(items)} items, over the limit of {settings.max_batch_items} "
                    "per request; send smaller batches",
                )
            ]
        )
    check_batch_chars([item.text for item in items], settings, state.metrics)
    now = datetime.now(UTC)
    raw_columns = settings.split_keys(settings.raw_metadata_columns)

    def to_records() -> list[FeedbackRecord]:
        return [
            _to_record(item, f"items.{index}." if is_batch else "", now, settings.max_text_chars, raw_columns)
            for index, item in enumerate(items)
        ]

    # Redacting metadata runs the redaction's patterns over every string: on a worker thread, off the
    # event loop. Without metadata to redact, a record is a few length checks: cheaper than the thread hop.
    records = await run_in_threadpool(to_records) if _redacts_metadata(items, raw_columns) else to_records()
    try:
        # scored with concurrent requests in one encoder call, and stored with them in one transaction
        scores = await score_in_time(
            model,
            records,
            settings,
            state.metrics,
            "items.{index}." if is_batch else "",
            state.batcher,
            store,
        )
    except ValidationError as exc:
        raise FieldErrors([(exc.field, exc.message)]) from None
    except SQLAlchemyError as exc:
        logger.error("could not store %d scored items: %s", len(records), exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "feedback store unavailable; nothing was stored, retry later"
        ) from None
    state.metrics.observe_scores(scores)
    # plain_json copies every dict and list: the deep copy of to_dict's default would be a second one
    results = [plain_json(item_score.to_dict(copy_values=False)) for item_score in scores]
    if is_batch:
        return {"model_version": scores[0].model_version if scores else model.version_, "results": results}
    return results[0]
