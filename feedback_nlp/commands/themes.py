"""``feedback-nlp themes``: print the areas of a model with their themes, as a table."""

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
    areas = _by_area(themes)
    print(f"Model {path.name}: {len(areas)} areas, {len(themes)} themes")
    print(f"{'id':>3}  {'size':>5}  {'name':<34} {'roadmap item':<40} owner")
    for (area_id, area_name), members in areas.items():
        area_size = sum(int(t["size"]) for t in members)
        label = f"area {area_id}" if area_id is not None else "no area"
        themes_word = "theme" if len(members) == 1 else "themes"
        print(f"{label}: {area_name or '-'} ({len(members)} {themes_word}, {area_size} units)")
        for theme in members:
            item = theme["roadmap_item"]
            item_text = f"{item['id']} {item['title']}" if item else "- (unplanned demand)"
            print(
                f"{theme['id']:>3}  {theme['size']:>5}  {theme['name'][:34]:<34} {item_text[:40]:<40} "
                f"{theme['owner']}"
            )
    return 0


def _by_area(themes: list[dict]) -> dict[tuple[int | None, str | None], list[dict]]:
    """Themes grouped under their area, the areas with most units first (themes keep their order)."""
    groups: dict[tuple[int | None, str | None], list[dict]] = {}
    for theme in themes:
        groups.setdefault((theme.get("area_id"), theme.get("area_name")), []).append(theme)
    return dict(sorted(groups.items(), key=lambda kv: -sum(int(t["size"]) for t in kv[1])))
