"""Does the rehearsed in-scope score beat the plain rule on held-out topics of the URR app reviews?

Issue 15 asks to keep the in-scope score learned by rehearsal only where it beats the plain rule (a
threshold on the calibrated maximum probability). Banking77 is measured by ``bench_quality.py --only
abstention`` (``benchmarks/results/quality.json``). This measures the other labelled set with themes, the URR
app reviews (1,583 reviews, 14 topics by first label): in each draw 3 topics (of the 10 with at least 15
reviews, OTHER excepted; consecutive triples of one seeded order) are hidden from training, the rest are
split half for training and half for test, and each score's threshold routes 95% of the in-scope test
reviews. Three scores:

- the calibrated probability alone (the plain rule);
- the percentile score (``InScopeScorer(rehearsal_groups=0)``): the fallback when a rehearsal cannot run;
- the rehearsed score of the default router (``router_rehearsal_groups: 8``, which 11 known topics scale down
  to 5 groups: ``InScopeScorer._groups``).

    HF_HUB_OFFLINE=1 PYTHONPATH=. .venv/bin/python benchmarks/bench_in_scope.py [--draws 10]

Writes ``benchmarks/results/in_scope_urr.json``. About a minute on one core, the encoder included.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_data import CACHE_DIR, REPO_ROOT, data_root, load_urr  # noqa: E402

from feedback_nlp.config import TrainingConfig  # noqa: E402
from feedback_nlp.embedding import CachedEmbedder, build_embedder  # noqa: E402
from feedback_nlp.metrics import abstention_rate  # noqa: E402
from feedback_nlp.routing import InScopeScorer, router_from_config  # noqa: E402

HIDDEN_TOPICS = 3
MIN_TOPIC_REVIEWS = 15
IN_SCOPE_ROUTED = 0.95


def draw(seed: int, X: np.ndarray, y: np.ndarray, texts: np.ndarray, config: TrainingConfig) -> dict:
    """One draw: hide ``HIDDEN_TOPICS`` topics, train on half the rest, threshold the scores on the other."""
    topics, counts = np.unique(y, return_counts=True)
    candidates = sorted(t for t, n in zip(topics, counts) if n >= MIN_TOPIC_REVIEWS and t != "OTHER")
    # consecutive triples of one seeded order, so that over the draws every topic is hidden about as often
    order = np.random.RandomState(0).permutation(candidates)
    hidden = order[[(HIDDEN_TOPICS * seed + k) % len(order) for k in range(HIDDEN_TOPICS)]]
    unseen = np.isin(y, hidden)
    known = np.flatnonzero(~unseen)
    train, test = train_test_split(known, test_size=0.5, stratify=y[known], random_state=seed)
    router = router_from_config(config)
    router.fit(X[train], y[train], texts[train].tolist())
    percentile = InScopeScorer(rehearsal_groups=0, random_state=config.random_state).fit(
        X[train],
        y[train],
        texts[train].tolist(),
        classifier=router.classifier_,
        calibration=router.calibration_,
    )

    def scores(rows: np.ndarray) -> dict[str, np.ndarray]:
        decision = router.decision_function(X[rows], texts[rows].tolist())
        probabilities, rehearsed = router.predict_proba_and_in_scope(X[rows], texts[rows].tolist())
        return {
            "probability": probabilities.max(axis=1),
            "percentile": percentile.score(X[rows], decision, probabilities),
            "rehearsed": rehearsed,
        }

    inside, outside = scores(test), scores(np.flatnonzero(unseen))
    novelty = router.in_scope_.novelty_
    return {
        "seed": seed,
        "hidden": sorted(hidden.tolist()),
        "train_units": int(len(train)),
        "in_scope_test_units": int(len(test)),
        "unseen_units": int(unseen.sum()),
        "in_scope_accuracy": round(
            float((router.predict(X[test], texts[test].tolist()) == y[test]).mean()), 4
        ),
        "rehearsal": novelty.summary if novelty is not None else None,
        **{
            name: abstention_rate(inside[name], outside[name], IN_SCOPE_ROUTED)["unseen_to_triage"]
            for name in inside
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=10)  # every topic hidden 3 times
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "in_scope_urr.json"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    urr, missing = load_urr(data_root())
    if urr is None:
        raise SystemExit(f"missing: {', '.join(map(str, missing))}")
    config = TrainingConfig()
    embedder = CachedEmbedder(build_embedder(config.encoder, config.encoder_sha256), CACHE_DIR)
    texts = urr.reviews["text"].to_numpy(dtype=object)
    X = embedder.embed(texts.tolist())
    y = urr.reviews["first_label"].to_numpy()
    runs = [draw(seed, X, y, texts, config) for seed in range(args.draws)]
    mean = {
        name: round(float(np.mean([r[name] for r in runs])), 4)
        for name in ("probability", "percentile", "rehearsed")
    }
    result = {
        "encoder": {"name": config.encoder, "sha256": embedder.fingerprint},
        "in_scope_routed": IN_SCOPE_ROUTED,
        "unseen_to_triage": mean,
        "runs": runs,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(
        f"URR, {HIDDEN_TOPICS} topics hidden, {IN_SCOPE_ROUTED:.0%} of in-scope reviews routed; "
        "unseen-topic reviews sent to triage"
    )
    for name in mean:
        per_draw = ", ".join(f"{r[name]:.1%}" for r in runs)
        print(f"  {name:<12} {mean[name]:.1%} ({per_draw})")
    print(f"  {result['seconds']} s; {args.out}")


if __name__ == "__main__":
    main()
