"""Grain, areas and roadmap links on every labelled set, plus a pooled larger-grain set (issue 16).

Part ``areas`` of ``make bench-quality`` (``python benchmarks/bench_quality.py --only areas``). For each set:

* theme level: the number of themes against the number of gold labels, NMI and ARI (unassigned units count as
  one cluster), beside two anchors on the same embeddings: k-means told the true k, and BERTopic's defaults
  (UMAP + HDBSCAN, given the embeddings) when ``bertopic`` is installed (``pip install -e '.[bench]'``);
* areas: how many, and their purity against coarse gold groups where the set has them (the share of an area's
  units in its most common group, over all units);
* roadmap links: a roadmap is built from the gold labels (every second label, in a seeded order, gets an item
  named after it; the others are unplanned demand), themes are linked with the training job's rule
  (:func:`feedback_nlp.roadmap.map_themes_to_roadmap`) and judged by their majority label: link precision and
  recall, and the share of the themes left unlinked whose majority label really has no item. The rule before
  issue 16 (one cosine threshold) and the margin and siblings without the reach bound are scored on the same
  themes beside it, and the reach bound's trade-off curve (``REACH_CURVE``);
* near-duplicate merging (:func:`feedback_nlp.themes.merge_near_duplicates`): how many themes merged, the
  same discovery without merging, how many themes share their majority label with a larger one (splits), and
  the ceiling of any merge step: NMI and ARI when every theme merges with the others of its majority label;
  and the merge test itself on the gold labels: how many labels cut in two by Ward it merges back, and how
  many labels it merges with their nearest other label (each label against the nearest, by centroid);
* name quality: a column for the naming helper's hit rate (``NAME_QUALITY`` hook), "-" until it is wired.

The sets: Banking77 test (77 intents, no coarse groups), URR reviews (first label, 14 topics; the paper's 7
groups), IS-22 reviews judged relevant to exactly one feature (label: app and feature; group: the app), and
all three pooled (labels prefixed by their set; group: the set's own group, or the set).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import KMeans

from feedback_nlp.areas import group_themes
from feedback_nlp.config import TrainingConfig
from feedback_nlp.metrics import clustering_scores
from feedback_nlp.roadmap import RoadmapItem, embed_roadmap, map_themes_to_roadmap, neighbour_distance
from feedback_nlp.themes import ThemeDiscoverer, one_blob_p_value

# URR's topics grouped as its paper groups them (../shared/data/README.md)
URR_GROUPS = {
    "DEVICE": "COMPATIBILITY",
    "ANDROID VERSION": "COMPATIBILITY",
    "HARDWARE": "COMPATIBILITY",
    "APP USABILITY": "USAGE",
    "UI": "USAGE",
    "PERFORMANCE": "RESOURCES",
    "BATTERY": "RESOURCES",
    "MEMORY": "RESOURCES",
    "LICENSING": "PRICING",
    "PRICE": "PRICING",
    "SECURITY": "PROTECTION",
    "PRIVACY": "PROTECTION",
    "ERROR": "ERROR",
    "OTHER": "OTHER",
}
ROADMAP_SEED = 16
# The link rule before issue 16: one cosine threshold, no margin against "no item", no siblings.
NO_MARGIN = -10.0
# roadmap_reach values whose link precision and recall are printed (the trade-off curve of the bound)
REACH_CURVE = (0.2, 0.4, 0.6, 0.8, 1.0, 1.5)
# Hook for the naming helper: (theme names, texts, labels, theme of each text) -> hit rate, or None.
NAME_QUALITY: Callable[..., float | None] | None = None


class LabelledSet:
    """Texts with a gold label each, and a coarse gold group per text where the set has groups."""

    def __init__(self, name: str, texts: list[str], labels: list[str], groups: list[str] | None):
        self.name, self.texts, self.labels, self.groups = name, texts, np.asarray(labels), groups


def labelled_sets(b77: Any, urr: Any, is22: Any) -> list[LabelledSet]:
    """The sets that are present, then the pooled one (when at least two are)."""
    sets = []
    if b77 is not None:
        test = b77.test
        sets.append(
            LabelledSet("banking77", test["text"].astype(str).tolist(), test["category"].tolist(), None)
        )
    if urr is not None:
        reviews = urr.reviews
        first = reviews["first_label"].tolist()
        sets.append(
            LabelledSet("urr", reviews["text"].tolist(), first, [URR_GROUPS.get(x, x) for x in first])
        )
    if is22 is not None:
        relevant = is22.judgements[is22.judgements["relevant"] == 1]
        once = relevant.groupby(["app", "review_id"]).filter(lambda g: len(g) == 1)
        texts = once.merge(is22.reviews[["app", "review_id", "text"]], on=["app", "review_id"])
        labels = (texts["app"] + ": " + texts["feature"]).tolist()
        sets.append(LabelledSet("is22", texts["text"].astype(str).tolist(), labels, texts["app"].tolist()))
    if len(sets) >= 2:
        sets.append(_pooled(sets))
    return sets


def _pooled(sets: list[LabelledSet]) -> LabelledSet:
    texts, labels, groups = [], [], []
    for s in sets:
        texts += s.texts
        labels += [f"{s.name}:{label}" for label in s.labels]
        groups += [f"{s.name}:{g}" for g in s.groups] if s.groups else [s.name] * len(s.texts)
    return LabelledSet("pooled", texts, labels, groups)


def bench_areas(
    embed: Callable[[list[str]], np.ndarray], b77: Any, urr: Any, is22: Any, config: TrainingConfig
) -> dict[str, Any]:
    results = {}
    for labelled in labelled_sets(b77, urr, is22):
        print(f"areas: {labelled.name} ({len(labelled.texts)} texts) ...", flush=True)
        results[labelled.name] = bench_one(embed, labelled, config)
    return results


def bench_one(
    embed: Callable[[list[str]], np.ndarray], labelled: LabelledSet, config: TrainingConfig
) -> dict[str, Any]:
    X = embed(labelled.texts)
    gold = labelled.labels
    tick = time.perf_counter()
    discoverer = ThemeDiscoverer.from_config(config).fit(X)
    seconds = time.perf_counter() - tick
    themes = discoverer.labels_
    result: dict[str, Any] = {
        "texts": len(gold),
        "gold_labels": int(len(np.unique(gold))),
        "themes": int(discoverer.n_themes_),
        "dense_regions": int(discoverer.density_clusters_),
        **_scores(gold, themes),
        "seconds": round(seconds, 1),
        "merging": _merging(X, gold, discoverer, config),
    }
    areas = group_themes(discoverer.centroids_)
    result["areas"] = int(areas.max()) + 1 if len(areas) else 0
    unit_areas = np.where(themes >= 0, areas[np.maximum(themes, 0)], -1)
    result["area_purity"] = _purity(unit_areas, labelled.groups) if labelled.groups else None
    result["gold_groups"] = len(set(labelled.groups)) if labelled.groups else None
    result["links"] = _links(embed, gold, themes, discoverer.centroids_, areas, config)
    result["name_hit_rate"] = NAME_QUALITY(labelled, themes) if NAME_QUALITY is not None else None
    result["anchors"] = _anchors(X, labelled)
    return result


def _merging(X: np.ndarray, gold: np.ndarray, discoverer: ThemeDiscoverer, config: TrainingConfig):
    """Near-duplicate merging against the same discovery without it, and against the oracle merge."""
    themes = discoverer.labels_
    unmerged = ThemeDiscoverer.from_config(config).set_params(merge_significance=None).fit(X)
    majority = _majority(gold, themes, discoverer.n_themes_)
    ids = {label: n for n, label in enumerate(dict.fromkeys(majority))}
    oracle = np.where(themes >= 0, np.array([ids[m] for m in majority])[np.maximum(themes, 0)], -1)
    return {
        "merged": int(discoverer.merged_duplicates_),
        "without_merging": {"themes": int(unmerged.n_themes_), **_scores(gold, unmerged.labels_)},
        "themes_sharing_a_majority_label": discoverer.n_themes_ - len(ids),
        "oracle_merge": {"themes": len(ids), **_scores(gold, oracle)},
        "test_on_gold": _merge_test_on_gold(X, gold, discoverer),
    }


def _merge_test_on_gold(X: np.ndarray, gold: np.ndarray, discoverer: ThemeDiscoverer) -> dict[str, int]:
    """The merge test on pairs whose answer is known: a gold label cut in two by Ward (merge), and a gold
    label beside its nearest other label (keep apart). Labels with fewer than 16 texts are left out."""
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    centred = unit - unit.mean(axis=0)
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    labels = [g for g, n in Counter(gold.tolist()).items() if n >= 16]
    rng = np.random.default_rng(discoverer.random_state)
    level = discoverer.merge_significance or 0.0
    cuts_merged = 0
    for label in labels:
        members = centred[gold == label]
        halves = fcluster(linkage(members, method="ward"), t=2, criterion="maxclust")
        cuts_merged += one_blob_p_value(members[halves == 1], members[halves == 2], rng) > level
    means = np.vstack([centred[gold == label].mean(axis=0) for label in labels])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    similarity = means @ means.T
    np.fill_diagonal(similarity, -np.inf)
    neighbours_merged = sum(
        one_blob_p_value(centred[gold == label], centred[gold == labels[int(similarity[i].argmax())]], rng)
        > level
        for i, label in enumerate(labels)
    )
    return {
        "labels": len(labels),
        "cuts_merged": int(cuts_merged),
        "neighbours_merged": int(neighbours_merged),
    }


def _scores(gold: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    scores = clustering_scores(gold, predicted)
    return {"nmi": scores["nmi"], "ari": scores["ari"], "unassigned": scores["unassigned_fraction"]}


def _purity(unit_areas: np.ndarray, groups: list[str]) -> float:
    """Share of units whose area's most common gold group is their own (unassigned units count as misses)."""
    groups_array = np.asarray(groups)
    hits = 0
    for area in np.unique(unit_areas[unit_areas >= 0]):
        hits += Counter(groups_array[unit_areas == area]).most_common(1)[0][1]
    return round(hits / len(groups_array), 4)


def _majority(gold: np.ndarray, themes: np.ndarray, n_themes: int) -> list[str | None]:
    return [
        Counter(gold[themes == t]).most_common(1)[0][0] if (themes == t).any() else None
        for t in range(n_themes)
    ]


def _gold_roadmap(labels: np.ndarray, owner: str) -> list[RoadmapItem]:
    """An item named after every second gold label, in a seeded order (the rest are unplanned demand)."""
    distinct = sorted(set(labels.tolist()))
    order = np.random.default_rng(ROADMAP_SEED).permutation(len(distinct))
    planned = [distinct[i] for i in order[::2]]
    return [
        RoadmapItem(f"R-{n}", _readable(label), label, owner, "planned")
        for n, label in enumerate(sorted(planned))
    ]


def _readable(label: str) -> str:
    """A gold label as a person would title the item: "banking77:card_arrival" -> "card arrival"."""
    for prefix in ("banking77:", "urr:", "is22:"):
        label = label.removeprefix(prefix)
    return label.replace("_", " ").lower()


def _links(embed, gold, themes, centroids, areas, config: TrainingConfig) -> dict[str, Any]:
    items = _gold_roadmap(gold, config.default_owner)
    # the item's description holds its gold label, so that only the title (the readable label) is embedded
    item_of_label = {item.description: item.id for item in items}
    vectors = embed_roadmap([replace(item, description="") for item in items], embed)
    majority = _majority(gold, themes, len(centroids))
    expected = [item_of_label.get(label) if label is not None else None for label in majority]
    out = {"items": len(items), "planned_themes": sum(e is not None for e in expected)}
    ids = [item.id for item in items]
    siblings = {"margin": config.roadmap_margin, "theme_areas": areas}
    rules: list[tuple[str, dict[str, Any]]] = [
        ("threshold", {"margin": NO_MARGIN}),
        ("margin_and_siblings", siblings),
        ("reach", {**siblings, "reach": config.roadmap_reach}),
    ]
    rules += [(f"reach_{reach}", {**siblings, "reach": reach}) for reach in REACH_CURVE]
    for rule, kwargs in rules:
        linked = [
            m.item_id
            for m in map_themes_to_roadmap(centroids, vectors, ids, config.roadmap_threshold, **kwargs)
        ]
        out[rule] = _link_scores(linked, expected)
    out["reach_unit"] = round(neighbour_distance(centroids), 4) if len(centroids) > 1 else None
    return out


