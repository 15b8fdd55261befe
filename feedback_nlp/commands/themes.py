"""``feedback-nlp themes``: print the themes of a model as a table."""

from __future__ import annotations

import argparse
import json

from feedback_nlp.commands._common import add_json_option, add_model_options, models_dir_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("themes", help="list the themes of a trained model")
    add_model_options(parser)
    add_json_option(parser, "the model's themes.json instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from feedback_nlp import artifact

    path = artifact.resolve_model_dir(models_dir_from(args), args.model)
    artifact.verify(path)
    themes = artifact.read_json(path, artifact.THEMES_FILE)
    if args.json:
        print(json.dumps(themes, indent=2, ensure_ascii=False))
        return 0
    print(f"Model {path.name}: {len(themes)} themes")
    print(f"{'id':>3}  {'size':>5}  {'name':<34} {'roadmap item':<40} owner")
    for theme in themes:
        item = theme["roadmap_item"]
        item_text = f"{item['id']} {item['title']}" if item else "- (unplanned demand)"
        print(
            f"{theme['id']:>3}  {theme['size']:>5}  {theme['name'][:34]:<34} {item_text[:40]:<40} "
            f"{theme['owner']}"
        )
    return 0
