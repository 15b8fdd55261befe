"""Where a unit of feedback goes: a pure decision on what the router, the roadmap evidence and curators said.

:func:`decide_route` reads no model and no file, so tests call it with hand-made inputs. In order of
precedence a unit goes to:

1. triage when its theme is marked as noise (``ignored``);
2. the owner of the roadmap item it names itself (roadmap evidence at or above its threshold), unless a
   curator pinned the theme's item: that decision holds for all of the theme's units;
3. triage when it is unlike the feedback the router was trained on (in-scope score below its threshold);
4. triage when the router is unsure of its theme (calibrated confidence below its threshold);
5. triage when its theme has no roadmap item (unplanned demand);
6. otherwise the owner of its theme's roadmap item.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from feedback_nlp.schemas import ROUTE_OWNER, ROUTE_TRIAGE


@dataclass(frozen=True)
class RouteThresholds:
    """The bars a unit must clear to be routed to an owner on its theme.

    Attributes:
        confidence: calibrated probability of the best theme below which a unit goes to triage.
        in_scope: in-scope score below which a unit goes to triage (possibly a new topic), or None when the
            training job chose none (too few units for a hold-out): the score then never triages.
    """

    confidence: float = 0.5
    in_scope: float | None = None


@dataclass(frozen=True)
class EvidenceMatch:
    """The roadmap item a unit's own words come closest to.

    Attributes:
        item: the roadmap item (``id``, ``title``, ``owner``), as in the model's ``roadmap.json``.
        score: the unit's evidence score for it.
        threshold: the score from which the unit counts as naming the item.
        words: the item's words the unit shares (stemmed), for the reason.
    """

    item: Mapping[str, Any]
    score: float
    threshold: float
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    """The decision for one unit.

    Attributes:
        route: ``"owner"`` or ``"triage"``.
        owner: who hears about it (the default owner for triage).
        roadmap_item: the roadmap item the unit counts for (``id``, ``title``, ...), or None; a unit sent to
            triage keeps its theme's item, so the item's evidence counts still see it.
        reason: one sentence saying why, shown to the people who receive it.
        names_item: the unit's own words name ``evidence.item`` strongly enough to route on (true even when
            an ignored theme sends it to triage).
    """

    route: str
    owner: str
    roadmap_item: Mapping[str, Any] | None
    reason: str
    names_item: bool = False


def names_item(theme: Mapping[str, Any], evidence: EvidenceMatch | None) -> bool:
    """Whether the unit's own roadmap evidence decides its item (at its threshold, its theme not pinned)."""
    return evidence is not None and evidence.score >= evidence.threshold and not theme.get("pinned")


def decide_route(
    theme_id: int,
    theme: Mapping[str, Any],
    confidence: float,
    in_scope: float,
    evidence: EvidenceMatch | None,
    thresholds: RouteThresholds,
    default_owner: str,
) -> Route:
    """Route one unit (precedence in the module docstring).

    Args:
        theme_id: the unit's best theme.
        theme: that theme as in ``themes.json`` (``name``, ``owner``, ``roadmap_item``, and the curator's
            ``ignored`` reason and ``pinned`` flag); empty when the model has no such theme.
        confidence: calibrated probability of ``theme_id``.
        in_scope: the unit's in-scope score.
        evidence: the unit's best roadmap item by its own words, or None (no items, or a model without
            unit-level evidence).
        thresholds: the confidence and in-scope bars.
        default_owner: who receives triage, and routed units whose owner is unknown.
    """
    name = theme.get("name")
    linked = theme.get("roadmap_item")
    named = names_item(theme, evidence)

    def triage(reason: str) -> Route:
        return Route(ROUTE_TRIAGE, default_owner, linked, reason, named)

    if theme.get("ignored"):
        return triage(f"theme {theme_id} ({name}) is marked as noise: {theme['ignored']}")
    if named and evidence is not None:
        # The unit itself speaks to a roadmap item: stronger evidence than its theme's link, and it holds
        # even for a topic the router is unsure of or has never seen.
        item = evidence.item
        owner = item.get("owner") or default_owner
        words = f" (its words, stemmed: {', '.join(evidence.words)})" if evidence.words else ""
        reason = (
            f"names roadmap item {item['id']} ({item.get('title')}) owned by {owner}: "
            f"evidence score {evidence.score:.2f} >= {evidence.threshold:.2f}{words}"
        )
        return Route(ROUTE_OWNER, owner, {"id": item["id"], "title": item.get("title")}, reason, True)
    if thresholds.in_scope is not None and in_scope < thresholds.in_scope:
        return triage(
            f"unlike the feedback the model was trained on (in-scope score {in_scope:.2f} below "
            f"{thresholds.in_scope:.2f}): possibly a new topic"
        )
    if confidence < thresholds.confidence:
        return triage(
            f"confidence {confidence:.2f} is below the triage threshold {thresholds.confidence:.2f}"
        )
    if linked is None:
        return triage(f"theme {theme_id} ({name}) has no roadmap item: unplanned demand")
    owner = theme.get("owner") or default_owner
    return Route(
        ROUTE_OWNER,
        owner,
        linked,
        f"theme {theme_id} ({name}) is evidence for roadmap item {linked['id']} owned by {owner}",
        named,
    )
