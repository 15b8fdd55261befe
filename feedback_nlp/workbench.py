"""What the workbench page (/ui) shows, computed from a model, its curation and the store.

Pure data for the templates (frozen dataclasses, SVG coordinates); the service's ``routers/web.py`` only
renders them. Weeks are ISO weeks; the page's "this week" is the latest week holding feedback, so that a
store whose data stops earlier (the bundled sample) still shows its figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from feedback_nlp.curation import NO_AREA, CurationView
from feedback_nlp.report.compute import Week, latest_week_with_data
from feedback_nlp.store import FeedbackStore

# the sparkline's trailing weeks: two months, the report's default history
TRAILING_WEEKS = 8


@dataclass(frozen=True)
class ThemeRow:
    id: int
    name: str
    area: str
    keywords: tuple[str, ...]
    weekly: tuple[int, ...]  # the trailing weeks, then this week
    accounts: int
    revenue: float
    roadmap_item: Mapping[str, Any] | None
    owner: str
    ignored: str | None
    merged_from: tuple[int, ...]
    split_from: int | None = None  # the theme a curator split it off (feedback_nlp.split)

    @property
    def this_week(self) -> int:
        return self.weekly[-1]

    @property
    def trend(self) -> str:
        """This week against the trailing mean: rising, falling or steady (±25 %), or new."""
        trailing = self.weekly[:-1]
        mean = sum(trailing) / len(trailing) if trailing else 0.0
        if mean == 0:
            return "new" if self.this_week else "quiet"
        change = (self.this_week - mean) / mean
        return "rising" if change > 0.25 else "falling" if change < -0.25 else "steady"

    @property
    def sparkline(self) -> str:
        return sparkline_points(self.weekly)


@dataclass(frozen=True)
class Overview:
    week: Week
    weeks: tuple[str, ...]
    areas: tuple[tuple[str, tuple[ThemeRow, ...]], ...]  # area name, its themes by volume this week
    ignored: tuple[ThemeRow, ...]


def report_weeks(store: FeedbackStore, now: datetime | None = None) -> list[Week]:
    """The trailing weeks and this week (the latest with feedback, else the current one)."""
    current = Week.containing(now or datetime.now(UTC))
    week = latest_week_with_data(store.engine, not_after=current) or current
    return [week.shift(-offset) for offset in range(TRAILING_WEEKS, -1, -1)]


def theme_rows(
    themes: Sequence[Mapping[str, Any]], store: FeedbackStore, view: CurationView
) -> list[ThemeRow]:
    """One row per curated theme with its weekly volumes, this week's accounts and revenue at stake."""
    weeks = report_weeks(store)
    weekly: dict[int, list[int]] = {}
    for n, week in enumerate(weeks):
        for theme_id, (units, _, _) in store.theme_week_stats(week.start, week.end).items():
            weekly.setdefault(view.canonical(theme_id), [0] * len(weeks))[n] += units
    this_week: dict[int, tuple[int, float]] = {}
    for theme_id, (_, accounts, revenue) in store.theme_week_stats(weeks[-1].start, weeks[-1].end).items():
        before = this_week.get(view.canonical(theme_id), (0, 0.0))
        this_week[view.canonical(theme_id)] = (before[0] + accounts, before[1] + revenue)
    rows = []
    for theme in themes:
        theme_id = int(theme["id"])
        accounts, revenue = this_week.get(theme_id, (0, 0.0))
        rows.append(
            ThemeRow(
                id=theme_id,
                name=str(theme.get("name") or f"theme {theme_id}"),
                area=str(theme.get("area_name") or NO_AREA),
                keywords=tuple(theme.get("keywords") or ())[:6],
                weekly=tuple(weekly.get(theme_id, [0] * len(weeks))),
                accounts=accounts,
                revenue=revenue,
                roadmap_item=theme.get("roadmap_item"),
                owner=str(theme.get("owner") or ""),
                ignored=theme.get("ignored"),
                merged_from=tuple(theme.get("merged_from") or ()),
                split_from=theme.get("split_from"),
            )
        )
    return rows


