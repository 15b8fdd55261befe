"""The README's sample answer and pin example, and ``training/taxonomy.example.yaml``, from a demo model.

Regenerate after the model changes (new themes, new names):

    make train && make readme-examples          # or: python -m tests.readme_examples --models-dir models

It rewrites the README between ``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->`` and
the whole taxonomy example. ``tests/test_readme_examples.py`` trains the demo model (the real encoder, the
demo's config) and checks that nothing would change. The taxonomy's decisions find their themes by scoring
a sentence about each, so they stay true when theme ids move.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
TAXONOMY_EXAMPLE = REPO_ROOT / "training" / "taxonomy.example.yaml"

SAMPLE_ID = "T-9001"
SAMPLE_TEXT = "My new card still has not arrived after two weeks"
# the item a curator would pin the sample answer's theme to instead (a card that has not arrived)
PIN_TO = ("RM-01", "Live card delivery tracking")
VERSION_PATTERN = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}(-\d+)?")

# Each taxonomy decision names its theme by a sentence the theme would hold.
RENAME = ("I want a refund for this purchase", "Refund requests")
MERGE = (
    ("I was charged twice for the same payment", "The same card payment shows up twice"),
    "Duplicate charges",
)
PIN_ITEM = ("Can I add my card to Apple Pay?", "RM-14")
PIN_OWNER = ("I can't verify my identity, the app rejects my passport", "@identity-team")
IGNORE = ("How do I delete my account?", "account closures are handled by the retention team")
AREA_RENAME = ("What exchange rate do you use for my transfer?", "Exchange rates")


def _block(name: str, body: str) -> str:
    return f"<!-- BEGIN GENERATED: {name} -->\n{body.rstrip()}\n<!-- END GENERATED: {name} -->"


def _round(value: Any, digits: int = 2) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {key: _round(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [_round(item, digits) for item in value]
    return value


def sample_answer(model: Any) -> dict[str, Any]:
    """What ``POST /v1/score`` answers for the sample ticket (the function the API uses)."""
    from feedback_nlp.schemas import FeedbackRecord, plain_json

    record = FeedbackRecord(
        id=SAMPLE_ID, text=SAMPLE_TEXT, source="ticket", created_at=datetime(2026, 11, 20, tzinfo=UTC)
    )
    return plain_json(model.score([record])[0].to_dict())


def _packed(pairs: list[tuple[str, Any]], indent: str, width: int = 110) -> list[str]:
    """``"key": value`` pairs packed into lines of at most ``width`` characters (a long pair alone)."""
    lines: list[str] = []
    line = ""
    for key, value in pairs:
        part = "..." if key == "..." else f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"
        if line and len(indent) + len(line) + len(part) + 2 > width:
            lines.append(indent + line + ",")
            line = ""
        line = f"{line}, {part}" if line else part
    lines.append(indent + line)
    return lines


def answer_block(answer: dict[str, Any]) -> str:
    """The answer abridged: figures to 3 places, the unit's own fields, one nearest example."""
    top = [(key, value) for key, value in _round(answer, 3).items() if key != "units"]
    unit = _round(answer["units"][answer["primary_unit"]], 3)
    explanation = dict(unit["explanation"])
    explanation["nearest_examples"] = explanation["nearest_examples"][:1] + ["..."]
    unit_head = [(key, unit[key]) for key in ("unit_index", "start", "end", "text")] + [("...", None)]
    lines = ["```json"]
    top_lines = _packed(top, " ")
    lines += ["{" + top_lines[0][1:]] + top_lines[1:]
    lines[-1] += ","
    unit_lines = _packed(unit_head, "  ")
    lines += [' "units": [{' + unit_lines[0][2:]] + unit_lines[1:]
    lines[-1] += ","
    lines.append('   "explanation": {')
    for index, (key, value) in enumerate(explanation.items()):
        close = "," if index < len(explanation) - 1 else "}}]}"
        lines.append(f"     {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{close}")
    lines.append("```")
    return "\n".join(lines).replace('"..."', "...")


def pin_block(answer: dict[str, Any]) -> str:
    unit = answer["units"][answer["primary_unit"]]
    evidence = unit["explanation"].get("roadmap_evidence") or {}
    item = answer["roadmap_item"] or {}
    pin = f"`pin: [{{theme: {answer['theme_id']}, roadmap_item: {PIN_TO[0]}}}]`"
    if evidence.get("routed") and item.get("id") != PIN_TO[0]:
        words = ", ".join(evidence.get("words") or [])
        why = (
            f'(The unit\'s words ({words}) reached {item["id"]} "{item["title"]}" rather than {PIN_TO[0]}\n'
            f'"{PIN_TO[1]}": roadmap mapping is by similarity, and a curator can pin the theme in the\n'
            f"taxonomy, which outranks the unit's own evidence: {pin}.)"
        )
    else:
        why = (
            "(Roadmap mapping is by similarity; a curator can pin the theme to another item in the\n"
            "taxonomy, "
            f"which outranks the unit's own evidence: {pin}.)"
        )
    return why


