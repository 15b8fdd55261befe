"""/healthz (process alive), /readyz (model loaded and store reachable) and /metrics (Prometheus).

Probes need no key: /healthz and the status of /readyz are open. What /readyz says beyond its status (model
version, absolute paths, why a model was refused) and /metrics need a key, unless
``FEEDBACK_NLP_PUBLIC_METRICS`` opens the metrics.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from feedback_nlp.artifact import no_model_message
from feedback_nlp.service.deps import StateDep, optional_reader, require_reader_for_metrics
from feedback_nlp.service.metrics import CONTENT_TYPE
from feedback_nlp.service.schemas import HealthResponse, ReadyResponse, error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse, summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    summary="Ready to score (503 when not); details with a key",
    response_model_exclude_unset=True,
    # the key is optional here (OpenAPI's empty requirement): probes call without one
    openapi_extra={"security": [{}, {"APIKeyHeader": []}]},
    responses={
        **error_responses(401),
        503: {"model": ReadyResponse, "description": "No model, or the store is unreachable"},
    },
)
def readyz(
    state: StateDep, response: Response, role: Annotated[str | None, Depends(optional_reader)]
) -> dict[str, object]:
    """``{"status": "ready"}`` or ``{"status": "not ready"}`` (503); with a valid X-API-Key also the model
    version, the store's state and the problems."""
    problems = []
    version = state.holder.version
    if version is None:
        problems.append(
            f"no model loaded: {state.holder.last_error or no_model_message(state.holder.models_dir)}"
        )
    store_ok = state.store is not None and state.store.ping()
    if not store_ok:
        problems.append(f"feedback store unreachable{': ' + state.store_error if state.store_error else ''}")
    if problems:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    if role is None:
        return {"status": "not ready" if problems else "ready"}
    return {
        "status": "not ready" if problems else "ready",
        "model_version": version,
        "store": "ok" if store_ok else "unreachable",
        "problems": problems,
    }


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    dependencies=[Depends(require_reader_for_metrics)],
    responses={
        200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"},
        **error_responses(401),
    },
)
def metrics(state: StateDep) -> Response:
    return Response(content=state.metrics.render(), media_type=CONTENT_TYPE)
