"""Which roadmap item the bundled sample's tickets reach, against the item each ticket's intent answers.

``examples/README.md`` lists, for each of the 24 roadmap items, the Banking77 intents it answers; every
ticket keeps its intent (``upstream_intent``). This scores every ticket with the model in ``models/LATEST``
(train it first: ``make train``) and compares the item its unit is routed to (route ``owner``) with the
item its intent answers (or none, for unplanned demand):

* through the theme link alone (the model with its unit-level evidence switched off),
* with unit-level evidence at several thresholds (a unit whose own evidence score for an item reaches the
  threshold goes to that item; any other unit to its theme's item), the configured one marked.

Precision is over the tickets routed to an item; recall over the tickets whose intent has an item. The
tickets are the model's own training data, which favours the theme link.

    python benchmarks/bench_roadmap_routing.py [--models-dir models]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from feedback_nlp.artifact import read_latest  # noqa: E402
from feedback_nlp.model import FeedbackModel  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.8)
_ROW = re.compile(r"^\| (RM-\d\d) .*?\| \w+ \| (.*) \|$")


def intent_items(readme: Path) -> dict[str, str]:
    """Intent -> roadmap item id, from the roadmap table of examples/README.md."""
    mapping = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            for intent in re.findall(r"[A-Za-z_]+", match.group(2)):
                mapping[intent] = match.group(1)
    if len(set(mapping.values())) < 20:
        raise SystemExit(f"{readme}: could not read the roadmap table (found {len(mapping)} intents)")
    return mapping


def _scores(routed: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    sent = routed != None  # noqa: E711 (object arrays)
    has_item = gold != None  # noqa: E711
    return {
        "precision": float((routed[sent] == gold[sent]).mean()),
        "recall": float((routed[has_item] == gold[has_item]).mean()),
        "routed": float(sent.mean()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    args = parser.parse_args(argv)
    version = read_latest(args.models_dir)
    if version is None:
        raise SystemExit(f"no model in {args.models_dir}: run `make train` first")
    model = FeedbackModel.load(args.models_dir / version)
    if model.evidence_ is None:
        raise SystemExit(f"{version} has no unit-level roadmap evidence (trained before it, or switched off)")
    tickets = pd.read_csv(REPO_ROOT / "examples" / "feedback" / "tickets.csv").dropna(subset=["text"])
    gold_by_intent = intent_items(REPO_ROOT / "examples" / "README.md")
    gold = np.array([gold_by_intent.get(i) for i in tickets["upstream_intent"]], dtype=object)
    evidence = model.evidence_
    model.evidence_ = None
    results = model.score_texts(tickets["text"].astype(str).tolist())
    theme_item = np.array(
        [(r.primary.roadmap_item or {}).get("id") if r.primary.route == "owner" else None for r in results],
        dtype=object,
    )
    texts = [r.primary.text for r in results]
    scores = evidence.scores(model.embedder.embed(texts), texts)
    best_item = np.array(evidence.item_ids, dtype=object)[scores.argmax(axis=1)]
    best_score = scores.max(axis=1)

    print(
        f"model {version}; {len(tickets)} tickets, {int((gold != None).sum())} of them for an intent "  # noqa: E711
        f"with a roadmap item\n"
    )
    print("| route | precision | recall | routed to an item |\n|---|---|---|---|")
    row = _scores(theme_item, gold)
    print(f"| theme link alone | {row['precision']:.3f} | {row['recall']:.3f} | {row['routed']:.1%} |")
    for threshold in sorted(set(THRESHOLDS) | {evidence.threshold}):
        routed = np.where(best_score >= threshold, best_item, theme_item)
        row = _scores(routed, gold)
        mark = " (configured)" if threshold == evidence.threshold else ""
        print(
            f"| unit evidence >= {threshold}{mark}, else the theme link | {row['precision']:.3f} | "
            f"{row['recall']:.3f} | {row['routed']:.1%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
