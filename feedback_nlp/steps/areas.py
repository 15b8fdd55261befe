"""Step 6: group the served themes into areas, with area IDs stable across retrains and the curator's moves.

The grouping and the ID matching live in :mod:`feedback_nlp.areas`; this step feeds them the served themes,
the serving model's areas, and the curation (``move`` a theme to an area, ``rename_area``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from feedback_nlp import artifact
from feedback_nlp.areas import AREA_ID, AreaEntry, AreaRegistry, ThemeAreas, assign_area_ids, group_themes
from feedback_nlp.config import TrainingConfig
from feedback_nlp.errors import ModelLoadError
from feedback_nlp.naming import GroupMembers, GroupName, NamingRequest
from feedback_nlp.steps.identify import IdentifiedThemes
from feedback_nlp.taxonomy import ResolvedTaxonomy


def group_into_areas(
    themes: IdentifiedThemes,
    previous_dir: Path | None,
    version: str,
    config: TrainingConfig,
    namer: Callable[[NamingRequest], list[GroupName]] | None = None,
    theme_texts: Sequence[Sequence[str]] = (),
) -> ThemeAreas:
    """Every served theme's area: grouped by centroid, matched to the serving model's areas, then curated.

    A new area is named in words like a theme (``namer``: :func:`feedback_nlp.stages.name_theme_groups`)
    from its themes' sample units (``theme_texts``, per served theme in dense order) and the size-weighted
    mean of their centroids; without a namer (or texts) it takes its largest theme's name."""
    served = list(themes.ids.served_ids)
    sizes = [themes.sizes[theme_id] for theme_id in served]
    local = group_themes(themes.centroids)
    previous_registry = AreaRegistry.from_registry(_previous_registry(previous_dir))
    area_ids, next_id = assign_area_ids(
        local, served, sizes, _previous_area_of_theme(previous_dir), previous_registry
    )
    area_of_theme = [int(area_ids[a]) for a in local]
    curation = themes.curation
    _apply_moves(area_of_theme, served, curation, {a.id for a in previous_registry.areas})
    units: dict[int, int] = {}
    for area_id, size in zip(area_of_theme, sizes):
        units[area_id] = units.get(area_id, 0) + size
    ordered = sorted(units, key=lambda area_id: (-units[area_id], area_id))
    previous_names = {a.id: a.name for a in previous_registry.areas}
    members_of = {area_id: [n for n, a in enumerate(area_of_theme) if a == area_id] for area_id in ordered}
    keywords = {
        area_id: _area_keywords([themes.keywords[n] for n in members], [sizes[n] for n in members])
        for area_id, members in members_of.items()
    }
    kept = {a: curation.area_renames.get(a) or previous_names.get(a) or "" for a in ordered}
    names = _area_names(kept, members_of, keywords, themes, sizes, namer, theme_texts)
    registry = _updated_registry(previous_registry, names, next_id, version)
    return ThemeAreas(tuple(area_of_theme), tuple(ordered), names, keywords, registry)


def _apply_moves(
    area_of_theme: list[int], served: list[int], curation: ResolvedTaxonomy, previous_areas: set[int]
) -> None:
    """The curator's moves of a theme into another area (a move to an area no model has is stale)."""
    known = set(area_of_theme) | previous_areas
    for n, theme_id in enumerate(served):
        target = curation.moves.get(theme_id)
        if target is not None and target in known:
            area_of_theme[n] = target
        elif target is not None:
            curation.stale.append(
                {"decision": f"move to area {target}", "theme": theme_id, "why": "no such area"}
            )


def _area_names(
    kept: dict[int, str],
    members_of: dict[int, list[int]],
    keywords: dict[int, list[str]],
    themes: IdentifiedThemes,
    sizes: list[int],
    namer: Callable[[NamingRequest], list[GroupName]] | None,
    theme_texts: Sequence[Sequence[str]],
) -> dict[int, str]:
    """Each area's name: the curator's or the one kept from the serving model, else one in words, else its
    largest theme's."""
    unnamed = [area_id for area_id, name in kept.items() if not name]
    in_words = _names_in_words(unnamed, members_of, keywords, themes, sizes, namer, theme_texts)
    return {
        area_id: kept[area_id]
        or in_words.get(area_id)
        or _area_name([themes.names[n] for n in members], [sizes[n] for n in members])
        for area_id, members in members_of.items()
    }


