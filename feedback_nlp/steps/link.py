"""Step 7: link every theme to its roadmap item and owner, and score alignment against the roadmap."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from feedback_nlp.alignment import summarise_signals
from feedback_nlp.areas import AREA_ID, AREA_NAME, ThemeAreas
from feedback_nlp.config import TrainingConfig
from feedback_nlp.evidence import RoadmapEvidence, best_per_item
from feedback_nlp.roadmap import RoadmapItem, RoadmapMatch, embed_roadmap, map_themes_to_roadmap
from feedback_nlp.steps.count import UnitCounts
from feedback_nlp.steps.describe import UnitDescriptions
from feedback_nlp.steps.identify import IdentifiedThemes


@dataclass(frozen=True)
class RoadmapLinks:
    """The themes as ``themes.json`` lists them (with item, owner and curation), and what the roadmap
    learnt."""

    themes: list[dict[str, Any]]
    renamed: list[dict[str, Any]]
    evidence: RoadmapEvidence | None  # scores single units against items at scoring time
    units_per_item: dict[str, int]  # units of the (not ignored) themes linked to each item
    alignment: dict[str, Any]

    def unplanned_demand(self) -> list[dict[str, Any]]:
        return [
            {"theme_id": t["id"], "name": t["name"], "size": t["size"]}
            for t in self.themes
            if t["roadmap_item"] is None and not t.get("ignored")
        ]


def link_to_roadmap(
    themes: IdentifiedThemes,
    areas: ThemeAreas,
    counts: UnitCounts,
    described: UnitDescriptions,
    roadmap: Sequence[RoadmapItem],
    embed: Callable[[list[str]], np.ndarray],
    config: TrainingConfig,
) -> RoadmapLinks:
    """Match theme centroids to roadmap items (similarity plus lexical evidence, with margins, the theme's
    area siblings, and within reach of the item's closest theme: :func:`map_themes_to_roadmap`); an item
    naming an area takes that area's unlinked themes; pins outrank both."""
    item_ids = [item.id for item in roadmap]
    item_vectors = embed_roadmap(list(roadmap), embed)
    matches = map_themes_to_roadmap(
        themes.centroids,
        item_vectors,
        item_ids,
        config.roadmap_threshold,
        described.lexical,
        config.roadmap_lexical_weight,
        theme_areas=areas.area_of_theme,
        margin=config.roadmap_margin,
        reach=config.roadmap_reach,
    )
    matches = _area_items(matches, areas, roadmap)
    evidence = None
    if config.roadmap_evidence_threshold is not None and roadmap:
        evidence = RoadmapEvidence(
            item_ids,
            item_vectors,
            counts.lexical,
            best_per_item(described.evidence_best[None, :]),
            config.roadmap_lexical_weight,
            config.roadmap_evidence_threshold,
        )
    theme_list, renamed = _theme_entries(themes, areas, described, matches, roadmap, config.default_owner)
    units_per_item = {item.id: 0 for item in roadmap}
    for theme in theme_list:
        if theme["roadmap_item"] and not theme.get("ignored"):
            units_per_item[theme["roadmap_item"]["id"]] += theme["size"]
    links = {t["id"]: (t["roadmap_item"] or {}).get("id") for t in theme_list if not t.get("ignored")}
    for signal in described.signals:
        signal.roadmap_item_id = links.get(signal.theme_id) if signal.theme_id is not None else None
    alignment = summarise_signals(described.signals, roadmap, default_owner=config.default_owner)
    return RoadmapLinks(theme_list, renamed, evidence, units_per_item, alignment)


def _area_items(
    matches: list[RoadmapMatch], areas: ThemeAreas, roadmap: Sequence[RoadmapItem]
) -> list[RoadmapMatch]:
    """An item that names an area (``area: <id>``) takes the themes of that area left without an item."""
    item_of_area = {item.area: item.id for item in roadmap if item.area is not None}
    return [
        RoadmapMatch(item_of_area[area], match.score)
        if match.item_id is None and area in item_of_area
        else match
        for match, area in zip(matches, areas.area_of_theme)
    ]


def _theme_entries(
    themes: IdentifiedThemes,
    areas: ThemeAreas,
    described: UnitDescriptions,
    matches: list[RoadmapMatch],
    roadmap: Sequence[RoadmapItem],
    default_owner: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One ``themes.json`` entry per served theme, and the themes whose name changed since the last model."""
    items_by_id = {item.id: item for item in roadmap}
    curation = themes.curation
    pins = {pin["theme"]: pin for pin in curation.pins}
    entries, renamed = [], []
    for n, theme_id in enumerate(themes.ids.served_ids):
        match = matches[n]
        pin = pins.get(theme_id, {})
        # a curator's pin outranks the similarity match
        item_id = pin.get("roadmap_item") or match.item_id
        item = items_by_id.get(item_id) if item_id else None
        name = themes.names[n]
        previous_name = themes.previous_names.get(theme_id)
        if previous_name is not None and previous_name != name:
            renamed.append({"theme": theme_id, "from": previous_name, "to": name})
        seed = themes.seeds_by_id.get(theme_id)
        theme: dict[str, Any] = {
            "id": theme_id,
            "name": name,
            AREA_ID: areas.area_of_theme[n],
            AREA_NAME: areas.area_name(areas.area_of_theme[n]),
            "keywords": themes.keywords[n],
            "size": themes.sizes[theme_id],
            "examples": [c[2] for c in described.examples.get(n, [])]
            or (seed[0].examples[:3] if seed else []),
            "roadmap_item": {"id": item.id, "title": item.title} if item else None,
            "roadmap_score": round(match.score, 4),
            "owner": pin.get("owner") or (item.owner if item else default_owner),
        }
        theme.update(_curation_marks(theme_id, pin, curation.ignored, seed is not None, themes.merges))
        entries.append(theme)
    return entries, renamed


def _curation_marks(
    theme_id: int,
    pin: dict[str, Any],
    ignored: dict[int, str],
    is_seed: bool,
    merges: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    """The fields a theme carries only when a curator shaped it: pinned, ignored, seed, merged_from."""
    marks: dict[str, Any] = {}
    if pin:
        marks["pinned"] = {k: v for k, v in pin.items() if k != "theme" and v}
    if theme_id in ignored:
        marks["ignored"] = ignored[theme_id]
    if is_seed:
        marks["seed"] = True
    if theme_id in merges:
        marks["merged_from"] = merges[theme_id]["themes"]
    return marks
