"""POST /v1/admin/reload: swap in the model named in models/LATEST (admin keys only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, status
from starlette.concurrency import run_in_threadpool

from feedback_nlp.errors import ModelLoadError
from feedback_nlp.service.deps import StateDep, require_admin
from feedback_nlp.service.schemas import ErrorResponse, ReloadResponse, error_responses

router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses=error_responses(401, 429),
)


@router.post(
    "/reload",
    response_model=ReloadResponse,
    summary="Load models/LATEST and swap it in",
    responses={
        403: {"model": ErrorResponse, "description": "Not an admin key"},
        409: {"model": ErrorResponse, "description": "The new model was refused; the old one keeps serving"},
    },
)
async def reload_model(state: StateDep) -> dict[str, Any]:
    """Load and verify the version named in LATEST, then swap it in; requests in flight finish on the old
    model. A version that fails to load or verify is refused (409) and the current model keeps serving."""
    try:
        result = await run_in_threadpool(state.reload_model)
    except ModelLoadError as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"model refused, still serving {state.holder.version}: {exc}"
        ) from None
    return {
        "status": result.status,
        "model_version": result.version,
        "previous_version": result.previous_version,
    }
