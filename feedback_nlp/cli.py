"""The ``feedback-nlp`` console script: one subcommand per module in ``feedback_nlp.commands``."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from feedback_nlp import __version__, threads
from feedback_nlp.commands import COMMANDS
from feedback_nlp.errors import FeedbackNLPError

# Nothing may reach a model hub: weights come from installed packages or local directories.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Before numpy, torch or the tokenizers load: their pools are sized from the environment when they start.
threads.apply()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedback-nlp",
        description="Customer feedback in; product themes, roadmap links and routing out.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except FeedbackNLPError as exc:
        print(f"feedback-nlp {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A path the user gave that cannot be read or written (a file where a folder is expected, no
        # permission, a full disk): their problem to fix, so a message rather than a traceback.
        logging.getLogger(__name__).debug("%s failed", args.command, exc_info=True)
        where = f": {exc.filename}" if exc.filename else ""
        print(f"feedback-nlp {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"feedback-nlp {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
