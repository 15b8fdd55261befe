"""POST /v1/webhooks/zendesk and /v1/webhooks/intercom: feedback in the shapes support desks send.

The desks sign their deliveries instead of sending an API key: each route checks its desk's signature
(constant time) and how old the delivery is (replay protection) before reading the body, then maps the
ticket or conversation onto the feedback schema (:mod:`feedback_nlp.desks`), scores and stores it like
``/v1/score`` and answers with the same result. A retry or a replay (same desk key, same text) is answered
with the first result and stores nothing (:mod:`feedback_nlp.desk_receipts`). Owners are notified of what
meets their rules through the outbox (:mod:`feedback_nlp.notify.alerts`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Request, status
from pydantic import BaseModel, SecretStr
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from feedback_nlp.desk_receipts import Receipt, find_receipt, save_receipt, text_fingerprint
from feedback_nlp.desks import (
    DESK_INTERCOM,
    DESK_ZENDESK,
    DeskEvent,
    intercom_event,
    intercom_signature,
    parse_unix_time,
    parse_zendesk_timestamp,
    signature_matches,
    zendesk_event,
    zendesk_signature,
)
from feedback_nlp.errors import ValidationError
from feedback_nlp.redact import redact_metadata
from feedback_nlp.schemas import plain_json
from feedback_nlp.service.deps import ServiceState, StateDep, get_model, get_store
from feedback_nlp.service.errors import FieldErrors
from feedback_nlp.service.rate_limit import SCOPE_KEY
from feedback_nlp.service.schemas import ErrorResponse, error_responses
from feedback_nlp.service.work_budget import score_in_time
from feedback_nlp.settings import Settings
from feedback_nlp.store import check_record_fits

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=error_responses(413, 422, 429))

_SIGNATURE_401 = {"model": ErrorResponse, "description": "Missing or wrong signature, or a stale delivery"}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _SIGNATURE_401,
    404: {"model": ErrorResponse, "description": "This desk's secret is not configured"},
    503: {"model": ErrorResponse, "description": "No model loaded, or the store is unreachable"},
}


class WebhookResult(BaseModel):
    """What became of a delivery: ``scored`` (first time), ``duplicate`` (a retry or replay: the first
    result, nothing stored again) or ``ignored`` (a topic without customer words, such as Intercom's ping)."""

    status: Literal["scored", "duplicate", "ignored"]
    desk: str
    event_key: str | None = None
    result: dict[str, Any] | None = None


def _count(request: Request, desk: str, outcome: str) -> None:
    metrics = getattr(request.app.state, "webhook_metrics", None)
    if metrics is not None:
        metrics.deliveries.labels(desk=desk, outcome=outcome).inc()


def _refuse(request: Request, desk: str, detail: str) -> HTTPException:
    _count(request, desk, "refused")
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail)


def _secret(value: SecretStr | None, desk: str, variable: str) -> str:
    if value is None or not value.get_secret_value():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"the {desk} webhook is not configured; set {variable} to enable it"
        )
    return value.get_secret_value()


def _spend_desk_budget(state: ServiceState, desk: str) -> None:
    # A verified delivery spends its desk's budget, as a request with a valid key spends the key's
    # (FEEDBACK_NLP_RATE_LIMIT): a leaked secret cannot flood the model. Unsigned requests spend nothing:
    # an HMAC cannot be guessed, refusing one is cheap, and desks send from shared addresses that the
    # unauthenticated per-address budget would throttle.
    if state.rate_limiter is not None:
        state.rate_limiter.check(SCOPE_KEY, f"webhook:{desk}")


def _check_fresh(request: Request, desk: str, sent_at: datetime | None, settings: Settings) -> None:
    if sent_at is None:
        raise _refuse(request, desk, "the delivery has no readable timestamp")
    age = datetime.now(UTC) - sent_at
    tolerance = timedelta(seconds=settings.webhook_tolerance_seconds)
    if age > tolerance or age < -tolerance:
        raise _refuse(
            request,
            desk,
            f"the delivery is {int(age.total_seconds())} s old, outside the "
            f"{settings.webhook_tolerance_seconds} s window (FEEDBACK_NLP_WEBHOOK_TOLERANCE_SECONDS)",
        )


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FieldErrors([("body", f"the body is not valid JSON ({exc})")]) from None
    if not isinstance(payload, dict):
        raise FieldErrors([("body", "expected a JSON object")])
    return payload


def _prepared(event: DeskEvent, settings: Settings) -> DeskEvent:
    record = event.record
    if len(record.text) > settings.max_text_chars:
        raise FieldErrors(
            [("text", f"{len(record.text)} characters, over the limit of {settings.max_text_chars}")]
        )
    raw_columns = settings.split_keys(settings.raw_metadata_columns)
    record = dataclasses.replace(record, metadata=redact_metadata(record.metadata, raw_columns))
    try:
        check_record_fits(record)
    except ValidationError as exc:
        raise FieldErrors([(exc.field, exc.message)]) from None
    return dataclasses.replace(event, record=record)


