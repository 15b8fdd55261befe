"""``feedback-nlp ingest``: score feedback files with the latest model and write them to the store."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from feedback_nlp.commands._common import (
    add_engine_options,
    add_input_options,
    add_json_option,
    add_model_options,
    engine_from,
    input_format_from,
    models_dir_from,
    nothing_accepted,
)

DEFAULT_BATCH = 256


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="score feedback files and load them into the feedback store",
        description="Stream CSV / JSONL / Parquet feedback through validation, score it in batches and "
        "upsert every item into the store (FEEDBACK_NLP_DATABASE_URL). The same id again "
        "updates the stored item. Rejected rows are counted by reason.",
    )
    add_model_options(parser)
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL of the store (default: FEEDBACK_NLP_DATABASE_URL or feedback.sqlite beside the "
        "models dir)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH,
        help=f"items scored and written per transaction (default {DEFAULT_BATCH})",
    )
    parser.add_argument(
        "--quarantine-out",
        type=Path,
        default=None,
        help="also write the rejected rows with their reasons to this JSONL file",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="feedback files")
    parser.add_argument(
        "--format",
        choices=("feedback", "zendesk", "intercom", "salesforce-notes"),
        default="feedback",
        help="what the files are: feedback files in the schema's columns (default), a Zendesk ticket export "
        "(JSON/NDJSON), an Intercom conversation export (JSON/NDJSON) or a Salesforce notes CSV "
        "(Note or ContentNote)",
    )
    add_input_options(parser)
    add_engine_options(parser)
    add_json_option(parser, "the counts")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feedback_nlp.artifact import resolve_model_dir
    from feedback_nlp.errors import ConfigError, InputError
    from feedback_nlp.ingest import Quarantine
    from feedback_nlp.model import FeedbackModel
    from feedback_nlp.progress import Progress
    from feedback_nlp.schemas import FeedbackRecord
    from feedback_nlp.settings import get_settings
    from feedback_nlp.store import open_store, quarantine_if_unstorable

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, not {args.batch_size}")
    settings = get_settings()
    input_format = input_format_from(args)
    # fail before loading anything on a missing file or a missing column
    paths = _check_paths(args, input_format)
    models_dir = models_dir_from(args)
    model = FeedbackModel.load(resolve_model_dir(models_dir, args.model))
    store = open_store(args.database_url or settings.store_url(models_dir))
    quarantine = Quarantine()
    accepted = stored = 0
    progress = Progress("ingest", "rows stored")

    def batches(records: Iterable[FeedbackRecord]) -> Iterator[list[FeedbackRecord]]:
        nonlocal accepted
        batch: list[FeedbackRecord] = []
        for record in records:
            if quarantine_if_unstorable(record, quarantine):
                continue
            accepted += 1
            batch.append(record)
            if len(batch) >= args.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    try:
        with progress:
            if args.engine == "local":
                raw_columns = settings.split_keys(settings.raw_metadata_columns)
                records = _records(
                    args, paths, input_format, quarantine, settings.max_text_chars, raw_columns
                )
                # the next batch is prepared while this one is encoded (FeedbackModel.score_batches)
                for batch, scores in model.score_batches(batches(records)):
                    written = store.upsert_scored_batch(list(zip(batch, scores, strict=True)))
                    progress.advance(written)
                    stored += written
            else:
                accepted, stored = _ingest_on_engine(
                    args, paths, input_format, model, store, quarantine, settings, progress
                )
        total = store.count_items()
    finally:
        store.close()

    read = accepted + len(quarantine)
    if args.json:
        counts = {
            "read": read,
            "accepted": accepted,
            "quarantined": len(quarantine),
            "stored": stored,
            "quarantine_reasons": dict(quarantine.counts.most_common()),
            "model_version": model.version_,
            "store": str(store.url),
            "store_items": total,
        }
        print(json.dumps(counts))
    else:
        print(
            f"read {read}, accepted {accepted}, quarantined {len(quarantine)}, stored {stored} "
            f"(model {model.version_}; store {store.url} now holds {total} items)"
        )
        for reason, count in quarantine.counts.most_common():
            print(f"  quarantined {count:>6}  {reason}")
    if args.quarantine_out is not None and len(quarantine):
        quarantine.write_jsonl(args.quarantine_out)
        print(f"quarantined rows written to {args.quarantine_out}", file=sys.stderr)
    if not accepted:
        see = args.quarantine_out or "--quarantine-out FILE to list every rejected row"
        raise InputError(nothing_accepted(read, quarantine, f"nothing was stored; see {see}"))
    return 0


def _check_paths(args: argparse.Namespace, input_format: Any) -> list[Path]:
    from feedback_nlp.desk_exports import check_exports
    from feedback_nlp.errors import ConfigError
    from feedback_nlp.ingest import check_inputs

    if args.format == "feedback":
        return check_inputs(args.paths, input_format)
    if args.engine != "local":
        raise ConfigError(f"--format {args.format} is read by this process; leave out --engine {args.engine}")
    if args.column or args.delimiter:
        raise ConfigError(
            f"--format {args.format} knows its export's columns; leave out --column and --delimiter"
        )
    return check_exports(args.paths, args.format)


def _records(
    args: argparse.Namespace,
    paths: list[Path],
    input_format: Any,
    quarantine: Any,
    max_text_chars: int,
    raw_columns: list[str],
) -> Iterator[Any]:
    from feedback_nlp.desk_exports import iter_export_feedback
    from feedback_nlp.ingest import iter_feedback

    if args.format == "feedback":
        return iter_feedback(
            paths,
            quarantine,
            max_text_chars=max_text_chars,
            input_format=input_format,
            raw_metadata_columns=raw_columns,
        )
    return iter_export_feedback(
        paths, args.format, quarantine, max_text_chars=max_text_chars, raw_metadata_columns=raw_columns
    )


def _ingest_on_engine(
    args, paths, input_format, model, store, quarantine, settings, progress
) -> tuple[int, int]:
    """Workers read, validate and score partitions; this process writes them to the store in input order.

    At most two partitions per worker are in flight, so memory here stays bounded whatever the input size.
    Duplicate ids keep their first row, as with the local engine (only the ids are remembered).
    """
    from feedback_nlp.ingest import duplicate_reason
    from feedback_nlp.partitions import plan_partitions
    from feedback_nlp.stages import score_partition

    seen: set[str] = set()
    accepted = stored = 0
    with engine_from(args) as engine:
        partitions = plan_partitions(paths, input_format=input_format)
        for result in engine.imap(
            score_partition,
            partitions,
            model_dir=str(Path(model.path_).resolve()),
            max_text_chars=settings.max_text_chars,
            # the comma-separated setting as it is: the engine scatters each argument, and a tuple would be
            # scattered item by item (none at all when empty)
            raw_metadata_columns=settings.raw_metadata_columns,
        ):
            quarantine.extend(result.quarantine)
            fresh = []
            for record, scored in result.scored:
                if record.id in seen:
                    quarantine.add(
                        {"id": record.id, "source": record.source},
                        duplicate_reason(record.id),
                        "id",
                        record.origin_file,
                        record.origin_line,
                    )
                    continue
                seen.add(record.id)
                fresh.append((record, scored))
            for start in range(0, len(fresh), args.batch_size):
                written = store.upsert_scored_batch(fresh[start : start + args.batch_size])
                progress.advance(written)
                stored += written
            accepted += len(fresh)
    return accepted, stored
