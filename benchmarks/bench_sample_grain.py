"""Where the bundled sample's fee, exchange-rate and top-up tickets land: the grain on the demo's data.

Issue 16 asks for "the sample's fee, exchange-rate and top-up requests each in one theme". Every ticket keeps
its Banking77 intent (``upstream_intent``); this reads the model in ``--models-dir`` (train it first: ``make
train``) and prints, for each intent of the three families, how many of its tickets' primary units (unit 0)
are in the intent's largest theme, and the themes they are in.

    python benchmarks/bench_sample_grain.py [--models-dir models]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
FAMILIES = {
    "fee": ["card_payment_fee_charged", "transfer_fee_charged", "extra_charge_on_statement"],
    "exchange rate": ["card_payment_wrong_exchange_rate", "exchange_rate"],
    "top-up": ["top_up_failed", "automatic_top_up", "top_up_limits"],
}


def primary_themes(model_dir: Path) -> dict[str, str]:
    """Theme name of each item's primary unit ("unassigned" where it has none)."""
    names = {t["id"]: t["name"] for t in json.loads((model_dir / "themes.json").read_text(encoding="utf-8"))}
    themes = {}
    for line in (model_dir / "assignments.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["unit_index"] == 0:
            themes[row["item_id"]] = names.get(row["theme_id"], "unassigned")
    return themes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--tickets", type=Path, default=REPO_ROOT / "examples" / "feedback" / "tickets.csv")
    args = parser.parse_args(argv)
    latest = args.models_dir / "LATEST"
    if not latest.is_file():
        print(f"no model in {args.models_dir}: run make train first", file=sys.stderr)
        return 2
    themes = primary_themes(args.models_dir / latest.read_text(encoding="utf-8").strip())
    tickets = pd.read_csv(args.tickets)
    print(f"{'family':<14} {'intent':<34} {'tickets':>7} {'in largest':>10}  themes (tickets)")
    for family, intents in FAMILIES.items():
        for intent in intents:
            counts = Counter(
                themes.get(i, "unassigned") for i in tickets["id"][tickets["upstream_intent"] == intent]
            )
            total = sum(counts.values())
            largest = counts.most_common(1)[0][1] / total if total else 0.0
            spread = ", ".join(f"{name} ({n})" for name, n in counts.most_common(4))
            print(f"{family:<14} {intent:<34} {total:>7} {largest:>10.0%}  {spread}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
