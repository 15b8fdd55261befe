"""Splitting a theme: its stored units clustered into sub-groups a curator picks from.

:func:`propose_split` clusters a theme's stored units (their encoder vectors, migration 0007) with
scikit-learn's k-means into 2..``max_groups`` sub-groups (the count with the best silhouette), each shown with
its top phrases (c-TF-IDF, :mod:`feedback_nlp.ctfidf`) and the quotes nearest its centre. The proposal has an
id (a digest of the units it saw and its settings) so that a pick made on one proposal is never applied to
another: the same store gives the same proposal (``random_state`` fixed), a changed theme another id.

:func:`split_action` turns the picked sub-groups into a ``split_theme`` curation action: each becomes a
:class:`SplitGroup` with a new stable theme id, its name, phrases, quotes (the examples a retrain seeds
the new theme with) and centre. :func:`reroute` says which stored units move to which new theme: those
nearest a picked sub-group's centre among all the proposal's centres; the rest stay.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.metrics import silhouette_score

from feedback_nlp.ctfidf import class_tfidf_keywords
from feedback_nlp.errors import ValidationError
from feedback_nlp.terms import words

# Fewest units a sub-group may have: a smaller one is too thin to name or to seed a theme with.
MIN_GROUP_UNITS = 3
MAX_GROUPS = 6
N_PHRASES = 6
N_QUOTES = 3


class TooFewUnits(ValidationError):
    """The theme holds too few stored units with a vector to split (a state of the store, not a bad request:
    the API answers 409)."""


@dataclass(frozen=True)
class StoredUnit:
    """A stored unit of the theme being split: its key, redacted text and encoder vector."""

    item_id: str
    unit_index: int
    text: str
    vector: np.ndarray


@dataclass(frozen=True)
class SubGroup:
    index: int
    size: int
    phrases: tuple[str, ...]
    quotes: tuple[str, ...]  # redacted, nearest the centre first
    centroid: tuple[float, ...]  # unit length


@dataclass(frozen=True)
class SplitProposal:
    theme_id: int
    proposal_id: str
    units: int
    groups: tuple[SubGroup, ...]


@dataclass(frozen=True)
class SplitGroup:
    """A sub-group split off into a theme of its own (a ``split_theme`` action holds one per pick)."""

    theme_id: int  # the new theme's stable id
    name: str
    phrases: tuple[str, ...]
    examples: tuple[str, ...]  # redacted quotes: what a retrain seeds the theme with
    centroid: tuple[float, ...] = ()  # empty when imported from a taxonomy file

    def to_dict(self) -> dict[str, object]:
        return {
            "theme_id": self.theme_id,
            "name": self.name,
            "phrases": list(self.phrases),
            "examples": list(self.examples),
            "centroid": list(self.centroid),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> SplitGroup:
        def strings(key: str) -> tuple[str, ...]:
            value = raw.get(key) or []
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        centroid = raw.get("centroid") or []
        return cls(
            theme_id=int(str(raw["theme_id"])),
            name=str(raw["name"]),
            phrases=strings("phrases"),
            examples=strings("examples"),
            centroid=tuple(float(v) for v in centroid) if isinstance(centroid, list) else (),
        )


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def _proposal_id(theme_id: int, units: Sequence[StoredUnit], max_groups: int) -> str:
    digest = hashlib.sha256(f"{theme_id}|{max_groups}".encode())
    for unit in sorted(units, key=lambda u: (u.item_id, u.unit_index)):
        digest.update(f"|{unit.item_id}#{unit.unit_index}".encode())
    return digest.hexdigest()[:16]


def _best_labels(X: np.ndarray, max_groups: int, random_state: int) -> np.ndarray:
    """k-means labels for the k in 2..max_groups with the best silhouette (cosine) whose groups all have
    :data:`MIN_GROUP_UNITS` units or more."""
    best: tuple[float, np.ndarray] | None = None
    for k in range(2, max_groups + 1):
        labels = KMeans(n_clusters=k, n_init=10, random_state=random_state).fit_predict(X)
        if np.bincount(labels, minlength=k).min() < MIN_GROUP_UNITS:
            continue
        score = float(silhouette_score(X, labels, metric="cosine"))
        if best is None or score > best[0]:
            best = (score, labels)
    if best is None:  # no k gives groups big enough: two, whatever their sizes
        return np.asarray(KMeans(n_clusters=2, n_init=10, random_state=random_state).fit_predict(X))
    return best[1]


def propose_split(
    theme_id: int, units: Sequence[StoredUnit], max_groups: int = 4, random_state: int = 42
) -> SplitProposal:
    """The theme's units in 2..``max_groups`` sub-groups, biggest first.

    Raises:
        TooFewUnits: too few units with a vector to split. ValidationError: ``max_groups`` outside
            2..MAX_GROUPS.
    """
    if not 2 <= max_groups <= MAX_GROUPS:
        raise ValidationError("groups", f"ask for 2 to {MAX_GROUPS} sub-groups, not {max_groups}")
    if len(units) < 2 * MIN_GROUP_UNITS:
        raise TooFewUnits(
            "theme",
            f"theme {theme_id} has {len(units)} stored units with a vector; a split needs at least "
            f"{2 * MIN_GROUP_UNITS} (feedback stored before vectors were kept counts once re-ingested)",
        )
    X = _normalised(np.stack([np.asarray(u.vector, dtype=np.float32) for u in units]))
    # no more groups than the units allow at the minimum size each
    labels = _best_labels(X, min(max_groups, len(units) // MIN_GROUP_UNITS), random_state)
    order = [int(g) for g in np.argsort(-np.bincount(labels), kind="stable")]
    lemmas = [[w for w in words(u.text) if w not in ENGLISH_STOP_WORDS] for u in units]
    dense = np.array([order.index(int(g)) for g in labels])
    phrases = class_tfidf_keywords(lemmas, dense, len(order), n_keywords=N_PHRASES, min_df=1)
    groups = []
    for index in range(len(order)):
        members = np.flatnonzero(dense == index)
        centre = _normalised(X[members].mean(axis=0, keepdims=True))[0]
        nearest = members[np.argsort(-(X[members] @ centre), kind="stable")][:N_QUOTES]
        groups.append(
            SubGroup(
                index=index,
                size=len(members),
                phrases=tuple(phrases[index]),
                quotes=tuple(units[n].text for n in nearest),
                centroid=tuple(round(float(v), 5) for v in centre),
            )
        )
    return SplitProposal(theme_id, _proposal_id(theme_id, units, max_groups), len(units), tuple(groups))


def split_groups(
    proposal: SplitProposal, picked: Mapping[int, str], first_new_id: int
) -> tuple[SplitGroup, ...]:
    """The picked sub-groups (index -> name) as new themes, numbered from ``first_new_id``.

    Raises:
        ValidationError: no pick, an unknown index, an empty name, or every sub-group picked (one must stay
            as the theme itself).
    """
    if not picked:
        raise ValidationError("groups", "pick at least one sub-group to split off")
    unknown = sorted(set(picked) - {g.index for g in proposal.groups})
    if unknown:
        raise ValidationError(
            "groups", f"no sub-group {unknown[0]} in this proposal (0..{len(proposal.groups) - 1})"
        )
    if len(picked) == len(proposal.groups):
        raise ValidationError("groups", "leave at least one sub-group in the theme: it keeps its id and name")
    out = []
    for n, index in enumerate(sorted(picked)):
        name = (picked[index] or "").strip()
        if not name:
            raise ValidationError("name", f"name sub-group {index}: it becomes a theme of its own")
        group = proposal.groups[index]
        out.append(SplitGroup(first_new_id + n, name, group.phrases, group.quotes, group.centroid))
    return tuple(out)


def reroute(
    proposal: SplitProposal, split_off: Sequence[SplitGroup], units: Sequence[StoredUnit]
) -> dict[tuple[str, int], int]:
    """Which units move to which new theme: those nearest a split-off group's centre of all the proposal's
    centres; units nearest a group left in the theme stay (absent from the answer)."""
    if not units:
        return {}
    centres = np.array([g.centroid for g in proposal.groups], dtype=np.float32)
    new_id = {}
    for group in split_off:
        matches = [g.index for g in proposal.groups if g.centroid == group.centroid]
        new_id[matches[0]] = group.theme_id
    X = _normalised(np.stack([np.asarray(u.vector, dtype=np.float32) for u in units]))
    nearest = np.argmax(X @ centres.T, axis=1)
    return {(u.item_id, u.unit_index): new_id[int(g)] for u, g in zip(units, nearest) if int(g) in new_id}
