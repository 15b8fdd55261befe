"""/openapi.json, /docs (Swagger UI) and /redoc: a key is needed unless FEEDBACK_NLP_PUBLIC_DOCS is true.

FastAPI's own documentation routes take no dependencies, so the app is built without them and these
routes serve the same pages behind :func:`~feedback_nlp.service.deps.require_reader_for_docs`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from feedback_nlp.service.deps import require_reader_for_docs

OPENAPI_PATH = "/openapi.json"

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_reader_for_docs)])


def _openapi_url(request: Request) -> str:
    # behind a proxy that strips a prefix (uvicorn --root-path) the browser must ask for the prefixed path
    return request.scope.get("root_path", "").rstrip("/") + OPENAPI_PATH


@router.get(OPENAPI_PATH)
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url=_openapi_url(request), title=f"{request.app.title} - Swagger UI")


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(openapi_url=_openapi_url(request), title=f"{request.app.title} - ReDoc")
