"""``feedback-nlp send-outbox``: deliver the owner notifications and digests waiting in the store's outbox."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "send-outbox",
        help="deliver queued owner notifications and digests (retries with backoff)",
        description=(
            "Deliver the messages waiting in the outbox of the store named by FEEDBACK_NLP_DATABASE_URL: "
            "claim one, deliver it (Slack webhook or SMTP), mark it sent; retry failures with exponential "
            "backoff and dead-letter a message after FEEDBACK_NLP_OUTBOX_MAX_ATTEMPTS. Safe to run several "
            "at once and to kill: a claimed message is leased, never lost."
        ),
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL of the store (default: FEEDBACK_NLP_DATABASE_URL, else feedback.sqlite "
        "beside the models dir, as ingest and report use)",
    )
    parser.add_argument(
        "--notifications",
        type=Path,
        default=None,
        metavar="YAML",
        help="owners' channels (default: FEEDBACK_NLP_NOTIFICATIONS_FILE)",
    )
    parser.add_argument(
        "--once", action="store_true", help="deliver what is due now and exit (default: keep running)"
    )
    parser.add_argument(
        "--poll-seconds", type=float, default=5.0, metavar="S", help="wait when nothing is due (default 5)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feedback_nlp.commands.report import _notifications, _open_store
    from feedback_nlp.notify.outbox import Outbox
    from feedback_nlp.notify.sender import Sender
    from feedback_nlp.settings import get_settings

    settings = get_settings()
    notifications = _notifications(args)
    store = _open_store(args.database_url or settings.store_url())
    try:
        sender = Sender(Outbox(store.engine), notifications, settings)
        if args.once:
            summary = sender.drain()
            print(f"sent {summary.sent}, retrying {summary.retried}, dead {summary.dead}")
        else:
            sender.run_forever(args.poll_seconds)
    finally:
        store.close()
    return 0