def _link_scores(linked: list[str | None], expected: list[str | None]) -> dict[str, Any]:
    links = [(got, want) for got, want in zip(linked, expected) if got is not None]
    planned = [(got, want) for got, want in zip(linked, expected) if want is not None]
    unlinked = [want for got, want in zip(linked, expected) if got is None]
    return {
        "links": len(links),
        "precision": round(sum(g == w for g, w in links) / len(links), 4) if links else None,
        "recall": round(sum(g == w for g, w in planned) / len(planned), 4) if planned else None,
        "unlinked": len(unlinked),
        "unplanned_really_unplanned": round(sum(w is None for w in unlinked) / len(unlinked), 4)
        if unlinked
        else None,
    }


def _anchors(X: np.ndarray, labelled: LabelledSet) -> dict[str, Any]:
    gold = labelled.labels
    k = len(np.unique(gold))
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    tick = time.perf_counter()
    kmeans = KMeans(n_clusters=k, n_init=1, random_state=42).fit_predict(unit)
    anchors: dict[str, Any] = {
        "kmeans_true_k": {
            "themes": k,
            **_scores(gold, kmeans),
            "seconds": round(time.perf_counter() - tick, 1),
        }
    }
    try:
        from bertopic import BERTopic
    except ImportError:
        anchors["bertopic_defaults"] = None  # not installed: pip install -e '.[bench]'
        return anchors
    tick = time.perf_counter()
    topics, _ = BERTopic().fit_transform(labelled.texts, embeddings=X)
    topics = np.asarray(topics)
    anchors["bertopic_defaults"] = {
        "themes": int(len(set(topics[topics >= 0].tolist()))),
        **_scores(gold, topics),
        "seconds": round(time.perf_counter() - tick, 1),
    }
    return anchors


