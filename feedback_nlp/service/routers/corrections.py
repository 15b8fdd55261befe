"""/v1/feedback/{item_id}/corrections and /v1/corrections: owners correct single routes.

"not_mine" sends a stored unit to triage; "theme" moves it to another theme (its roadmap item and owner).
The unit is re-routed in the store at once, the correction is kept as a label, and the next retrain trains
the router on it (see :mod:`feedback_nlp.corrections`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, status

from feedback_nlp.corrections import Correction, flagged_themes, rerouted_unit
from feedback_nlp.schemas import FIELD_MAX_CHARS
from feedback_nlp.service.deps import CuratorDep, ModelDep, StoreDep, require_reader
from feedback_nlp.service.schemas import (
    CorrectionIn,
    CorrectionOut,
    CorrectionsResponse,
    ErrorResponse,
    error_responses,
)
from feedback_nlp.store import FeedbackStore

router = APIRouter(
    tags=["corrections"],
    dependencies=[Depends(require_reader)],
    responses=error_responses(401, 422, 429, 503),
)


def correct_unit(store: FeedbackStore, model: Any, correction: Correction) -> Correction:
    """Check a correction against the serving model, keep it and re-route the unit (the API and the page).

    Raises:
        LookupError: the theme is not one of the model's, or there is no such stored unit (answered 404).
    """
    correction = correction.check()
    theme = model.theme(correction.theme_id) if correction.theme_id is not None else None
    if correction.theme_id is not None and theme is None:
        raise LookupError(
            f"theme_id: no theme {correction.theme_id} in model {model.version_}; GET /v1/themes"
        )
    kept = store.add_correction(correction, rerouted_unit(correction.kind, theme, model.default_owner))
    if kept is None:
        raise LookupError(f"no stored unit {correction.unit_index} of feedback item {correction.item_id!r}")
    return kept


@router.post(
    "/v1/feedback/{item_id}/corrections",
    response_model=CorrectionOut,
    status_code=status.HTTP_201_CREATED,
    summary="Correct the route of one stored unit",
    responses={
        403: {"model": ErrorResponse, "description": "Not a curator or admin key"},
        404: {"model": ErrorResponse, "description": "No such stored item or unit, or no such theme"},
    },
)
def add_correction(
    item_id: Annotated[str, Path(min_length=1, max_length=FIELD_MAX_CHARS["id"], pattern=r"^[^\x00]+$")],
    body: CorrectionIn,
    caller: CuratorDep,
    model: ModelDep,
    store: StoreDep,
) -> dict[str, Any]:
    """Mark a unit "not_mine" (to triage) or "theme" (it belongs to ``theme_id``); re-routed at once."""
    correction = Correction(
        item_id, body.unit_index, body.kind, getattr(body, "theme_id", None), actor=caller.name
    )
    try:
        return correct_unit(store, model, correction).to_dict()
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.get("/v1/corrections", response_model=CorrectionsResponse, summary="Corrections kept as labels")
def list_corrections(model: ModelDep, store: StoreDep) -> dict[str, Any]:
    """Every correction, oldest first, and the themes flagged for review (many units corrected away)."""
    kept = store.corrections()
    sizes = {int(t["id"]): int(t.get("size") or 0) for t in model.themes_}
    return {"corrections": [c.to_dict() for c in kept], "flagged_for_review": flagged_themes(kept, sizes)}
