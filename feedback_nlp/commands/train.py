"""``feedback-nlp train``: run the batch job and print the run summary."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from feedback_nlp.commands._common import (
    add_engine_options,
    add_input_options,
    add_json_option,
    engine_from,
    input_format_from,
    models_dir_from,
)

if TYPE_CHECKING:
    from feedback_nlp.corrections import Correction
    from feedback_nlp.curation import CurationAction

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a model from feedback files and a roadmap")
    parser.add_argument(
        "--feedback",
        type=Path,
        action="append",
        required=True,
        help="a feedback file (CSV, JSONL or Parquet); repeat for several",
    )
    parser.add_argument("--roadmap", type=Path, required=True, help="the roadmap YAML file")
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="where to write the version (default: FEEDBACK_NLP_MODELS_DIR or models/)",
    )
    parser.add_argument("--config", type=Path, default=None, help="training config YAML")
    parser.add_argument(
        "--taxonomy",
        type=Path,
        default=None,
        help="curation decisions (overrides the config's taxonomy; see feedback_nlp/taxonomy.py)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="the store whose curation (/v1/curation, the workbench) the run applies over --taxonomy "
        "(default: FEEDBACK_NLP_DATABASE_URL or sqlite:///feedback.sqlite)",
    )
    parser.add_argument(
        "--no-store-curation",
        action="store_true",
        help="do not apply the store's curation (only --taxonomy's)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="promote the new model even if it fails the promotion gate (recorded as forced)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="rediscover the themes and remeasure the router even when the serving model's could be kept "
        "(the config's incremental: false)",
    )
    add_json_option(parser, "the run summary (summary.json)")
    add_input_options(parser)
    add_engine_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feedback_nlp.config import TrainingConfig
    from feedback_nlp.pipeline import train

    config = TrainingConfig.from_yaml(args.config) if args.config else TrainingConfig()
    if args.taxonomy is not None:
        config.taxonomy = str(args.taxonomy)
    if args.full:
        config.incremental = False
    input_format = input_format_from(args)
    models_dir = models_dir_from(args)
    curation, corrections = (
        ([], []) if args.no_store_curation else store_decisions(args.database_url, models_dir)
    )
    with engine_from(args) as engine:
        result = train(
            args.feedback,
            args.roadmap,
            models_dir,
            config,
            force=args.force,
            engine=engine,
            input_format=input_format,
            curation=curation,
            corrections=corrections,
        )
    if args.json:
        print(json.dumps(result.summary, indent=2))
    else:
        print(format_summary(result.summary, result.path))
    return 0


def store_decisions(
    database_url: str | None, models_dir: Path | None = None
) -> tuple[list[CurationAction], list[Correction]]:
    """The curation decisions and route corrections kept in the store; none when the SQLite file does not
    exist yet (a first run before anything was ingested), so that training never creates an empty store."""
    from sqlalchemy.engine import make_url

    from feedback_nlp.settings import get_settings
    from feedback_nlp.store import open_store

    url = database_url or get_settings().store_url(models_dir)
    parsed = make_url(url)
    sqlite_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if sqlite_file and not Path(str(parsed.database)).expanduser().is_file():
        logger.info("no store at %s: no stored curation or corrections to apply", url)
        return [], []
    store = open_store(url)
    try:
        actions, corrections = store.curation(), store.corrections()
    finally:
        store.close()
    logger.info(
        "applying %d curation decisions and %d corrections from the store at %s",
        len(actions),
        len(corrections),
        store.url,
    )
    return actions, corrections


def incremental_lines(incremental: dict) -> list[str]:
    """What the run reused from the serving model, or why it was a full retrain."""
    if incremental.get("mode") == "incremental":
        line = (
            f"Incremental retrain: {incremental['new_units']} new units placed in the themes drawn in "
            f"{incremental['borders_from']}; reused: {', '.join(incremental['reused'])}"
        )
        reason = incremental["reason"]
        return [line + (f" (router trained afresh: {reason})" if reason else "")]
    if incremental.get("reason"):
        return [f"Full retrain: {incremental['reason']}"]
    return []


def format_summary(summary: dict, path: Path) -> str:
    engine = summary.get("engine") or {}
    lines = [
        f"Model {summary['version']} written to {path}",
        f"Engine: {engine.get('engine', 'local')} ({engine.get('workers', 1)} worker(s)), "
        f"{summary.get('partitions', 1)} partition(s); "
        f"themes found on {summary.get('discovery_sample_units')} units",
        f"Rows: read {summary['rows_read']} = accepted {summary['rows_accepted']} "
        f"+ quarantined {summary['rows_quarantined']} (see {path / 'quarantine.jsonl'})",
    ]
    for reason, count in summary["quarantine_reasons"].items():
        lines.append(f"  quarantined {reason}: {count}")
    lines.append(
        "Accepted by source: " + ", ".join(f"{k} {v}" for k, v in summary["accepted_by_source"].items())
    )
    lines.append(
        f"Units: {summary['units']}; areas: {len(summary['areas'])}; themes: {summary['themes']}; "
        f"unassigned: {summary['unassigned_units']} ({summary['unassigned_fraction']:.1%})"
    )
    cache = summary["embedding_cache"]
    lines.append(f"Embedding cache: {cache['hits']} hits, {cache['misses']} embedded")
    router = summary["router"]
    if "holdout_accuracy" in router:
        lines.append(
            f"Router hold-out: accuracy {router['holdout_accuracy']:.3f}, macro-F1 "
            f"{router['holdout_macro_f1']:.3f}, ECE {router['holdout_ece']:.3f}, "
            f"triage {router['holdout_triage_fraction']:.1%}"
        )
    if router.get("units_available", 0) > router.get("trained_on_units", 0):
        lines.append(
            f"Router trained on {router['trained_on_units']} of {router['units_available']} units "
            f"(router_max_units: the largest themes trimmed)"
        )
    lines.append(f"Unplanned demand (themes with no roadmap item): {len(summary['unplanned_demand'])}")
    for theme in summary["unplanned_demand"]:
        lines.append(f"  theme {theme['theme_id']:>3} {theme['name']} ({theme['size']} units)")
    lines.append(f"No evidence (roadmap items no theme maps to): {len(summary['no_evidence'])}")
    for item in summary["no_evidence"]:
        lines.append(f"  {item['id']} {item['title']} ({item['status']}, {item['owner']})")
    changes = summary.get("changes") or {}
    if changes.get("previous_version"):
        lines.append(
            f"Against {changes['previous_version']}: {len(changes['new'])} new, "
            f"{len(changes['retired'])} retired, {len(changes['split'])} split, "
            f"{len(changes['merged'])} merged, {len(changes['renamed'])} renamed themes; "
            f"churn {changes['churn']:.1%} (see changelog.json)"
        )
    lines += incremental_lines(summary.get("incremental") or {})
    lines += curation_lines(summary.get("curation") or {})
    lines += correction_lines(summary.get("corrections") or {})
    alignment = (summary.get("alignment") or {}).get("counts")
    if alignment:
        lines.append("Alignment: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in alignment.items()))
    promotion = summary.get("promotion") or {}
    if promotion.get("status") == "forced":
        lines.append("Promotion FORCED despite: " + "; ".join(promotion["reasons"]))
    lines.append(
        "Seconds: "
        + ", ".join(f"{k} {v}" for k, v in summary["seconds"].items())
        + f", total {summary.get('seconds_total')}"
    )
    return "\n".join(lines)


def curation_lines(curation: dict) -> list[str]:
    """What became of the curation decisions: lost (the gate fails), stale, kept but not applied, carried."""
    lost = curation.get("lost", [])
    lines = [f"  LOST curation: {e['decision']} (theme {e['theme']} {e['why']})" for e in lost]
    lines += [
        f"  stale curation: {e['decision']} (theme {e['theme']}: {e['why']})"
        for e in curation.get("stale", [])
        if e not in lost
    ]
    lines += [
        f"  curation kept, not applied: {e['decision']} ({e['why']})" for e in curation.get("not_applied", [])
    ]
    lines += [
        f"  carried curation: {e['decision']} from theme {e['from']} to {e['to']}"
        for e in curation.get("carried", [])
    ]
    return lines


def correction_lines(corrections: dict) -> list[str]:
    """How many corrections the router trained on, and the themes flagged for review."""
    if not corrections.get("kept"):
        return []
    lines = [
        f"Corrections: {corrections['kept']} kept, router trained on {corrections['trained_on']} "
        f"({corrections['skipped']} about themes no longer served)"
    ]
    lines += [
        f"  review theme {e['theme']}: {e['corrections']} units corrected away"
        for e in corrections.get("flagged_for_review", [])
    ]
    return lines
