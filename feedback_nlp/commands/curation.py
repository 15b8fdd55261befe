"""``feedback-nlp curation export|import``: the store's curation to and from the taxonomy YAML format."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from feedback_nlp.commands._common import models_dir_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "curation",
        help="export the store's curation as taxonomy YAML, or import a taxonomy file into the store",
        description="The service keeps curation decisions in the store (/v1/curation, the workbench at /ui); "
        "every retrain applies them. The taxonomy YAML (training/taxonomy.yaml) is their import and export.",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="write the decisions in force as taxonomy YAML")
    export.add_argument("--out", type=Path, default=None, help="the YAML file to write (default: print it)")
    imported = actions.add_parser("import", help="record a taxonomy file's decisions in the store")
    imported.add_argument("taxonomy", type=Path, help="a taxonomy YAML file (see feedback_nlp/taxonomy.py)")
    for sub in (export, imported):
        sub.add_argument(
            "--database-url",
            default=None,
            help="SQLAlchemy URL of the store (default: FEEDBACK_NLP_DATABASE_URL, else "
            "feedback.sqlite beside the models dir)",
        )
        sub.add_argument(
            "--models-dir",
            type=Path,
            default=None,
            help="folder of model versions; the default store lies beside it (default: "
            "FEEDBACK_NLP_MODELS_DIR or models/)",
        )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feedback_nlp.curation import actions_to_yaml, taxonomy_to_actions
    from feedback_nlp.settings import get_settings
    from feedback_nlp.store import open_store
    from feedback_nlp.taxonomy import Taxonomy

    store = open_store(args.database_url or get_settings().store_url(models_dir_from(args)))
    try:
        if args.action == "export":
            text = actions_to_yaml(store.curation())
            if args.out is None:
                sys.stdout.write(text)
            else:
                args.out.write_text(text, encoding="utf-8")
                print(f"curation written to {args.out}")
            return 0
        taxonomy = Taxonomy.load(args.taxonomy)
        actor = f"import:{getpass.getuser()}"
        recorded = [store.add_curation(action) for action in taxonomy_to_actions(taxonomy, actor)]
        print(f"{len(recorded)} decisions from {args.taxonomy} recorded in the store at {store.url}")
        if taxonomy.seeds:
            print(f"  {len(taxonomy.seeds)} seeds stay in the file: pass it to train --taxonomy for them")
        return 0
    finally:
        store.close()
