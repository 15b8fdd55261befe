"""Theme discovery: cluster unit embeddings into themes, choosing the number of themes automatically.

HDBSCAN counts the dense regions of a bounded, seeded sample of units (in a PCA projection); Ward-linkage
agglomerative clustering then partitions the sample into that many themes. Before Ward, the sample is centred
(sentence embeddings share a common direction that makes every pair look alike) and smoothed: each unit is
replaced by the mean of itself and its few nearest neighbours, twice, which pulls paraphrases together before
the tree is built (on Banking77 NMI 0.809 -> 0.836, ARI 0.532 -> 0.583; see ``benchmarks/README.md``).
Two themes of the tree that are one request cut in two (mutually nearest, and one normal blob along the line
between them: :func:`merge_near_duplicates`) are merged back before the themes are described. Spherical
k-means steps from the tree's partition (:func:`refine_partition`, ``refine_steps``) are off by default: they
change Banking77 and the pooled set by at most 0.002 (see ``benchmarks/README.md``, "Refining the partition").
Themes are described by their centroids in the original embedding space. Units of the sample keep the theme
the tree gave them; every other unit, and every new unit (:meth:`ThemeDiscoverer.predict`), goes to its
nearest centroid, so the cost of assignment grows linearly with the data. A unit whose similarity to its
theme's centroid is below ``min_similarity`` fits no theme and is marked unassigned (-1) rather than forced
into a catch-all.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.stats import shapiro
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import HDBSCAN
from sklearn.decomposition import PCA
from sklearn.utils.validation import check_is_fitted, validate_data

if TYPE_CHECKING:
    from feedback_nlp.config import TrainingConfig

logger = logging.getLogger(__name__)

UNASSIGNED = -1


def _fit_sample(X: np.ndarray, max_units: int, random_state: int) -> np.ndarray:
    """Sorted positions of the ``max_units`` units with the smallest seeded hash of their embedding (all units
    when there are no more).

    A unit's chance to be in the sample depends on the unit alone: when 5% of the units change, about 5% of
    the sample changes, where a seeded draw of positions would draw a different sample outright (on the
    bundled sample scaled to 20,000 items, 5% replaced: 19.6% of the common units changed theme with a drawn
    sample, 11.6% with this one).
    """
    if len(X) <= max_units:
        return np.arange(len(X))
    salt = str(random_state).encode()[:16]
    keys = np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8, salt=salt).digest(), "little")
            for row in np.ascontiguousarray(X)
        ),
        dtype=np.uint64,
        count=len(X),
    )
    return np.sort(np.argsort(keys, kind="stable")[:max_units])


def _normalise(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return X / norms


def _smooth(X: np.ndarray, n_neighbors: int, steps: int, chunk: int = 1024) -> np.ndarray:
    """Replace each unit by the normalised mean of itself and its ``n_neighbors`` most similar units."""
    n_neighbors = min(n_neighbors, len(X) - 1)
    if n_neighbors < 1 or steps < 1:
        return X
    for _ in range(steps):
        smoothed = np.empty_like(X)
        for start in range(0, len(X), chunk):
            sims = X[start : start + chunk] @ X.T
            # the unit itself is its own most similar unit, so it is always among the n_neighbors + 1
            nearest = np.argpartition(-sims, n_neighbors, axis=1)[:, : n_neighbors + 1]
            smoothed[start : start + chunk] = X[nearest].mean(axis=1)
        X = _normalise(smoothed)
    return X


# Shapiro-Wilk's p-value is exact up to this many values (scipy warns above it); a larger pair is tested on a
# seeded sample of this size.
_SHAPIRO_MAX = 5000


def one_blob_p_value(A: np.ndarray, B: np.ndarray, rng: np.random.Generator) -> float:
    """How plausible it is that two themes are one normal blob cut in two (G-means' test, Hamerly and Elkan).

    The units of both are projected onto the line through the two means; a cut through one blob leaves that
    projection normal, two requests leave it with two modes. Returns Shapiro-Wilk's p-value for normality.
    """
    projection = np.concatenate([A, B]) @ (A.mean(axis=0) - B.mean(axis=0))
    spread = projection.std()
    if spread == 0:  # identical units on either side: one request
        return 1.0
    if len(projection) > _SHAPIRO_MAX:
        projection = rng.choice(projection, _SHAPIRO_MAX, replace=False)
    return float(shapiro((projection - projection.mean()) / spread).pvalue)


def _mutual_nearest_pairs(centroids: np.ndarray) -> list[tuple[int, int]]:
    similarity = centroids @ centroids.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(axis=1)
    return [(i, int(j)) for i, j in enumerate(nearest) if i < j and nearest[j] == i]


def merge_near_duplicates(
    X: np.ndarray, labels: np.ndarray, significance: float, random_state: int = 42, min_units: int = 8
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Merge themes that are one request split in two: mutually nearest themes whose units, projected onto
    the line between them, look like one normal blob (:func:`one_blob_p_value` above ``significance``).

    The evidence is the data's own shape around each pair, not a similarity threshold: on Banking77 the
    nearest other theme of a split intent is less similar than many a neighbouring intent's (see
    ``benchmarks/README.md``), so no cosine threshold separates the two. Repeats until no pair merges.

    Args:
        X: the units' vectors (centred, unit length), one row per label.
        labels: theme of each unit (any non-negative integers; negative: no theme, ignored).
        significance: the test's level; a pair whose normality p-value is above it merges.
        random_state: seed for the sample a pair larger than the test's limit is tested on.
        min_units: a pair with fewer units together is not tested (the test needs a few of each).

    Returns:
        The labels after merging (a merged theme keeps the smaller label of its pair) and the merged pairs
        as ``(kept label, merged label)`` in the order they merged.
    """
    labels = labels.copy()
    rng = np.random.default_rng(random_state)
    merged: list[tuple[int, int]] = []
    while True:
        ids = np.unique(labels[labels >= 0])
        members = [labels == theme for theme in ids]
        centroids = _normalise(np.vstack([X[m].mean(axis=0) for m in members])) if len(ids) > 1 else None
        pairs = _mutual_nearest_pairs(centroids) if centroids is not None else []
        merging = [
            (int(ids[i]), int(ids[j]))
            for i, j in pairs
            if members[i].sum() + members[j].sum() >= min_units
            and one_blob_p_value(X[members[i]], X[members[j]], rng) > significance
        ]
        if not merging:
            return labels, merged
        for kept, gone in merging:
            labels[labels == gone] = kept
        merged += merging


def refine_partition(X: np.ndarray, labels: np.ndarray, max_steps: int) -> tuple[np.ndarray, int]:
    """Spherical k-means (Lloyd) steps started from a partition: each unit moves to the theme whose centroid
    (the normalised mean of its units) is most similar, until no unit moves or ``max_steps`` are taken.

    Ward's merges are greedy: a unit joined to a group early stays there even when the final themes leave it
    nearer another theme's centre; Lloyd's steps move it (hybrid hierarchical k-means).

    Args:
        X: the units' vectors (unit length), one row per label.
        labels: theme of each unit (any non-negative integers).
        max_steps: most assignment steps.

    Returns:
        The labels after refining (the same label values; a theme that empties keeps its centroid, so it may
        win units back, or vanish) and the number of steps that moved a unit.
    """
    values, dense = np.unique(labels, return_inverse=True)
    centroids = np.zeros((len(values), X.shape[1]))
    moved_steps = 0
    for _ in range(max_steps):
        sums = np.zeros_like(centroids)
        np.add.at(sums, dense, X)
        counts = np.bincount(dense, minlength=len(values))
        centroids[counts > 0] = _normalise(sums[counts > 0])
        # argmax takes the first of tied themes, so the result does not depend on anything but the input
        nearest = (X @ centroids.T).argmax(axis=1)
        if np.array_equal(nearest, dense):
            break
        dense = nearest
        moved_steps += 1
    return values[dense], moved_steps


class ThemeDiscoverer(ClusterMixin, BaseEstimator):
    """Find themes in unit embeddings without being told how many there are.

    Args:
        min_themes: fewest themes considered.
        max_themes: most themes considered; None (the default): as many as the data's dense regions. Either
            way the data bounds it (at least ``min_theme_size`` units per theme on average), and a bound
            that binds is logged.
        min_theme_size: a cluster smaller than this is dissolved and its units go to the nearest theme.
        min_similarity: cosine similarity to the nearest centroid below which a unit is unassigned.
        max_fit_units: size of the sample the tree is built on (memory is quadratic in it). The sample is
            chosen by a seeded hash of each unit's embedding, not by its position, so a retrain on mostly the
            same units builds its tree on mostly the same units (theme borders move less between retrains).
        n_components: PCA dimensions used to count dense regions (density estimates fail in 384-d).
        min_samples: HDBSCAN's density parameter.
        random_state: seed for sampling (it salts the hash).
        center: subtract the mean unit before counting and partitioning.
        n_neighbors: neighbours averaged into each unit before Ward (0: no smoothing).
        smoothing_steps: how many times the neighbour averaging is repeated.
        keep_partition: units in the sample keep the theme the tree gave them; when False, every unit goes
            to its nearest centroid after one k-means step.
        merge_significance: level of the test that merges two themes of the tree that are one request split
            in two (:func:`merge_near_duplicates`); None: no merging.
        refine_steps: most spherical k-means steps after the tree, in the space the tree was built in
            (:func:`refine_partition`; 0, the default: none). Refining stops when no unit moves (3 steps on
            Banking77, 5 on IS-22, 6 on the pooled set, 10 on URR), so a bound such as 20 only caps the cost.
            Off by default: on Banking77 and the pooled set it changes NMI and ARI by at most 0.002, on the
            bundled sample's tickets it loses 0.002 / 0.006, while URR and IS-22 gain up to 0.015.

    Attributes:
        labels_: theme id per unit of the fitted data, -1 for unassigned.
        centroids_: unit-length centroid per theme, ``(n_themes_, n_features)``.
        n_themes_: number of themes.
        similarities_: cosine similarity of each unit to its nearest centroid.
        density_clusters_: dense regions found by HDBSCAN before clipping to [min_themes, max_themes].
        merged_duplicates_: how many themes of the tree merged into a near-duplicate
            (:func:`merge_near_duplicates`).
        refine_steps_taken_: k-means steps that moved a unit after the tree.
    """

    def __init__(
        self,
        min_themes: int = 5,
        max_themes: int | None = None,
        min_theme_size: int = 5,
        min_similarity: float = 0.3,
        max_fit_units: int = 8000,
        n_components: int = 20,
        min_samples: int = 5,
        random_state: int = 42,
        center: bool = True,
        n_neighbors: int = 3,
        smoothing_steps: int = 2,
        keep_partition: bool = True,
        merge_significance: float | None = 0.01,
        refine_steps: int = 0,
    ):
        self.min_themes = min_themes
        self.max_themes = max_themes
        self.min_theme_size = min_theme_size
        self.min_similarity = min_similarity
        self.max_fit_units = max_fit_units
        self.n_components = n_components
        self.min_samples = min_samples
        self.random_state = random_state
        self.center = center
        self.n_neighbors = n_neighbors
        self.smoothing_steps = smoothing_steps
        self.keep_partition = keep_partition
        self.merge_significance = merge_significance
        self.refine_steps = refine_steps

    @classmethod
    def from_config(cls, config: TrainingConfig) -> ThemeDiscoverer:
        """The discoverer the training job uses: the config's theme settings, the defaults for the rest."""
        return cls(
            min_themes=config.min_themes,
            max_themes=config.max_themes,
            min_theme_size=config.min_theme_size,
            min_similarity=config.min_similarity,
            max_fit_units=config.max_fit_units,
            random_state=config.random_state,
        )

    def fit(self, X, y=None):
        X = _normalise(validate_data(self, X, dtype=np.float32))
        n_units = X.shape[0]
        if n_units < 2 * self.min_theme_size:
            raise ValueError(
                f"n_samples={n_units}: too few units to find themes; need at least {2 * self.min_theme_size}"
            )
        sample_index = _fit_sample(X, self.max_fit_units, self.random_state)
        sample = X[sample_index].astype(np.float64)
        shaped = _normalise(sample - sample.mean(axis=0)) if self.center else sample
        n_themes = self._choose_n_themes(shaped)
        best_labels, tree_space = self._partition(shaped, n_themes)
        logger.info("theme discovery: %d themes chosen on %d units", n_themes, len(sample))
        best_labels = self._merge_near_duplicates(shaped, best_labels)
        if self.refine_steps < 0:
            raise ValueError(f"refine_steps must be 0 or more, not {self.refine_steps}")
        best_labels, self.refine_steps_taken_ = refine_partition(tree_space, best_labels, self.refine_steps)

        centroids = self._centroids(sample, best_labels)
        # Dissolve tiny clusters: their units go to the nearest real theme.
        sizes = np.bincount(self._nearest(X, centroids)[0], minlength=len(centroids))
        keep = sizes >= self.min_theme_size
        if keep.sum() == 0:
            keep[np.argmax(sizes)] = True
        centroids = centroids[keep]
        nearest, _ = self._nearest(X, centroids)
        if self.keep_partition:
            # Sampled units keep the theme the tree gave them (nearest-centroid assignment of a unit that was
            # not smoothed would undo part of what smoothing found); the rest go to their nearest centroid.
            kept_ids = np.full(best_labels.max() + 1, -1)
            kept_ids[np.unique(best_labels)[keep]] = np.arange(int(keep.sum()))
            partition = kept_ids[best_labels]
            # ...unless that theme is not similar enough to it while another is (then it goes to the nearest).
            own = centroids[np.maximum(partition, 0)]
            fits = np.einsum("ij,ij->i", X[sample_index], own) >= self.min_similarity
            in_kept = (partition >= 0) & fits
            nearest[sample_index[in_kept]] = partition[in_kept]
            # The centroids describe all the data; each unit's similarity is to its own theme's centroid.
            centroids = self._centroids(X, nearest, n_clusters=len(centroids), previous=centroids)
            similarity = np.einsum("ij,ij->i", X, centroids[nearest])
        else:
            # One refinement pass over all units (a k-means step) makes the centroids describe all the data.
            centroids = self._centroids(X, nearest, n_clusters=len(centroids), previous=centroids)
            nearest, similarity = self._nearest(X, centroids)
        # Largest theme first, so ids read in order of importance.
        sizes = np.bincount(nearest, minlength=len(centroids))
        order = np.argsort(-sizes, kind="stable")
        remap = np.empty_like(order)
        remap[order] = np.arange(len(order))
        self.centroids_ = centroids[order].astype(np.float32)
        self.n_themes_ = len(order)
        self.similarities_ = similarity.astype(np.float32)
        labels = remap[nearest]
        labels[similarity < self.min_similarity] = UNASSIGNED
        self.labels_ = labels
        return self

    def _partition(self, shaped: np.ndarray, n_themes: int) -> tuple[np.ndarray, np.ndarray]:
        """The tree's partition of the sample (centred, unit length) into ``n_themes`` themes, and the space
        the tree was built in (the smoothed sample), where refining steps run.

        Other representations and partitions (whitening, lexical LSA features, Ward on the kNN graph, Leiden
        communities) were measured through this seam on every labelled set (``bench_representation.py``):
        none reaches issue 16's Banking77 goals, and the one that gains on every set needs a GPL library
        (``benchmarks/README.md``, "Representations for the partition").
        """
        smoothed = _smooth(shaped, self.n_neighbors, self.smoothing_steps)
        # Ward on unit vectors: squared euclidean distance is 2 - 2 cos, so it clusters by cosine.
        tree = linkage(smoothed, method="ward")
        return fcluster(tree, t=n_themes, criterion="maxclust"), smoothed

    def _merge_near_duplicates(self, sample: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The tree's themes with near-duplicates merged, judged on the units before smoothing (smoothing
        pulls each theme's units together, which would make any two themes look like two blobs)."""
        self.merged_duplicates_ = 0
        if self.merge_significance is None:
            return labels
        if not 0 < self.merge_significance < 1:
            raise ValueError(f"merge_significance must be in (0, 1) or None, not {self.merge_significance}")
        labels, merged = merge_near_duplicates(sample, labels, self.merge_significance, self.random_state)
        if merged:
            logger.info("theme discovery: %d near-duplicate themes merged", len(merged))
        self.merged_duplicates_ = len(merged)
        return labels

    def _choose_n_themes(self, sample: np.ndarray) -> int:
        """How many themes: the number of dense leaf clusters HDBSCAN finds in a PCA projection.

        HDBSCAN alone leaves many units as noise, and Ward alone needs to be told k; HDBSCAN's leaf
        clusters count the dense regions well, and Ward then partitions every unit into that many themes.
        """
        n_components = min(self.n_components, sample.shape[1], len(sample) - 1)
        projected = PCA(n_components=n_components, random_state=self.random_state).fit_transform(sample)
        min_cluster_size = max(self.min_theme_size, 2)
        labels = HDBSCAN(
            min_cluster_size=min_cluster_size,
            min_samples=self.min_samples,
            cluster_selection_method="leaf",
            copy=True,
        ).fit_predict(projected)
        found = int(labels.max()) + 1
        # the data's own bound: a theme needs min_theme_size units, so a sample of n holds at most n / size
        data_bound = max(1, len(sample) // min_cluster_size)
        upper = data_bound if self.max_themes is None else max(1, min(self.max_themes, data_bound))
        n_themes = int(np.clip(found, min(self.min_themes, upper), upper))
        if n_themes < found:
            bound = "max_themes" if upper < data_bound else f"{min_cluster_size} units per theme"
            logger.info("theme discovery: %d dense regions capped to %d themes (%s)", found, n_themes, bound)
        self.density_clusters_ = found
        return n_themes

    @staticmethod
    def _centroids(
        X: np.ndarray, labels: np.ndarray, n_clusters: int | None = None, previous: np.ndarray | None = None
    ) -> np.ndarray:
        if n_clusters is None:
            values = np.unique(labels)
            index = {v: i for i, v in enumerate(values)}
            dense = np.array([index[v] for v in labels])
            n_clusters = len(values)
        else:
            dense = labels
        sums = np.zeros((n_clusters, X.shape[1]), dtype=np.float64)
        np.add.at(sums, dense, X)
        counts = np.bincount(dense, minlength=n_clusters)
        if previous is not None:  # an emptied cluster keeps its old centroid
            sums[counts == 0] = previous[counts == 0]
        return _normalise(sums).astype(np.float32)

    @staticmethod
    def _nearest(X: np.ndarray, centroids: np.ndarray, chunk: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
        nearest = np.empty(len(X), dtype=np.int64)
        best = np.empty(len(X), dtype=np.float32)
        for start in range(0, len(X), chunk):
            sims = X[start : start + chunk] @ centroids.T
            nearest[start : start + chunk] = sims.argmax(axis=1)
            best[start : start + chunk] = sims.max(axis=1)
        return nearest, best

    def predict(self, X) -> np.ndarray:
        """Nearest theme per unit, -1 where no theme is similar enough."""
        check_is_fitted(self)
        X = _normalise(validate_data(self, X, dtype=np.float32, reset=False))
        nearest, similarity = self._nearest(X, self.centroids_)
        nearest[similarity < self.min_similarity] = UNASSIGNED
        return nearest
