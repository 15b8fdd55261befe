"""GET /v1/themes and /v1/themes/{id}: the model's themes with their recent volume from the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from feedback_nlp.service.deps import ModelDep, StoreDep, require_reader
from feedback_nlp.service.schemas import ErrorResponse, ThemeDetail, ThemesResponse, error_responses

router = APIRouter(
    prefix="/v1/themes",
    tags=["themes"],
    dependencies=[Depends(require_reader)],
    responses=error_responses(401, 422, 429, 503),
)

DaysQuery = Annotated[int, Query(ge=1, le=3650, description="Window for the recent volume, in days")]


def _theme_out(
    theme: dict[str, Any], volume: int, days: int, since: datetime, with_examples: bool
) -> dict[str, Any]:
    out = {
        "id": int(theme["id"]),
        "name": theme.get("name") or f"theme {theme['id']}",
        "area_id": theme.get("area_id"),
        "area_name": theme.get("area_name"),
        "keywords": list(theme.get("keywords") or []),
        "size": int(theme.get("size") or 0),
        "roadmap_item": theme.get("roadmap_item"),
        "roadmap_score": theme.get("roadmap_score"),
        "owner": theme.get("owner") or "",
        "recent_volume": {"days": days, "since": since, "units": volume},
    }
    if with_examples:
        out["examples"] = list(theme.get("examples") or [])
    return out


@router.get("", response_model=ThemesResponse, summary="List the themes of the model being served")
def list_themes(model: ModelDep, store: StoreDep, days: DaysQuery = 28) -> dict[str, Any]:
    """Every theme with keywords, size, roadmap item, owner and units seen in the last ``days`` days."""
    since = datetime.now(UTC) - timedelta(days=days)
    volumes = store.theme_volumes(since)
    themes = [
        _theme_out(theme, volumes.get(int(theme["id"]), 0), days, since, with_examples=False)
        for theme in model.themes_
    ]
    return {"model_version": model.version_, "themes": themes}


@router.get(
    "/{theme_id}",
    response_model=ThemeDetail,
    summary="One theme, with examples",
    responses={404: {"model": ErrorResponse, "description": "No theme with this id"}},
)
def get_theme(theme_id: int, model: ModelDep, store: StoreDep, days: DaysQuery = 28) -> dict[str, Any]:
    """One theme with its keywords, (redacted) examples, size, roadmap item, owner and recent volume."""
    theme = model.theme(theme_id)
    if theme is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no theme {theme_id} in model {model.version_}; GET /v1/themes lists them",
        )
    since = datetime.now(UTC) - timedelta(days=days)
    return _theme_out(theme, store.theme_volume(theme_id, since), days, since, with_examples=True)
