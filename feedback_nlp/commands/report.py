"""``feedback-nlp report``: write the weekly theme report (HTML, Markdown, JSON) from the feedback store."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

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
    parser.add_argument("--models-dir", type=Path, default=None, metavar="DIR",
                        help="folder of model versions (default: FEEDBACK_NLP_MODELS_DIR or models/)")
    parser.add_argument("--model", type=Path, default=None, metavar="DIR",
                        help="one model version folder (default: the one named by <models-dir>/LATEST)")
    parser.add_argument("--week", type=_week, default=None, metavar="YYYY-Www",
                        help="ISO week such as 2026-W47 (default: the last complete week)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, metavar="DIR", help="output folder (default: reports/)")
    parser.add_argument("--weeks-of-history", type=_history, default=8, metavar="N",
                        help="trailing weeks to compare with (default: 8)")
    parser.set_defaults(func=run)


def _open_engine(url: str) -> Any:
    """An engine on an existing store; refuses to create an empty SQLite file by accident."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url

    from feedback_nlp.errors import ConfigError

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).exists():
            raise ConfigError(
                f"feedback store {parsed.database} does not exist; ingest feedback first or set "
                "FEEDBACK_NLP_DATABASE_URL to the store"
            )
    engine = create_engine(url)
    if not inspect(engine).has_table("feedback_units"):
        engine.dispose()
        raise ConfigError(f"{parsed.render_as_string(hide_password=True)} has no feedback tables; "
                          "ingest feedback into it first")
    return engine


def run(args: argparse.Namespace) -> int:
    from feedback_nlp.report import (
        compute_report,
        find_previous_themes,
        last_complete_week,
        load_model_info,
        write_report,
    )
    from feedback_nlp.settings import get_settings

    settings = get_settings()
    models_dir = args.models_dir or settings.models_dir
    info = load_model_info(models_dir, args.model)
    previous_version, previous_themes = find_previous_themes(info.path.parent if info.path else models_dir,
                                                             info.path or models_dir)
    week = args.week or last_complete_week().label
    engine = _open_engine(settings.database_url)
    try:
        report = compute_report(engine, info, week, args.weeks_of_history, previous_themes,
                                previous_version=previous_version)
    finally:
        engine.dispose()
    paths = write_report(report, args.out)
    for kind in ("html", "md", "json"):
        print(paths[kind])
    return 0
