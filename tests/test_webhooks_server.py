"""Support-desk webhooks against the real server: ``feedback-nlp serve`` under uvicorn on loopback.

The recorded sample payloads (tests/data) are posted as Zendesk and Intercom send them, signed with the
desks' documented schemes; what the service stored is read back from its SQLite store.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from feedback_nlp.desks import intercom_signature, zendesk_signature
from feedback_nlp.notify.outbox import Outbox
from feedback_nlp.store import open_store
from feedback_nlp.store_schema import webhook_receipts
from tests.test_service_server import KEY, running_server

DATA = Path(__file__).parent / "data"
ZENDESK_SECRET = "zendesk-test-secret"
INTERCOM_SECRET = "intercom-test-secret"
OWNERS = ("maya@ledgerly.example", "@identity-team", "li@ledgerly.example", "@design-team")

pytestmark = pytest.mark.slow


def zendesk_headers(body: bytes, *, secret: str = ZENDESK_SECRET, age_s: float = 0) -> dict[str, str]:
    timestamp = (datetime.now(UTC) - timedelta(seconds=age_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": zendesk_signature(secret, timestamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
    }


def zendesk_post(client: httpx.Client, body: bytes, *, secret: str = ZENDESK_SECRET, age_s: float = 0):
    headers = zendesk_headers(body, secret=secret, age_s=age_s)
    return client.post("/v1/webhooks/zendesk", content=body, headers=headers)


def intercom_body(name: str, age_s: float = 0) -> bytes:
    payload = json.loads((DATA / name).read_text(encoding="utf-8"))
    payload["created_at"] = int(time.time() - age_s)  # the recorded delivery, sent now
    return json.dumps(payload).encode()


def intercom_post(client: httpx.Client, body: bytes, *, secret: str = INTERCOM_SECRET):
    headers = {"Content-Type": "application/json", "X-Hub-Signature": intercom_signature(secret, body)}
    return client.post("/v1/webhooks/intercom", content=body, headers=headers)


def test_desk_webhooks_are_verified_scored_stored_once_and_alert_owners(tmp_path, tiny_model_dir):
    notifications = tmp_path / "notifications.yaml"
    owners = {owner: {"slack_webhook_url": "http://127.0.0.1:9/unused"} for owner in OWNERS}
    notifications.write_text(json.dumps({"rules": {"new_theme": True}, "owners": owners}), encoding="utf-8")
    env = {
        "FEEDBACK_NLP_ZENDESK_WEBHOOK_SECRET": ZENDESK_SECRET,
        "FEEDBACK_NLP_INTERCOM_CLIENT_SECRET": INTERCOM_SECRET,
        "FEEDBACK_NLP_NOTIFICATIONS_FILE": str(notifications),
    }
    zendesk_body = (DATA / "zendesk_ticket_created.json").read_bytes()
    with (
        running_server(tmp_path, tiny_model_dir, **env) as (base, _process),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        first = zendesk_post(client, zendesk_body)
        assert first.status_code == 200, first.text
        assert first.json()["status"] == "scored" and first.json()["result"]["id"] == "zendesk-35436"
        # a retry (same ticket, same text) returns the first answer and stores nothing new
        retry = zendesk_post(client, zendesk_body)
        assert retry.json() == {**first.json(), "status": "duplicate"}

        assert zendesk_post(client, zendesk_body, secret="wrong").status_code == 401
        tampered = zendesk_body.replace(b"CSV export", b"PDF export")
        signed_for_original = zendesk_headers(zendesk_body)
        tampered_post = client.post("/v1/webhooks/zendesk", content=tampered, headers=signed_for_original)
        assert tampered_post.status_code == 401
        unsigned = client.post("/v1/webhooks/zendesk", content=zendesk_body)
        assert unsigned.status_code == 401 and "detail" in unsigned.json()
        assert zendesk_post(client, zendesk_body, age_s=3600).status_code == 401  # a replay, too old

        created = intercom_post(client, intercom_body("intercom_conversation_user_created.json"))
        assert created.status_code == 200 and created.json()["status"] == "scored"
        replied = intercom_post(client, intercom_body("intercom_conversation_user_replied.json"))
        assert replied.json()["result"]["id"] == "intercom-147000000012-9002"
        replay = intercom_body("intercom_conversation_user_replied.json")
        assert intercom_post(client, replay).json()["status"] == "duplicate"
        assert intercom_post(client, replay, secret="wrong").status_code == 401
        stale = intercom_body("intercom_conversation_user_created.json", age_s=3600)
        assert intercom_post(client, stale).status_code == 401
        ping = json.dumps({"type": "notification_event", "topic": "ping", "created_at": int(time.time())})
        assert intercom_post(client, ping.encode()).json()["status"] == "ignored"
        not_json = intercom_post(client, b"{not json")
        assert not_json.status_code == 422

        metrics = client.get("/metrics", headers={"X-API-Key": KEY}).text
        assert 'feedback_nlp_webhook_deliveries_total{desk="zendesk",outcome="duplicate"} 1.0' in metrics
        assert 'feedback_nlp_webhook_deliveries_total{desk="intercom",outcome="refused"} 2.0' in metrics
        assert 'feedback_nlp_outbox_messages{state="pending"}' in metrics

    store = open_store(f"sqlite:///{tmp_path}/server.sqlite")
    try:
        assert store.count_items() == 3
        ticket = store.get_item("zendesk-35436")
        assert ticket is not None and ticket["account_id"] == "ORG-0042"
        stored_text = json.dumps(ticket, default=str)
        assert "jane.doe@example.com" not in stored_text and "555 0134" not in stored_text  # redacted
        with store.engine.connect() as connection:
            assert connection.execute(select(func.count()).select_from(webhook_receipts)).scalar_one() == 3
        # owner alerts: each item is the first of its theme in an empty store, so routed ones alert
        alerts = Outbox(store.engine).rows()
        routed = [
            item_id
            for item_id in ("zendesk-35436", "intercom-147000000012", "intercom-147000000012-9002")
            if (store.get_item(item_id) or {}).get("route") == "owner"
        ]
        assert alerts and len({row.message.idempotency_key for row in alerts}) == len(alerts)
        assert {row.message.kind for row in alerts} == {"alert"} and len(alerts) <= len(routed)
        for row in alerts:
            assert "jane.doe@example.com" not in row.message.payload
    finally:
        store.close()
