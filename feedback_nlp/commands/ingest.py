"""``feedback-nlp ingest``: score feedback files with the latest model and write them to the store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from feedback_nlp.commands._common import (
    add_engine_options,
    add_input_options,
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
        help="SQLAlchemy URL of the store (default: FEEDBACK_NLP_DATABASE_URL or sqlite:///feedback.sqlite)",
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
    add_input_options(parser)
    add_engine_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feedback_nlp.artifact import resolve_model_dir
    from feedback_nlp.errors import ConfigError, InputError
    from feedback_nlp.ingest import Quarantine, check_inputs, iter_feedback
    from feedback_nlp.model import FeedbackModel
    from feedback_nlp.schemas import FeedbackRecord
    from feedback_nlp.settings import get_settings
    from feedback_nlp.store import open_store, quarantine_if_unstorable

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, not {args.batch_size}")
    settings = get_settings()
    input_format = input_format_from(args)
    # fail before loading anything on a missing file or a missing column
    paths = check_inputs(args.paths, input_format)
    model = FeedbackModel.load(resolve_model_dir(models_dir_from(args), args.model))
    store = open_store(args.database_url or settings.database_url)
    quarantine = Quarantine()
    accepted = stored = 0

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
        if args.engine == "local":
            raw_columns = settings.split_keys(settings.raw_metadata_columns)
            records = iter_feedback(
                paths,
                quarantine,
                max_text_chars=settings.max_text_chars,
                input_format=input_format,
                raw_metadata_columns=raw_columns,
            )
            # the next batch is prepared while this one is encoded (FeedbackModel.score_batches)
            for batch, scores in model.score_batches(batches(records)):
                stored += store.upsert_scored_batch(list(zip(batch, scores, strict=True)))
        else:
            accepted, stored = _ingest_on_engine(
                args, paths, input_format, model, store, quarantine, settings
            )
        total = store.count_items()
    finally:
        store.close()

    read = accepted + len(quarantine)
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


def _ingest_on_engine(args, paths, input_format, model, store, quarantine, settings) -> tuple[int, int]:
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
                stored += store.upsert_scored_batch(fresh[start : start + args.batch_size])
            accepted += len(fresh)
    return accepted, stored
