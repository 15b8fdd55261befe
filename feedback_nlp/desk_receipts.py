"""Receipts of support-desk webhook deliveries (the ``webhook_receipts`` table): what makes them idempotent.

A desk retries a delivery it thinks failed and an attacker may replay a captured one: both carry the desk's
own key (ticket id, conversation part id). The first delivery's answer is kept under that key and given
back for any later one with the same text, so nothing is scored or stored twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from feedback_nlp.store_schema import webhook_receipts


@dataclass(frozen=True)
class Receipt:
    desk: str
    event_key: str
    item_id: str
    text_sha256: str
    result: dict[str, Any]


def text_fingerprint(text: str) -> str:
    """SHA-256 of the text: tells a retry (same text) from an edited ticket (new text, scored again)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def find_receipt(engine: Engine, desk: str, event_key: str) -> Receipt | None:
    """The receipt kept for ``(desk, event_key)``, None for a first delivery."""
    with engine.connect() as connection:
        row = connection.execute(
            select(webhook_receipts).where(
                webhook_receipts.c.desk == desk, webhook_receipts.c.event_key == event_key
            )
        ).first()
    if row is None:
        return None
    return Receipt(row.desk, row.event_key, row.item_id, row.text_sha256, dict(row.result_json))


def save_receipt(engine: Engine, receipt: Receipt) -> Receipt:
    """Keep ``receipt``; returns the one that stands (another delivery of the same key may have won a race).

    An edited ticket (same key, other text) replaces the earlier receipt.
    """
    row = {
        "desk": receipt.desk,
        "event_key": receipt.event_key,
        "item_id": receipt.item_id,
        "text_sha256": receipt.text_sha256,
        "result_json": receipt.result,
        "received_at": datetime.now(UTC),
    }
    earlier = find_receipt(engine, receipt.desk, receipt.event_key)
    try:
        with engine.begin() as connection:
            if earlier is None:
                connection.execute(insert(webhook_receipts).values(**row))
            elif earlier.text_sha256 != receipt.text_sha256:
                connection.execute(
                    update(webhook_receipts)
                    .where(
                        webhook_receipts.c.desk == receipt.desk,
                        webhook_receipts.c.event_key == receipt.event_key,
                    )
                    .values(**row)
                )
            else:
                return earlier
    except IntegrityError:
        # a concurrent delivery of the same key stored first: its answer stands
        standing = find_receipt(engine, receipt.desk, receipt.event_key)
        return standing or receipt
    return receipt
