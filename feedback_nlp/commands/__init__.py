"""Subcommands of the ``feedback-nlp`` console script.

Each module here has ``register(subparsers)`` which adds its parser and sets ``func`` (called with the
parsed args, returning an exit code). Heavy imports (torch, spaCy, FastAPI) happen inside ``func`` so that
``feedback-nlp --help`` stays instant.
"""

from feedback_nlp.commands import (
    curation,
    evaluate,
    ingest,
    models,
    report,
    score,
    send_outbox,
    serve,
    themes,
    train,
)

# in the order ``feedback-nlp --help`` lists them
COMMANDS = (train, score, themes, evaluate, ingest, serve, report, curation, models, send_outbox)
