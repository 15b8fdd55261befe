"""Support desks' own shapes (Zendesk, Intercom) mapped onto the feedback schema, and their signatures.

One implementation for both ends: the service's webhooks (``feedback_nlp.service.routers.webhooks``) and
the file adapters of ``feedback-nlp ingest --format`` (``feedback_nlp.desk_exports``) read a ticket or a
conversation with the functions here, so a ticket becomes the same record whichever way it arrives.

Documented shapes followed:

- Zendesk webhooks (developer.zendesk.com, "Verifying webhook authenticity"): ``X-Zendesk-Webhook-Signature``
  is ``base64(HMAC-SHA256(secret, timestamp + body))`` with the timestamp from
  ``X-Zendesk-Webhook-Signature-Timestamp`` (ISO 8601). The body is either an event subscription
  (``{"type": "zen:event-type:ticket.created", "detail": {ticket fields}}``) or the JSON a trigger sends
  (``{"ticket": {...}}``, see README.md for the placeholders).
- Intercom webhooks ("Signed notifications"): ``X-Hub-Signature: sha1=<hex HMAC-SHA1(client_secret, body)>``;
  the body is a ``notification_event`` with ``topic``, ``created_at`` (Unix seconds) and ``data.item``, a
  conversation for the ``conversation.*`` topics.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from feedback_nlp.errors import ValidationError
from feedback_nlp.schemas import SOURCE_TICKET, FeedbackRecord

DESK_ZENDESK = "zendesk"
DESK_INTERCOM = "intercom"
# Intercom topics that carry something a customer wrote; every other topic (``ping`` when a webhook is set
# up, admin replies, assignments) is acknowledged and ignored.
INTERCOM_CREATED_TOPICS = frozenset({"conversation.user.created"})
INTERCOM_REPLY_TOPICS = frozenset({"conversation.user.replied"})
# Authors whose words are customer feedback (Intercom calls a visitor who left an e-mail a "lead").
_CUSTOMER_AUTHORS = frozenset({"user", "lead", "contact"})
_ZENDESK_TICKET_EVENT = re.compile(r"^zen:event-type:ticket\.")


@dataclass(frozen=True)
class DeskEvent:
    """One thing a customer wrote, as a desk sent it: the desk's own key for it and the feedback record.

    ``event_key`` is the desk's id of the ticket (Zendesk) or conversation part (Intercom): retries and
    replays of one delivery carry the same key.
    """

    desk: str
    event_key: str
    record: FeedbackRecord


# -- signatures ------------------------------------------------------------------------------------------


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The signature Zendesk sends for ``body``: base64 of HMAC-SHA256 over timestamp + body."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def intercom_signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature`` value Intercom sends for ``body``: ``sha1=`` and the hex HMAC-SHA1."""
    return "sha1=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def signature_matches(expected: str, presented: str | None) -> bool:
    """Constant-time comparison (the time taken does not reveal how much of a guess was right)."""
    if presented is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), presented.strip().encode("utf-8", "surrogateescape"))


