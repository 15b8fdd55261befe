"""The outbox sender: claims due messages one at a time, delivers them, and records the outcome.

A row is marked sent only after its channel accepted it, and claimed with a lease, so a sender killed at
any point loses nothing: its row's lease runs out and the next sender delivers it (see
:mod:`feedback_nlp.notify.outbox` for the one window where that means a second copy). Failures are retried
after ``outbox_backoff_seconds * 2**(attempt-1)`` (capped at a day, with jitter so that many senders do not
retry in step) until ``outbox_max_attempts``; then the message is dead and shows in ``/v1/admin/outbox``
and ``/metrics``.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from feedback_nlp.errors import ConfigError
from feedback_nlp.notify.channels import DeliveryError, post_to_slack, send_email
from feedback_nlp.notify.config import NotificationsConfig
from feedback_nlp.notify.outbox import CHANNEL_EMAIL, CHANNEL_SLACK, Outbox, OutboxRow
from feedback_nlp.settings import Settings

logger = logging.getLogger(__name__)

_MAX_BACKOFF_SECONDS = 86_400.0


@dataclass(frozen=True)
class SendSummary:
    sent: int
    retried: int
    dead: int


def retry_delay(attempt: int, base_seconds: float, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempt + 1``: exponential in the attempts made, capped, jittered +-20%."""
    delay = min(_MAX_BACKOFF_SECONDS, base_seconds * 2 ** max(0, attempt - 1))
    return delay * (0.8 + 0.4 * (rng or random).random())


def worker_name() -> str:
    """Who holds a lease: host and process id (unique among live senders)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


class Sender:
    """Delivers the outbox's messages through the owners' channels in ``config``."""

    def __init__(
        self,
        outbox: Outbox,
        config: NotificationsConfig,
        settings: Settings,
        *,
        deliver_slack: Callable[[str, str, str], None] = post_to_slack,
        deliver_email: Callable[[str, Settings], None] = send_email,
        worker: str | None = None,
    ) -> None:
        self.outbox = outbox
        self.config = config
        self.settings = settings
        self.deliver_slack = deliver_slack
        self.deliver_email = deliver_email
        self.worker = worker or worker_name()

    def _deliver(self, row: OutboxRow) -> None:
        message = row.message
        if message.channel == CHANNEL_EMAIL:
            self.deliver_email(message.payload, self.settings)
            return
        if message.channel != CHANNEL_SLACK:
            raise DeliveryError(f"unknown channel {message.channel!r}", retryable=False)
        channels = self.config.channels_of(message.owner)
        try:
            url = channels.slack_url() if channels is not None else None
        except ConfigError as exc:
            raise DeliveryError(str(exc), retryable=True) from None  # fixed by setting the variable
        if url is None:
            raise DeliveryError(
                f"owner {message.owner} has no Slack webhook in notifications.yaml", retryable=False
            )
        self.deliver_slack(url, message.payload, message.idempotency_key)

    def send_one(self, now: datetime | None = None) -> str | None:
        """Claim and deliver one due message; ``sent``, ``retry``, ``dead``, or None when none is due."""
        row = self.outbox.claim(self.worker, self.settings.outbox_lease_seconds, now)
        if row is None:
            return None
        try:
            self._deliver(row)
        except DeliveryError as exc:
            attempts = row.attempts + 1
            give_up = not exc.retryable or attempts >= self.settings.outbox_max_attempts
            retry_at = None
            if not give_up:
                retry_at = datetime.now(UTC) + timedelta(
                    seconds=retry_delay(attempts, self.settings.outbox_backoff_seconds)
                )
            self.outbox.mark_failed(row, self.worker, str(exc), retry_at)
            logger.warning(
                "message %s to %s (%s) failed, attempt %d: %s%s",
                row.id,
                row.message.owner,
                row.message.channel,
                attempts,
                exc,
                "; dead-lettered" if give_up else "",
            )
            return "dead" if give_up else "retry"
        if not self.outbox.mark_sent(row.id, self.worker):
            logger.warning(
                "message %s was delivered after its lease ran out; another sender may repeat it", row.id
            )
        return "sent"

    def drain(self) -> SendSummary:
        """Deliver every message that is due now (one pass; retries scheduled later wait)."""
        counts = {"sent": 0, "retry": 0, "dead": 0}
        while (outcome := self.send_one()) is not None:
            counts[outcome] += 1
        return SendSummary(counts["sent"], counts["retry"], counts["dead"])

    def run_forever(self, poll_seconds: float = 5.0, stop: Callable[[], bool] = lambda: False) -> None:
        """Deliver as messages fall due until ``stop()``; sleeps ``poll_seconds`` when nothing is due."""
        while not stop():
            if self.send_one() is None:
                time.sleep(poll_seconds)
