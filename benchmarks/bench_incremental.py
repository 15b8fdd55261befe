"""Incremental retraining benchmark: a full retrain vs a retrain with 5% new feedback (issue: stable themes).

Builds the bundled sample scaled to N items (default 20,000) by resampling its tickets and call notes with
small seeded perturbations, so every text is distinct and nothing is served from a cache by accident.
Then trains from scratch (cold caches), trains again with 5% of the items replaced by new ones, on the
same models folder (so the embedding and prepared-unit caches, the theme registry and, incremental retraining
being on, the themes' borders and the router's measurements are reused), and once more on the same data
with ``incremental: false``, starting from a copy of the models folder as it was before the incremental run:
the full retrain a team would otherwise run that week, with the same caches (the old items cached, the new
ones not) and the same previous themes. ``--also-warm`` adds a third retrain, full again, after the other two
(every text then cached: the encoder is not even loaded), the strictest comparison. Each model routes
held-out tickets (perturbed copies of bundled tickets it never trained on): the share routed to the theme its
training gave most copies of the same ticket is its quality beside the hold-out accuracy the training job
measured. The incremental run's router inputs are kept, and its warm-started classifier is compared with one
fitted on all of them without a warm start (after the timed runs): the share of new units and held-out
tickets routed alike.

    python benchmarks/bench_incremental.py [--items 20000] [--new-share 0.05] \\
        [--workdir /tmp/bench-incremental] [--cold-models FOLDER] [--also-warm]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from feedback_nlp import artifact
from feedback_nlp.config import TrainingConfig
from feedback_nlp.embedding import build_embedder
from feedback_nlp.model import FeedbackModel
from feedback_nlp.pipeline import train
from feedback_nlp.routing import ThemeClassifier
from feedback_nlp.steps import router as router_step

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


def build(
    items: int, new_share: float, folder: Path, seed: int = 7
) -> tuple[Path, Path, list[dict], dict[str, int]]:
    """The scaled sample, the same with ``new_share`` of its items replaced, held-out tickets (one per 50
    items, never trained on), and the bundled ticket each item and held-out ticket was made from (-1: a
    call note)."""
    with open(ROOT / "examples/feedback/tickets.csv", encoding="utf-8") as handle:
        tickets = list(csv.DictReader(handle))
    with open(ROOT / "examples/feedback/call_notes.jsonl", encoding="utf-8") as handle:
        notes = [json.loads(line) for line in handle]
    rng = random.Random(seed)
    rows = []
    for serial in range(items):
        # keep the sample's mix: about one call note per ten tickets
        if serial % 10 == 0:
            base, origin = dict(rng.choice(notes)), -1
        else:
            origin = rng.randrange(len(tickets))
            base = dict(tickets[origin])
        base["id"] = f"B-{serial:07d}"
        base["text"] = _perturb(base["text"], rng, serial)
        rows.append({**{k: base.get(k) for k in COLUMNS}, "base": origin})
    folder.mkdir(parents=True, exist_ok=True)
    full = folder / "full.jsonl"
    _write(full, rows)
    full_bases = {row["id"]: row["base"] for row in rows}
    replaced = int(items * new_share)
    for index in rng.sample(range(items), replaced):
        rows[index] = dict(
            rows[index], id=f"N-{index:07d}", text=_perturb(rows[index]["text"], rng, items + index)
        )
    incremental = folder / "incremental.jsonl"
    _write(incremental, rows)
    bases = {**full_bases, **{row["id"]: row["base"] for row in rows}}
    held_out = []
    for serial in range(max(items // 50, 100)):
        origin = rng.randrange(len(tickets))
        text = _perturb(tickets[origin]["text"], rng, 2 * items + serial)
        held_out.append({"id": f"H-{serial:07d}", "text": text, "base": origin})
    return full, incremental, held_out, bases


COLUMNS = ("id", "text", "source", "created_at", "account_id", "account_arr", "segment", "channel")


def _write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps({k: r[k] for k in COLUMNS}) + "\n" for r in rows)


def held_out_accuracy(model_dir: Path, bases: dict[str, int], held_out: list[dict]) -> float:
    """Share of held-out tickets the model routes to the theme its training gave most copies of the same
    bundled ticket (the theme discovery gave that request; the router never saw these texts)."""
    votes: dict[int, Counter] = {}
    for row in artifact.iter_assignments(model_dir):
        base = bases.get(row["item_id"], -1)
        if base >= 0 and row["theme_id"] is not None:
            votes.setdefault(base, Counter())[row["theme_id"]] += 1
    model = FeedbackModel.load(model_dir)
    scored = model.score_texts([row["text"] for row in held_out])
    judged = [
        (item.units[0].theme_id, votes[row["base"]].most_common(1)[0][0])
        for row, item in zip(held_out, scored)
        if row["base"] in votes and item.units
    ]
    return sum(predicted == expected for predicted, expected in judged) / max(len(judged), 1)


class RefitInputs:
    """Keeps what the incremental run's router refit was given (a wrapper around the step's refit)."""

    def __init__(self) -> None:
        self.args: tuple = ()
        self._refit = router_step.refit_router

    def __enter__(self) -> RefitInputs:
        def keep(*args, **kwargs):
            self.args = args
            return self._refit(*args, **kwargs)

        router_step.refit_router = keep
        return self

    def __exit__(self, *exc) -> None:
        router_step.refit_router = self._refit


def routed_alike(inputs: RefitInputs, model_dir: Path, held_out: list[dict], config) -> dict[str, float]:
    """Share of the new units and of the held-out tickets the incremental run's (warm-started) classifier
    routes to the theme a classifier fitted on the same units without a warm start routes them to, the
    largest decision-value difference, and the seconds of that cold fit (not part of the timed runs)."""
    X, y, texts, _, _, new_units = inputs.args
    served = FeedbackModel.load(model_dir).router_.classifier_
    started = time.perf_counter()
    cold = ThemeClassifier(C=config.router_C, random_state=config.random_state).fit(X, y, texts)
    seconds = time.perf_counter() - started
    rows = np.flatnonzero(new_units)
    new_texts = [texts[i] for i in rows]
    held_texts = [row["text"] for row in held_out]
    held_X = build_embedder(config.encoder).embed(held_texts)
    alike = {}
    for name, vectors, batch in (("new units", X[rows], new_texts), ("held-out tickets", held_X, held_texts)):
        warm_decision = served.decision_function(vectors, batch)
        cold_decision = cold.decision_function(vectors, batch)
        alike[name] = float((warm_decision.argmax(1) == cold_decision.argmax(1)).mean())
        alike[f"{name} max decision difference"] = float(np.abs(warm_decision - cold_decision).max())
    return {**alike, "cold fit seconds": seconds, "new units counted": len(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--new-share", type=float, default=0.05)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-incremental"))
    parser.add_argument(
        "--cold-models",
        type=Path,
        help="start from a copy of this models folder, the cold full retrain of an earlier run of the same "
        "--items and --new-share (the data is seeded, so it is the same), instead of training it again",
    )
    parser.add_argument(
        "--also-warm",
        action="store_true",
        help="also time a full retrain after the other two, every text cached (the strictest comparison)",
    )
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    full, incremental, held_out, bases = build(args.items, args.new_share, args.workdir / "data")
    config = TrainingConfig.from_yaml(ROOT / "training/config.yaml")
    models = args.workdir / "models"
    runs = {}
    inputs, incremental_path = RefitInputs(), None
    plan = [("full retrain (cold caches)", full, config)]
    if args.cold_models is not None:
        shutil.copytree(args.cold_models, models)
        plan = []
    full_config = replace(config, incremental=False)
    same_start = f"retrain with {args.new_share:.0%} new, full (same caches and previous model)"
    runs_planned = [
        *((name, path, run_config, models) for name, path, run_config in plan),
        (f"retrain with {args.new_share:.0%} new (incremental)", incremental, config, models),
        (same_start, incremental, full_config, args.workdir / "models-full"),
    ]
    if args.also_warm:
        runs_planned.append(
            (
                f"retrain with {args.new_share:.0%} new, full (every text cached)",
                incremental,
                full_config,
                models,
            )
        )
    for name, path, run_config, models_dir in runs_planned:
        if name.endswith("(incremental)"):
            # the full retrain starts where the incremental one did: same caches, same previous model
            shutil.rmtree(args.workdir / "models-full", ignore_errors=True)
            shutil.copytree(models, args.workdir / "models-full", symlinks=True)
        with inputs:
            started = time.perf_counter()
            result = train([path], ROOT / "examples/roadmap.yaml", models_dir, run_config, force=True)
            seconds = time.perf_counter() - started
        if "(incremental)" in name:
            incremental_path = result.path
        common = artifact.read_json(result.path, artifact.CHANGELOG_FILE).get("common_units") or 0
        runs[name] = (seconds, result.summary, held_out_accuracy(result.path, bases, held_out), common)
    print(f"\nIncremental retraining, {args.items:,} items ({args.workdir}); load {os.getloadavg()[0]:.1f}")
    print(
        "| run | wall s | prepare s | embed s | discover s | route s | texts embedded | units parsed | "
        "units changing theme | reused | router hold-out accuracy | held-out tickets routed as trained |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, (seconds, summary, accuracy, common) in runs.items():
        s, churn = summary["seconds"], summary["changes"]["churn"]
        moved = f"{churn:.1%} ({round(churn * common):,} of {common:,})" if common else "-"
        print(
            f"| {name} | {seconds:.1f} | {s['prepare']:.1f} | {s['embed']:.1f} | {s['discover']:.1f} | "
            f"{s['route']:.1f} | {summary['embedding_cache']['misses']:,} | "
            f"{summary['prepared_cache']['misses']:,} | {moved} | "
            f"{', '.join(summary['incremental']['reused']) or '-'} | "
            f"{summary['router'].get('holdout_accuracy')} | {accuracy:.3f} |"
        )
    fast, summary, *_ = runs[f"retrain with {args.new_share:.0%} new (incremental)"]
    cold = next((run for name, run in runs.items() if "cold caches" in name), None)
    if cold is not None:
        print(f"\nincremental / full (cold caches) = {fast / cold[0]:.2f}")
    print(
        f"incremental / full (same caches and previous model, same data) = {fast / runs[same_start][0]:.2f} "
        "(goal: at most 0.25)"
    )
    for name, (seconds, *_) in runs.items():
        if name.endswith("(every text cached)"):
            print(f"incremental / full (every text cached) = {fast / seconds:.2f}")
    print(f"incremental record: {json.dumps(summary['incremental'])}")
    if inputs.args and incremental_path is not None:
        alike = routed_alike(inputs, incremental_path, held_out, config)
        print(f"warm-started refit against a refit on all units without one: {json.dumps(alike)}")
    print(f"load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
