"""``feedback-nlp report``: write the weekly theme report (HTML, Markdown, JSON) from the feedback store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from feedback_nlp.commands._common import add_json_option, add_model_options, models_dir_from

DEFAULT_OUT_DIR = Path("reports")


def _week(value: str) -> str:
    from feedback_nlp.errors import ConfigError
    from feedback_nlp.report.compute import parse_week

    try:
        return parse_week(value).label
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _history(value: str) -> int:
    try:
        weeks = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of weeks") from None
    if not 1 <= weeks <= 104:
        raise argparse.ArgumentTypeError(f"{weeks} weeks: use 1 to 104 trailing weeks")
    return weeks


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the weekly theme report from the feedback store",
        description=(
            "Write report-YYYY-Www.html (self-contained), .md and .json for one ISO week from the feedback "
            "store named by FEEDBACK_NLP_DATABASE_URL, using the themes and roadmap of a trained model."
        ),
    )
    add_model_options(parser)
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL of the store (default: FEEDBACK_NLP_DATABASE_URL or feedback.sqlite beside the "
        "models dir)",
    )
    parser.add_argument(
        "--week",
        type=_week,
        default=None,
        metavar="YYYY-Www",
        help="ISO week such as 2026-W47 (default: the latest complete week that holds feedback)",
    )
    parser.add_argument(
        "--currency",
        default="USD",
        metavar="CODE",
        help="currency of the stored ARR figures, shown beside every amount (default: USD)",
    )
    parser.add_argument(
        "--accounts",
        type=Path,
        default=None,
        metavar="CSV",
        help="CSV with account_id and name columns, to show account names (default: accounts.csv beside the "
        "roadmap or feedback the model was trained on, if there is one)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT_DIR, metavar="DIR", help="output folder (default: reports/)"
    )
    parser.add_argument(
        "--weeks-of-history",
        type=_history,
        default=8,
        metavar="N",
        help="trailing weeks to compare with (default: 8)",
    )
    add_json_option(parser, "the week and the written files")
    parser.add_argument(
        "--send",
        action="store_true",
        help="also deliver each owner's digest (Slack and/or e-mail, as notifications.yaml says) through the "
        "store's outbox",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="with --send: write the digests to --out (one .json per Slack message, one .eml per e-mail) "
        "instead of sending them",
    )
    parser.add_argument(
        "--notifications",
        type=Path,
        default=None,
        metavar="YAML",
        help="owners' channels for --send (default: FEEDBACK_NLP_NOTIFICATIONS_FILE)",
    )
    parser.set_defaults(func=run)


def _open_store(url: str) -> Any:
    """The store at ``url``, migrated to head; refuses to create an empty SQLite file by accident."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from feedback_nlp.errors import ConfigError
    from feedback_nlp.store import open_store

    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None  # open_store explains what is wrong with the URL
    if parsed is not None and parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database not in ("", ":memory:") and not Path(database).expanduser().exists():
            raise ConfigError(
                f"feedback store {database} does not exist; ingest feedback first or set "
                "FEEDBACK_NLP_DATABASE_URL to the store"
            )
    return open_store(url)


def _default_week(engine: Any, last_complete: Any) -> str:
    """The latest complete week with feedback; the last complete week when the store has none."""
    from feedback_nlp.report.compute import latest_week_with_data

    latest = latest_week_with_data(engine, last_complete)
    return (latest or last_complete).label


def run(args: argparse.Namespace) -> int:
    from feedback_nlp.curation import CurationView
    from feedback_nlp.errors import ConfigError
    from feedback_nlp.report import (
        compute_report,
        find_accounts_file,
        find_previous_themes,
        last_complete_week,
        load_model_info,
        read_account_names,
        write_report,
    )
    from feedback_nlp.settings import get_settings

    if args.out.exists() and not args.out.is_dir():  # checked before minutes of work, not after
        raise ConfigError(f"--out {args.out} is a file; give a folder for the report files")
    notifications = _notifications(args) if args.send else None
    models_dir = models_dir_from(args)
    info = load_model_info(models_dir, args.model)
    previous_version, previous_themes = find_previous_themes(
        info.path.parent if info.path else models_dir, info.path or models_dir
    )
    accounts_file = args.accounts or find_accounts_file(info.metadata)
    names = read_account_names(accounts_file) if accounts_file else None
    store = _open_store(args.database_url or get_settings().store_url(models_dir))
    try:
        week = args.week or _default_week(store.engine, last_complete_week())
        curation = CurationView.of(store.curation())  # names, merges and ignores resolved now
        report = compute_report(
            store.engine,
            info,
            week,
            args.weeks_of_history,
            previous_themes,
            previous_version=previous_version,
            currency=args.currency,
            account_names=names,
            curation=curation,
        )
    finally:
        store.close()
    paths = write_report(report, args.out)
    if args.json:
        print(
            json.dumps({"week": week, "files": {kind: str(paths[kind]) for kind in ("html", "md", "json")}})
        )
        return 0
    for kind in ("html", "md", "json"):
        print(paths[kind])
    if notifications is not None:
        _send(args, report, notifications)
    return 0


def _notifications(args: argparse.Namespace) -> Any:
    """The owners' channels for --send (checked before the report is computed)."""
    from feedback_nlp.errors import ConfigError
    from feedback_nlp.notify.config import load_notifications
    from feedback_nlp.settings import get_settings

    path = args.notifications or get_settings().notifications_file
    if path is None:
        raise ConfigError(
            "--send needs the owners' channels: give --notifications notifications.yaml or set "
            "FEEDBACK_NLP_NOTIFICATIONS_FILE (see README.md, 'Notifications')"
        )
    return load_notifications(path)


def _send(args: argparse.Namespace, report: dict[str, Any], notifications: Any) -> None:
    from feedback_nlp.notify.outbox import Outbox
    from feedback_nlp.notify.sender import Sender
    from feedback_nlp.notify.weekly import digest_messages, queue_messages, write_dry_run
    from feedback_nlp.settings import get_settings

    settings = get_settings()
    messages = digest_messages(report, notifications, settings)
    if args.dry_run:
        for path in write_dry_run(messages, args.out):
            print(path)
        return
    store = _open_store(args.database_url or settings.store_url(models_dir_from(args)))
    try:
        outbox = Outbox(store.engine)
        queued = queue_messages(outbox, messages)
        summary = Sender(outbox, notifications, settings).drain()
    finally:
        store.close()
    print(
        f"digests: {len(messages)} messages, {queued} newly queued; sent {summary.sent}, "
        f"retrying {summary.retried}, dead {summary.dead} (feedback-nlp send-outbox retries the rest)"
    )
