"""The outbox and its sender: leases, retries with backoff, dead letters, the admin API and /metrics.

Deliveries go to real servers on loopback (tests/local_receivers.py): an HTTP receiver for Slack webhooks
and aiosmtpd for e-mail.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from local_receivers import http_receiver, smtp_server

from feedback_nlp.notify.config import parse_notifications
from feedback_nlp.notify.outbox import Outbox, OutboxMessage
from feedback_nlp.notify.render_email import message_id
from feedback_nlp.notify.sender import Sender, retry_delay
from feedback_nlp.settings import Settings
from feedback_nlp.store import open_store

OWNER = "@payments-team"
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
def outbox(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/outbox.sqlite")
    yield Outbox(store.engine)
    store.close()


def slack_message(key: str = "digest:2026-W47:@payments-team:slack") -> OutboxMessage:
    return OutboxMessage(key, "digest", OWNER, "slack", '{"text": "hello", "blocks": []}')


def settings(**overrides) -> Settings:
    values = {"outbox_backoff_seconds": 60.0, "outbox_max_attempts": 3, "outbox_lease_seconds": 30.0}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def config_for(url: str):
    return parse_notifications({"owners": {OWNER: {"slack_webhook_url": url}}})


def test_enqueue_is_idempotent_on_the_key(outbox):
    assert outbox.enqueue(slack_message(), T0) is True
    assert outbox.enqueue(slack_message(), T0) is False
    assert outbox.counts() == {"pending": 1, "sending": 0, "sent": 0, "dead": 0}


def test_a_lease_keeps_others_off_until_it_expires(outbox):
    outbox.enqueue(slack_message(), T0)
    first = outbox.claim("worker-a", 30, T0)
    assert first is not None and outbox.claim("worker-b", 30, T0 + timedelta(seconds=29)) is None
    # worker-a died: after its lease another worker takes the message over
    taken = outbox.claim("worker-b", 30, T0 + timedelta(seconds=31))
    assert taken is not None and taken.id == first.id
    assert outbox.mark_sent(first.id, "worker-a") is False  # the late worker cannot finish it
    assert outbox.mark_sent(first.id, "worker-b") is True
    assert outbox.counts()["sent"] == 1


def test_backoff_doubles_per_attempt_within_jitter():
    rng = random.Random(42)
    delays = [retry_delay(attempt, 30.0, rng) for attempt in (1, 2, 3, 4)]
    for attempt, delay in zip((1, 2, 3, 4), delays, strict=True):
        assert 0.8 * 30 * 2 ** (attempt - 1) <= delay <= 1.2 * 30 * 2 ** (attempt - 1)
    assert retry_delay(40, 30.0, rng) <= 1.2 * 86_400  # capped at a day


def test_a_server_error_is_retried_later_then_delivered(outbox):
    with http_receiver(statuses=[503]) as receiver:
        sender = Sender(outbox, config_for(receiver.url), settings(), worker="w")
        outbox.enqueue(slack_message())
        assert sender.send_one() == "retry"
        (row,) = outbox.rows()
        assert row.state == "pending" and row.attempts == 1 and "503" in (row.last_error or "")
        wait = (row.next_attempt_at - datetime.now(UTC)).total_seconds()
        assert 0.8 * 60 - 5 <= wait <= 1.2 * 60  # the first retry waits about the base delay
        assert sender.send_one() is None  # not due yet
        assert sender.send_one(now=row.next_attempt_at + timedelta(seconds=1)) == "sent"
    (arrived,) = receiver.received
    assert arrived.json() == {"text": "hello", "blocks": []}
    assert arrived.headers["X-Idempotency-Key"] == "digest:2026-W47:@payments-team:slack"
    assert arrived.path == "/services/T000/B000/XXXX"


def test_a_refusal_is_dead_at_once_and_the_last_attempt_dead_too(outbox):
    with http_receiver(statuses=[400, 500, 500, 500]) as receiver:
        sender = Sender(outbox, config_for(receiver.url), settings(outbox_backoff_seconds=0), worker="w")
        outbox.enqueue(slack_message("refused"))
        assert sender.send_one() == "dead"  # Slack's invalid_payload: retrying cannot help
        outbox.enqueue(slack_message("flaky"))
        assert [sender.send_one() for _ in range(3)] == ["retry", "retry", "dead"]
    dead = {row.message.idempotency_key: row for row in outbox.rows(state="dead")}
    assert set(dead) == {"refused", "flaky"} and dead["flaky"].attempts == 3
    assert receiver.received == []


def test_email_goes_through_smtp_with_a_fixed_message_id(outbox):
    from email.message import EmailMessage

    key = "digest:2026-W47:maya@ledgerly.example:email"
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = (
        "Digest",
        "fnlp@ledgerly.example",
        "maya@ledgerly.example",
    )
    message["Message-ID"] = message_id(key, "fnlp@ledgerly.example")
    message.set_content("hello")
    outbox.enqueue(OutboxMessage(key, "digest", "maya@ledgerly.example", "email", message.as_string()))
    config = parse_notifications({"owners": {"maya@ledgerly.example": {"email": "maya@ledgerly.example"}}})
    with smtp_server() as inbox:
        smtp = settings(smtp_host=inbox.host, smtp_port=inbox.port, smtp_security="none")
        assert Sender(outbox, config, smtp).drain().sent == 1
    (arrived,) = inbox.messages
    assert arrived["Message-ID"] == message_id(key, "fnlp@ledgerly.example")
    assert inbox.envelopes == [("fnlp@ledgerly.example", ["maya@ledgerly.example"])]


def test_no_smtp_relay_is_a_dead_letter_that_says_what_to_set(outbox):
    outbox.enqueue(OutboxMessage("k", "alert", "maya@ledgerly.example", "email", "Subject: x\n\nbody"))
    config = parse_notifications({"owners": {"maya@ledgerly.example": {"email": "maya@ledgerly.example"}}})
    assert Sender(outbox, config, settings()).send_one() == "dead"
    assert "FEEDBACK_NLP_SMTP_HOST" in (outbox.rows()[0].last_error or "")


def test_dead_letters_show_in_the_admin_api_and_metrics(tmp_path, tiny_model_dir):
    from test_service import ADMIN, READ, copy_version, make_settings, point_latest

    from feedback_nlp.service.main import create_app

    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))
    app_settings = make_settings(tmp_path, models_dir)
    store = open_store(app_settings.database_url)
    box = Outbox(store.engine)
    box.enqueue(slack_message("will-die"))
    box.enqueue(slack_message("waiting"))
    row = box.claim("w", 30)
    assert row is not None
    box.mark_failed(row, "w", "Slack webhook answered 404 'no_service'", None)
    store.close()
    with TestClient(create_app(app_settings)) as client:
        listing = client.get("/v1/admin/outbox", params={"state": "dead"}, headers=ADMIN).json()
        assert listing["counts"] == {"pending": 1, "sending": 0, "sent": 0, "dead": 1}
        (dead,) = listing["messages"]
        assert dead["idempotency_key"] == "will-die" and "no_service" in dead["last_error"]
        assert "payload" not in dead  # customers' quotes stay in the store
        metrics = client.get("/metrics", headers=READ).text
        assert 'feedback_nlp_outbox_messages{state="dead"} 1.0' in metrics
        assert client.get("/v1/admin/outbox", headers=READ).status_code == 403
        requeued = client.post(f"/v1/admin/outbox/{dead['id']}/requeue", headers=ADMIN)
        assert requeued.status_code == 200 and requeued.json()["state"] == "pending"
        assert client.post(f"/v1/admin/outbox/{dead['id']}/requeue", headers=ADMIN).status_code == 404
        too_big = client.post(f"/v1/admin/outbox/{2**40}/requeue", headers=ADMIN)  # past a 32-bit id
        assert too_big.status_code == 422 and too_big.json()["errors"][0]["field"] == "path.message_id"


def test_two_senders_at_once_deliver_each_message_once(outbox):
    import threading
    from collections import Counter

    keys = [f"alert:item-{i}:{OWNER}:slack" for i in range(20)]
    for key in keys:
        outbox.enqueue(slack_message(key))
    with http_receiver(delay_s=0.02) as receiver:
        senders = [Sender(outbox, config_for(receiver.url), settings(), worker=f"w{i}") for i in range(2)]
        threads = [threading.Thread(target=sender.drain) for sender in senders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert outbox.counts()["sent"] == len(keys)
    assert Counter(r.headers["X-Idempotency-Key"] for r in receiver.received) == Counter(keys)
