"""The outbox (``outbox`` table): messages to owners waiting for delivery, and their delivery state.

A message is written once under its idempotency key (writing it again does nothing), then moves
``pending`` -> ``sending`` (claimed by one sender with a lease) -> ``sent``, or back to ``pending`` with a
later ``next_attempt_at`` after a failure, or ``dead`` after the last attempt or a refusal no retry can fix.

Delivery is at least once, never at most once: a sender that dies after delivering but before marking the
row sent leaves a lease that runs out, and another sender delivers again. E-mail carries a fixed Message-ID
(mail clients and Gmail show one copy); a Slack incoming webhook has no idempotency key, so a crash in that
window can post twice (the key is sent as a header for receivers that dedupe).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from feedback_nlp.store_schema import outbox

STATE_PENDING = "pending"
STATE_SENDING = "sending"
STATE_SENT = "sent"
STATE_DEAD = "dead"
STATES = (STATE_PENDING, STATE_SENDING, STATE_SENT, STATE_DEAD)
CHANNEL_SLACK = "slack"
CHANNEL_EMAIL = "email"
KIND_DIGEST = "digest"
KIND_ALERT = "alert"


@dataclass(frozen=True)
class OutboxMessage:
    """One message to one owner on one channel; ``payload`` is Slack JSON or a whole e-mail."""

    idempotency_key: str
    kind: str
    owner: str
    channel: str
    payload: str


@dataclass(frozen=True)
class OutboxRow:
    id: int
    message: OutboxMessage
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None

    def summary(self) -> dict[str, Any]:
        """The row without its payload (for the admin API: payloads hold customers' quotes)."""
        return {
            "id": self.id,
            "idempotency_key": self.message.idempotency_key,
            "kind": self.message.kind,
            "owner": self.message.owner,
            "channel": self.message.channel,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
        }


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _row(row: Any) -> OutboxRow:
    message = OutboxMessage(row.idempotency_key, row.kind, row.owner, row.channel, row.payload)
    return OutboxRow(
        id=int(row.id),
        message=message,
        state=row.state,
        attempts=int(row.attempts),
        next_attempt_at=_utc(row.next_attempt_at) or datetime.now(UTC),
        last_error=row.last_error,
        created_at=_utc(row.created_at) or datetime.now(UTC),
        sent_at=_utc(row.sent_at),
    )


class Outbox:
    """Reads and writes the outbox through one engine (the feedback store's)."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    def enqueue(self, message: OutboxMessage, now: datetime | None = None) -> bool:
        """Write ``message`` unless its idempotency key is already there; True when it was written."""
        now = now or datetime.now(UTC)
        try:
            with self._begin() as connection:
                connection.execute(
                    insert(outbox).values(
                        idempotency_key=message.idempotency_key,
                        kind=message.kind,
                        owner=message.owner,
                        channel=message.channel,
                        payload=message.payload,
                        state=STATE_PENDING,
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
        except IntegrityError:
            return False
        return True

    def claim(self, worker: str, lease_seconds: float, now: datetime | None = None) -> OutboxRow | None:
        """Reserve the next due message for ``worker`` until the lease ends; None when nothing is due.

        Due: pending with ``next_attempt_at`` passed, or sending with an expired lease (its sender died).
        The reservation is a conditional update: of two senders racing for one row, only one matches.
        """
        now = now or datetime.now(UTC)
        due = or_(
            and_(outbox.c.state == STATE_PENDING, outbox.c.next_attempt_at <= now),
            and_(outbox.c.state == STATE_SENDING, outbox.c.lease_until < now),
        )
        # Read the candidates, then take each with its own one-statement transaction: on SQLite a read
        # followed by a write in one transaction cannot wait for another writer (it fails as busy at once).
        with self.engine.connect() as connection:
            candidates = list(
                connection.execute(
                    select(outbox.c.id).where(due).order_by(outbox.c.next_attempt_at, outbox.c.id).limit(5)
                ).scalars()
            )
        for candidate in candidates:
            with self._begin() as connection:
                claimed = connection.execute(
                    update(outbox)
                    .where(outbox.c.id == candidate, due)
                    .values(
                        state=STATE_SENDING,
                        lease_owner=worker,
                        lease_until=now + timedelta(seconds=lease_seconds),
                    )
                )
                if claimed.rowcount == 1:
                    row = connection.execute(select(outbox).where(outbox.c.id == candidate)).one()
                    return _row(row)
        return None

    def _finish(self, row_id: int, worker: str, **values: Any) -> bool:
        with self._begin() as connection:
            result = connection.execute(
                update(outbox)
                .where(outbox.c.id == row_id, outbox.c.state == STATE_SENDING, outbox.c.lease_owner == worker)
                .values(lease_owner=None, lease_until=None, **values)
            )
        return result.rowcount == 1

    def mark_sent(self, row_id: int, worker: str, now: datetime | None = None) -> bool:
        """Record delivery (only by the worker holding the lease)."""
        return self._finish(row_id, worker, state=STATE_SENT, sent_at=now or datetime.now(UTC))

    def mark_failed(
        self, row: OutboxRow, worker: str, error: str, retry_at: datetime | None, now: datetime | None = None
    ) -> bool:
        """Record a failed attempt: retried at ``retry_at``, or dead when it is None."""
        if retry_at is None:
            return self._finish(row.id, worker, state=STATE_DEAD, attempts=row.attempts + 1, last_error=error)
        return self._finish(
            row.id,
            worker,
            state=STATE_PENDING,
            attempts=row.attempts + 1,
            last_error=error,
            next_attempt_at=retry_at,
        )

    def counts(self) -> dict[str, int]:
        """Messages per state (every state present, 0 when none)."""
        with self.engine.connect() as connection:
            found: dict[str, int] = dict(
                connection.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state)).all()
            )
        return {state: int(found.get(state, 0)) for state in STATES}

    def rows(self, state: str | None = None, limit: int = 100) -> list[OutboxRow]:
        """Messages, newest first, optionally in one state."""
        query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(outbox.c.state == state)
        with self.engine.connect() as connection:
            return [_row(row) for row in connection.execute(query)]

    def get(self, row_id: int) -> OutboxRow | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(outbox).where(outbox.c.id == row_id)).first()
        return None if row is None else _row(row)

    def requeue(self, row_id: int, now: datetime | None = None) -> bool:
        """Give a dead message another round of attempts (after its channel was fixed)."""
        with self._begin() as connection:
            result = connection.execute(
                update(outbox)
                .where(outbox.c.id == row_id, outbox.c.state == STATE_DEAD)
                .values(state=STATE_PENDING, attempts=0, next_attempt_at=now or datetime.now(UTC))
            )
        return result.rowcount == 1
