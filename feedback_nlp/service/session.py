"""The workbench's sign-in: an API key exchanged for a signed session cookie, and a CSRF token per session.

The cookie holds the role, the key's name (role and fingerprint, never the key) and a random CSRF token,
signed with ``FEEDBACK_NLP_SESSION_SECRET`` (itsdangerous, timed). It is HttpOnly, SameSite=Strict, and
Secure when the page is served over HTTPS. Every form posts the session's CSRF token back; a POST without
the matching token is refused.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE_NAME = "fnlp_session"
SALT = "feedback-nlp-workbench"


@dataclass(frozen=True)
class Session:
    role: str
    name: str  # who, for the record: the key's role and fingerprint
    csrf: str

    def csrf_ok(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf.encode(), str(presented).encode())


class SessionSigner:
    """Signs and reads session cookies; a cookie older than ``max_age_seconds`` is no session."""

    def __init__(self, secret: str, max_age_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=SALT)
        self.max_age_seconds = max_age_seconds

    def new(self, role: str, name: str) -> tuple[Session, str]:
        """A fresh session and its cookie value."""
        session = Session(role, name, secrets.token_urlsafe(24))
        value = self._serializer.dumps({"role": session.role, "name": session.name, "csrf": session.csrf})
        return session, value

    def read(self, value: str | None) -> Session | None:
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=self.max_age_seconds)
        except BadSignature:  # also an expired one (SignatureExpired is a BadSignature)
            return None
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in ("role", "name", "csrf")
        ):
            return None
        return Session(data["role"], data["name"], data["csrf"])
