"""Delivering one message: a Slack-compatible incoming webhook (HTTP POST of Block Kit JSON) or SMTP.

Each delivery either returns (delivered) or raises :class:`DeliveryError`, which says whether trying again
later can help (a timeout, a 5xx, a 429, a refused connection) or not (a 4xx such as Slack's
``invalid_payload`` or ``no_service``, a recipient the relay refuses): the sender retries the first kind
with backoff and dead-letters the second at once.
"""

from __future__ import annotations

import smtplib
import ssl
from email import message_from_string, policy
from email.message import EmailMessage

import httpx

from feedback_nlp.settings import Settings

IDEMPOTENCY_HEADER = "X-Idempotency-Key"
_TIMEOUT_SECONDS = 10.0


class DeliveryError(Exception):
    """A delivery failed; ``retryable`` says whether a later attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


def post_to_slack(url: str, payload_json: str, idempotency_key: str) -> None:
    """POST Block Kit JSON to an incoming webhook. Raises DeliveryError."""
    try:
        response = httpx.post(
            url,
            content=payload_json.encode("utf-8"),
            headers={"Content-Type": "application/json", IDEMPOTENCY_HEADER: idempotency_key},
            timeout=_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        raise DeliveryError(f"Slack webhook unreachable: {exc.__class__.__name__}", retryable=True) from None
    if response.status_code < 300:
        return
    # the URL is a secret: never in the message; Slack's body is a short code such as "invalid_payload"
    reason = f"Slack webhook answered {response.status_code} {response.text[:100]!r}"
    retryable = response.status_code == 429 or response.status_code >= 500
    raise DeliveryError(reason, retryable=retryable)


def parse_email(payload: str) -> EmailMessage:
    """The stored e-mail (RFC 5322 text) as a message object."""
    message = message_from_string(payload, policy=policy.SMTP)
    assert isinstance(message, EmailMessage)
    return message


def send_email(payload: str, settings: Settings) -> None:
    """Send a stored e-mail through the SMTP relay in the settings. Raises DeliveryError."""
    if not settings.smtp_host:
        raise DeliveryError("no SMTP relay: set FEEDBACK_NLP_SMTP_HOST", retryable=False)
    message = parse_email(payload)
    try:
        smtp_class = smtplib.SMTP_SSL if settings.smtp_security == "tls" else smtplib.SMTP
        with smtp_class(settings.smtp_host, settings.smtp_port, timeout=_TIMEOUT_SECONDS) as smtp:
            if settings.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username and settings.smtp_password is not None:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(
            f"the relay refused the recipients {sorted(exc.recipients)}", retryable=False
        ) from None
    except smtplib.SMTPResponseException as exc:
        # 4xx replies are temporary by definition (RFC 5321), 5xx permanent
        raise DeliveryError(f"SMTP answered {exc.smtp_code}", retryable=exc.smtp_code < 500) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP relay unreachable: {exc.__class__.__name__}", retryable=True) from None