async def _score_and_store(event: DeskEvent, state: ServiceState) -> WebhookResult:
    event = _prepared(event, state.settings)
    store = get_store(state)
    fingerprint = text_fingerprint(event.record.text)
    try:
        earlier = await run_in_threadpool(find_receipt, store.engine, event.desk, event.event_key)
    except SQLAlchemyError as exc:
        logger.error("could not read webhook receipts: %s", exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "feedback store unavailable; retry later"
        ) from None
    if earlier is not None and earlier.text_sha256 == fingerprint:
        return WebhookResult(
            status="duplicate", desk=event.desk, event_key=event.event_key, result=earlier.result
        )
    model = get_model(state)
    try:
        scores = await score_in_time(model, [event.record], state.settings, state.metrics, "")
    except ValidationError as exc:
        raise FieldErrors([(exc.field, exc.message)]) from None
    result = plain_json(scores[0].to_dict())
    try:
        await run_in_threadpool(store.upsert_scored_batch, [(event.record, scores[0])])
        standing = await run_in_threadpool(
            save_receipt,
            store.engine,
            Receipt(event.desk, event.event_key, event.record.id, fingerprint, result),
        )
    except SQLAlchemyError as exc:
        logger.error("could not store the %s delivery %s: %s", event.desk, event.event_key, exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "feedback store unavailable; nothing was stored, retry later"
        ) from None
    state.metrics.observe_scores(scores)
    await _notify_owners(state, event, scores[0], model)
    return WebhookResult(status="scored", desk=event.desk, event_key=event.event_key, result=standing.result)


async def _notify_owners(state: ServiceState, event: DeskEvent, score: Any, model: Any) -> None:
    from feedback_nlp.notify.alerts import enqueue_alerts

    try:
        await run_in_threadpool(enqueue_alerts, state.store, state.settings, event.record, score, model)
    except Exception:  # a notification problem must not fail the delivery the desk would then retry
        logger.exception("could not queue owner notifications for %s", event.record.id)


@router.post(
    "/zendesk",
    response_model=WebhookResult,
    summary="Score a Zendesk ticket webhook (event subscription or trigger)",
    responses=_RESPONSES,
)
async def zendesk_webhook(
    request: Request,
    state: StateDep,
    x_zendesk_webhook_signature: Annotated[str | None, Header()] = None,
    x_zendesk_webhook_signature_timestamp: Annotated[str | None, Header()] = None,
) -> WebhookResult:
    """Checks ``X-Zendesk-Webhook-Signature`` (base64 HMAC-SHA256 of timestamp + body with
    FEEDBACK_NLP_ZENDESK_WEBHOOK_SECRET) and the timestamp's age, then scores and stores the ticket."""
    secret = _secret(state.settings.zendesk_webhook_secret, "Zendesk", "FEEDBACK_NLP_ZENDESK_WEBHOOK_SECRET")
    body = await request.body()
    timestamp = x_zendesk_webhook_signature_timestamp or ""
    if not signature_matches(zendesk_signature(secret, timestamp, body), x_zendesk_webhook_signature):
        raise _refuse(request, DESK_ZENDESK, "missing or wrong X-Zendesk-Webhook-Signature")
    _check_fresh(request, DESK_ZENDESK, parse_zendesk_timestamp(timestamp), state.settings)
    _spend_desk_budget(state, DESK_ZENDESK)
    try:
        event = zendesk_event(_json_body(body))
    except ValidationError as exc:
        raise FieldErrors([(exc.field, exc.message)]) from None
    result = await _score_and_store(event, state)
    _count(request, DESK_ZENDESK, result.status)
    return result


@router.post(
    "/intercom",
    response_model=WebhookResult,
    summary="Score an Intercom conversation webhook",
    responses=_RESPONSES,
)
async def intercom_webhook(
    request: Request,
    state: StateDep,
    x_hub_signature: Annotated[str | None, Header()] = None,
) -> WebhookResult:
    """Checks ``X-Hub-Signature`` (``sha1=`` hex HMAC-SHA1 of the body with
    FEEDBACK_NLP_INTERCOM_CLIENT_SECRET) and the notification's ``created_at``, then scores and stores the
    customer's message (``conversation.user.created``) or reply (``conversation.user.replied``); other
    topics are ignored."""
    secret = _secret(state.settings.intercom_client_secret, "Intercom", "FEEDBACK_NLP_INTERCOM_CLIENT_SECRET")
    body = await request.body()
    if not signature_matches(intercom_signature(secret, body), x_hub_signature):
        raise _refuse(request, DESK_INTERCOM, "missing or wrong X-Hub-Signature")
    payload = _json_body(body)
    # Intercom signs the body only: its created_at (inside the signed body) dates the delivery
    _check_fresh(request, DESK_INTERCOM, parse_unix_time(payload.get("created_at")), state.settings)
    _spend_desk_budget(state, DESK_INTERCOM)
    try:
        event = intercom_event(payload)
    except ValidationError as exc:
        raise FieldErrors([(exc.field, exc.message)]) from None
    if event is None:
        _count(request, DESK_INTERCOM, "ignored")
        return WebhookResult(status="ignored", desk=DESK_INTERCOM)
    result = await _score_and_store(event, state)
    _count(request, DESK_INTERCOM, result.status)
    return result


__all__ = ["DESK_ZENDESK", "WebhookResult", "router"]
