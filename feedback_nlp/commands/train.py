"""``feedback-nlp train``: run the batch job and print the run summary."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from feedback_nlp.commands._common import (
    add_engine_options,
    add_input_options,
    engine_from,
    input_format_from,
    models_dir_from,
)


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
        "--force",
        action="store_true",
        help="promote the new model even if it fails the promotion gate (recorded as forced)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON only")
    add_input_options(parser)
    add_engine_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feedback_nlp.config import TrainingConfig
    from feedback_nlp.pipeline import train

    config = TrainingConfig.from_yaml(args.config) if args.config else TrainingConfig()
    if args.taxonomy is not None:
        config.taxonomy = str(args.taxonomy)
    input_format = input_format_from(args)
    models_dir = models_dir_from(args)
    with engine_from(args) as engine:
        result = train(
            args.feedback,
            args.roadmap,
            models_dir,
            config,
            force=args.force,
            engine=engine,
            input_format=input_format,
        )
    if args.json:
        print(json.dumps(result.summary, indent=2))
    else:
        print(format_summary(result.summary, result.path))
    return 0


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
    curation = summary.get("curation") or {}
    for stale in curation.get("stale", []):
        lines.append(f"  stale curation: {stale['decision']} (theme {stale['theme']}: {stale['why']})")
    for carried in curation.get("carried", []):
        lines.append(
            f"  carried curation: {carried['decision']} from theme {carried['from']} to {carried['to']}"
        )
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
