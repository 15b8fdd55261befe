"""Owner alerts: scored feedback that an owner hears about at once, queued in the outbox.

A unit routed to an owner raises an alert when it meets one of the rules of ``notifications.yaml``:

- ``new_theme``: it is the first feedback stored for its theme;
- ``arr_threshold``: its account pays at least that much a year;
- ``promise_gap``: it holds a commitment the roadmap does not keep (:func:`feedback_nlp.alignment.find_gaps`).

Only redacted text leaves the store (the unit's text, as stored), never the raw feedback.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from feedback_nlp.alignment import find_gaps
from feedback_nlp.notify.config import AlertRules, NotificationsConfig, OwnerChannels, load_notifications
from feedback_nlp.notify.outbox import CHANNEL_EMAIL, CHANNEL_SLACK, KIND_ALERT, Outbox, OutboxMessage
from feedback_nlp.schemas import ROUTE_OWNER, FeedbackRecord, ItemScore, UnitScore
from feedback_nlp.settings import Settings

REASON_NEW_THEME = "new theme"
REASON_ARR = "high-ARR account"
REASON_PROMISE_GAP = "promise gap"


@dataclass(frozen=True)
class Alert:
    """One unit an owner should hear about now, and why."""

    owner: str
    item_id: str
    unit_index: int
    text: str  # redacted
    theme_name: str | None
    roadmap_item: str | None
    account_id: str | None
    account_arr: float | None
    reasons: tuple[str, ...]
    link: str


@functools.lru_cache(maxsize=4)
def _cached_config(path: Path, mtime_ns: int) -> NotificationsConfig:
    return load_notifications(path)


def configured(settings: Settings) -> NotificationsConfig | None:
    """The notifications configuration in the settings (re-read when the file changes), None without one."""
    path = settings.notifications_file
    if path is None:
        return None
    return _cached_config(Path(path), Path(path).stat().st_mtime_ns)


def _promise_gap_owners(store: Any, record: FeedbackRecord, model: Any) -> set[str]:
    start = record.created_at
    signals = [
        row
        for row in store.alignment_signals(
            since=start, until=start + timedelta(microseconds=1), kind="commitment"
        )
        if row["item_id"] == record.id
    ]
    if not signals:
        return set()
    gaps = find_gaps(
        signals, getattr(model, "roadmap_", []), default_owner=getattr(model, "default_owner", "")
    )
    return {str(gap["owner"]) for gap in gaps["promise_gaps"]}


def unit_reasons(
    unit: UnitScore,
    record: FeedbackRecord,
    rules: AlertRules,
    *,
    theme_units_stored: int,
    theme_units_in_item: int,
    gap_owners: set[str],
) -> tuple[str, ...]:
    """The rules ``unit`` meets (a pure decision: the caller looks the counts up)."""
    reasons = []
    if rules.new_theme and unit.theme_id is not None and theme_units_stored <= theme_units_in_item:
        reasons.append(REASON_NEW_THEME)
    if (
        rules.arr_threshold is not None
        and record.account_arr is not None
        and record.account_arr >= rules.arr_threshold
    ):
        reasons.append(REASON_ARR)
    if rules.promise_gap and unit.owner in gap_owners:
        reasons.append(REASON_PROMISE_GAP)
    return tuple(reasons)


def find_alerts(
    store: Any,
    config: NotificationsConfig,
    record: FeedbackRecord,
    score: ItemScore,
    model: Any,
    base_url: str,
) -> list[Alert]:
    """The alerts a stored item raises: one per owner (its most confident unit that meets a rule)."""
    routed = [u for u in score.units if u.route == ROUTE_OWNER and _wants_alerts(config.channels_of(u.owner))]
    if not routed:
        return []
    gap_owners = _promise_gap_owners(store, record, model) if config.rules.promise_gap else set()
    alerts: dict[str, Alert] = {}
    for unit in sorted(routed, key=lambda u: -u.confidence):
        if unit.owner in alerts:
            continue
        stored = store.theme_volume(unit.theme_id) if unit.theme_id is not None else 0
        in_item = sum(1 for u in score.units if u.theme_id == unit.theme_id)
        reasons = unit_reasons(
            unit,
            record,
            config.rules,
            theme_units_stored=stored,
            theme_units_in_item=in_item,
            gap_owners=gap_owners,
        )
        if reasons:
            alerts[unit.owner] = Alert(
                owner=unit.owner,
                item_id=record.id,
                unit_index=unit.unit_index,
                text=unit.text,
                theme_name=unit.theme_name,
                roadmap_item=(unit.roadmap_item or {}).get("title"),
                account_id=record.account_id,
                account_arr=record.account_arr,
                reasons=reasons,
                link=f"{base_url.rstrip('/')}/ui",
            )
    return list(alerts.values())


def _wants_alerts(channels: OwnerChannels | None) -> bool:
    return channels is not None and channels.alerts


def alert_messages(alert: Alert, channels: OwnerChannels, settings: Settings) -> list[OutboxMessage]:
    """The alert rendered for each of the owner's channels, keyed by item, text and owner (a retry of the same
    delivery queues nothing new; an edited ticket alerts again)."""
    from feedback_nlp.notify.render_email import alert_email
    from feedback_nlp.notify.render_slack import alert_blocks, to_json

    fingerprint = hashlib.sha256(f"{alert.item_id}\n{alert.text}".encode()).hexdigest()[:16]
    messages = []
    for channel in channels.channels:
        key = f"alert:{alert.item_id}:{alert.owner}:{channel}:{fingerprint}"
        if channel == CHANNEL_SLACK:
            payload = to_json(alert_blocks(alert))
        else:
            assert channels.email is not None
            payload = alert_email(alert, settings.smtp_from, channels.email, key).as_string()
        messages.append(OutboxMessage(key, KIND_ALERT, alert.owner, channel, payload))
    return messages


def enqueue_alerts(
    store: Any, settings: Settings, record: FeedbackRecord, score: ItemScore, model: Any = None
) -> int:
    """Queue the alerts ``record`` raises; returns how many messages were written (0 without a config)."""
    config = configured(settings)
    if config is None:
        return 0
    outbox = Outbox(store.engine)
    written = 0
    for alert in find_alerts(store, config, record, score, model, settings.public_base_url):
        channels = config.channels_of(alert.owner)
        assert channels is not None
        for message in alert_messages(alert, channels, settings):
            written += outbox.enqueue(message)
    return written


__all__ = [
    "CHANNEL_EMAIL",
    "REASON_ARR",
    "REASON_NEW_THEME",
    "REASON_PROMISE_GAP",
    "Alert",
    "enqueue_alerts",
    "find_alerts",
    "unit_reasons",
]
