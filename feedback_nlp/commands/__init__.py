"""Subcommands of the ``feedback-nlp`` console script.

Each module here has ``register(subparsers)`` which adds its parser and sets ``func`` (called with the
parsed args, returning an exit code). Heavy imports (torch, spaCy, FastAPI) happen inside ``func`` so that
``feedback-nlp --help`` stays instant.
"""

COMMAND_MODULES = [
    "feedback_nlp.commands.train",
    "feedback_nlp.commands.score",
    "feedback_nlp.commands.themes",
    "feedback_nlp.commands.evaluate",
    "feedback_nlp.commands.ingest",
    "feedback_nlp.commands.serve",
    "feedback_nlp.commands.report",
]
