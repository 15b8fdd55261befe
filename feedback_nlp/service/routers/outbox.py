"""GET /v1/admin/outbox and POST /v1/admin/outbox/{id}/requeue: the delivery state of owner notifications.

Admin keys only. Payloads are never returned (they hold customers' quotes); ``last_error`` says why a dead
message failed, without the channel's secret URL.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from feedback_nlp.notify.outbox import Outbox
from feedback_nlp.service.deps import StoreDep, require_admin
from feedback_nlp.service.schemas import ErrorResponse, error_responses

router = APIRouter(
    prefix="/v1/admin/outbox",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses=error_responses(401, 403, 422, 429),
)

# the outbox's id column is a 32-bit INTEGER on PostgreSQL: a larger id is a 422, not a database error
_MAX_ID = 2**31 - 1

OutboxState = Literal["pending", "sending", "sent", "dead"]


class OutboxMessageOut(BaseModel):
    id: int
    idempotency_key: str
    kind: str
    owner: str
    channel: str
    state: OutboxState
    attempts: int
    next_attempt_at: str
    last_error: str | None
    created_at: str
    sent_at: str | None


class OutboxListing(BaseModel):
    counts: dict[str, int]
    messages: list[OutboxMessageOut]


@router.get(
    "",
    response_model=OutboxListing,
    summary="Messages to owners by delivery state (dead letters with state=dead)",
    responses={503: {"model": ErrorResponse, "description": "The store is unreachable"}},
)
async def list_outbox(
    store: StoreDep,
    state: Annotated[OutboxState | None, Query(description="only messages in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Counts per state, and the newest messages (all, or in one state) without their payloads."""
    outbox = Outbox(store.engine)
    counts = await run_in_threadpool(outbox.counts)
    rows = await run_in_threadpool(outbox.rows, state, limit)
    return {"counts": counts, "messages": [row.summary() for row in rows]}


@router.post(
    "/{message_id}/requeue",
    response_model=OutboxMessageOut,
    summary="Retry a dead message (after fixing its channel)",
    responses={
        404: {"model": ErrorResponse, "description": "No dead message with this id"},
        503: {"model": ErrorResponse, "description": "The store is unreachable"},
    },
)
async def requeue(
    message_id: Annotated[int, Path(ge=1, le=_MAX_ID, description="the message's id in the outbox listing")],
    store: StoreDep,
) -> dict[str, Any]:
    """Put a dead message back to pending with a fresh round of attempts."""
    outbox = Outbox(store.engine)
    if not await run_in_threadpool(outbox.requeue, message_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dead outbox message with id {message_id}")
    row = await run_in_threadpool(outbox.get, message_id)
    assert row is not None  # requeued just now; rows are never deleted
    return row.summary()