def _names_in_words(
    unnamed: list[int],
    members_of: dict[int, list[int]],
    keywords: dict[int, list[str]],
    themes: IdentifiedThemes,
    sizes: list[int],
    namer: Callable[[NamingRequest], list[GroupName]] | None,
    theme_texts: Sequence[Sequence[str]],
) -> dict[int, str]:
    """Names in words for the areas that have no curated or kept name, from their themes' units."""
    if namer is None or not unnamed or len(theme_texts) != len(sizes):
        return {}
    centroids = []
    for area_id in unnamed:
        members = members_of[area_id]
        weights = np.asarray([sizes[n] for n in members], dtype=np.float64)[:, None]
        mean = (themes.centroids[members] * weights).sum(axis=0)
        centroids.append(mean / (np.linalg.norm(mean) or 1.0))
    request = NamingRequest(
        group_texts=tuple(tuple(text for n in members_of[a] for text in theme_texts[n]) for a in unnamed),
        centroids=np.asarray(centroids, dtype=np.float32),
        keywords=tuple(tuple(keywords[a]) for a in unnamed),
        subjects=True,  # an area is named by what its themes are about ("Cards"), not by one request
        members=tuple(_members(members_of[a], themes, sizes) for a in unnamed),
    )
    return {area_id: group.name for area_id, group in zip(unnamed, namer(request))}


def _members(members: list[int], themes: IdentifiedThemes, sizes: list[int]) -> GroupMembers:
    """An area's themes, largest first, as the namer checks a name against them."""
    order = sorted(members, key=lambda n: (-sizes[n], n))
    return GroupMembers(
        themes.centroids[order], tuple(sizes[n] for n in order), tuple(themes.names[n] for n in order)
    )


def _area_name(member_names: Sequence[str], member_sizes: Sequence[int]) -> str:
    """Fallback name of an area (no namer): its largest theme's name."""
    return member_names[int(np.argmax(np.asarray(member_sizes)))] if member_names else "area"


def _area_keywords(
    member_keywords: Sequence[list[str]], member_sizes: Sequence[int], n: int = 10
) -> list[str]:
    """The area's keywords: its themes' keywords, the larger themes' first, each word once."""
    order = np.argsort(-np.asarray(member_sizes), kind="stable")
    ranked = [word for rank in range(max((len(k) for k in member_keywords), default=0)) for word in
              (member_keywords[i][rank] for i in order if rank < len(member_keywords[i]))]  # fmt: skip
    return list(dict.fromkeys(ranked))[:n]


def _updated_registry(
    previous: AreaRegistry, names: dict[int, str], next_id: int, version: str
) -> AreaRegistry:
    """The area registry after this run: current areas active, the rest retired (their IDs never reused)."""
    entries = {a.id: a for a in previous.areas}
    for area_id in list(entries):
        if area_id not in names and entries[area_id].status == "active":
            old = entries[area_id]
            entries[area_id] = AreaEntry(old.id, old.name, "retired", old.created_in)
    for area_id, name in names.items():
        created = entries[area_id].created_in if area_id in entries else version
        entries[area_id] = AreaEntry(area_id, name, "active", created)
    return AreaRegistry(next_id, tuple(entries[k] for k in sorted(entries)))


def _previous_registry(previous_dir: Path | None) -> dict | None:
    if previous_dir is None:
        return None
    try:
        return artifact.read_json(previous_dir, artifact.REGISTRY_FILE)
    except ModelLoadError:
        return None


def _previous_area_of_theme(previous_dir: Path | None) -> dict[int, int]:
    if previous_dir is None:
        return {}
    try:
        themes = artifact.read_json(previous_dir, artifact.THEMES_FILE)
    except ModelLoadError:
        return {}
    return {int(t["id"]): int(t[AREA_ID]) for t in themes if t.get(AREA_ID) is not None}
