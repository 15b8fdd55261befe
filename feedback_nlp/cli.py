"""The ``feedback-nlp`` console script: one subcommand per module in ``feedback_nlp.commands``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from feedback_nlp import __version__, threads
from feedback_nlp.commands import COMMANDS
from feedback_nlp.errors import FeedbackNLPError

# Nothing may reach a model hub: weights come from installed packages or local directories.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Before numpy, torch or the tokenizers load: their pools are sized from the environment when they start.
threads.apply()

# libraries that log at INFO what a user of the command line need not read
NOISY_LOGGERS = ("sentence_transformers", "transformers", "huggingface_hub", "distributed", "httpx")


def build_parser(prog: str = "feedback-nlp") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Customer feedback in; product themes, roadmap links and routing out.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


class _OneCommand:
    """Stands in for argparse's subparsers when one command is the whole program: the parser it makes is
    named ``prog`` (``python -m training.train --help`` says that, not ``feedback-nlp train``)."""

    def __init__(self, prog: str) -> None:
        self.prog = prog
        self.parser: argparse.ArgumentParser | None = None

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.pop("help", None)
        kwargs.setdefault("description", f"The same job as feedback-nlp {name}.")
        self.parser = argparse.ArgumentParser(prog=self.prog, **kwargs)
        self.parser.set_defaults(command=name)
        return self.parser


def build_command_parser(name: str, prog: str) -> argparse.ArgumentParser:
    """The parser of one subcommand as a program of its own, with ``-v`` and ``--version``."""
    (command,) = [c for c in COMMANDS if c.__name__.rsplit(".", 1)[-1] == name]
    one = _OneCommand(prog)
    command.register(one)
    assert one.parser is not None
    one.parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    one.parser.add_argument("--version", action="version", version=f"feedback-nlp {__version__}")
    return one.parser


def main(argv: list[str] | None = None, *, parser: argparse.ArgumentParser | None = None) -> int:
    """Run the command line; ``parser`` replaces the ``feedback-nlp`` parser (see ``training.train``)."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        # "Loading SentenceTransformer model from ..." and the like on every command: shown with -v
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
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
