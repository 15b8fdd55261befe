"""``feedback-nlp serve``: run the scoring service (FastAPI under uvicorn) over the latest model."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from feedback_nlp.settings import LOG_LEVELS

logger = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the scoring service (HTTP API) over the latest model",
        description="Serve POST /v1/score, themes, roadmap, health and metrics with uvicorn. API keys come "
        "from FEEDBACK_NLP_API_KEYS and FEEDBACK_NLP_ADMIN_KEYS (comma-separated).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="folder of model versions with LATEST (default: FEEDBACK_NLP_MODELS_DIR or models/)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL of the store (default: FEEDBACK_NLP_DATABASE_URL or feedback.sqlite beside the "
        "models dir)",
    )
    parser.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default=None,
        help="log level (default: FEEDBACK_NLP_LOG_LEVEL or info); one access line per request at info",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=None,
        help="text lines or one JSON object per line (default: FEEDBACK_NLP_LOG_FORMAT or text)",
    )
    parser.add_argument(
        "--insecure-dev",
        action="store_true",
        help="allow starting without API keys (every request allowed); development only",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feedback_nlp.errors import ConfigError
    from feedback_nlp.settings import Settings, get_settings

    settings = get_settings()
    overrides = {
        "models_dir": args.models_dir,
        "database_url": args.database_url,
        "log_level": args.log_level,
        "log_format": args.log_format,
    }
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    has_keys = bool(Settings.split_keys(settings.api_keys) or Settings.split_keys(settings.admin_keys))
    if not has_keys and not args.insecure_dev:
        from feedback_nlp.service.main import NO_KEYS_MESSAGE

        raise ConfigError(f"refusing to start: {NO_KEYS_MESSAGE}")
    if not has_keys and args.host not in _LOOPBACK:
        logger.warning(
            "--insecure-dev without keys on %s: anyone who can reach it can use the API", args.host
        )

    import uvicorn

    from feedback_nlp.service.access_log import log_config
    from feedback_nlp.service.main import create_app

    app = create_app(settings, insecure_dev=args.insecure_dev)
    print(
        f"feedback-nlp serve: http://{args.host}:{args.port} (models: {settings.models_dir}, "
        f"store: {_shown(settings.store_url())}, docs: /docs)",
        flush=True,
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=log_config(settings.log_level, settings.log_format),
        log_level=settings.log_level,
        access_log=False,  # the service's own access log carries the request id
        timeout_graceful_shutdown=10,
    )
    return 0


def _shown(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: the service explains it when it opens the store
        return "(unparsable URL)"
