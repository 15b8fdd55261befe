"""/openapi.json, /docs (Swagger UI) and /redoc: a key is needed unless FEEDBACK_NLP_PUBLIC_DOCS is true.

FastAPI's own documentation routes take no dependencies, so the app is built without them and these
routes serve the same pages behind :func:`~feedback_nlp.service.deps.require_reader_for_docs`. The pages'
scripts and styles are vendored in ``feedback_nlp/service/static`` (swagger-ui-dist 5 and ReDoc 2 from npm,
with their licences) and served at ``/static``: the docs work on a machine without internet, and no
browser fetches anything from a CDN.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from feedback_nlp.service.deps import require_reader_for_docs

OPENAPI_PATH = "/openapi.json"
STATIC_PATH = "/static"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_reader_for_docs)])


def static_files() -> StaticFiles:
    """The vendored assets (open to all: they are the public libraries' own files, no data of ours)."""
    return StaticFiles(directory=STATIC_DIR)


def _prefix(request: Request) -> str:
    # behind a proxy that strips a prefix (uvicorn --root-path) the browser must ask for the prefixed path
    return request.scope.get("root_path", "").rstrip("/")


@router.get(OPENAPI_PATH)
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    static = _prefix(request) + STATIC_PATH
    return get_swagger_ui_html(
        openapi_url=_prefix(request) + OPENAPI_PATH,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{static}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{static}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{static}/swagger-ui/favicon-32x32.png",
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    static = _prefix(request) + STATIC_PATH
    return get_redoc_html(
        openapi_url=_prefix(request) + OPENAPI_PATH,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{static}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{static}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )
