"""Refining discovery's partition (issue 16): k-means steps after the tree, and what centroids can reach.

On every labelled set of ``bench_quality.py --only areas`` (Banking77 test, URR, IS-22, pooled), with the same
embeddings and the default ``TrainingConfig``, it prints:

- discovery as it is (``refine_steps=0``) and with spherical k-means steps from the tree's partition until no
  unit moves (``refine_steps=20``): themes, NMI, ARI, steps taken;
- two ceilings on the same embeddings, computed from the gold labels: every text put in the gold label whose
  centroid is nearest (the best a partition by nearest centroid can do), and Lloyd's steps started from that
  partition in the tree's space (centred, smoothed) until no unit moves (the k-means optimum nearest the
  truth);
- at the gold number of labels, the spherical k-means objective (sum of each text's cosine to its theme's
  centroid, in the tree's space) of the tree refined by Lloyd against that of the gold-started Lloyd: when
  the tree's is higher, optimising the objective harder moves away from the gold partition.

    FEEDBACK_NLP_SHARED_DATA=../shared/data python benchmarks/bench_refine.py [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_areas import labelled_sets  # noqa: E402
from bench_quality import print_and_write, run_metadata  # noqa: E402
from quality_data import (  # noqa: E402
    CACHE_DIR,
    REPO_ROOT,
    cached_embedder,
    data_root,
    load_banking77,
    load_is22,
    load_urr,
)

from feedback_nlp.config import TrainingConfig  # noqa: E402
from feedback_nlp.metrics import clustering_scores  # noqa: E402
from feedback_nlp.themes import ThemeDiscoverer, _normalise, _smooth, refine_partition  # noqa: E402

REFINE_STEPS = 20  # a bound only: refining stops when no unit moves (3 to 10 steps on these sets)


def _scores(gold: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    scores = clustering_scores(gold, predicted)
    themes = int(len(np.unique(predicted[predicted >= 0])))
    return {"themes": themes, "nmi": scores["nmi"], "ari": scores["ari"]}


def _objective(Z: np.ndarray, labels: np.ndarray) -> float:
    """Spherical k-means objective: the sum of each unit's cosine to its theme's normalised mean."""
    values, dense = np.unique(labels, return_inverse=True)
    sums = np.zeros((len(values), Z.shape[1]))
    np.add.at(sums, dense, Z)
    return float(np.einsum("ij,ij->i", Z, _normalise(sums)[dense]).sum())


def bench_set(X: np.ndarray, gold: np.ndarray, config: TrainingConfig) -> dict[str, Any]:
    tick = time.perf_counter()
    plain = ThemeDiscoverer.from_config(config).fit(X)
    seconds_plain = time.perf_counter() - tick
    tick = time.perf_counter()
    refined = ThemeDiscoverer.from_config(config).set_params(refine_steps=REFINE_STEPS).fit(X)
    seconds_refined = time.perf_counter() - tick
    # the tree's space, as ThemeDiscoverer.fit builds it (every set here is under max_fit_units)
    unit = _normalise(X.astype(np.float64))
    tree_space = _smooth(_normalise(unit - unit.mean(axis=0)), plain.n_neighbors, plain.smoothing_steps)
    classes, gold_ids = np.unique(gold, return_inverse=True)
    nearest_gold = np.argmax(unit @ _normalise(_class_sums(unit, gold_ids, len(classes))).T, axis=1)
    gold_space = np.argmax(tree_space @ _normalise(_class_sums(tree_space, gold_ids, len(classes))).T, axis=1)
    gold_lloyd, _ = refine_partition(tree_space, gold_space, 100)
    tree_at_k = fcluster(linkage(tree_space, method="ward"), t=len(classes), criterion="maxclust")
    tree_lloyd, _ = refine_partition(tree_space, tree_at_k, 100)
    return {
        "texts": len(gold),
        "gold_labels": len(classes),
        "discovery": {**_scores(gold, plain.labels_), "seconds": round(seconds_plain, 1)},
        "refined": {
            **_scores(gold, refined.labels_),
            "steps": int(refined.refine_steps_taken_),
            "seconds": round(seconds_refined, 1),
        },
        "ceiling_nearest_gold_centroid": _scores(gold, nearest_gold),
        "ceiling_lloyd_from_gold": _scores(gold, gold_lloyd),
        "objective_at_gold_k": {
            "tree_then_lloyd": round(_objective(tree_space, tree_lloyd), 1),
            "gold_then_lloyd": round(_objective(tree_space, gold_lloyd), 1),
            "tree_then_lloyd_scores": _scores(gold, tree_lloyd),
        },
    }


def _class_sums(Z: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    sums = np.zeros((n, Z.shape[1]))
    np.add.at(sums, ids, Z)
    return sums


def render(results: dict[str, Any]) -> str:
    def trio(s: dict[str, Any]) -> str:
        return f"{s['themes']} / {s['nmi']:.3f} / {s['ari']:.3f}"

    lines = [
        "| set | texts | gold labels | discovery: themes / NMI / ARI | refined (steps) | "
        "nearest gold centroid | Lloyd from gold | at gold k: objective tree+Lloyd vs gold+Lloyd "
        "(tree+Lloyd NMI / ARI) |",
        "|---|---:|---:|---|---|---|---|---|",
    ]
    for name, r in results["sets"].items():
        o = r["objective_at_gold_k"]
        objectives = f"{o['tree_then_lloyd']:.1f} vs {o['gold_then_lloyd']:.1f}"
        lines.append(
            f"| {name} | {r['texts']:,} | {r['gold_labels']} | {trio(r['discovery'])} | "
            f"{trio(r['refined'])} ({r['refined']['steps']}) | {trio(r['ceiling_nearest_gold_centroid'])} | "
            f"{trio(r['ceiling_lloyd_from_gold'])} | {objectives} "
            f"({o['tree_then_lloyd_scores']['nmi']:.3f} / {o['tree_then_lloyd_scores']['ari']:.3f}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "refine.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    config = TrainingConfig()
    root = data_root()
    b77, urr, is22 = load_banking77(root)[0], load_urr(root)[0], load_is22(root)[0]
    embedder = cached_embedder(config, args.cache_dir)
    results: dict[str, Any] = {
        **run_metadata(),
        "sets": {},
    }
    for labelled in labelled_sets(b77, urr, is22):
        print(f"refine: {labelled.name} ({len(labelled.texts)} texts) ...", flush=True)
        X = embedder.embed(labelled.texts)
        results["sets"][labelled.name] = bench_set(X, labelled.labels, config)
    results["embedding_cache"] = {"hits": embedder.hits, "misses": embedder.misses}
    print_and_write(results, render(results), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
