"""Support desks' shapes and signatures (feedback_nlp.desks) on the recorded sample payloads in tests/data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedback_nlp.desks import (
    html_to_text,
    intercom_event,
    intercom_signature,
    parse_zendesk_timestamp,
    signature_matches,
    zendesk_event,
    zendesk_signature,
)
from feedback_nlp.errors import ValidationError

DATA = Path(__file__).parent / "data"


def sample(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def test_signatures_match_openssl():
    # computed outside Python:
    # printf '1764494521{"a":1}' | openssl dgst -sha256 -hmac zd-secret -binary | base64
    assert (
        zendesk_signature("zd-secret", "1764494521", b'{"a":1}')
        == "0BfIc+NKLxzOFHf8Ijm1mlK52zHxbA2xZ84u96aTyxY="
    )
    # printf '{"a":1}' | openssl dgst -sha1 -hmac ic-secret
    assert intercom_signature("ic-secret", b'{"a":1}') == "sha1=6516c3e2b686a60a618cd7c0a55233d02b8600e2"


@pytest.mark.parametrize(
    "presented", [None, "", "sha1=0000", "sha1=6516c3e2b686a60a618cd7c0a55233d02b8600e3"]
)
def test_wrong_or_missing_signatures_do_not_match(presented):
    assert not signature_matches("sha1=6516c3e2b686a60a618cd7c0a55233d02b8600e2", presented)


def test_zendesk_timestamps():
    assert parse_zendesk_timestamp("2026-11-30T09:14:03Z") == datetime(2026, 11, 30, 9, 14, 3, tzinfo=UTC)
    assert parse_zendesk_timestamp("yesterday") is None
    assert parse_zendesk_timestamp(None) is None


def test_zendesk_event_subscription_maps_onto_the_feedback_schema():
    event = zendesk_event(sample("zendesk_ticket_created.json"))
    record = event.record
    assert (event.desk, event.event_key) == ("zendesk", "35436")
    assert record.id == "zendesk-35436" and record.source == "ticket"
    assert record.text.startswith("CSV export times out\n\nHi, the CSV export times out")
    assert record.account_id == "ORG-0042" and record.channel == "zendesk:web_form"
    assert record.created_at == datetime(2026, 11, 30, 9, 14, 3, tzinfo=UTC)
    assert record.metadata["tags"] == ["export", "ledger"]


def test_zendesk_trigger_body_with_placeholders_maps_too():
    record = zendesk_event(sample("zendesk_trigger.json")).record
    assert record.id == "zendesk-35437" and record.account_arr == 480000.0
    assert record.metadata["tags"] == ["sso", "okta", "renewal"]  # {{ticket.tags}} is space-separated
    assert record.channel == "zendesk:Web form"


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "zen:event-type:user.created", "detail": {}},
        {"tickets": []},
        {"ticket": {"subject": "no id"}},
    ],
)
def test_not_a_zendesk_ticket_is_a_validation_error(payload):
    with pytest.raises(ValidationError):
        zendesk_event(payload)


def test_intercom_new_conversation_maps_its_opening_message():
    event = intercom_event(sample("intercom_conversation_user_created.json"))
    assert event is not None
    assert (event.desk, event.event_key) == ("intercom", "147000000012")
    record = event.record
    assert record.id == "intercom-147000000012"
    assert record.text == "Hello,\nthe CSV export times out when I export the full ledger. Can you help?"
    assert (record.account_id, record.account_arr) == ("ACC-0042", 120000.0)
    assert "jane" not in json.dumps(record.metadata).lower()  # the author's name and e-mail are not kept


def test_intercom_reply_maps_the_customers_last_part_not_the_agents():
    event = intercom_event(sample("intercom_conversation_user_replied.json"))
    assert event is not None
    assert event.event_key == "147000000012:9002"
    assert event.record.id == "intercom-147000000012-9002"
    assert event.record.text == "Also: we need single sign-on with Okta for the admin console."


def test_intercom_topics_without_customer_words_are_ignored():
    assert intercom_event({"type": "notification_event", "topic": "ping", "data": {"item": {}}}) is None
    with pytest.raises(ValidationError):
        intercom_event({"type": "something_else"})


def test_html_to_text_keeps_words_and_blocks():
    assert html_to_text("<p>One &amp; <i>two</i></p><p>three<br>four</p>") == "One & two\nthree\nfour"
