"""Incremental retraining benchmark: a full retrain vs a retrain with 5% new feedback (issue: stable themes).

Builds the bundled sample scaled to N items (default 20,000) by resampling its tickets and call notes with
small seeded perturbations, so every text is distinct and nothing is served from a cache by accident.
Then trains from scratch (cold caches), and trains again with 5% of the items replaced by new ones, on the
same models folder (so the embedding and prepared-unit caches and the theme registry are reused).

    python benchmarks/bench_incremental.py [--items 20000] [--new-share 0.05] \\
        [--workdir /tmp/bench-incremental]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import time
from pathlib import Path

from feedback_nlp.config import TrainingConfig
from feedback_nlp.pipeline import train

ROOT = Path(__file__).resolve().parents[1]
OPENERS = [
    "",
    "Hi, ",
    "Hello team, ",
    "Quick question: ",
    "Urgent: ",
    "Hey, ",
    "Good morning, ",
    "Sorry to bother, ",
]
CLOSERS = [
    "",
    " Thanks.",
    " Thank you!",
    " Please advise.",
    " Any update?",
    " Cheers.",
    " Regards.",
    " ASAP please.",
]


def _perturb(text: str, rng: random.Random, serial: int) -> str:
    return f"{rng.choice(OPENERS)}{text}{rng.choice(CLOSERS)} (ref {serial})"


def build(items: int, new_share: float, folder: Path, seed: int = 7) -> tuple[Path, Path]:
    with open(ROOT / "examples/feedback/tickets.csv", encoding="utf-8") as handle:
        tickets = list(csv.DictReader(handle))
    with open(ROOT / "examples/feedback/call_notes.jsonl", encoding="utf-8") as handle:
        notes = [json.loads(line) for line in handle]
    rng = random.Random(seed)
    rows = []
    for serial in range(items):
        # keep the sample's mix: about one call note per ten tickets
        base = dict(rng.choice(notes)) if serial % 10 == 0 else dict(rng.choice(tickets))
        base["id"] = f"B-{serial:07d}"
        base["text"] = _perturb(base["text"], rng, serial)
        rows.append(
            {
                k: base.get(k)
                for k in (
                    "id",
                    "text",
                    "source",
                    "created_at",
                    "account_id",
                    "account_arr",
                    "segment",
                    "channel",
                )
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    full = folder / "full.jsonl"
    with open(full, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    replaced = int(items * new_share)
    for index in rng.sample(range(items), replaced):
        rows[index] = dict(
            rows[index], id=f"N-{index:07d}", text=_perturb(rows[index]["text"], rng, items + index)
        )
    incremental = folder / "incremental.jsonl"
    with open(incremental, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    return full, incremental


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--new-share", type=float, default=0.05)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-incremental"))
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    full, incremental = build(args.items, args.new_share, args.workdir / "data")
    config = TrainingConfig.from_yaml(ROOT / "training/config.yaml")
    models = args.workdir / "models"
    timings = {}
    for name, path in (
        ("full retrain (cold caches)", full),
        (f"retrain with {args.new_share:.0%} new", incremental),
    ):
        started = time.perf_counter()
        result = train([path], ROOT / "examples/roadmap.yaml", models, config, force=True)
        timings[name] = (time.perf_counter() - started, result.summary)
    print(f"\nIncremental retraining, {args.items:,} items ({args.workdir})")
    print(
        "| run | wall s | prepare s | embed s | discover s | route s | "
        "texts embedded | units parsed | churn |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (seconds, summary) in timings.items():
        s = summary["seconds"]
        print(
            f"| {name} | {seconds:.1f} | {s['prepare']:.1f} | {s['embed']:.1f} | {s['discover']:.1f} | "
            f"{s['route']:.1f} | {summary['embedding_cache']['misses']:,} | "
            f"{summary['prepared_cache']['misses']:,} | "
            f"{summary['changes']['churn']:.1%} |"
        )
    ratio = timings[list(timings)[1]][0] / timings[list(timings)[0]][0]
    print(f"\nincremental / full = {ratio:.2f} (goal: under 0.25)")


if __name__ == "__main__":
    main()
