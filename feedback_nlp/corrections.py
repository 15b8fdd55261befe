"""Corrections of single routes: an owner marks a stored unit "not mine" or "belongs to theme X".

A correction re-routes the unit in the store at once (:meth:`FeedbackStore.add_correction`), is kept as a
label, and the next retrain uses it: a unit corrected to a theme trains the router on that theme
(:func:`training_pairs`); themes that many units were corrected away from are flagged for review
(:func:`flagged_themes`). "Not mine" sends the unit to triage; it names no theme, so it trains nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedback_nlp.errors import ValidationError
from feedback_nlp.schemas import ROUTE_OWNER, ROUTE_TRIAGE

NOT_MINE = "not_mine"
TO_THEME = "theme"
KINDS = (NOT_MINE, TO_THEME)
# A theme is flagged for review when at least this many of its units, and this share of its size, were
# corrected away from it: a few corrections are normal noise, a steady stream means the theme is wrong.
FLAG_MIN_CORRECTIONS = 3
FLAG_MIN_SHARE = 0.05


@dataclass(frozen=True)
class Correction:
    item_id: str
    unit_index: int
    kind: str  # NOT_MINE or TO_THEME
    theme_id: int | None = None  # the corrected theme (TO_THEME)
    previous_theme_id: int | None = None  # the theme the unit had
    text: str = ""  # the unit's redacted text, the label's input
    actor: str = ""
    created_at: datetime | None = None
    id: int | None = None

    def check(self) -> Correction:
        """Raises ValidationError naming the field a person must fix."""
        if self.kind not in KINDS:
            raise ValidationError("kind", f"unknown correction {self.kind!r}; known: {', '.join(KINDS)}")
        if self.kind == TO_THEME and self.theme_id is None:
            raise ValidationError("theme_id", "a 'theme' correction needs the theme the unit belongs to")
        if self.kind == NOT_MINE and self.theme_id is not None:
            raise ValidationError("theme_id", "'not_mine' names no theme; use kind 'theme' to move the unit")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "item_id": self.item_id,
            "unit_index": self.unit_index,
            "kind": self.kind,
            "theme_id": self.theme_id,
            "previous_theme_id": self.previous_theme_id,
            "actor": self.actor,
            "created_at": self.created_at,
        }


def rerouted_unit(kind: str, theme: Mapping[str, Any] | None, default_owner: str) -> dict[str, Any]:
    """The stored unit's routing fields after a correction: the corrected theme's roadmap item and owner,
    or triage for "not mine"."""
    if kind == NOT_MINE or theme is None:
        return {"route": ROUTE_TRIAGE, "owner": default_owner}
    item = theme.get("roadmap_item") or {}
    return {
        "theme_id": int(theme["id"]),
        "theme_name": str(theme.get("name") or ""),
        "roadmap_item_id": item.get("id"),
        "roadmap_item_title": item.get("title"),
        "owner": str(theme.get("owner") or default_owner),
        "route": ROUTE_OWNER,
        "confidence": 1.0,  # a person said so
    }


def training_pairs(corrections: Iterable[Correction]) -> tuple[list[str], list[int]]:
    """Texts and themes the router trains on: the latest correction of each unit that names a theme."""
    latest: dict[tuple[str, int], Correction] = {}
    for correction in corrections:
        latest[(correction.item_id, correction.unit_index)] = correction
    chosen = [c for c in latest.values() if c.kind == TO_THEME and c.theme_id is not None and c.text]
    return [c.text for c in chosen], [int(c.theme_id) for c in chosen if c.theme_id is not None]


def flagged_themes(corrections: Iterable[Correction], sizes: Mapping[int, int]) -> list[dict[str, int]]:
    """Themes many units were corrected away from (at least FLAG_MIN_CORRECTIONS and FLAG_MIN_SHARE of the
    theme's size), most corrected first."""
    away = Counter(
        c.previous_theme_id
        for c in corrections
        if c.previous_theme_id is not None and c.previous_theme_id != c.theme_id
    )
    flagged = [
        {"theme": theme_id, "corrections": count}
        for theme_id, count in away.items()
        if count >= FLAG_MIN_CORRECTIONS and count >= FLAG_MIN_SHARE * sizes.get(theme_id, 0)
    ]
    return sorted(flagged, key=lambda entry: (-entry["corrections"], entry["theme"]))