def parse_zendesk_timestamp(value: str | None) -> datetime | None:
    """The signature timestamp as an aware datetime, None when missing or not ISO 8601."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_unix_time(value: Any) -> datetime | None:
    """Unix seconds (Intercom's times) as an aware datetime, None when missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


# -- text ---------------------------------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset({"p", "div", "br", "li", "ul", "ol", "tr", "h1", "h2", "h3", "h4", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """The words of an HTML message body (Intercom sends ``<p>...</p>``), one line per block."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _join_subject(subject: str, body: str) -> str:
    subject = " ".join(subject.split())
    if not subject or body.lower().startswith(subject.lower()):
        return body
    return f"{subject}\n\n{body}" if body else subject


def _text_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _arr(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValidationError("account_arr", f"{value!r} is not a number") from None


# -- Zendesk ------------------------------------------------------------------------------------------------


def zendesk_ticket_fields(payload: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The ticket inside a Zendesk webhook body and the event's name.

    Raises:
        ValidationError: the body is neither an event subscription's ticket event nor a trigger's
            ``{"ticket": ...}``.
    """
    event_type = str(payload.get("type") or "")
    if _ZENDESK_TICKET_EVENT.match(event_type) and isinstance(payload.get("detail"), Mapping):
        return payload["detail"], event_type
    if isinstance(payload.get("ticket"), Mapping):
        return payload["ticket"], "trigger"
    raise ValidationError(
        "body",
        "not a Zendesk ticket webhook: expected a ticket event ({'type': 'zen:event-type:ticket.*', "
        "'detail': {...}}) or a trigger body ({'ticket': {...}}); see README.md, 'Zendesk'",
    )


def zendesk_record(
    ticket: Mapping[str, Any], event: str = "export", now: datetime | None = None
) -> DeskEvent:
    """One Zendesk ticket (webhook detail, trigger body or export row) as feedback.

    Raises:
        ValidationError: no id, or no subject and no description.
    """
    ticket_id = _text_or_none(ticket.get("id"))
    if ticket_id is None:
        raise ValidationError("ticket.id", "missing; a Zendesk ticket needs its id")
    body = str(ticket.get("description") or "").strip()
    text = _join_subject(str(ticket.get("subject") or ticket.get("raw_subject") or ""), body)
    if not text:
        raise ValidationError("ticket.description", "empty; the ticket has no subject and no description")
    created_at = parse_zendesk_timestamp(_text_or_none(ticket.get("created_at"))) or now or datetime.now(UTC)
    via = ticket.get("via")
    channel = _text_or_none(via.get("channel")) if isinstance(via, Mapping) else _text_or_none(via)
    tags = ticket.get("tags")
    metadata: dict[str, Any] = {"desk": DESK_ZENDESK, "desk_event": event, "desk_ticket_id": ticket_id}
    if isinstance(tags, list):
        metadata["tags"] = [str(tag) for tag in tags]
    elif isinstance(tags, str) and tags.strip():
        metadata["tags"] = tags.split()  # a trigger's {{ticket.tags}} is space-separated
    record = FeedbackRecord(
        id=f"zendesk-{ticket_id}",
        text=text,
        source=SOURCE_TICKET,
        created_at=created_at,
        account_id=_text_or_none(ticket.get("organization_id")),
        account_arr=_arr(ticket.get("account_arr")),
        segment=_text_or_none(ticket.get("segment")),
        channel=f"zendesk:{channel}" if channel else "zendesk",
        metadata=metadata,
    )
    return DeskEvent(DESK_ZENDESK, ticket_id, record)


def zendesk_event(payload: Mapping[str, Any], now: datetime | None = None) -> DeskEvent:
    """The feedback in a Zendesk webhook body. Raises ValidationError (see :func:`zendesk_ticket_fields`)."""
    ticket, event = zendesk_ticket_fields(payload)
    return zendesk_record(ticket, event, now)


# -- Intercom -----------------------------------------------------------------------------------------------


def _author_is_customer(part: Mapping[str, Any]) -> bool:
    author = part.get("author")
    return isinstance(author, Mapping) and str(author.get("type") or "") in _CUSTOMER_AUTHORS


def _last_customer_part(conversation: Mapping[str, Any]) -> Mapping[str, Any] | None:
    parts_holder = conversation.get("conversation_parts")
    parts = parts_holder.get("conversation_parts") if isinstance(parts_holder, Mapping) else None
    if not isinstance(parts, list):
        return None
    customer_parts = [p for p in parts if isinstance(p, Mapping) and _author_is_customer(p) and p.get("body")]
    return customer_parts[-1] if customer_parts else None


def _intercom_account(conversation: Mapping[str, Any]) -> tuple[str | None, float | None]:
    # Intercom conversations name people, not accounts: an account id and ARR travel as custom attributes
    attributes = conversation.get("custom_attributes")
    if not isinstance(attributes, Mapping):
        return None, None
    return _text_or_none(attributes.get("account_id")), _arr(attributes.get("account_arr"))


def intercom_conversation_record(
    conversation: Mapping[str, Any], part: Mapping[str, Any] | None, topic: str
) -> DeskEvent:
    """The opening message (``part`` None) or one customer reply of an Intercom conversation as feedback.

    Raises:
        ValidationError: no conversation id, or no text.
    """
    conversation_id = _text_or_none(conversation.get("id"))
    if conversation_id is None:
        raise ValidationError("data.item.id", "missing; an Intercom conversation needs its id")
    source = conversation.get("source") if isinstance(conversation.get("source"), Mapping) else {}
    assert isinstance(source, Mapping)
    if part is None:
        text = _join_subject(
            html_to_text(str(source.get("subject") or "")), html_to_text(str(source.get("body") or ""))
        )
        key, item_id = conversation_id, f"intercom-{conversation_id}"
        created = parse_unix_time(conversation.get("created_at"))
        channel = _text_or_none(source.get("delivered_as")) or _text_or_none(source.get("type"))
    else:
        part_id = _text_or_none(part.get("id"))
        if part_id is None:
            raise ValidationError("data.item.conversation_parts", "the customer's reply has no id")
        text = html_to_text(str(part.get("body") or ""))
        key, item_id = f"{conversation_id}:{part_id}", f"intercom-{conversation_id}-{part_id}"
        created = parse_unix_time(part.get("created_at"))
        channel = _text_or_none(part.get("part_type"))
    if not text:
        raise ValidationError("data.item.source.body", "empty; the customer's message has no text")
    account_id, account_arr = _intercom_account(conversation)
    record = FeedbackRecord(
        id=item_id,
        text=text,
        source=SOURCE_TICKET,
        created_at=created or datetime.now(UTC),
        account_id=account_id,
        account_arr=account_arr,
        channel=f"intercom:{channel}" if channel else "intercom",
        metadata={"desk": DESK_INTERCOM, "desk_event": topic, "desk_conversation_id": conversation_id},
    )
    return DeskEvent(DESK_INTERCOM, key, record)


def intercom_event(payload: Mapping[str, Any]) -> DeskEvent | None:
    """The feedback in an Intercom notification, None for a topic that carries none (``ping``, admin replies).

    Raises:
        ValidationError: not a ``notification_event``, or a conversation topic without a conversation.
    """
    if payload.get("type") != "notification_event":
        raise ValidationError("type", "not an Intercom notification: expected 'type': 'notification_event'")
    topic = str(payload.get("topic") or "")
    if topic not in INTERCOM_CREATED_TOPICS | INTERCOM_REPLY_TOPICS:
        return None
    data = payload.get("data")
    item = data.get("item") if isinstance(data, Mapping) else None
    if not isinstance(item, Mapping) or item.get("type") != "conversation":
        raise ValidationError("data.item", f"topic {topic!r} without a conversation in data.item")
    if topic in INTERCOM_CREATED_TOPICS:
        return intercom_conversation_record(item, None, topic)
    part = _last_customer_part(item)
    if part is None:
        raise ValidationError("data.item.conversation_parts", "no reply written by the customer")
    return intercom_conversation_record(item, part, topic)
