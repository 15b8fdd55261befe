"""Errors the service turns into HTTP answers (see the handlers in :mod:`feedback_nlp.service.main`)."""

from __future__ import annotations


class FieldErrors(Exception):
    """Bad input found after parsing (batch too large, text too long): answered as 422 naming the fields."""

    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))
        self.errors = errors
