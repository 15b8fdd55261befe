"""GET /v1/themes and /v1/themes/{id}: the model's themes, as curated now, with their recent volume.

The store's curation (/v1/curation) is resolved at read time: a renamed theme has its new name, a merged
theme counts under the theme that absorbed it, an ignored one is left out of the list (``include_ignored``
shows it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from feedback_nlp.curation import CurationView
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
        "merged_from": list(theme.get("merged_from") or []),
        "ignored": theme.get("ignored"),
    }
    if with_examples:
        out["examples"] = list(theme.get("examples") or [])
    return out


def curated_themes(model: Any, store: StoreDep) -> tuple[CurationView, list[dict[str, Any]]]:
    """The store's curation and the model's themes as it shapes them now."""
    view = CurationView.of(store.curation())
    return view, view.themes(model.themes_, model.roadmap_)


def curated_volumes(view: CurationView, store: StoreDep, since: datetime) -> dict[int, int]:
    """Units per theme since ``since``, a merged theme's counted under the theme that absorbed it."""
    volumes: dict[int, int] = {}
    for theme_id, count in store.theme_volumes(since).items():
        target = view.canonical(theme_id)
        volumes[target] = volumes.get(target, 0) + count
    return volumes


@router.get("", response_model=ThemesResponse, summary="List the themes of the model being served")
def list_themes(
    model: ModelDep,
    store: StoreDep,
    days: DaysQuery = 28,
    include_ignored: Annotated[bool, Query(description="Also list the themes a curator ignored")] = False,
) -> dict[str, Any]:
    """Every theme with keywords, size, roadmap item, owner and units seen in the last ``days`` days."""
    since = datetime.now(UTC) - timedelta(days=days)
    view, themes = curated_themes(model, store)
    volumes = curated_volumes(view, store, since)
    out = [
        _theme_out(theme, volumes.get(int(theme["id"]), 0), days, since, with_examples=False)
        for theme in themes
        if include_ignored or not theme.get("ignored")
    ]
    return {"model_version": model.version_, "themes": out}


@router.get(
    "/{theme_id}",
    response_model=ThemeDetail,
    summary="One theme, with examples",
    responses={404: {"model": ErrorResponse, "description": "No theme with this id"}},
)
def get_theme(theme_id: int, model: ModelDep, store: StoreDep, days: DaysQuery = 28) -> dict[str, Any]:
    """One theme with its keywords, (redacted) examples, size, roadmap item, owner and recent volume; a
    merged theme answers with the theme that absorbed it."""
    view, themes = curated_themes(model, store)
    target = view.canonical(theme_id)
    theme = next((t for t in themes if int(t["id"]) == target), None)
    if theme is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no theme {theme_id} in model {model.version_}; GET /v1/themes lists them",
        )
    since = datetime.now(UTC) - timedelta(days=days)
    volume = curated_volumes(view, store, since).get(target, 0)
    return _theme_out(theme, volume, days, since, with_examples=True)
