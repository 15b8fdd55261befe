"""``feedback-nlp report --send``: the week's digests as outbox messages, queued or written to files.

``--dry-run`` writes each message where a person can open it instead of sending it: one ``.json`` per Slack
message (the exact body that would be posted) and one ``.eml`` per e-mail (opens in any mail client).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from feedback_nlp.notify.config import NotificationsConfig
from feedback_nlp.notify.digest import owner_digests
from feedback_nlp.notify.outbox import CHANNEL_EMAIL, CHANNEL_SLACK, KIND_DIGEST, Outbox, OutboxMessage
from feedback_nlp.notify.render_email import digest_email
from feedback_nlp.notify.render_slack import digest_blocks, to_json
from feedback_nlp.settings import Settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def digest_messages(
    report: Mapping[str, Any], config: NotificationsConfig, settings: Settings
) -> list[OutboxMessage]:
    """One message per owner who takes the digest, per channel they have."""
    owners = [owner for owner, channels in config.owners.items() if channels.digest]
    messages = []
    for digest in owner_digests(report, owners, settings.public_base_url):
        channels = config.owners[digest.owner]
        for channel in channels.channels:
            key = digest.idempotency_key(channel)
            if channel == CHANNEL_SLACK:
                payload = to_json(digest_blocks(digest))
            else:
                assert channels.email is not None
                payload = digest_email(digest, settings.smtp_from, channels.email).as_string()
            messages.append(OutboxMessage(key, KIND_DIGEST, digest.owner, channel, payload))
    return messages


def dry_run_path(out_dir: Path, message: OutboxMessage) -> Path:
    """``digest-2026-W47-maya.chen_ledgerly.example-slack.json`` (or ``...-email.eml``)."""
    week = message.idempotency_key.split(":")[1]
    owner = _UNSAFE.sub("_", message.owner.lstrip("@")).strip("_") or "owner"
    suffix = ".eml" if message.channel == CHANNEL_EMAIL else ".json"
    return Path(out_dir) / f"{message.kind}-{week}-{owner}-{message.channel}{suffix}"


def write_dry_run(messages: Sequence[OutboxMessage], out_dir: Path) -> list[Path]:
    """Write every message to its file in ``out_dir`` (created); returns the paths in order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for message in messages:
        path = dry_run_path(out_dir, message)
        path.write_text(
            message.payload, encoding="utf-8", newline="" if message.channel == CHANNEL_EMAIL else None
        )
        paths.append(path)
    return paths


def queue_messages(outbox: Outbox, messages: Sequence[OutboxMessage]) -> int:
    """Queue ``messages``; returns how many were new (a week sent again queues nothing)."""
    return sum(outbox.enqueue(message) for message in messages)
