"""``feedback-nlp score``: score texts or a feedback file, one JSON object per line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from feedback_nlp.commands._common import (
    add_input_options,
    add_json_option,
    add_model_options,
    input_format_from,
    models_dir_from,
    nothing_accepted,
)

BATCH = 256


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score texts or a feedback file with a trained model",
        description="Print one JSON object per scored item (JSON Lines). TEXT '-' reads texts from standard "
        "input, one per line (blank lines skipped): echo 'the export times out' | feedback-nlp score -",
    )
    add_model_options(parser)
    parser.add_argument("--input", type=Path, default=None, help="a feedback file (CSV, JSONL, Parquet)")
    parser.add_argument("--source", default="ticket", help="source of bare TEXT arguments (default ticket)")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to score; - reads standard input")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print each item as the API answers it: every unit with its offsets and explanation",
    )
    add_json_option(
        parser, "JSON Lines (the default; accepted for scripts that pass --json to every command)"
    )
    add_input_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feedback_nlp.artifact import resolve_model_dir
    from feedback_nlp.errors import InputError
    from feedback_nlp.ingest import Quarantine, check_inputs, iter_feedback
    from feedback_nlp.model import FeedbackModel

    if args.input is None and not args.texts:
        raise InputError("give --input PATH, one or more TEXT arguments, or - to read texts from stdin")
    input_format = input_format_from(args)
    if args.input is not None:
        check_inputs([args.input], input_format)  # a missing column stops before the model loads
    from feedback_nlp.settings import get_settings

    model = FeedbackModel.load(
        resolve_model_dir(models_dir_from(args), args.model), encoder_backend=get_settings().encoder_backend
    )
    texts = _with_stdin(args.texts)
    for start in range(0, len(texts), BATCH):
        for result in model.score_texts(texts[start : start + BATCH], source=args.source):
            print(json.dumps(_output(result, args.explain), ensure_ascii=False))
    if args.input is not None:
        quarantine = Quarantine()
        batch = []
        from feedback_nlp.settings import get_settings

        settings = get_settings()
        raw_columns = settings.split_keys(settings.raw_metadata_columns)
        accepted = 0
        for record in iter_feedback(
            [args.input], quarantine, input_format=input_format, raw_metadata_columns=raw_columns
        ):
            batch.append(record)
            accepted += 1
            if len(batch) == BATCH:
                _print_batch(model, batch, args.explain)
                batch = []
        if batch:
            _print_batch(model, batch, args.explain)
        if len(quarantine):
            print(f"{len(quarantine)} rows quarantined: {dict(quarantine.counts)}", file=sys.stderr)
        if not accepted:
            raise InputError(nothing_accepted(len(quarantine), quarantine, "nothing was scored"))
    return 0


def _with_stdin(texts: list[str]) -> list[str]:
    """The TEXT arguments with ``-`` replaced by the lines of standard input (blank lines skipped)."""
    if "-" not in texts:
        return texts
    lines = [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
    if not lines:
        from feedback_nlp.errors import InputError

        raise InputError("TEXT - reads texts from standard input, one per line, but it held none")
    return [text for argument in texts for text in (lines if argument == "-" else [argument])]


def _print_batch(model, batch, explain: bool) -> None:
    for result in model.score(batch):
        print(json.dumps(_output(result, explain), ensure_ascii=False))


def _output(result, explain: bool = False) -> dict:
    """The API's answer with --explain (the same function builds both); without it, the decision only."""
    from feedback_nlp.schemas import plain_json

    full = plain_json(result.to_dict())
    if explain:
        return full
    keys = (
        "id",
        "area_id",
        "area_name",
        "theme_id",
        "theme_name",
        "confidence",
        "roadmap_item",
        "owner",
        "route",
        "model_version",
    )
    output = {key: full[key] for key in keys}
    if len(result.units) > 1:
        output["units"] = [
            {
                k: u[k]
                for k in (
                    "unit_index",
                    "start",
                    "end",
                    "area_id",
                    "area_name",
                    "theme_id",
                    "theme_name",
                    "confidence",
                    "owner",
                    "route",
                )
            }
            for u in full["units"]
        ]
    return output
