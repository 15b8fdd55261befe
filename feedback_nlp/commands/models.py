"""``feedback-nlp models list|prune``: the version folders of a models dir, and removing old ones."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from feedback_nlp.commands._common import add_json_option, models_dir_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list model versions, or prune old and rejected ones",
        description="The versions in a models dir, newest first: serving (named in LATEST), kept (could "
        "serve again) or rejected (failed the promotion gate).",
    )
    actions = parser.add_subparsers(dest="models_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list the versions, newest first")
    prune = actions.add_parser(
        "prune",
        help="remove old and rejected versions (never the serving one)",
        description="Keep the N newest accepted versions and the serving one; remove the rest, rejected "
        "versions included.",
    )
    prune.add_argument(
        "--keep", type=int, required=True, metavar="N", help="accepted versions to keep (>= 1)"
    )
    prune.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    for action in (listing, prune):
        action.add_argument(
            "--models-dir",
            type=Path,
            default=None,
            help="folder of model versions (default: FEEDBACK_NLP_MODELS_DIR or models/)",
        )
        add_json_option(action)
    listing.set_defaults(func=run_list)
    prune.set_defaults(func=run_prune)


def run_list(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from feedback_nlp.artifact import list_versions, no_model_message

    models_dir = models_dir_from(args)
    versions = list_versions(models_dir)
    if args.json:
        print(
            json.dumps({"models_dir": str(models_dir), "versions": [asdict(v) for v in versions]}, indent=2)
        )
        return 0
    if not versions:
        print(no_model_message(models_dir))
        return 0
    for info in versions:
        print(f"{info.name:<36} {info.created_at:<26} {info.status}")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    from feedback_nlp.artifact import prune_versions

    models_dir = models_dir_from(args)
    result = prune_versions(models_dir, args.keep, dry_run=args.dry_run)
    if args.json:
        print(
            json.dumps(
                {
                    "models_dir": str(models_dir),
                    "dry_run": args.dry_run,
                    "kept": list(result.kept),
                    "removed": list(result.removed),
                },
                indent=2,
            )
        )
        return 0
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(result.removed)} version(s), kept {len(result.kept)} in {models_dir}")
    for name in result.removed:
        print(f"  {verb} {name}")
    return 0