def overview(themes: Sequence[Mapping[str, Any]], store: FeedbackStore, view: CurationView) -> Overview:
    rows = theme_rows(themes, store, view)
    weeks = report_weeks(store)
    by_area: dict[str, list[ThemeRow]] = {}
    for row in rows:
        if not row.ignored:
            by_area.setdefault(row.area, []).append(row)
    areas = tuple(
        (area, tuple(sorted(members, key=lambda r: (-r.this_week, -r.revenue, r.id))))
        for area, members in sorted(by_area.items(), key=lambda kv: (kv[0] == NO_AREA, kv[0]))
    )
    return Overview(weeks[-1], tuple(w.label for w in weeks), areas, tuple(r for r in rows if r.ignored))


def sparkline_points(values: Sequence[int], width: float = 100.0, height: float = 24.0) -> str:
    """The ``points`` of an SVG polyline drawing ``values`` left to right, scaled to the box (2 px margin)."""
    if not values:
        return ""
    top = max(values) or 1
    step = (width - 4) / max(1, len(values) - 1)
    return " ".join(
        f"{2 + n * step:.1f},{height - 2 - (height - 4) * value / top:.1f}" for n, value in enumerate(values)
    )


@dataclass(frozen=True)
class MapPoint:
    id: int
    name: str
    area: str
    x: float
    y: float
    r: float
    colour: str


# eight distinguishable colours (Okabe-Ito), one per area in order; areas beyond them reuse the cycle
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def theme_map(
    themes: Sequence[Mapping[str, Any]],
    centroid_ids: np.ndarray,
    centroids: np.ndarray,
    size: float = 600.0,
) -> list[MapPoint]:
    """Theme centroids projected to 2D (PCA) in a ``size`` square; radius by training size (area-true),
    colour by area."""
    from sklearn.decomposition import PCA

    index = {int(theme_id): n for n, theme_id in enumerate(centroid_ids)}
    shown = [t for t in themes if int(t["id"]) in index]
    if not shown:
        return []
    vectors = centroids[[index[int(t["id"])] for t in shown]]
    xy = (
        PCA(n_components=2, random_state=42).fit_transform(vectors)
        if len(shown) > 2
        else np.zeros((len(shown), 2))
    )
    span = np.ptp(xy, axis=0)
    span[span == 0] = 1.0
    scaled = (xy - xy.min(axis=0)) / span
    biggest = max(int(t.get("size") or 1) for t in shown)
    areas = sorted({str(t.get("area_name") or NO_AREA) for t in shown})
    margin = size * 0.08
    return [
        MapPoint(
            id=int(theme["id"]),
            name=str(theme.get("name") or ""),
            area=str(theme.get("area_name") or NO_AREA),
            x=round(margin + float(scaled[n, 0]) * (size - 2 * margin), 1),
            y=round(margin + float(scaled[n, 1]) * (size - 2 * margin), 1),
            r=round(4 + 26 * (int(theme.get("size") or 1) / biggest) ** 0.5, 1),
            colour=PALETTE[areas.index(str(theme.get("area_name") or NO_AREA)) % len(PALETTE)],
        )
        for n, theme in enumerate(shown)
    ]


def nearest_themes(
    theme_id: int,
    themes: Sequence[Mapping[str, Any]],
    centroid_ids: np.ndarray,
    centroids: np.ndarray,
    k: int = 5,
) -> list[tuple[Mapping[str, Any], float]]:
    """The ``k`` themes whose centroids are closest (cosine) to ``theme_id``'s, with the similarity."""
    index = {int(t): n for n, t in enumerate(centroid_ids)}
    if theme_id not in index:
        return []
    unit = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit[index[theme_id]]
    others = [(t, float(similarity[index[int(t["id"])]])) for t in themes if int(t["id"]) in index]
    others = [(t, s) for t, s in others if int(t["id"]) != theme_id]
    return sorted(others, key=lambda pair: -pair[1])[:k]