def render(results: dict[str, Any]) -> list[str]:
    """The areas part of the bench-quality table."""
    if not results:
        return []
    lines = [
        "Grain, areas and roadmap links (issue 16). ratio: themes per gold label; purity: areas",
        "against coarse gold groups; links judged by each theme's majority label against a roadmap with an",
        "item for every second gold label (P precision, R recall, unpl.: unlinked themes really unplanned),",
        "then the same for the rule before issue 16 (one threshold); names: the naming helper's hit rate",
        f"  {'set':<10} {'texts':>6} {'labels':>6} {'themes':>6} {'ratio':>5} {'NMI':>6} {'ARI':>6} "
        f"{'areas':>5} {'purity':>6} {'P':>5} {'R':>5} {'unpl.':>5} {'P/R/unpl. before':>16} {'names':>5}",
    ]
    for name, r in results.items():
        new, old = r["links"]["reach"], r["links"]["threshold"]
        before = "/".join(_f(old[k]) for k in ("precision", "recall", "unplanned_really_unplanned"))
        lines.append(
            f"  {name:<10} {r['texts']:>6} {r['gold_labels']:>6} {r['themes']:>6} "
            f"{r['themes'] / r['gold_labels']:>5.2f} {r['nmi']:>6.3f} {r['ari']:>6.3f} {r['areas']:>5} "
            f"{_f(r['area_purity']):>6} {_f(new['precision']):>5} {_f(new['recall']):>5} "
            f"{_f(new['unplanned_really_unplanned']):>5} {before:>16} {_f(r['name_hit_rate']):>5}"
        )
    lines += _reach_lines(results)
    lines.append(
        "  near-duplicate merging: themes merged; without merging (themes / NMI / ARI); themes sharing a"
        " larger one's majority label; oracle merge of those (themes / NMI / ARI: the ceiling of any merging)"
    )
    for name, r in results.items():
        m = r["merging"]
        off, oracle, g = m["without_merging"], m["oracle_merge"], m["test_on_gold"]
        lines.append(
            f"  {name:<10} merged {m['merged']}; without {off['themes']} / {off['nmi']:.3f} / "
            f"{off['ari']:.3f}; sharing {m['themes_sharing_a_majority_label']}; oracle {oracle['themes']} / "
            f"{oracle['nmi']:.3f} / {oracle['ari']:.3f}; on gold: {g['cuts_merged']} of {g['labels']} labels"
            f" cut in two merged back, {g['neighbours_merged']} merged with their nearest label"
        )
    lines.append("  anchors on the same embeddings (themes / NMI / ARI / unassigned):")
    for name, r in results.items():
        parts = []
        for anchor, label in (
            ("kmeans_true_k", "k-means told k"),
            ("bertopic_defaults", "BERTopic defaults"),
        ):
            a = r["anchors"].get(anchor)
            parts.append(
                f"{label} {a['themes']} / {a['nmi']:.3f} / {a['ari']:.3f} / {a['unassigned']:.1%}"
                if a
                else f"{label}: not installed"
            )
        lines.append(f"  {name:<10} " + "; ".join(parts))
    lines.append("")
    return lines


def _reach_lines(results: dict[str, Any]) -> list[str]:
    """The roadmap reach bound's trade-off: P / R / unpl. at each reach, with the bound's unit in cosine."""
    lines = [
        "  roadmap links by roadmap_reach (P / R / unpl.; unit: the cosine that reach 1 allows; "
        "none: margin and siblings alone)"
    ]
    for name, r in results.items():
        links = r["links"]
        parts = [f"none {_pru(links['margin_and_siblings'])}"]
        parts += [f"{reach} {_pru(links[f'reach_{reach}'])}" for reach in REACH_CURVE]
        lines.append(f"  {name:<10} unit {_f(links['reach_unit'])}: " + "; ".join(parts))
    return lines


def _pru(scores: dict[str, Any]) -> str:
    return "/".join(_f(scores[k]) for k in ("precision", "recall", "unplanned_really_unplanned"))


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
