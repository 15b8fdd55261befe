"""The FastAPI app: ``create_app(settings)`` builds one; ``app`` is built from the environment.

Run it with ``feedback-nlp serve`` (or ``uvicorn feedback_nlp.service.main:app``). The model and the store
are opened in the lifespan, never at import; a background task notices a changed ``models/LATEST`` and
reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

import feedback_nlp
from feedback_nlp import threads
from feedback_nlp.errors import ConfigError, ModelLoadError, ValidationError
from feedback_nlp.service import integrations
from feedback_nlp.service.access_log import AccessLogMiddleware
from feedback_nlp.service.batcher import ScoreBatcher
from feedback_nlp.service.body_limit import BodySizeLimitMiddleware
from feedback_nlp.service.deps import ApiKeys, ServiceState
from feedback_nlp.service.errors import FieldErrors
from feedback_nlp.service.metrics import MetricsMiddleware, ServiceMetrics
from feedback_nlp.service.model_holder import ModelHolder, ModelLoader, default_loader
from feedback_nlp.service.problems import integral_bounds, problem_media_types, problem_response
from feedback_nlp.service.rate_limit import RateLimiter
from feedback_nlp.service.routers import (
    admin,
    alignment,
    corrections,
    curation,
    docs,
    health,
    roadmap,
    score,
    search,
    split,
    themes,
    web,
)
from feedback_nlp.service.schemas import REQUEST_TAGS, error_responses
from feedback_nlp.settings import Settings, get_settings

logger = logging.getLogger(__name__)

NO_KEYS_MESSAGE = (
    "no API keys configured; set FEEDBACK_NLP_API_KEYS (and FEEDBACK_NLP_ADMIN_KEYS for admin), e.g. "
    "export FEEDBACK_NLP_API_KEYS=$(python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
    "or start with --insecure-dev on a development machine"
)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] == "body" and len(parts) == 2 and isinstance(parts[1], int):
        return "body"  # a JSON decode error: the second part is the character position
    if parts and parts[0] in ("body", "query", "path", "header"):
        kind = parts.pop(0)
        if kind != "body" and parts:
            parts[0] = f"{kind}.{parts[0]}"
    # drop the tag of the one-item-or-batch union so that fields read "items.0.text" / "text"
    if parts and parts[0] in REQUEST_TAGS:
        parts.pop(0)
    return ".".join(str(part) for part in parts) or "body"


def _validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    details = []
    for error in errors:
        field = _field_name(error.get("loc", ()))
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            position = list(error.get("loc", ()))[-1]
            message = (
                f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'decode error')} "
                f"at character {position})"
            )
        elif error.get("type") == "invalid_metadata":  # an unknown field kept as metadata, with a bad value
            context = error.get("ctx", {})
            field = context["field"] if field == "body" else f"{field}.{context['field']}"
            message = str(context["problem"])
        elif error.get("type") == "extra_forbidden":
            message = f"unknown field '{field.rsplit('.', 1)[-1]}'; {message.lower()}"
        details.append({"field": field, "message": message})
    return details


def _install_error_handlers(app: FastAPI) -> None:
    """Every error as RFC 9457 problem details (:mod:`feedback_nlp.service.problems`), one shape for all."""

    def invalid(request: Request, errors: list[dict[str, str]]) -> JSONResponse:
        fields = ", ".join(dict.fromkeys(error["field"] for error in errors))
        return problem_response(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"invalid input: {fields}; see errors",
            request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = exc.headers
        if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED and (
            allowed := _allowed_methods(app, request)
        ):
            headers = {**(headers or {}), "Allow": allowed}
        return problem_response(exc.status_code, str(exc.detail), request.url.path, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid(request, _validation_errors(list(exc.errors())))

    @app.exception_handler(FieldErrors)
    async def _field_errors(request: Request, exc: FieldErrors) -> JSONResponse:
        return invalid(request, [{"field": field, "message": message} for field, message in exc.errors])

    @app.exception_handler(ValidationError)
    async def _library_validation(request: Request, exc: ValidationError) -> JSONResponse:
        return invalid(request, [{"field": exc.field, "message": exc.message}])


def _allowed_methods(app: FastAPI, request: Request) -> str | None:
    """Every method documented for the request's path: Starlette's own 405 names only the first route's
    methods, so a path that two routes share (GET and POST) was answered with an ``Allow`` that left one out.
    None for an undocumented path (the workbench's pages): Starlette's own header stands."""
    methods = {
        method.upper()
        for template, operations in app.openapi().get("paths", {}).items()
        if compile_path(template)[0].match(request.url.path)
        for method in operations
    }
    return ", ".join(sorted(methods - {"HEAD", "OPTIONS"})) or None


def _openapi_with_problems(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` documenting the error answers as ``application/problem+json``, its whole-number
    bounds as integers (FastAPI's own description, with every argument it passes, rewritten once)."""
    fastapi_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = integral_bounds(problem_media_types(fastapi_openapi()))
        return app.openapi_schema

    return openapi


async def _poll_latest(state: ServiceState, interval: float) -> None:
    """Reload when models/LATEST names a new version; reopen the store if it was not available."""
    while True:
        await asyncio.sleep(interval)
        try:
            if state.store is None:
                await run_in_threadpool(state.connect_store)
            await run_in_threadpool(lambda: state.reload_model(only_if_changed=True))
        except ModelLoadError:
            pass  # logged by the holder; the current model keeps serving
        except Exception:  # the poller must survive anything to keep reloads working
            logger.exception("model poll failed")


def create_app(
    settings: Settings | None = None, *, insecure_dev: bool = False, model_loader: ModelLoader | None = None
) -> FastAPI:
    """Build the app.

    Args:
        settings: defaults to the environment (``FEEDBACK_NLP_*``).
        insecure_dev: allow starting without any API key (then every request is allowed); for local
            development only.
        model_loader: loads a version folder; defaults to ``FeedbackModel.load`` requiring
            ``settings.model_signing_key`` when set (tests pass a fake).

    Starting the app (its lifespan) raises :class:`ConfigError` when no keys are configured and
    ``insecure_dev`` is false.
    """
    settings = settings or get_settings()
    cores = threads.thread_count(settings.threads)
    metrics = ServiceMetrics()
    batcher = ScoreBatcher(
        settings.batch_max_items,
        settings.batch_max_wait_ms / 1000,
        settings.batch_max_concurrent or max(2, cores),
        cores=cores,
        on_batch=metrics.score_batch_requests.observe,
        on_write=metrics.store_write_requests.observe,
    )
    # the cores are shared among the scoring threads: each encoder call (the ONNX session is made when the
    # model loads, from this count) runs on its share of them, not on all of them
    threads.apply(batcher.threads_per_call)
    state = ServiceState(
        settings=settings,
        keys=ApiKeys(
            Settings.split_keys(settings.api_keys),
            Settings.split_keys(settings.admin_keys),
            insecure_dev=insecure_dev,
            curator_keys=Settings.split_keys(settings.curator_keys),
        ),
        holder=ModelHolder(
            settings.models_dir,
            loader=model_loader
            or functools.partial(
                default_loader, signing_key=settings.signing_key, encoder_backend=settings.encoder_backend
            ),
            on_change=lambda model: metrics.set_model_version(str(model.version_)),
        ),
        metrics=metrics,
        rate_limiter=RateLimiter(settings.rate_limit, settings.rate_limit_unauthenticated, metrics),
        batcher=batcher,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not state.keys.configured:
            if not insecure_dev:
                raise ConfigError(NO_KEYS_MESSAGE)
            logger.warning(
                "no API keys: every request is allowed (--insecure-dev); never do this in production"
            )
        await run_in_threadpool(state.connect_store)
        try:
            await run_in_threadpool(state.reload_model)
        except ModelLoadError as exc:
            # LATEST names a refused version: the newest good one serves meanwhile (logged by the holder)
            if await run_in_threadpool(state.holder.fall_back) is None:
                logger.warning("starting without a model (not ready): %s", exc)
        # after the model is loaded: only the BLAS libraries loaded by then are limited
        blas = threads.single_threaded_blas()
        assert state.batcher is not None
        state.batcher.start()
        poller = None
        if settings.reload_poll_seconds > 0:
            poller = asyncio.create_task(_poll_latest(state, settings.reload_poll_seconds))
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            await state.batcher.stop()
            blas.restore_original_limits()
            if state.store is not None:
                state.store.close()

    app = FastAPI(
        title="feedback-nlp",
        version=feedback_nlp.__version__,
        summary="Score customer feedback: theme, roadmap item, owner, route, and why.",
        lifespan=lifespan,
        # served by the docs router, behind a key unless FEEDBACK_NLP_PUBLIC_DOCS is true
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # the body limit answers an invalid Content-Length on any route
        responses=error_responses(400),
        # operationId = the route function's name (score, list_themes, get_theme, ...): stable for clients
        # generated from the description, and unique (tested)
        generate_unique_id_function=lambda route: route.name,
    )
    app.openapi = _openapi_with_problems(app)  # type: ignore[method-assign]
    app.state.service = state
    # added last = outermost: metrics also time the requests the body limit rejects
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(AccessLogMiddleware)  # outermost: every answer gets its request id, and is logged
    _install_error_handlers(app)
    for module in (score, themes, split, search, curation, corrections, roadmap, admin, health, docs):
        app.include_router(module.router)
    app.include_router(alignment.router)
    integrations.install(app, state)
    app.include_router(web.router)
    app.add_exception_handler(web.LoginRequired, web.login_redirect)
    app.mount(docs.STATIC_PATH, docs.static_files(), name="static")
    return app


app = create_app()
