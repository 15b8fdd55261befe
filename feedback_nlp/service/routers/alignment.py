"""GET /v1/alignment: promise gaps (what sales promised off the roadmap) and enablement gaps.

An enablement gap is an ask for an item that has already shipped.

Signals are found when feedback is stored (``POST /v1/score``, ``feedback-nlp ingest``); this route decides
which of them are gaps against the roadmap of the model being served.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from feedback_nlp.alignment import find_gaps
from feedback_nlp.service.deps import ModelDep, StoreDep, require_reader
from feedback_nlp.service.schemas import error_responses

router = APIRouter(
    prefix="/v1/alignment",
    tags=["alignment"],
    dependencies=[Depends(require_reader)],
    responses=error_responses(401, 422, 429, 503),
)


class AlignmentItemRef(BaseModel):
    id: str
    title: str
    status: str
    target: str | None = None


class PromiseGapOut(BaseModel):
    """One commitment in a call note that the roadmap does not back."""

    reason: str = Field(description="'parked', 'unplanned' (no roadmap item) or 'before_target'")
    detail: str
    roadmap_item: AlignmentItemRef | None
    matched_by: str = Field(description="'named' (the sentence names the item) or 'theme' (the unit's theme)")
    owner: str
    feedback_id: str
    unit_index: int
    source: str | None = None
    channel: str | None = None
    account_id: str | None = None
    arr: float | None = Field(default=None, description="The account's ARR when the note was written")
    created_at: str
    cue: str | None = None
    date_text: str | None = Field(default=None, description="The date as written in the note")
    stated_by: str | None = Field(default=None, description="Last day of the stated date (ISO)")
    renewal: bool
    theme_id: int | None = None
    theme_name: str | None = None
    quote: str = Field(description="The sentence with the commitment (redacted)")


class AccountOut(BaseModel):
    account_id: str
    arr: float | None = None
    requests: int


class ChannelsOut(BaseModel):
    call_note: int
    ticket: int
    other: int


class QuoteOut(BaseModel):
    text: str
    feedback_id: str
    source: str | None = None
    account_id: str | None = None
    created_at: str
    cue: str | None = None


class EnablementGapOut(BaseModel):
    """A shipped roadmap item that customers still ask for as if it were missing."""

    roadmap_item: AlignmentItemRef
    owner: str
    shipped_by: str | None = Field(description="Ship date from the roadmap target (end of a target quarter)")
    units: int
    feedback_items: int
    n_accounts: int
    revenue: float
    accounts: list[AccountOut]
    channels: ChannelsOut
    cues: dict[str, int]
    first_at: str
    last_at: str
    quotes: list[QuoteOut]


class AlignmentCounts(BaseModel):
    promise_gaps: int
    promise_gap_accounts: int
    promise_gap_revenue: float
    enablement_gaps: int
    enablement_gap_requests: int


class AlignmentResponse(BaseModel):
    model_version: str
    since: datetime | None
    counts: AlignmentCounts
    promise_gaps: list[PromiseGapOut]
    enablement_gaps: list[EnablementGapOut]


@router.get("", response_model=AlignmentResponse, summary="Promise gaps and enablement gaps")
def get_alignment(
    model: ModelDep,
    store: StoreDep,
    days: Annotated[int | None, Query(ge=1, le=3650, description="Only feedback of the last N days")] = None,
) -> dict[str, Any]:
    """Promise gaps ranked by the account's ARR, and enablement gaps ranked by the number of requests."""
    since = datetime.now(UTC) - timedelta(days=days) if days else None
    gaps = find_gaps(store.alignment_signals(since), model.roadmap_, default_owner=model.default_owner)
    return {
        "model_version": model.version_,
        "since": since,
        "counts": gaps["counts"],
        "promise_gaps": gaps["promise_gaps"],
        "enablement_gaps": gaps["enablement_gaps"],
    }
