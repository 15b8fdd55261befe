"""Quality benchmark (issue 6): theme discovery, routing, abstention and roadmap mapping on public data.

Runs the library's own estimators with the default training configuration on:

* Banking77 (discovery on the 3,080 test texts; routing trained on train, scored on test; abstention with
  10 intents held out of training),
* the URR app reviews (discovery, scored against the first label and the multi-label majority),
* IS-22 app-review features (each judged feature is a roadmap item; each app's reviews are ranked for it).

Data come from ``../shared/data`` (or ``FEEDBACK_NLP_SHARED_DATA``); a missing data set is skipped and named.
Embeddings are cached in ``benchmarks/.cache``. The table is printed beside the reference figures of the
issue and everything is written to ``benchmarks/results/quality.json`` with the git commit.

    python benchmarks/bench_quality.py [--only discovery routing abstention roadmap] [--out PATH]
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
from abstention import IN_SCOPE_ROUTED, N_HELD_OUT_INTENTS, abstention_draw  # noqa: E402
from bench_areas import bench_areas  # noqa: E402
from bench_areas import render as render_areas  # noqa: E402
from quality_data import (  # noqa: E402
    CACHE_DIR,
    REPO_ROOT,
    cached_embedder,
    data_root,
    load_banking77,
    load_is22,
    load_urr,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from feedback_nlp.areas import group_themes  # noqa: E402
from feedback_nlp.config import TrainingConfig  # noqa: E402
from feedback_nlp.evidence import RoadmapEvidence, score_feedback_for_items  # noqa: E402
from feedback_nlp.metrics import (  # noqa: E402
    attachment_scores,
    clustering_scores,
    is22_mapping_scores,
    multilabel_majority_hit_rate,
    routing_scores,
)
from feedback_nlp.onnx_encoder import ENCODER_BACKENDS  # noqa: E402
from feedback_nlp.roadmap import (  # noqa: E402
    RoadmapItem,
    embed_roadmap,
    map_themes_to_roadmap,
    theme_item_lexical,
)
from feedback_nlp.routing import ThemeRouter, router_from_config  # noqa: E402
from feedback_nlp.themes import ThemeDiscoverer  # noqa: E402

logger = logging.getLogger("bench_quality")

PARTS = ("discovery", "routing", "abstention", "roadmap", "areas")
AT_K = 10

# Reference figures from issue 6 (same encoder, same 2-core CPU) and its goals.
REFERENCES = {
    "b77_discovery": [
        (
            "BERTopic 0.17.4 defaults (UMAP + HDBSCAN)",
            {"n_themes": 105, "nmi": 0.792, "ari": 0.350, "unassigned": 0.117, "seconds": 22.7},
        ),
        (
            "k-means told the true k = 77",
            {"n_themes": 77, "nmi": 0.792, "ari": 0.500, "unassigned": 0.0, "seconds": 3.6},
        ),
        (
            "Ward told k = 100",
            {"n_themes": 100, "nmi": 0.815, "ari": 0.541, "unassigned": 0.0, "seconds": 0.7},
        ),
    ],
    "b77_routing": [
        ("logistic regression on the embeddings", {"accuracy": 0.930}),
        ("TF-IDF 1-2 grams + logistic regression", {"accuracy": 0.894}),
        ("linear SVM, word + char TF-IDF + embeddings", {"accuracy": 0.941, "train_seconds": 9.0}),
        ("published fine-tuned transformers", {"accuracy": 0.935}),
    ],
}
GOALS = {
    "b77_nmi": 0.83,
    "b77_ari": 0.60,
    "b77_unassigned_max": 0.05,
    "b77_cluster_seconds_max": 22.7 / 5,
    "routing_accuracy": 0.95,
    "routing_macro_f1": 0.95,
    "routing_ece_max": 0.05,
    "routing_train_seconds_max": 600,
    "abstention": 0.85,
    "is22_precision_at_10": 0.80,
}


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def run_metadata() -> dict[str, Any]:
    """When, at which commit and on which machine a benchmark ran, and how loaded the machine was."""
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "git_commit": git_commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def make_router(config: TrainingConfig, **overrides) -> ThemeRouter:
    return router_from_config(config).set_params(**overrides)


# feedback-nlp 0.1's discovery (no centring, no smoothing, nearest-centroid assignment), run beside the
# current one on the same machine at the same time, so a loaded machine slows both alike.
VERSION_0_1 = {"center": False, "n_neighbors": 0, "keep_partition": False}


def run_discovery(X: np.ndarray, config: TrainingConfig, **overrides) -> tuple[ThemeDiscoverer, float, float]:
    discoverer = ThemeDiscoverer.from_config(config).set_params(**overrides)
    tick, cpu = time.perf_counter(), time.process_time()
    discoverer.fit(X)
    return discoverer, time.perf_counter() - tick, time.process_time() - cpu


def bench_banking77_discovery(embed, b77, config) -> dict[str, Any]:
    X = embed(b77.test["text"].astype(str).tolist())
    gold = b77.test["category"].to_numpy()
    discoverer, seconds, cpu_seconds = run_discovery(X, config)
    result = clustering_scores(gold, discoverer.labels_)
    result.update(
        {
            "n_themes": int(discoverer.n_themes_),
            "dense_regions": int(discoverer.density_clusters_),
            "cluster_seconds": round(seconds, 2),
            "cluster_cpu_seconds": round(cpu_seconds, 2),
            "units": int(len(X)),
        }
    )
    old, old_seconds, old_cpu = run_discovery(X, config, **VERSION_0_1)
    result["version_0_1"] = clustering_scores(gold, old.labels_)
    result["version_0_1"].update(
        {
            "n_themes": int(old.n_themes_),
            "cluster_seconds": round(old_seconds, 2),
            "cluster_cpu_seconds": round(old_cpu, 2),
        }
    )
    return result


def bench_urr_discovery(embed, urr, config) -> dict[str, Any]:
    X = embed(urr.reviews["text"].tolist())
    discoverer, seconds, _ = run_discovery(X, config)
    labels = discoverer.labels_
    result = clustering_scores(urr.reviews["first_label"].to_numpy(), labels)
    label_sets = urr.reviews["labels"].tolist()
    result["majority_label_hit_rate"] = multilabel_majority_hit_rate(label_sets, labels)
    old, _, _ = run_discovery(X, config, **VERSION_0_1)
    result["version_0_1"] = clustering_scores(urr.reviews["first_label"].to_numpy(), old.labels_)
    result["version_0_1"].update(
        {
            "n_themes": int(old.n_themes_),
            "majority_label_hit_rate": multilabel_majority_hit_rate(label_sets, old.labels_),
        }
    )
    # What a single theme holding everything would score: the most common label, given to every review.
    overall = Counter(label for ls in label_sets for label in set(ls)).most_common(1)[0][0]
    result["majority_hit_rate_one_theme"] = round(float(np.mean([overall in ls for ls in label_sets])), 4)
    result.update(
        {
            "n_themes": int(discoverer.n_themes_),
            "cluster_seconds": round(seconds, 2),
            "units": int(len(X)),
            "n_gold_first_labels": int(urr.reviews["first_label"].nunique()),
        }
    )
    return result


def bench_routing(embed, b77, config) -> dict[str, Any]:
    train_texts = b77.train["text"].astype(str).tolist()
    test_texts = b77.test["text"].astype(str).tolist()
    X_train, X_test = embed(train_texts), embed(test_texts)
    router = make_router(config)
    tick, cpu = time.perf_counter(), time.process_time()
    router.fit(X_train, b77.train["category"].to_numpy(), train_texts)
    seconds, cpu_seconds = time.perf_counter() - tick, time.process_time() - cpu
    tick = time.perf_counter()
    probabilities = router.predict_proba(X_test, test_texts)
    predict_seconds = time.perf_counter() - tick
    single, single_text = X_test[:1], test_texts[:1]
    tick = time.perf_counter()
    for _ in range(20):
        router.predict_proba(single, single_text)
    single_ms = (time.perf_counter() - tick) / 20 * 1000
    tick = time.perf_counter()
    for _ in range(20):
        router.in_scope_score(single, single_text)
    single_in_scope_ms = (time.perf_counter() - tick) / 20 * 1000
    result = routing_scores(b77.test["category"].to_numpy(), router.classes_, probabilities)
    result.update(
        {
            "train_seconds": round(seconds, 2),
            "train_cpu_seconds": round(cpu_seconds, 2),
            "predict_seconds": round(predict_seconds, 3),
            "single_item_ms": round(single_ms, 2),
            "single_item_in_scope_ms": round(single_in_scope_ms, 2),
        }
    )
    # the embeddings-only router (logistic regression), for comparison
    embeddings_only = make_router(config, classifier__text_features=False).fit(
        X_train, b77.train["category"].to_numpy()
    )
    result["embeddings_only"] = routing_scores(
        b77.test["category"].to_numpy(), embeddings_only.classes_, embeddings_only.predict_proba(X_test)
    )
    return result


def bench_abstention(embed, b77, config, seeds=(0, 1, 2)) -> dict[str, Any]:
    texts_train = b77.train["text"].astype(str).tolist()
    texts_test = b77.test["text"].astype(str).tolist()
    X_train, X_test = embed(texts_train), embed(texts_test)
    y_train, y_test = b77.train["category"].to_numpy(), b77.test["category"].to_numpy()
    runs = [
        abstention_draw(make_router(config), seed, X_train, y_train, texts_train, X_test, y_test, texts_test)
        for seed in seeds
    ]
    return {
        "unseen_to_triage": round(float(np.mean([r["unseen_to_triage"] for r in runs])), 4),
        "threshold": round(float(np.mean([r["threshold"] for r in runs])), 4),
        "in_scope_score_unseen_to_triage": round(
            float(np.mean([r["in_scope_score_unseen_to_triage"] for r in runs])), 4
        ),
        "in_scope_score_threshold": round(float(np.mean([r["in_scope_score_threshold"] for r in runs])), 4),
        "percentile_score_unseen_to_triage": round(
            float(np.mean([r["percentile_score_unseen_to_triage"] for r in runs])), 4
        ),
        "in_scope_routed": IN_SCOPE_ROUTED,
        "runs": runs,
    }


# Lexical weights beside the configured one, to show how the evidence ranking depends on it (0: cosine alone).
IS22_WEIGHT_SWEEP = (0.0, 0.3, 0.5, 0.7)


def bench_is22(embed, is22, config) -> dict[str, Any]:
    per_feature = []
    sweep: dict[float, list[tuple[float, float]]] = {w: [] for w in IS22_WEIGHT_SWEEP}
    for app, reviews in is22.reviews.groupby("app", sort=True):
        judged = is22.judgements[is22.judgements["app"] == app]
        features = sorted(judged["feature"].unique())
        if not features:
            continue
        texts = reviews["text"].tolist()
        X = embed(texts)
        items = [
            RoadmapItem(id=f, title=f, description="", owner="@bench", status="planned") for f in features
        ]
        item_vectors = embed_roadmap(items, embed)
        scores = score_feedback_for_items(
            X, item_vectors, texts=texts, items=items, lexical_weight=config.roadmap_lexical_weight
        )
        review_ids = reviews["review_id"].to_numpy()
        swept = {
            w: score_feedback_for_items(X, item_vectors, texts=texts, items=items, lexical_weight=w)
            for w in IS22_WEIGHT_SWEEP
        }
        theme_item = _theme_path_items(X, texts, items, item_vectors, config)
        # what the service does: a unit whose own evidence reaches the threshold goes to that item, any other
        # unit to its theme's item
        service_item = theme_item
        if config.roadmap_evidence_threshold is not None:
            evidence = RoadmapEvidence.fit(
                items, item_vectors, texts, config.roadmap_lexical_weight, config.roadmap_evidence_threshold
            )
            best_column, _ = evidence.best_items(X, texts)
            service_item = np.where(
                best_column >= 0, np.array(features + [None], dtype=object)[best_column], theme_item
            )
        for column, feature in enumerate(features):
            pairs = judged[judged["feature"] == feature]
            judgements = dict(zip(pairs["review_id"], pairs["relevant"]))
            result = is22_mapping_scores(
                review_ids, scores[:, column], judgements, threshold=config.roadmap_threshold, k=AT_K
            )
            result.update(
                {
                    "app": app,
                    "feature": feature,
                    "theme_path": attachment_scores(review_ids, theme_item == feature, judgements),
                    "service_path": attachment_scores(review_ids, service_item == feature, judgements),
                }
            )
            per_feature.append(result)
            for weight, weighted in swept.items():
                r = is22_mapping_scores(
                    review_ids, weighted[:, column], judgements, threshold=config.roadmap_threshold, k=AT_K
                )
                sweep[weight].append((r["precision_at_k"], r["average_precision"]))
    keys = ("precision_at_k", "ideal_precision_at_k", "recall", "attached_precision", "average_precision")
    summary = {f"mean_{key}": round(float(np.mean([r[key] for r in per_feature])), 4) for key in keys}
    reachable = [r for r in per_feature if r["relevant_judged"] >= AT_K]
    summary["mean_precision_at_k_reachable"] = round(
        float(np.mean([r["precision_at_k"] for r in reachable])), 4
    )
    summary["features_reachable"] = len(reachable)
    summary["lexical_weight"] = config.roadmap_lexical_weight
    summary["evidence_threshold"] = config.roadmap_evidence_threshold
    for path in ("theme_path", "service_path"):
        paths = [r[path] for r in per_feature]
        summary[path] = {
            "mean_recall": round(float(np.mean([r["recall"] for r in paths])), 4),
            "mean_attached_precision": round(
                float(np.mean([r["attached_precision"] for r in paths if r["attached_judged"]] or [0.0])), 4
            ),
            "features_with_attached": sum(1 for r in paths if r["attached"]),
        }
    summary["by_lexical_weight"] = [
        {
            "lexical_weight": w,
            "mean_precision_at_k": round(float(np.mean([p for p, _ in rows])), 4),
            "mean_average_precision": round(float(np.mean([a for _, a in rows])), 4),
        }
        for w, rows in sweep.items()
    ]
    summary.update(
        {
            "k": AT_K,
            "threshold": config.roadmap_threshold,
            "features": len(per_feature),
            "per_feature": per_feature,
        }
    )
    return summary


def _theme_path_items(
    X: np.ndarray,
    texts: list[str],
    items: list[RoadmapItem],
    item_vectors: np.ndarray,
    config: TrainingConfig,
) -> np.ndarray:
    """The roadmap item each review is attached to the way the training job attaches it, or None.

    Themes are discovered on the app's reviews and grouped into areas, each theme goes to its roadmap item by
    the training job's rule (``feedback_nlp.steps.link``: cosine of centroids above ``roadmap_threshold``,
    BM25 of its reviews breaking near-ties, the margin against "no item", area siblings and
    ``roadmap_reach``), and a review is attached to its theme's item. This is what the service's scores and
    the report's evidence counts rest on.
    """
    discoverer = ThemeDiscoverer.from_config(config).fit(X)
    labels = discoverer.labels_
    lexical = theme_item_lexical(texts, labels, discoverer.n_themes_, items)
    matches = map_themes_to_roadmap(
        discoverer.centroids_,
        item_vectors,
        [item.id for item in items],
        config.roadmap_threshold,
        lexical,
        config.roadmap_lexical_weight,
        theme_areas=group_themes(discoverer.centroids_).tolist(),
        margin=config.roadmap_margin,
        reach=config.roadmap_reach,
    )
    by_theme = np.array([match.item_id for match in matches] + [None], dtype=object)
    return by_theme[np.where(labels >= 0, labels, len(matches))]


# -- reporting ----------------------------------------------------------------------------------------------


def _fmt(value, digits=3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def render_table(results: dict[str, Any]) -> str:
    lines = []
    d = results.get("discovery", {})
    if "banking77" in d:
        b = d["banking77"]
        lines += [
            "Theme discovery, Banking77 test (3,080 texts, 77 intents; unassigned counted as one cluster)",
            f"  {'system':<48} {'themes':>6} {'NMI':>6} {'ARI':>6} {'unassigned':>10} {'seconds':>8}",
        ]
        for name, ref in REFERENCES["b77_discovery"]:
            lines.append(
                f"  {'ref: ' + name:<48} {ref['n_themes']:>6} {ref['nmi']:>6.3f} {ref['ari']:>6.3f} "
                f"{ref['unassigned']:>10.1%} {ref['seconds']:>8.1f}"
            )
        o = b["version_0_1"]
        lines.append(
            f"  {'feedback-nlp 0.1 (same run)':<48} {o['n_themes']:>6} {o['nmi']:>6.3f} {o['ari']:>6.3f} "
            f"{o['unassigned_fraction']:>10.1%} {o['cluster_seconds']:>8.2f}"
        )
        lines.append(
            f"  {'feedback-nlp now (k automatic)':<48} {b['n_themes']:>6} {b['nmi']:>6.3f} {b['ari']:>6.3f} "
            f"{b['unassigned_fraction']:>10.1%} {b['cluster_seconds']:>8.2f}"
        )
        lines.append(
            f"  (CPU seconds: now {b['cluster_cpu_seconds']:.2f}, 0.1 {o['cluster_cpu_seconds']:.2f}; "
            "wall seconds "
            f"depend on what else the machine runs: {os.getloadavg()[0]:.1f} load now)"
        )
        lines.append(
            f"  goal NMI >= {GOALS['b77_nmi']} ({_mark(b['nmi'] >= GOALS['b77_nmi'])}), "
            f"ARI >= {GOALS['b77_ari']} ({_mark(b['ari'] >= GOALS['b77_ari'])}), unassigned <= 5% "
            f"({_mark(b['unassigned_fraction'] <= GOALS['b77_unassigned_max'])}), "
            f"< {GOALS['b77_cluster_seconds_max']:.2f} s "
            f"({_mark(b['cluster_seconds'] < GOALS['b77_cluster_seconds_max'])})"
        )
        lines.append("")
    if "urr" in d:
        u = d["urr"]
        lines += [
            "Theme discovery, URR app reviews (1,584 reviews, multi-label, 14 topics; no reference figures)",
            f"  themes {u['n_themes']}, first-label NMI {u['nmi']:.3f}, ARI {u['ari']:.3f}, unassigned "
            f"{u['unassigned_fraction']:.1%}, theme's majority label among the review's labels "
            f"{u['majority_label_hit_rate']:.1%} "
            f"(one theme for all: {u['majority_hit_rate_one_theme']:.1%}), "
            f"{u['cluster_seconds']:.2f} s",
            f"  feedback-nlp 0.1 (same run): themes {u['version_0_1']['n_themes']}, "
            f"NMI {u['version_0_1']['nmi']:.3f}, "
            f"ARI {u['version_0_1']['ari']:.3f}, unassigned {u['version_0_1']['unassigned_fraction']:.1%}, "
            f"majority label hit {u['version_0_1']['majority_label_hit_rate']:.1%}",
            "",
        ]
    if "routing" in results:
        r = results["routing"]
        lines += [
            "Routing, Banking77 (train 10,003 -> test 3,080)",
            f"  {'system':<48} {'accuracy':>8} {'macro-F1':>8} {'ECE':>6} {'train s':>8}",
        ]
        for name, ref in REFERENCES["b77_routing"]:
            lines.append(
                f"  {'ref: ' + name:<48} {ref['accuracy']:>8.3f} {'':>8} {'':>6} "
                f"{_fmt(ref.get('train_seconds'), 1):>8}"
            )
        lines.append(
            f"  {'feedback-nlp router':<48} {r['accuracy']:>8.3f} {r['macro_f1']:>8.3f} {r['ece']:>6.3f} "
            f"{r['train_seconds']:>8.1f}  ({r['train_cpu_seconds']:.1f} CPU s)"
        )
        lines.append(
            f"  goal accuracy >= 0.95 ({_mark(r['accuracy'] >= GOALS['routing_accuracy'])}), "
            "macro-F1 >= 0.95 "
            f"({_mark(r['macro_f1'] >= GOALS['routing_macro_f1'])}), ECE <= 0.05 "
            f"({_mark(r['ece'] <= GOALS['routing_ece_max'])}), train < 600 s "
            f"({_mark(r['train_seconds'] < GOALS['routing_train_seconds_max'])}); "
            f"one item scored in {r['single_item_ms']:.1f} ms "
            f"({r['single_item_in_scope_ms']:.1f} ms for its in-scope score)"
        )
        lines.append("")
    if "abstention" in results:
        a = results["abstention"]
        per_draw = ", ".join(f"{run['unseen_to_triage']:.1%}" for run in a["runs"])
        per_draw_scored = ", ".join(f"{run['in_scope_score_unseen_to_triage']:.1%}" for run in a["runs"])
        best_to_triage = max(a["unseen_to_triage"], a["in_scope_score_unseen_to_triage"])
        lines += [
            f"Abstention, Banking77 ({N_HELD_OUT_INTENTS} intents held out of training, mean of "
            f"{len(a['runs'])} draws; threshold routes {IN_SCOPE_ROUTED:.0%} of in-scope test texts)",
            f"  triage on the calibrated probability alone: {a['unseen_to_triage']:.1%} "
            f"of unseen-topic texts sent to triage (per draw: {per_draw}), threshold {a['threshold']:.2f}",
            f"  triage on the percentile score (probability + neighbour similarity percentiles; the "
            f"in-scope score before rehearsal): {a['percentile_score_unseen_to_triage']:.1%} (per draw: "
            + ", ".join(f"{run['percentile_score_unseen_to_triage']:.1%}" for run in a["runs"])
            + ")",
            f"  triage on ThemeRouter.in_scope_score (learned by rehearsal; the service triages on it and "
            f"the probability): "
            f"{a['in_scope_score_unseen_to_triage']:.1%} (per draw: {per_draw_scored}), threshold "
            f"{a['in_scope_score_threshold']:.2f}",
            f"  goal >= 85% ({_mark(best_to_triage >= GOALS['abstention'])})",
            "",
        ]
    if "roadmap" in results:
        m = results["roadmap"]
        lines += [
            f"Roadmap mapping, IS-22 ({m['features']} judged features as roadmap items; each app's 1,250 "
            "reviews ranked; unjudged reviews skipped, not counted wrong)",
            f"  mean precision@{m['k']} {m['mean_precision_at_k']:.3f} (ceiling with these judgements "
            f"{m['mean_ideal_precision_at_k']:.3f}), "
            f"mean average precision {m['mean_average_precision']:.3f}",
            f"  mean precision@{m['k']} over the {m['features_reachable']} features "
            f"with >= {m['k']} relevant "
            f"judgements (where 1.0 is reachable): {m['mean_precision_at_k_reachable']:.3f}",
            f"  every review scoring >= {m['threshold']} for the item "
            "(a ranking cut, not the service's rule): "
            f"recall of relevant judgements {m['mean_recall']:.3f}, "
            f"precision over judged attached {m['mean_attached_precision']:.3f}",
            *(
                f"  {title}: recall {m[path]['mean_recall']:.3f}, precision over judged attached "
                f"{m[path]['mean_attached_precision']:.3f}, {m[path]['features_with_attached']} of "
                f"{m['features']} features get any review"
                for path, title in (
                    (
                        "theme_path",
                        "through the theme link alone (themes discovered per app, each theme to one item)",
                    ),
                    (
                        "service_path",
                        "as the service attaches (the unit's own evidence "
                        f"score >= {m['evidence_threshold']}, else its theme's item)",
                    ),
                )
            ),
            f"  lexical weight {m['lexical_weight']} (roadmap_lexical_weight); other weights, same run: "
            + ", ".join(
                f"{r['lexical_weight']}: P@{m['k']} {r['mean_precision_at_k']:.3f} / MAP "
                f"{r['mean_average_precision']:.3f}"
                for r in m["by_lexical_weight"]
            ),
            "  goal mean precision@10 >= 0.8 "
            f"({_mark(m['mean_precision_at_k'] >= GOALS['is22_precision_at_10'])})",
            "",
        ]
    lines += render_areas(results.get("areas", {}))
    skipped = results.get("skipped", [])
    if skipped:
        lines.append("SKIPPED (data missing): " + "; ".join(skipped))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument(
        "--encoder-backend", choices=ENCODER_BACKENDS, default=None, help="default: the config's (torch)"
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "quality.json")
    parser.add_argument(
        "--config", type=Path, default=None, help="training config YAML (default: built-in defaults)"
    )
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    config = TrainingConfig.from_yaml(args.config) if args.config else TrainingConfig()
    root = data_root()
    print(f"data: {root}  (set FEEDBACK_NLP_SHARED_DATA to change)", flush=True)
    b77, missing_b77 = load_banking77(root)
    urr, missing_urr = load_urr(root) if {"discovery", "areas"} & set(args.only) else (None, [])
    is22, missing_is22 = load_is22(root) if {"roadmap", "areas"} & set(args.only) else (None, [])
    skipped = []
    for name, missing in (
        ("banking77", missing_b77),
        ("urr-app-reviews", missing_urr),
        ("is22-app-review-features", missing_is22),
    ):
        if missing:
            skipped.append(f"{name} (missing {', '.join(str(p) for p in missing)})")
            print(f"SKIPPING {name}: missing {', '.join(str(p) for p in missing)}", flush=True)

    if args.encoder_backend is not None:
        config.encoder_backend = args.encoder_backend
    embedder = cached_embedder(config, args.cache_dir)
    results: dict[str, Any] = {
        **run_metadata(),
        "encoder": {
            "name": config.encoder,
            "sha256": embedder.fingerprint,
            "backend": config.encoder_backend,
        },
        "config": config.to_dict(),
        "data_root": str(root),
        "skipped": skipped,
        "references": REFERENCES,
        "goals": GOALS,
    }
    started = time.perf_counter()
    if "discovery" in args.only:
        results["discovery"] = {}
        if b77 is not None:
            print("discovery: Banking77 ...", flush=True)
            results["discovery"]["banking77"] = bench_banking77_discovery(embedder.embed, b77, config)
        if urr is not None:
            print("discovery: URR ...", flush=True)
            results["discovery"]["urr"] = bench_urr_discovery(embedder.embed, urr, config)
    if b77 is not None and "routing" in args.only:
        print("routing: Banking77 ...", flush=True)
        results["routing"] = bench_routing(embedder.embed, b77, config)
    if b77 is not None and "abstention" in args.only:
        print("abstention: Banking77 ...", flush=True)
        results["abstention"] = bench_abstention(embedder.embed, b77, config)
    if is22 is not None and "roadmap" in args.only:
        print("roadmap mapping: IS-22 ...", flush=True)
        results["roadmap"] = bench_is22(embedder.embed, is22, config)
    if "areas" in args.only:
        results["areas"] = bench_areas(embedder.embed, b77, urr, is22, config)
    results["seconds_total"] = round(time.perf_counter() - started, 1)
    results["embedding_cache"] = {"hits": embedder.hits, "misses": embedder.misses}
    print_and_write(results, render_table(results), args.out)
    return 0


def print_and_write(results: dict[str, Any], table: str, out: Path) -> None:
    """Print a benchmark's table and write its results, the table included, as JSON to ``out``."""
    results["table"] = table
    print()
    print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written {out.relative_to(REPO_ROOT) if out.is_relative_to(REPO_ROOT) else out}")


if __name__ == "__main__":
    sys.exit(main())
