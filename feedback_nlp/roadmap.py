"""The roadmap: loading and checking the YAML file, and mapping themes to roadmap items."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from feedback_nlp.bm25 import bm25_scores
from feedback_nlp.errors import RoadmapError
from feedback_nlp.terms import light_stem, words

STATUSES = ("planned", "in_progress", "shipped", "parked")
_OWNER_PATTERN = re.compile(r"^(@[\w.-]+(/[\w.-]+)?|[^@\s]+@[^@\s]+\.[^@\s]+)$")


@dataclass(frozen=True)
class RoadmapItem:
    id: str
    title: str
    description: str
    owner: str
    status: str
    keywords: list[str] = field(default_factory=list)
    target: str | None = None
    area: int | None = None  # an area ID (feedback-nlp themes): the item covers the area's unlinked themes

    def embedding_text(self) -> str:
        """What is embedded to match themes: title, description and keywords."""
        keywords = ", ".join(self.keywords)
        return f"{self.title}. {self.description} {keywords}".strip()

    def lexical_text(self) -> str:
        """What is matched word for word against feedback: the title and the keywords."""
        return " ".join([self.title, *self.keywords])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_roadmap(path: Path | str) -> list[RoadmapItem]:
    """Read and check a roadmap YAML file: a list of items (or a mapping with an ``items`` list).

    Raises:
        RoadmapError: naming the item and the field that is wrong.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RoadmapError(f"{path}: no such file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RoadmapError(f"{path}: not valid YAML ({exc})") from None
    if isinstance(raw, dict) and "items" in raw:
        raw = raw["items"]
    if not isinstance(raw, list) or not raw:
        raise RoadmapError(f"{path}: expected a non-empty list of roadmap items")
    return parse_roadmap(raw, source=str(path))


def parse_roadmap(raw_items: list[Any], source: str = "roadmap") -> list[RoadmapItem]:
    items: list[RoadmapItem] = []
    seen: set[str] = set()
    for position, raw in enumerate(raw_items, start=1):
        if not isinstance(raw, dict):
            raise RoadmapError(f"{source}: item #{position} is not a mapping")
        item_id = str(raw.get("id") or "").strip()
        label = f"{source}: item '{item_id}'" if item_id else f"{source}: item #{position}"
        if not item_id:
            raise RoadmapError(f"{label} has no id; add id: <unique id>")
        if item_id in seen:
            raise RoadmapError(f"{label}: duplicate id; every item needs its own id")
        seen.add(item_id)
        _check_keys(raw, label)
        for required in ("title", "owner", "status"):
            if not str(raw.get(required) or "").strip():
                raise RoadmapError(f"{label} has no {required}; add {required}: <value>")
        owner = str(raw["owner"]).strip()
        if not _OWNER_PATTERN.match(owner):
            raise RoadmapError(f"{label}: owner {owner!r} is neither an email nor a team handle like @team")
        status = str(raw["status"]).strip()
        if status not in STATUSES:
            raise RoadmapError(f"{label}: status {status!r} is not one of {', '.join(STATUSES)}")
        keywords = raw.get("keywords") or []
        if not isinstance(keywords, list):
            raise RoadmapError(f"{label}: keywords must be a list")
        target = raw.get("target")
        items.append(
            RoadmapItem(
                id=item_id,
                title=str(raw["title"]).strip(),
                description=str(raw.get("description") or "").strip(),
                owner=owner,
                status=status,
                keywords=[str(k).strip() for k in keywords if str(k).strip()],
                target=str(target).strip() if target else None,
                area=_area(raw.get("area"), label),
            )
        )
    return items


def _area(value: Any, label: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise RoadmapError(
            f"{label}: area {value!r} is not an area id (a whole number, see feedback-nlp themes)"
        )
    return value


def _check_keys(raw: Mapping[str, Any], label: str) -> None:
    """A misspelt key (``keyword:``) would silently drop what it holds: refuse it, naming the close one."""
    known = [f.name for f in fields(RoadmapItem)]
    for key in raw:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise RoadmapError(f"{label}: unknown key {key!r}; {hint}known keys: {', '.join(known)}")


def embed_roadmap(items: list[RoadmapItem], embed) -> np.ndarray:
    """One unit-length vector per item: the mean of its full text, its title and its keywords.

    The full text alone is dominated by the description's wording; adding the title and the mean keyword
    vector pulls the item towards the short phrases customers actually use (measured on the sample: more
    themes reach the right item, e.g. "where is my card" themes reach delivery tracking, not activation).
    """
    if not items:
        return np.zeros((0, 0), dtype=np.float32)
    full = embed([item.embedding_text() for item in items])
    titles = embed([item.title for item in items])
    keywords = [item.keywords or [item.title] for item in items]
    flat = embed([keyword for group in keywords for keyword in group])
    keyword_means = []
    start = 0
    for group in keywords:
        keyword_means.append(flat[start : start + len(group)].mean(axis=0))
        start += len(group)
    mixed = full + titles + _unit(np.vstack(keyword_means))
    return _unit(mixed)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32)


@dataclass
class RoadmapMatch:
    item_id: str | None
    score: float


def map_themes_to_roadmap(
    theme_centroids: np.ndarray,
    item_embeddings: np.ndarray,
    item_ids: list[str],
    threshold: float,
    lexical: np.ndarray | None = None,
    lexical_weight: float = 0.0,
    theme_areas: Sequence[int] | None = None,
    margin: float = 0.0,
    reach: float | None = None,
) -> list[RoadmapMatch]:
    """Give each theme its roadmap item, or none: neither missing a planned request nor letting a broad item
    swallow unrelated themes.

    Both inputs are L2-normalised, so the dot product is the cosine similarity. Several themes may share an
    item (a roadmap item is usually broader than one theme). ``lexical`` (themes x items, in [0, 1], see
    :func:`theme_item_lexical`) breaks near-ties between items in favour of the one whose words the theme's
    feedback uses; the threshold applies to the cosine alone, so it keeps its meaning. A theme links to its
    best item when:

    - its cosine reaches ``threshold``, and
    - it beats "no item" by ``margin``: it is closer to the item than the item's typical (median) theme is,
      by at least ``margin``. A broad item close to every theme has a high median, so it no longer takes
      themes that are no closer to it than the rest;
    - or, less than ``margin`` below the threshold and still ``margin`` above the median, one of its
      siblings (``theme_areas``: the area of each theme) links to the same best item: a request split by
      wording over two themes of one area links both halves. Only near misses: in a broad area, a sibling's
      link says little about a theme far from the item (on the pooled benchmark set, letting every sibling
      follow cost 9 points of link precision).

    Siblings do not move a theme to another item than its own best: on the bundled sample, letting the
    siblings' item win near-ties between two items moved correct links to wrong ones.

    ``reach`` (None: off) then keeps a link only for a theme nearly as close to the item as the item's
    closest theme: :func:`within_reach`.
    """
    if len(item_ids) == 0 or len(theme_centroids) == 0:
        return [RoadmapMatch(None, 0.0) for _ in range(len(theme_centroids))]
    similarity = theme_centroids @ item_embeddings.T
    ranking = similarity if lexical is None or lexical_weight <= 0 else similarity + lexical_weight * lexical
    baseline = np.median(similarity, axis=0) + margin  # what "no item" scores, per item
    best = np.argmax(ranking, axis=1)
    rows = np.arange(len(similarity))
    clears_baseline = similarity[rows, best] >= baseline[best]
    linked = clears_baseline & (similarity[rows, best] >= threshold)
    if theme_areas is not None:
        areas = np.asarray(theme_areas)
        sibling_items = {(int(a), int(b)) for a, b, ok in zip(areas, best, linked) if ok}
        near_miss = similarity[rows, best] >= threshold - margin
        linked |= (
            clears_baseline
            & near_miss
            & np.asarray([(int(a), int(b)) in sibling_items for a, b in zip(areas, best)])
        )
    if reach is not None:
        linked &= within_reach(similarity, best, theme_centroids, reach)
    return [
        RoadmapMatch(item_ids[int(b)] if ok else None, float(similarity[n, b]))
        for n, (b, ok) in enumerate(zip(best, linked))
    ]


# Which of the themes' nearest-neighbour distances sets the unit of ``reach``: the lower quartile, the
# distance at which the closest distinct themes lie (the median is pulled up by isolated themes; the minimum
# is one pair's accident)
NEIGHBOUR_QUANTILE = 0.25


def within_reach(similarity: np.ndarray, best: np.ndarray, centroids: np.ndarray, reach: float) -> np.ndarray:
    """Whether each theme is nearly as close to its item as the item's closest theme is.

    ``similarity`` is themes x items (cosine), ``best`` each theme's item. A theme passes when the item's
    closest theme beats it by at most ``reach`` times the lower quartile of the distances (1 - cosine)
    between each theme and its nearest other theme. The item's own theme always passes (gap 0); another half
    of a request split by wording lies about as close; a neighbouring, unplanned request lies about as far
    behind as distinct themes lie apart, and fails. The bound is in the model's own units, not in cosine: the
    tests' hashing embedder puts distinct themes about 0.55 apart, all-MiniLM-L6-v2 puts Banking77's intents
    about 0.19 apart, and the same ``reach`` suits both (benchmarks/README.md, "grain, areas and roadmap
    links", has the curve).
    """
    if len(centroids) < 2 or similarity.size == 0:
        return np.ones(len(similarity), dtype=bool)
    gap = similarity.max(axis=0)[best] - similarity[np.arange(len(similarity)), best]
    return gap <= reach * neighbour_distance(centroids)


def neighbour_distance(centroids: np.ndarray) -> float:
    """The unit of ``reach``: the lower quartile of each theme's distance (1 - cosine) to its nearest other
    theme (unit-length centroids, at least two)."""
    between = centroids @ centroids.T
    np.fill_diagonal(between, -np.inf)
    return float(np.quantile(1.0 - between.max(axis=1), NEIGHBOUR_QUANTILE))


def theme_item_lexical(
    texts: Sequence[str], labels: np.ndarray, n_themes: int, items: Sequence[RoadmapItem]
) -> np.ndarray:
    """Mean BM25 of each theme's units for each item's title and keywords, scaled to [0, 1] per item.

    For units held in memory; the training job adds up the same sums partition by partition
    (:class:`feedback_nlp.bm25.BM25Corpus`) and scales them with :func:`scale_per_item`.
    """
    assigned = np.flatnonzero(labels >= 0)
    if len(assigned) == 0 or not items:
        return np.zeros((n_themes, len(items)), dtype=np.float32)
    scores = bm25_scores([texts[int(i)] for i in assigned], [item.lexical_text() for item in items])
    sums = np.zeros((n_themes, len(items)), dtype=np.float64)
    np.add.at(sums, labels[assigned], scores)
    return scale_per_item(sums, np.bincount(labels[assigned], minlength=n_themes))


def scale_per_item(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean score of each theme's units per item (rows: themes), divided by the best theme's for that item."""
    means = np.divide(
        sums, np.maximum(counts, 1)[:, None], out=np.zeros_like(sums), where=counts[:, None] > 0
    )
    best = means.max(axis=0, keepdims=True) if len(means) else np.ones((1, sums.shape[1]))
    best[best == 0] = 1.0
    return (means / best).astype(np.float32)


def named_item(sentence: str, items: Sequence[Mapping[str, Any]]) -> tuple[str | None, int]:
    """The roadmap item a sentence names by its keywords or title (the direct match), with its score.

    A keyword of several words counts 2 when all its words are in the sentence, a one-word keyword 1, the
    whole title 3 (words compared by :func:`feedback_nlp.terms.light_stem`). ``items`` are mappings with
    ``id``, ``title`` and ``keywords`` (``RoadmapItem.to_dict()``). Returns ``(None, 0)`` when nothing
    matches, and ``(None, score)`` when the best two items tie.
    """
    words = _stems(sentence)
    scores: list[tuple[int, str]] = []
    for item in items:
        score = 0
        for keyword in item.get("keywords") or []:
            parts = _stems(str(keyword))
            if parts and parts <= words:
                score += 2 if len(parts) > 1 else 1
        title = _stems(str(item.get("title") or ""))
        if title and title <= words:
            score += 3
        if score:
            scores.append((score, str(item["id"])))
    if not scores:
        return None, 0
    scores.sort(reverse=True)
    if len(scores) > 1 and scores[0][0] == scores[1][0]:
        return None, scores[0][0]
    return scores[0][1], scores[0][0]


def _stems(text: str) -> set[str]:
    return {light_stem(word) for word in words(text)}
