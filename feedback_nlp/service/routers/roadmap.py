"""GET /v1/roadmap: the roadmap items the model knows, with how much feedback is evidence for each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from feedback_nlp.service.deps import ModelDep, StoreDep, require_reader
from feedback_nlp.service.schemas import RoadmapResponse, error_responses

router = APIRouter(
    prefix="/v1/roadmap",
    tags=["roadmap"],
    dependencies=[Depends(require_reader)],
    responses=error_responses(401, 422, 429, 503),
)


@router.get("", response_model=RoadmapResponse, summary="Roadmap items with their evidence counts")
def get_roadmap(
    model: ModelDep,
    store: StoreDep,
    days: Annotated[int | None, Query(ge=1, le=3650, description="Count only the last N days")] = None,
) -> dict[str, Any]:
    """Each roadmap item with the themes linked to it and the number of stored items that support it."""
    since = datetime.now(UTC) - timedelta(days=days) if days else None
    counts = store.roadmap_evidence_counts(since)
    themes_by_item: dict[str, list[int]] = {}
    for theme in model.themes_:
        linked = theme.get("roadmap_item")
        if linked:
            themes_by_item.setdefault(str(linked["id"]), []).append(int(theme["id"]))
    items = []
    for item in model.roadmap_:
        item_id = str(item["id"])
        items.append(
            {
                "id": item_id,
                "title": item.get("title") or item_id,
                "description": item.get("description"),
                "owner": item.get("owner"),
                "status": item.get("status"),
                "keywords": list(item.get("keywords") or []),
                "target": None if item.get("target") is None else str(item["target"]),
                "theme_ids": sorted(themes_by_item.get(item_id, [])),
                "evidence_count": counts.get(item_id, 0),
            }
        )
    return {"model_version": model.version_, "since": since, "items": items}