def _theme_of(model: Any, text: str, *, not_in: tuple[int, ...] = ()) -> int:
    """The theme a sentence is scored to; the runner-up when that one is already taken."""
    (result,) = model.score_texts([text])
    unit = result.primary
    if unit.theme_id not in not_in and unit.theme_id is not None:
        return int(unit.theme_id)
    runner_up = (unit.explanation.get("runner_up") or {}).get("theme_id")
    if runner_up is None or runner_up in not_in:
        raise SystemExit(
            f"no distinct theme for {text!r}: choose another sentence in tests/readme_examples.py"
        )
    return int(runner_up)


HEADER = """\
# Curation decisions applied on every retrain (copy to training/taxonomy.yaml and pass --taxonomy, or set
# `taxonomy:` in the training config). Theme IDs are those of `feedback-nlp themes`; they survive retrains.
# A decision about a retired theme moves to its successor when the lineage is clear, else it is reported \
stale.
# The IDs below are the demo model's (make demo); tests/readme_examples.py writes this file.
"""


def _area_of(model: Any, text: str) -> int | None:
    (result,) = model.score_texts([text])
    return result.primary.area_id


def taxonomy_example(model: Any) -> str:
    renamed = _theme_of(model, RENAME[0])
    first = _theme_of(model, MERGE[0][0])
    second = _theme_of(model, MERGE[0][1], not_in=(first,))
    pinned = _theme_of(model, PIN_ITEM[0])
    owned = _theme_of(model, PIN_OWNER[0])
    ignored = _theme_of(model, IGNORE[0])
    return (
        HEADER
        + f"""rename:
  - {{theme: {renamed}, name: {RENAME[1]}}}
merge:            # the first theme absorbs the others
  - {{themes: [{first}, {second}], name: {MERGE[1]}}}
pin:
  - {{theme: {pinned}, roadmap_item: {PIN_ITEM[1]}}}
  - {{theme: {owned}, owner: "{PIN_OWNER[1]}"}}
ignore:
  - {{theme: {ignored}, reason: {IGNORE[1]}}}
seeds:            # guided discovery: kept as themes, new ones are still found around them
  - name: ERP sync (NetSuite, Xero, QuickBooks)
    examples:
      - They want a two-way NetSuite sync instead of exporting CSVs by hand
      - Asked whether we integrate with Xero or QuickBooks for reconciliation
# Areas group themes (feedback-nlp themes lists them with their IDs, which survive retrains like theme IDs):
# rename_area:
#   - {{area: {_area_of(model, AREA_RENAME[0])}, name: {AREA_RENAME[1]}}}
# move:             # a theme into another area
#   - {{theme: {pinned}, area: {_area_of(model, RENAME[0])}}}
"""
    )


def generated(model: Any) -> dict[str, str]:
    """Every generated block by name, and the taxonomy example under ``taxonomy``."""
    answer = sample_answer(model)
    return {"answer": answer_block(answer), "pin": pin_block(answer), "taxonomy": taxonomy_example(model)}


def rewrite_readme(readme: str, blocks: dict[str, str]) -> str:
    for name, body in blocks.items():
        pattern = re.compile(
            rf"<!-- BEGIN GENERATED: {name} -->\n.*?<!-- END GENERATED: {name} -->", flags=re.DOTALL
        )
        if name != "taxonomy" and not pattern.search(readme):
            raise SystemExit(f"README.md has no block {name!r} between GENERATED markers")
        readme = pattern.sub(lambda _match, body=body, name=name: _block(name, body), readme)
    return readme


def without_versions(text: str) -> str:
    """Model versions name the training time: equal whenever the rest is."""
    return VERSION_PATTERN.sub("<version>", text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.readme_examples", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    args = parser.parse_args(argv)
    from feedback_nlp.artifact import resolve_model_dir
    from feedback_nlp.model import FeedbackModel

    model = FeedbackModel.load(resolve_model_dir(args.models_dir))
    blocks = generated(model)
    README.write_text(rewrite_readme(README.read_text(encoding="utf-8"), blocks), encoding="utf-8")
    TAXONOMY_EXAMPLE.write_text(blocks["taxonomy"], encoding="utf-8")
    print(f"README.md and {TAXONOMY_EXAMPLE.relative_to(REPO_ROOT)} written from {model.version_}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
