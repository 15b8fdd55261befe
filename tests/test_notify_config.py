"""notifications.yaml (owners' channels and alert rules) and the alert rules as a pure decision."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feedback_nlp.errors import ConfigError
from feedback_nlp.notify.alerts import REASON_ARR, REASON_NEW_THEME, REASON_PROMISE_GAP, unit_reasons
from feedback_nlp.notify.config import AlertRules, load_notifications, parse_notifications
from feedback_nlp.schemas import FeedbackRecord, UnitScore


def test_the_example_file_loads():
    config = load_notifications("examples/notifications.yaml")
    assert config.rules == AlertRules(new_theme=True, arr_threshold=250_000.0, promise_gap=True)
    assert config.owners["@payments-team"].channels == ["slack"]
    assert config.owners["maya.chen@ledgerly.example"].channels == ["slack", "email"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"owner": {}}, "unknown key 'owner'; did you mean 'owners'?"),
        ({"owners": {"a@b.example": {"emial": "a@b.example"}}}, "did you mean 'email'?"),
        ({"owners": {"a@b.example": {}}}, "has no channel"),
        ({"owners": {"a@b.example": {"email": "not-an-address"}}}, "is not an e-mail address"),
        ({"owners": {"a@b.example": {"slack_webhook_url": "hooks.slack.com/x"}}}, "must be an http(s) URL"),
        ({"rules": {"arr_threshold": "lots"}}, "is not a number"),
        ({"rules": {"new_theme": "yes"}}, "must be true or false"),
    ],
)
def test_mistakes_are_refused_with_what_to_write(raw, message):
    with pytest.raises(ConfigError) as caught:
        parse_notifications(raw, "notifications.yaml")
    assert message in str(caught.value)


def test_a_slack_url_named_by_variable_is_read_at_send_time(monkeypatch):
    channels = parse_notifications({"owners": {"@t": {"slack_webhook_url_env": "SLACK_T"}}}).owners["@t"]
    monkeypatch.delenv("SLACK_T", raising=False)
    with pytest.raises(ConfigError, match="SLACK_T .* is not set"):
        channels.slack_url()
    monkeypatch.setenv("SLACK_T", "https://hooks.slack.com/services/T/B/X")
    assert channels.slack_url() == "https://hooks.slack.com/services/T/B/X"


def unit(theme_id: int | None = 3, owner: str = "@t") -> UnitScore:
    return UnitScore(0, 0, 10, "redacted", theme_id, "theme", 0.9, None, owner, "owner", {})


def record(arr: float | None) -> FeedbackRecord:
    return FeedbackRecord("i-1", "text", "ticket", datetime(2026, 11, 30, tzinfo=UTC), "A1", arr)


@pytest.mark.parametrize(
    ("stored", "arr", "gap_owners", "expected"),
    [
        (1, None, set(), (REASON_NEW_THEME,)),  # the item's own unit is the only one stored
        (2, None, set(), ()),
        (2, 250_000.0, set(), (REASON_ARR,)),  # at the threshold counts
        (2, 249_999.0, set(), ()),
        (5, 300_000.0, {"@t"}, (REASON_ARR, REASON_PROMISE_GAP)),
        (2, None, {"@other"}, ()),
    ],
)
def test_alert_rules(stored, arr, gap_owners, expected):
    rules = AlertRules(new_theme=True, arr_threshold=250_000.0, promise_gap=True)
    reasons = unit_reasons(
        unit(), record(arr), rules, theme_units_stored=stored, theme_units_in_item=1, gap_owners=gap_owners
    )
    assert reasons == expected


def test_rules_switched_off_raise_nothing():
    rules = AlertRules(new_theme=False, arr_threshold=None, promise_gap=False)
    reasons = unit_reasons(
        unit(), record(1e9), rules, theme_units_stored=1, theme_units_in_item=1, gap_owners={"@t"}
    )
    assert reasons == ()
