"""Every error answer of the API in one shape: RFC 9457 problem details (``application/problem+json``).

``{"type", "title", "status", "detail", "instance"}``, plus ``errors`` (``[{"field", "message"}]``) when the
input was refused. The handlers in :mod:`feedback_nlp.service.main` and the body-size middleware build their
answers here; :func:`problem_media_types` makes the OpenAPI description say the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

PROBLEM_MEDIA_TYPE = "application/problem+json"
# RFC 9457 section 4.2.1: "about:blank" means the status code says it all; ``title`` is its phrase
ABOUT_BLANK = "about:blank"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_body(
    status: int, detail: str, instance: str, errors: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": ABOUT_BLANK,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(
    status: int,
    detail: str,
    instance: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> ProblemResponse:
    """An error answer; ``instance`` is the request's path, ``errors`` the refused fields (422)."""
    return ProblemResponse(
        problem_body(status, detail, instance, errors), status_code=status, headers=headers
    )


def problem_media_types(openapi: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with every error answer (4xx, 5xx) documented as ``application/problem+json``.

    FastAPI documents a response model under the route's media type (``application/json``); the handlers
    answer errors as problem details, so the description is rewritten to match (schemathesis checks it).
    """
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if code[:1] in ("4", "5") and "application/json" in content:
                    schema = content["application/json"].get("schema", {})
                    if schema.get("$ref", "").endswith("/Problem"):
                        content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    return openapi


# JSON Schema keywords whose value is a number bound.
_BOUND_KEYWORDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})


def integral_bounds(node: Any) -> Any:
    """The OpenAPI document with every whole-number bound written as an integer, in place.

    FastAPI's OpenAPI models hold bounds as floats, so the metadata bound 2**63 is served as
    ``9.223372036854776e+18``. Readers compare a big integer against a float bound inexactly: jsonschema-rs,
    which schemathesis validates with, takes 2**63 + 190 as below that bound, while the contract refuses it.
    As an integer the bound compares exactly everywhere.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUND_KEYWORDS and isinstance(value, float) and value.is_integer():
                node[key] = int(value)
            else:
                integral_bounds(value)
    elif isinstance(node, list):
        for item in node:
            integral_bounds(item)
    return node
