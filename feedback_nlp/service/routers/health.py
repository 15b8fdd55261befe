"""/healthz (process alive), /readyz (model loaded and store reachable) and /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from feedback_nlp.artifact import no_model_message
from feedback_nlp.service.deps import StateDep
from feedback_nlp.service.metrics import CONTENT_TYPE
from feedback_nlp.service.schemas import HealthResponse, ReadyResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse, summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    summary="Ready to score (503 when not)",
    responses={503: {"model": ReadyResponse, "description": "No model, or the store is unreachable"}},
)
def readyz(state: StateDep, response: Response) -> dict[str, object]:
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
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
def metrics(state: StateDep) -> Response:
    return Response(content=state.metrics.render(), media_type=CONTENT_TYPE)
