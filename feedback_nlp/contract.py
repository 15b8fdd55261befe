"""The bounds of the input contract: one implementation for files (ingest, train) and the API.

Every function returns why a value breaks the contract (a sentence to follow the field's name), or None.
:func:`feedback_nlp.ingest.validate_row` quarantines a row for it, the service's request schema answers 422
with it, and :func:`feedback_nlp.store.check_record_fits` refuses to store it, so a value is accepted or
refused the same way everywhere.

Bounds (also in README.md, "Input contract"):

- ``created_at``: from ``CREATED_AT_MIN`` (1970-01-01T00:00:00Z) up to, not including, ``CREATED_AT_MAX``
  (2100-01-01T00:00:00Z). Feedback is dated by the systems that record it; anything outside is a broken
  export, and near the limits of Python's datetime a time zone shift overflows.
- ``account_arr``: a number (never a boolean), finite, from 0 to ``ACCOUNT_ARR_MAX`` (1e12, a trillion a
  year: more than any one account pays). Reports add ARR over many items; with this bound a sum over a
  billion items stays far from float overflow.
- Metadata: finite floats; integers within a signed 64-bit range (``JSON_INT_MAX``), what a database's
  JSON column and most JSON readers keep exactly; at most ``JSON_MAX_DEPTH`` (32) levels of nesting.
- Text: no NUL character and no unpaired surrogate (no database stores them; spaCy and the encoder fail on
  them); short fields at most ``FIELD_MAX_CHARS`` characters (the store's column sizes).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

CREATED_AT_MIN = datetime(1970, 1, 1, tzinfo=UTC)
CREATED_AT_MAX = datetime(2100, 1, 1, tzinfo=UTC)
ACCOUNT_ARR_MAX = 1e12
JSON_INT_MAX = 2**63 - 1
JSON_MAX_DEPTH = 32  # nesting of metadata values: deeper is no one's real metadata, and recursion must end


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be kept as text (a NUL or an unpaired surrogate), or None."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains characters that are not valid Unicode (unpaired surrogates)"
    return None


def json_problem(value: Any, depth: int = 0) -> str | None:
    """Why a JSON value cannot be kept (a bad string anywhere in it, a number out of bounds), or None."""
    if depth > JSON_MAX_DEPTH:
        return f"nested deeper than {JSON_MAX_DEPTH} levels"
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "contains a number that is not finite (NaN or Infinity)"
    if isinstance(value, int) and abs(value) > JSON_INT_MAX:
        return f"contains an integer beyond the 64-bit range (at most {JSON_INT_MAX} in size)"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = json_problem(str(key)) or json_problem(item, depth + 1)
            if problem:
                return problem
    if isinstance(value, (list, tuple)):
        for item in value:
            problem = json_problem(item, depth + 1)
            if problem:
                return problem
    return None


def created_at_problem(value: datetime) -> str | None:
    """Why a timezone-aware ``created_at`` is outside the supported range, or None.

    Compared before any conversion to UTC: converting a time near year 1 or 9999 overflows.
    """
    if value < CREATED_AT_MIN:
        return f"{value.isoformat()} is before {CREATED_AT_MIN.isoformat()}, the earliest date accepted"
    if value >= CREATED_AT_MAX:
        return f"{value.isoformat()} is not before {CREATED_AT_MAX.isoformat()}, the latest date accepted"
    return None


def account_arr_problem(value: Any) -> str | None:
    """Why ``value`` is not an account ARR (a finite number from 0 to ACCOUNT_ARR_MAX), or None."""
    if isinstance(value, bool):
        return f"{value!r} is a boolean, not a number"
    if not isinstance(value, (int, float)):
        return f"{value!r} is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    # compared as given: float() of a huge int overflows
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    shown = shown if len(shown) <= 30 else f"{shown[:12]}... ({len(shown)} digits)"
    if value < 0:
        return f"{shown} is negative; ARR must be >= 0"
    if value > ACCOUNT_ARR_MAX:
        return f"{shown} is over the limit of {ACCOUNT_ARR_MAX:g}"
    return None
