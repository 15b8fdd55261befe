"""The ASGI app for process managers, from a checkout: ``uvicorn service.main:app`` in the repository root.

The service lives in :mod:`feedback_nlp.service`; this folder is not installed. From an installed package use
``feedback-nlp serve`` or ``uvicorn feedback_nlp.service.main:app``.
"""

from feedback_nlp.service.main import app

__all__ = ["app"]
