"""Reject request bodies over the size limit before they are read or parsed (413 as problem details)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feedback_nlp.service.problems import problem_response


class BodySizeLimitMiddleware:
    """Stop reading a request body at the size limit.

    A declared ``Content-Length`` over the limit fails on the first read, before any byte is read; a
    chunked body is counted as it arrives. The failure is an ``HTTPException(413)`` raised where the route
    reads its body, so the app's handlers answer it (JSON) and metrics label it with the route template.
    Routes that never read a body are not affected.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> HTTPException:
        return HTTPException(
            413,
            f"request body over the limit of {self.max_bytes} bytes "
            "(FEEDBACK_NLP_MAX_BODY_BYTES); send fewer items per request",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: int | None = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    answer = problem_response(400, "invalid Content-Length header", scope.get("path", ""))
                    await answer(scope, receive, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if declared is not None and declared > self.max_bytes:
                raise self._too_large()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, limited_receive, send)
