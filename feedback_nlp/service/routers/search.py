"""GET /v1/search: stored feedback by meaning (the served model's encoder) or by words, with filters."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from feedback_nlp.search import SearchRequest, search_feedback
from feedback_nlp.service.deps import ModelDep, SearchIndexDep, StoreDep, require_reader
from feedback_nlp.service.routers.themes import curated_themes
from feedback_nlp.service.schemas import SearchResponse, error_responses

router = APIRouter(
    prefix="/v1/search",
    tags=["search"],
    dependencies=[Depends(require_reader)],
    responses=error_responses(401, 422, 429, 503),
)

# no NUL: no database keeps one in a text parameter
_NO_NUL = r"^[^\x00]*$"


def day_start(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(), tzinfo=UTC)


def day_after(day: date | None) -> datetime | None:
    """The exclusive end of ``day`` (None for none, or for the last representable day: no end)."""
    if day is None or day == date.max:
        return None
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


@router.get("", response_model=SearchResponse, summary="Search stored feedback by meaning or by words")
def search(
    model: ModelDep,
    store: StoreDep,
    index: SearchIndexDep,
    q: Annotated[str, Query(min_length=1, max_length=200, pattern=_NO_NUL, description="What to look for")],
    mode: Annotated[
        Literal["meaning", "words"], Query(description="By meaning (default) or by words")
    ] = "meaning",
    area: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="Only this (curated) area")] = None,
    theme: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="Only this (curated) theme")] = None,
    source: Annotated[str | None, Query(max_length=50, pattern=_NO_NUL)] = None,
    account: Annotated[str | None, Query(max_length=200, pattern=_NO_NUL)] = None,
    since: Annotated[date | None, Query(description="Feedback created on or after this day (UTC)")] = None,
    until: Annotated[date | None, Query(description="Feedback created on or before this day (UTC)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Units of stored feedback: by meaning, the most similar to ``q`` (redacted, then encoded like any
    feedback); by words, the newest holding every word of ``q``. ``without_embedding`` counts units stored
    before vectors were kept, which only a search by words finds until their feedback is ingested again."""
    view, themes = curated_themes(model, store)
    request = SearchRequest(
        text=q, mode=mode, area_id=area, theme_id=theme, source=source or None, account_id=account or None,
        since=day_start(since), until=day_after(until), limit=limit,
    )  # fmt: skip
    answer = search_feedback(request, store=store, index=index, model=model, view=view, themes=themes)
    return {
        "mode": answer.mode,
        "units": [asdict(unit) for unit in answer.units],
        "searched": answer.searched,
        "without_embedding": answer.without_embedding,
    }
