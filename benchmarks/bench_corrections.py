"""Corrections benchmark: how much do 5, 10 and 20 owner corrections fix an intent the router confuses?

Banking77 (../shared/data). The router learns from discovered themes, not gold labels, so its training labels
are what discovery gives: each training text gets the majority intent of its cluster (unassigned texts are
left out). Intents whose texts discovery puts in another intent's cluster are the ones the router confuses.
The intent with the lowest held-out accuracy (among those with at least 20 mislabelled training texts) is
corrected: 5, 10 and 20 of its mislabelled training texts become corrections to their true intent, through
the same library calls the API and the retrain use (``Correction`` -> ``training_pairs`` ->
``with_corrections``), the router is retrained, and that intent's and the overall held-out accuracy are
reported before and after.

Subsampled to keep it to a few minutes on 2 cores: ``--per-intent`` training texts per intent (default 30,
2,310 texts) against the full test set (3,080). Embeddings are cached in ``benchmarks/.cache``.

    python benchmarks/bench_corrections.py            # make bench-corrections
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_data import CACHE_DIR, REPO_ROOT, data_root, load_banking77  # noqa: E402

from feedback_nlp.config import TrainingConfig  # noqa: E402
from feedback_nlp.corrections import TO_THEME, Correction, training_pairs  # noqa: E402
from feedback_nlp.embedding import CachedEmbedder, build_embedder  # noqa: E402
from feedback_nlp.routing import router_from_config  # noqa: E402
from feedback_nlp.steps.router import CorrectedUnits, with_corrections  # noqa: E402
from feedback_nlp.themes import ThemeDiscoverer  # noqa: E402

CORRECTION_COUNTS = (5, 10, 20)


def discovery_labels(X: np.ndarray, gold: np.ndarray, config: TrainingConfig) -> np.ndarray:
    """Each text's cluster named by the cluster's majority intent; -1 for unassigned texts."""
    clusters = ThemeDiscoverer.from_config(config).fit(X).labels_
    labels = np.full(len(gold), -1, dtype=np.int64)
    for cluster in set(clusters.tolist()) - {-1}:
        members = clusters == cluster
        labels[members] = Counter(gold[members].tolist()).most_common(1)[0][0]
    return labels


def fit_and_score(X, y, texts, X_test, test_texts, gold_test, config, intent) -> dict[str, float]:
    router = router_from_config(config).set_params(in_scope__rehearsal_groups=0)
    router.fit(X, y, texts)
    predicted = np.asarray(router.classes_)[router.predict_proba(X_test, test_texts).argmax(axis=1)]
    of_intent = gold_test == intent
    return {
        "intent_accuracy": round(float((predicted[of_intent] == intent).mean()), 4),
        "overall_accuracy": round(float((predicted == gold_test).mean()), 4),
    }


def pick_confused(labels: np.ndarray, gold: np.ndarray, per_intent_accuracy: dict[int, float]) -> int:
    wrong = Counter(gold[(labels != gold) & (labels >= 0)].tolist())
    candidates = [i for i, n in wrong.items() if n >= max(CORRECTION_COUNTS)] or list(wrong)
    return min(candidates, key=lambda i: (per_intent_accuracy.get(i, 1.0), -wrong[i]))


def run(per_intent: int, seed: int, cache_dir: Path) -> dict[str, Any]:
    b77, missing = load_banking77(data_root())
    if b77 is None:
        raise SystemExit(f"Banking77 is missing: {', '.join(map(str, missing))}")
    config = TrainingConfig()
    smallest = int(b77.train["category"].value_counts().min())
    train = b77.train.groupby("category").sample(n=min(per_intent, smallest), random_state=seed)
    intents = sorted(b77.train["category"].unique())
    code = {name: n for n, name in enumerate(intents)}
    gold_train = train["category"].map(code).to_numpy()
    gold_test = b77.test["category"].map(code).to_numpy()
    train_texts, test_texts = train["text"].astype(str).tolist(), b77.test["text"].astype(str).tolist()
    embedder = CachedEmbedder(build_embedder(config.encoder, config.encoder_sha256, 64), cache_dir)
    tick = time.perf_counter()
    X_train, X_test = embedder.embed(train_texts), embedder.embed(test_texts)
    embed_seconds = time.perf_counter() - tick

    labels = discovery_labels(X_train, gold_train, config)
    kept = labels >= 0
    X, y, texts = X_train[kept], labels[kept], [t for t, k in zip(train_texts, kept, strict=True) if k]
    router = router_from_config(config).set_params(in_scope__rehearsal_groups=0).fit(X, y, texts)
    predicted = np.asarray(router.classes_)[router.predict_proba(X_test, test_texts).argmax(axis=1)]
    per_intent_accuracy = {i: float((predicted[gold_test == i] == i).mean()) for i in set(gold_test.tolist())}
    intent = pick_confused(labels, gold_train, per_intent_accuracy)
    mislabelled = np.flatnonzero((gold_train == intent) & (labels != intent) & kept)

    rows = [{"corrections": 0, **fit_and_score(X, y, texts, X_test, test_texts, gold_test, config, intent)}]
    for count in CORRECTION_COUNTS:
        chosen = mislabelled[:count]
        corrections = [
            Correction(
                f"train-{n}", 0, TO_THEME, intent, previous_theme_id=int(labels[n]), text=train_texts[n]
            )
            for n in chosen
        ]
        corrected_texts, corrected_ids = training_pairs(corrections)
        # the texts are the training texts themselves: their embeddings are the rows already computed
        vectors = {train_texts[n]: X_train[n] for n in chosen}
        corrected = CorrectedUnits(
            np.asarray([vectors[t] for t in corrected_texts]),
            np.asarray(corrected_ids, dtype=np.int64),
            tuple(corrected_texts),
            skipped=0,
        )
        X_c, y_c, texts_c = with_corrections(X, y, texts, corrected)
        rows.append(
            {
                "corrections": len(chosen),
                **fit_and_score(X_c, y_c, texts_c, X_test, test_texts, gold_test, config, intent),
            }
        )
    confused_with = Counter(intents[label] for label in labels[mislabelled]).most_common(3)
    return {
        "intent": intents[intent],
        "mislabelled_training_texts": len(mislabelled),
        "training_texts_of_intent": int((gold_train == intent).sum()),
        "confused_with": confused_with,
        "train_texts": len(train_texts),
        "train_texts_assigned": int(kept.sum()),
        "test_texts": len(test_texts),
        "embed_seconds": round(embed_seconds, 1),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-intent", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "corrections.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    result = run(args.per_intent, args.seed, args.cache_dir)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT
    )
    result.update(
        {
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": commit.stdout.strip() or None,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "seconds": round(time.perf_counter() - started, 1),
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"Banking77, {result['train_texts']} training texts ({args.per_intent} per intent, "
        f"{result['train_texts_assigned']} assigned by discovery), {result['test_texts']} held out"
    )
    print(
        f"Corrected intent: {result['intent']} ({result['mislabelled_training_texts']} of its "
        f"{result['training_texts_of_intent']} training texts in other intents' themes: "
        + ", ".join(f"{name} {n}" for name, n in result["confused_with"])
        + ")"
    )
    print(f"{'corrections':>11}  {'intent accuracy':>15}  {'overall accuracy':>16}")
    for row in result["rows"]:
        print(f"{row['corrections']:>11}  {row['intent_accuracy']:>15.3f}  {row['overall_accuracy']:>16.3f}")
    print(f"({result['seconds']} s; written to {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
