"""Options shared by several subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_json_option(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    """``--json``: every command takes it; the shapes are listed in docs/CLI.md."""
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON (shape: docs/CLI.md)")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="folder of model versions (default: FEEDBACK_NLP_MODELS_DIR or models/)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="one model version folder (default: the one named in <models-dir>/LATEST)",
    )


def models_dir_from(args: argparse.Namespace) -> Path:
    """``--models-dir``, else the setting; refuses a path that is a file, whatever the command does next."""
    if getattr(args, "models_dir", None) is not None:
        models_dir = Path(args.models_dir)
    else:
        from feedback_nlp.settings import get_settings

        models_dir = get_settings().models_dir
    if models_dir.exists() and not models_dir.is_dir():
        from feedback_nlp.errors import ConfigError

        raise ConfigError(f"--models-dir {models_dir} is a file; give the folder that holds model versions")
    return models_dir


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """``--delimiter`` and ``--column`` for commands that read feedback files."""
    parser.add_argument(
        "--delimiter",
        default=None,
        metavar="CHAR",
        help="CSV field separator, e.g. ';' or tab (default: detected from the header among , ; tab |)",
    )
    parser.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="SCHEMA=FILE",
        help="read a feedback column from a file column of another name, e.g. --column text=body "
        "--column created_at=date (repeat for several)",
    )


def input_format_from(args: argparse.Namespace):
    from feedback_nlp.input_format import InputFormat

    return InputFormat.from_options(args.delimiter, args.column)


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="where the per-partition work runs: this process (default) or Dask workers",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="with --engine dask: a running scheduler (tcp://host:8786); default: start a "
        "LocalCluster with one single-threaded worker per core",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="with --engine dask and no --scheduler: LocalCluster size (default: cores)",
    )
    parser.add_argument(
        "--dashboard",
        default=None,
        metavar="ADDRESS",
        help="with --engine dask and no --scheduler: serve the Dask dashboard there, e.g. :8787 "
        "(default: none, and the cluster logs only errors)",
    )


def engine_from(args: argparse.Namespace):
    from feedback_nlp.engine import make_engine

    return make_engine(args.engine, args.scheduler, args.workers, args.dashboard)


def nothing_accepted(read: int, quarantine: Any, consequence: str) -> str:
    """Why a run that accepted no row fails: a scheduled job must not report success with nothing done.

    ``consequence`` ends the message: what was not done, and where to look.
    """
    if not read:
        return f"the files hold no feedback rows; {consequence}"
    reason, count = quarantine.counts.most_common(1)[0]
    first = quarantine.rows[0]
    where = f"{first.file}:{first.line}" if first.line is not None else str(first.file)
    return (
        f"no row was accepted: all {read} quarantined, most as {reason} ({count}); the first, {where}: "
        f"{first.reason}. {consequence}"
    )
