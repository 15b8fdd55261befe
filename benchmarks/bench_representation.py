"""Representations and partitions for theme discovery (issue 16): is there one in which the gold labels fit
better than in the tree's space?

Banking77's goals (NMI >= 0.85, ARI >= 0.62) are out of reach for merging and for refining centroids
(``bench_refine.py``): Ward's tree refined by Lloyd already fits the k-means objective better than the gold
partition does. This script tries the other lever, the space the partition is made in, with the frozen
encoder (all-MiniLM-L6-v2) and no labels. Every variant is :class:`ThemeDiscoverer` with the default
``TrainingConfig`` and only its partition step replaced (the number of themes is still HDBSCAN's count of
dense regions in the centred embeddings, the near-duplicate test and the assignment are unchanged), on the
sets of ``bench_quality.py --only areas`` (Banking77 test, URR, IS-22, pooled) and their cached embeddings:

- ``ward``: the default (centred, smoothed, Ward);
- ``whitened``: PCA whitening fitted on the data before smoothing and Ward (WhiteningBERT, Huang et al.
  2021; Su et al. 2021), all dimensions and the 128 of most variance;
- ``all-but-the-top``: the centred embeddings without their top principal directions (Mu and Viswanath
  2018; D = dimensions / 100, their rule);
- ``lexical``: the centred embeddings concatenated with an L2-normalised LSA projection of the texts (TF-IDF
  of words, sublinear, TruncatedSVD to 100 dimensions, centred), both blocks unit length; weight 0.5 gives
  each block an equal share of the variance (the principle), 0.2 a small lexical share;
- ``ward-connectivity``: Ward constrained to the kNN graph (15 neighbours) of the centred embeddings;
- ``leiden``: Leiden communities (scikit-network, BSD; seeded) of the kNN graph (15 neighbours, UMAP's
  default, about twice ``min_theme_size``; edges weighted by cosine) of the centred embeddings, the
  resolution bisected until the number of communities is HDBSCAN's count;
- ``leiden-leidenalg``: the same graph and count with ``leidenalg`` (iterated until no improvement), only
  when it is installed: it is GPL-3, so the MIT product cannot depend on it.

    FEEDBACK_NLP_SHARED_DATA=../shared/data python benchmarks/bench_representation.py [--cache-dir DIR]
        [--only VARIANT ...]

Needs ``scikit-network`` (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.neighbors import kneighbors_graph

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
from feedback_nlp.themes import ThemeDiscoverer, _normalise  # noqa: E402

GRAPH_NEIGHBOURS = 15  # UMAP's default; about twice the default config's min_theme_size (8)
LSA_DIMENSIONS = 100
SEED = 42

Partition = Callable[[ThemeDiscoverer, np.ndarray, int, list[str]], tuple[np.ndarray, np.ndarray]]


def _ward(discoverer: ThemeDiscoverer, space: np.ndarray, n_themes: int) -> tuple[np.ndarray, np.ndarray]:
    return ThemeDiscoverer._partition(discoverer, space, n_themes)


def whitened(dimensions: int | None) -> Partition:
    def partition(d: ThemeDiscoverer, shaped: np.ndarray, n: int, texts: list[str]):
        u, s, _ = np.linalg.svd(shaped - shaped.mean(axis=0), full_matrices=False)
        keep = len(s) if dimensions is None else min(dimensions, len(s))
        return _ward(d, _normalise(u[:, :keep] * np.sqrt(len(shaped))), n)

    return partition


def all_but_the_top(d: ThemeDiscoverer, shaped: np.ndarray, n: int, texts: list[str]):
    top = max(1, round(shaped.shape[1] / 100))
    centred = shaped - shaped.mean(axis=0)
    directions = np.linalg.svd(centred, full_matrices=False)[2][:top]
    return _ward(d, _normalise(centred - (centred @ directions.T) @ directions), n)


def lexical(weight: float) -> Partition:
    def partition(d: ThemeDiscoverer, shaped: np.ndarray, n: int, texts: list[str]):
        tfidf = TfidfVectorizer(sublinear_tf=True).fit_transform(texts)
        dims = min(LSA_DIMENSIONS, tfidf.shape[1] - 1, tfidf.shape[0] - 1)
        lsa = _normalise(TruncatedSVD(dims, random_state=SEED).fit_transform(tfidf))
        lsa = _normalise(lsa - lsa.mean(axis=0))
        return _ward(d, _normalise(np.hstack([np.sqrt(1 - weight) * shaped, np.sqrt(weight) * lsa])), n)

    return partition


def ward_connectivity(d: ThemeDiscoverer, shaped: np.ndarray, n: int, texts: list[str]):
    from feedback_nlp.themes import _smooth

    smoothed = _smooth(shaped, d.n_neighbors, d.smoothing_steps)
    graph = kneighbors_graph(shaped, GRAPH_NEIGHBOURS, include_self=False)
    labels = AgglomerativeClustering(n_clusters=n, linkage="ward", connectivity=graph).fit_predict(smoothed)
    return labels + 1, smoothed


def knn_adjacency(Z: np.ndarray, k: int, chunk: int = 1024) -> sparse.csr_matrix:
    """Symmetric kNN graph of unit vectors, edges weighted by cosine (floored at a small positive weight)."""
    n = len(Z)
    rows, cols, weights = [], [], []
    for start in range(0, n, chunk):
        sims = Z[start : start + chunk] @ Z.T
        own = np.arange(start, min(start + chunk, n))
        sims[own - start, own] = -np.inf
        nearest = np.argpartition(-sims, k, axis=1)[:, :k]
        rows.append(np.repeat(own, k))
        cols.append(nearest.ravel())
        weights.append(np.take_along_axis(sims, nearest, axis=1).ravel())
    edges = (np.concatenate(rows), np.concatenate(cols))
    A = sparse.csr_matrix((np.maximum(np.concatenate(weights), 1e-6), edges), shape=(n, n))
    return A.maximum(A.T).tocsr()


def communities_at(detect: Callable[[float], np.ndarray], target: int, steps: int = 16) -> np.ndarray:
    """Bisect the resolution (geometric, 0.25 to 128) until ``detect`` finds ``target`` communities; the
    closest count seen otherwise."""
    low, high, best = 0.25, 128.0, None
    for _ in range(steps):
        resolution = float(np.sqrt(low * high))
        labels = detect(resolution)
        found = int(labels.max()) + 1
        if best is None or abs(found - target) < abs(int(best.max()) + 1 - target):
            best = labels
        if found == target:
            break
        low, high = (resolution, high) if found < target else (low, resolution)
    assert best is not None
    return best


def leiden_sknetwork(d: ThemeDiscoverer, shaped: np.ndarray, n: int, texts: list[str]):
    from sknetwork.clustering import Leiden

    A = knn_adjacency(shaped, GRAPH_NEIGHBOURS)

    def detect(resolution: float) -> np.ndarray:
        leiden = Leiden(resolution=resolution, random_state=SEED, return_probs=False, return_aggregate=False)
        return np.asarray(leiden.fit_predict(A))

    return communities_at(detect, n) + 1, shaped


def leiden_leidenalg(d: ThemeDiscoverer, shaped: np.ndarray, n: int, texts: list[str]):
    import igraph
    import leidenalg

    A = sparse.triu(knn_adjacency(shaped, GRAPH_NEIGHBOURS), k=1).tocoo()
    graph = igraph.Graph(n=len(shaped), edges=list(zip(A.row.tolist(), A.col.tolist(), strict=True)))
    graph.es["weight"] = A.data.tolist()

    def detect(resolution: float) -> np.ndarray:
        partition = leidenalg.find_partition(
            graph,
            leidenalg.RBConfigurationVertexPartition,
            weights="weight",
            resolution_parameter=resolution,
            seed=SEED,
            n_iterations=-1,
        )
        return np.asarray(partition.membership)

    return communities_at(detect, n) + 1, shaped


VARIANTS: dict[str, Partition | None] = {
    "ward": None,
    "whitened": whitened(None),
    "whitened-128": whitened(128),
    "all-but-the-top": all_but_the_top,
    "lexical-0.5": lexical(0.5),
    "lexical-0.2": lexical(0.2),
    "ward-connectivity": ward_connectivity,
    "leiden": leiden_sknetwork,
    "leiden-leidenalg": leiden_leidenalg,
}


def discoverer(config: TrainingConfig, partition: Partition | None, texts: list[str]) -> ThemeDiscoverer:
    """The default discoverer with its partition step replaced (``None``: as it is)."""
    found = ThemeDiscoverer.from_config(config)
    if partition is not None:
        found._partition = lambda shaped, n_themes: partition(found, shaped, n_themes, texts)  # type: ignore[method-assign]
    return found


def bench_variant(X: np.ndarray, texts: list[str], gold: np.ndarray, config: TrainingConfig, name: str):
    tick = time.perf_counter()
    fitted = discoverer(config, VARIANTS[name], texts).fit(X)
    seconds = time.perf_counter() - tick
    scores = clustering_scores(gold, fitted.labels_)
    return {
        "themes": fitted.n_themes_,
        "nmi": scores["nmi"],
        "ari": scores["ari"],
        "seconds": round(seconds, 1),
    }


def render(results: dict[str, Any]) -> str:
    sets = list(results["sets"])
    lines = ["| variant | " + " | ".join(f"{s}: themes / NMI / ARI" for s in sets) + " |"]
    lines.append("|---|" + "---|" * len(sets))
    for variant in results["variants"]:
        cells = []
        for s in sets:
            r = results["sets"][s].get(variant)
            cells.append("-" if r is None else f"{r['themes']} / {r['nmi']:.3f} / {r['ari']:.3f}")
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), help="variants to run (default: all)")
    default_out = REPO_ROOT / "benchmarks" / "results" / "representation.json"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    variants = args.only or list(VARIANTS)
    if "leiden-leidenalg" in variants and importlib.util.find_spec("leidenalg") is None:
        print("leiden-leidenalg skipped: leidenalg is not installed (GPL-3; not a dependency)", flush=True)
        variants.remove("leiden-leidenalg")
    config = TrainingConfig()
    root = data_root()
    b77, urr, is22 = load_banking77(root)[0], load_urr(root)[0], load_is22(root)[0]
    embedder = cached_embedder(config, args.cache_dir)
    results: dict[str, Any] = {**run_metadata(), "variants": variants, "sets": {}}
    for labelled in labelled_sets(b77, urr, is22):
        X = embedder.embed(labelled.texts)
        results["sets"][labelled.name] = {}
        for name in variants:
            print(f"representation: {labelled.name} ({len(labelled.texts)} texts), {name} ...", flush=True)
            scores = bench_variant(X, labelled.texts, labelled.labels, config, name)
            results["sets"][labelled.name][name] = scores
    results["embedding_cache"] = {"hits": embedder.hits, "misses": embedder.misses}
    print_and_write(results, render(results), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
