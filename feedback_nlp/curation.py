"""Curation actions kept in the feedback store: what curators decided about themes, who and when.

The store (table ``curation_actions``, see :mod:`feedback_nlp.store`) is where the service keeps them. They
are used in two ways:

* at read time, :class:`CurationView` resolves names, merges, pins, ignores (and, once models have areas,
  area names and moves) over a model's themes, so that the API and the next report show a decision at once,
  without re-ingesting or retraining;
* at training time, :func:`to_taxonomy` turns them into the :class:`~feedback_nlp.taxonomy.Taxonomy` the
  run applies (merged with any ``--taxonomy`` YAML, the store winning for the same theme), so every
  retrain carries them by default. ``training/taxonomy.yaml`` stays the import and export format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import yaml

from feedback_nlp.errors import ValidationError
from feedback_nlp.split import SplitGroup
from feedback_nlp.taxonomy import Seed, Taxonomy

RENAME_THEME = "rename_theme"
RENAME_AREA = "rename_area"
MERGE_THEMES = "merge_themes"
SPLIT_THEME = "split_theme"
MOVE_THEME = "move_theme"
PIN_THEME = "pin_theme"
IGNORE_THEME = "ignore_theme"
ACTION_KINDS = (RENAME_THEME, RENAME_AREA, MERGE_THEMES, SPLIT_THEME, MOVE_THEME, PIN_THEME, IGNORE_THEME)
# kinds a retrain cannot apply yet: kept in the store and listed as not applied, never dropped
NOT_YET_TRAINED: dict[str, str] = {}
NAME_MAX_CHARS = 300
NO_AREA = "—"


@dataclass(frozen=True)
class CurationAction:
    """One decision. ``themes``: the theme(s) it is about (a merge: the first absorbs the others)."""

    kind: str
    themes: tuple[int, ...] = ()
    name: str | None = None  # rename_theme, rename_area, merge_themes (optional), split_theme (optional)
    area: str | None = None  # rename_area, move_theme: the area id
    roadmap_item: str | None = None  # pin_theme
    owner: str | None = None  # pin_theme
    reason: str | None = None  # ignore_theme; any action may say why
    groups: tuple[SplitGroup, ...] = ()  # split_theme: the sub-groups split off (feedback_nlp.split)
    actor: str = ""  # the key name that made it
    created_at: datetime | None = None
    id: int | None = None

    def check(self) -> CurationAction:
        """Return the action with its text fields stripped.

        Raises:
            ValidationError: naming the field a person must fix.
        """
        action = replace(
            self,
            name=_clean(self.name),
            area=_clean(self.area),
            roadmap_item=_clean(self.roadmap_item),
            owner=_clean(self.owner),
            reason=_clean(self.reason),
        )
        if action.kind not in ACTION_KINDS:
            raise ValidationError("kind", f"unknown action {action.kind!r}; known: {', '.join(ACTION_KINDS)}")
        _check_shape(action)
        if action.name is not None and len(action.name) > NAME_MAX_CHARS:
            raise ValidationError(
                "name", f"{len(action.name)} characters, over the limit of {NAME_MAX_CHARS}"
            )
        return action

    def describe(self) -> str:
        """One line for changelogs and pages: ``rename theme 3 to 'Card delivery'``."""
        themes = ", ".join(str(t) for t in self.themes)
        text = {
            RENAME_THEME: f"rename theme {themes} to {self.name!r}",
            RENAME_AREA: f"rename area {self.area} to {self.name!r}",
            MERGE_THEMES: f"merge themes {themes}" + (f" as {self.name!r}" if self.name else ""),
            SPLIT_THEME: f"split theme {themes}: "
            + ", ".join(f"{g.name!r} as theme {g.theme_id}" for g in self.groups),
            MOVE_THEME: f"move theme {themes} to area {self.area}",
            PIN_THEME: f"pin theme {themes} to {self.roadmap_item or self.owner}",
            IGNORE_THEME: f"ignore theme {themes}",
        }
        return text.get(self.kind, self.kind)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "themes": list(self.themes),
            "name": self.name,
            "area": self.area,
            "roadmap_item": self.roadmap_item,
            "owner": self.owner,
            "reason": self.reason,
            "groups": [
                {k: v for k, v in group.to_dict().items() if k != "centroid"} for group in self.groups
            ],
            "actor": self.actor,
            "created_at": self.created_at,
            "description": self.describe(),
        }


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def area_number(area: str | None) -> int | None:
    """An area id as a number, or None when it is not a whole number (ASCII digits only)."""
    return int(area) if area is not None and re.fullmatch(r"[0-9]{1,10}", area) else None


def _check_shape(action: CurationAction) -> None:
    needs_one_theme = action.kind in (RENAME_THEME, SPLIT_THEME, MOVE_THEME, PIN_THEME, IGNORE_THEME)
    if needs_one_theme and len(action.themes) != 1:
        raise ValidationError("themes", f"{action.kind} is about exactly one theme, got {len(action.themes)}")
    if action.kind == MERGE_THEMES and (
        len(action.themes) < 2 or len(set(action.themes)) != len(action.themes)
    ):
        raise ValidationError("themes", "merge_themes needs two or more different themes (the first absorbs)")
    if action.kind == RENAME_AREA and action.themes:
        raise ValidationError("themes", "rename_area is about an area: give area, not themes")
    if action.kind in (RENAME_THEME, RENAME_AREA) and not action.name:
        raise ValidationError("name", f"{action.kind} needs the new name")
    if action.kind in (RENAME_AREA, MOVE_THEME) and not action.area:
        raise ValidationError("area", f"{action.kind} needs the area id")
    if action.kind in (RENAME_AREA, MOVE_THEME) and area_number(action.area) is None:
        raise ValidationError(
            "area", f"the area id is a whole number (GET /v1/themes lists them), not {action.area!r}"
        )
    if action.kind == PIN_THEME and not (action.roadmap_item or action.owner):
        raise ValidationError("roadmap_item", "pin_theme needs roadmap_item or owner")
    if action.kind == SPLIT_THEME:
        _check_split(action)
    elif action.groups:
        raise ValidationError("groups", f"{action.kind} has no sub-groups; only split_theme does")


def _check_split(action: CurationAction) -> None:
    if not action.groups:
        raise ValidationError("groups", "split_theme needs one or more sub-groups split off")
    ids = [group.theme_id for group in action.groups]
    if len(set(ids)) != len(ids) or action.themes[0] in ids:
        raise ValidationError("groups", "each sub-group split off needs a new theme id of its own")
    for group in action.groups:
        if not group.name.strip() or len(group.name) > NAME_MAX_CHARS:
            raise ValidationError(
                "name", f"sub-group {group.theme_id} needs a name of 1 to {NAME_MAX_CHARS} characters"
            )


# ------------------------------------------------------------------------------------------ training


@dataclass(frozen=True)
class StoreCuration:
    """The store's actions as a taxonomy a run applies, and the ones it cannot apply (with why)."""

    taxonomy: Taxonomy
    not_applied: tuple[dict[str, Any], ...] = ()


def to_taxonomy(actions: Iterable[CurationAction]) -> StoreCuration:
    """The decisions a retrain applies, in the order they were made (a later rename or pin of the same theme
    replaces the earlier one)."""
    taxonomy = Taxonomy()
    pins: dict[int, dict[str, Any]] = {}
    not_applied = []
    for action in actions:
        if action.kind == RENAME_THEME and action.name:
            taxonomy.renames[action.themes[0]] = action.name
        elif action.kind == MERGE_THEMES:
            taxonomy.merges.append({"themes": list(action.themes), "name": action.name})
        elif action.kind == PIN_THEME:
            previous = pins.get(action.themes[0], {})
            pins[action.themes[0]] = {
                "theme": action.themes[0],
                "roadmap_item": action.roadmap_item or previous.get("roadmap_item"),
                "owner": action.owner or previous.get("owner"),
            }
        elif action.kind == IGNORE_THEME:
            taxonomy.ignored[action.themes[0]] = action.reason or "marked as noise"
        elif action.kind == RENAME_AREA and action.name and area_number(action.area) is not None:
            taxonomy.area_renames[int(str(action.area))] = action.name
        elif action.kind == MOVE_THEME and area_number(action.area) is not None:
            taxonomy.moves[action.themes[0]] = int(str(action.area))
        elif action.kind == SPLIT_THEME:
            not_applied += _split_into_seeds(action, taxonomy)
        else:
            why = NOT_YET_TRAINED.get(action.kind, "unknown action")
            not_applied.append({"id": action.id, "decision": action.describe(), "why": why})
    taxonomy.pins = list(pins.values())
    taxonomy.not_applied = not_applied
    return StoreCuration(taxonomy, tuple(not_applied))


def _split_into_seeds(action: CurationAction, taxonomy: Taxonomy) -> list[dict[str, Any]]:
    """A split's sub-groups as seed themes keeping the ids they were given (their quotes the examples);
    returns the sub-groups a retrain cannot seed (no quotes), by name."""
    not_applied = []
    taxonomy.splits.append((action.themes[0], action.groups))
    for group in action.groups:
        if group.examples:
            taxonomy.seeds.append(
                Seed(group.name, list(group.examples), theme_id=group.theme_id, split_from=action.themes[0])
            )
        else:
            not_applied.append(
                {
                    "id": action.id,
                    "decision": f"split {group.name!r} (theme {group.theme_id}) off theme {action.themes[0]}",
                    "why": "the sub-group has no example quotes to seed a theme with",
                }
            )
    return not_applied


def combine(from_file: Taxonomy, from_store: Taxonomy) -> Taxonomy:
    """The YAML's decisions with the store's on top: for the same theme the store's (newer) decision wins;
    merges of both are applied; seeds of both (the store's: its splits' sub-groups), the store's splits
    replacing the file's of the same theme."""
    store_pinned = {pin["theme"] for pin in from_store.pins}
    return Taxonomy(
        renames={**from_file.renames, **from_store.renames},
        merges=[*from_file.merges, *from_store.merges],
        pins=[pin for pin in from_file.pins if pin["theme"] not in store_pinned] + list(from_store.pins),
        ignored={**from_file.ignored, **from_store.ignored},
        seeds=[
            *(s for s in from_file.seeds if s.split_from not in {t for t, _ in from_store.splits}),
            *from_store.seeds,
        ],
        splits=[
            *(s for s in from_file.splits if s[0] not in {t for t, _ in from_store.splits}),
            *from_store.splits,
        ],
        area_renames={**from_file.area_renames, **from_store.area_renames},
        moves={**from_file.moves, **from_store.moves},
        not_applied=[*from_file.not_applied, *from_store.not_applied],
        sources=[*from_file.sources, *from_store.sources],
    )


def taxonomy_to_actions(taxonomy: Taxonomy, actor: str) -> list[CurationAction]:
    """The decisions of a taxonomy file as actions (``feedback-nlp curation import``); seeds stay in YAML."""
    actions = [
        CurationAction(RENAME_THEME, (t,), name=name, actor=actor) for t, name in taxonomy.renames.items()
    ]
    actions += [
        CurationAction(MERGE_THEMES, tuple(m["themes"]), name=m.get("name"), actor=actor)
        for m in taxonomy.merges
    ]
    actions += [
        CurationAction(
            PIN_THEME, (p["theme"],), roadmap_item=p.get("roadmap_item"), owner=p.get("owner"), actor=actor
        )
        for p in taxonomy.pins
    ]
    actions += [
        CurationAction(IGNORE_THEME, (t,), reason=why, actor=actor) for t, why in taxonomy.ignored.items()
    ]
    actions += [
        CurationAction(RENAME_AREA, (), name=name, area=str(area), actor=actor)
        for area, name in taxonomy.area_renames.items()
    ]
    actions += [
        CurationAction(MOVE_THEME, (theme,), area=str(area), actor=actor)
        for theme, area in taxonomy.moves.items()
    ]
    actions += [
        CurationAction(SPLIT_THEME, (theme,), groups=groups, actor=actor) for theme, groups in taxonomy.splits
    ]
    return [action.check() for action in actions]


def actions_to_yaml(actions: Sequence[CurationAction]) -> str:
    """The store's decisions in the taxonomy file format (``feedback-nlp curation export``); the actions a
    taxonomy file has no section for are listed as comments so that nothing is lost silently."""
    curation = to_taxonomy(actions)
    sections = {name: entries for name, entries in _yaml_sections(curation.taxonomy).items() if entries}
    text = yaml.safe_dump(sections, sort_keys=False, allow_unicode=True) if sections else "{}\n"
    splits = {action.id for action in actions if action.kind == SPLIT_THEME}  # in their own section
    notes = [
        f"# not in this format: {entry['decision']} ({entry['why']})\n"
        for entry in curation.not_applied
        if entry["id"] is None or entry["id"] not in splits
    ]
    return "".join(notes) + text


def _yaml_sections(taxonomy: Taxonomy) -> dict[str, list[dict[str, Any]]]:
    """Every section of the taxonomy file, empty ones included."""
    return {
        "rename": [{"theme": t, "name": n} for t, n in taxonomy.renames.items()],
        "merge": [{k: v for k, v in m.items() if v} for m in taxonomy.merges],
        "pin": [{k: v for k, v in p.items() if v} for p in taxonomy.pins],
        "ignore": [{"theme": t, "reason": r} for t, r in taxonomy.ignored.items()],
        "rename_area": [{"area": a, "name": n} for a, n in taxonomy.area_renames.items()],
        "move": [{"theme": t, "area": a} for t, a in taxonomy.moves.items()],
        "split": [
            {
                "theme": t,
                "groups": [{k: v for k, v in g.to_dict().items() if k != "centroid"} for g in groups],
            }
            for t, groups in taxonomy.splits
        ],
    }


# ----------------------------------------------------------------------------------------- read time


@dataclass(frozen=True)
class CurationView:
    """The store's decisions resolved over a model's themes at read time (API, page, report)."""

    names: Mapping[int, str] = field(default_factory=dict)
    merged_into: Mapping[int, int] = field(default_factory=dict)
    ignored: Mapping[int, str] = field(default_factory=dict)
    pins: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    area_names: Mapping[int, str] = field(default_factory=dict)
    moves: Mapping[int, int] = field(default_factory=dict)
    # a split's new themes: new id -> (the theme it was split off, the sub-group)
    splits: Mapping[int, tuple[int, SplitGroup]] = field(default_factory=dict)

    @classmethod
    def of(cls, actions: Iterable[CurationAction]) -> CurationView:
        names: dict[int, str] = {}
        merged_into: dict[int, int] = {}
        ignored: dict[int, str] = {}
        pins: dict[int, dict[str, Any]] = {}
        area_names: dict[int, str] = {}
        moves: dict[int, int] = {}
        actions = list(actions)  # read twice
        for action in actions:
            first = action.themes[0] if action.themes else -1
            if action.kind == RENAME_THEME and action.name:
                names[first] = action.name
            elif action.kind == MERGE_THEMES:
                for member in action.themes[1:]:
                    if member != first:
                        merged_into[member] = first
                if action.name:
                    names[first] = action.name
            elif action.kind == IGNORE_THEME:
                ignored[first] = action.reason or "marked as noise"
            elif action.kind == PIN_THEME:
                pin = pins.setdefault(first, {})
                pin.update(
                    {k: v for k, v in (("roadmap_item", action.roadmap_item), ("owner", action.owner)) if v}
                )
            elif action.kind == RENAME_AREA and area_number(action.area) is not None and action.name:
                area_names[int(str(action.area))] = action.name
            elif action.kind == MOVE_THEME and area_number(action.area) is not None:
                moves[first] = int(str(action.area))
        return cls(names, merged_into, ignored, pins, area_names, moves, _split_themes_of(actions))

    @property
    def empty(self) -> bool:
        return not (
            self.names
            or self.merged_into
            or self.ignored
            or self.pins
            or self.area_names
            or self.moves
            or self.splits
        )

    def canonical(self, theme_id: int) -> int:
        """The theme a merged theme now counts under (itself when not merged); merge chains are followed."""
        seen = {theme_id}
        while theme_id in self.merged_into:
            theme_id = self.merged_into[theme_id]
            if theme_id in seen:  # a cycle of merges (A into B, later B into A): stop where it closes
                break
            seen.add(theme_id)
        return theme_id

    def themes(
        self, model_themes: Iterable[Mapping[str, Any]], roadmap: Iterable[Any] = ()
    ) -> list[dict[str, Any]]:
        """The model's themes as curated now: merged-away themes folded into their target (``merged_from``),
        names, pins and areas applied, ignored ones marked ``ignored`` (the reason). Copies; the model's
        own list is not changed. ``roadmap``: the model's items, to title a pinned item."""
        titles = {str(_get(item, "id")): str(_get(item, "title") or "") for item in roadmap}
        by_id = {int(theme["id"]): dict(theme) for theme in model_themes}
        by_id.update(self._split_themes(by_id))
        area_names = {
            int(t["area_id"]): str(t.get("area_name") or t["area_id"])
            for t in by_id.values()
            if t.get("area_id") is not None  # area 0 is an area
        }
        area_names.update(self.area_names)
        out: dict[int, dict[str, Any]] = {}
        for theme_id, theme in by_id.items():
            target = self.canonical(theme_id)
            if target != theme_id and target in by_id:
                continue
            out[theme_id] = self._curated(theme, titles, area_names)
        for theme_id in by_id:
            target = self.canonical(theme_id)
            if target != theme_id and target in out:
                merged = out[target]
                merged["merged_from"] = sorted({*merged.get("merged_from", []), theme_id})
                merged["size"] = int(merged.get("size") or 0) + int(by_id[theme_id].get("size") or 0)
        return list(out.values())

    def _split_themes(self, by_id: Mapping[int, Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
        """The themes split off the model's themes and not yet in the model (a retrain makes them its own):
        named, with the sub-group's phrases and quotes, in the area of the theme they came from."""
        out: dict[int, dict[str, Any]] = {}
        for theme_id, (parent_id, group) in self.splits.items():
            parent = by_id.get(self.canonical(parent_id))
            if theme_id in by_id or parent is None:
                continue
            out[theme_id] = {
                "id": theme_id,
                "name": group.name,
                "keywords": list(group.phrases),
                "examples": list(group.examples),
                "size": 0,  # no training units yet: the next retrain counts them
                "area_id": parent.get("area_id"),
                "area_name": parent.get("area_name"),
                "owner": parent.get("owner") or "",
                "roadmap_item": None,
                "split_from": parent_id,
            }
        return out

    def _curated(
        self, theme: dict[str, Any], titles: Mapping[str, str], area_names: Mapping[int, str]
    ) -> dict[str, Any]:
        theme_id = int(theme["id"])
        if theme_id in self.names:
            theme["name"] = self.names[theme_id]
        if theme_id in self.ignored:
            theme["ignored"] = self.ignored[theme_id]
        pin = self.pins.get(theme_id, {})
        if pin.get("roadmap_item"):
            item_id = str(pin["roadmap_item"])
            theme["roadmap_item"] = {"id": item_id, "title": titles.get(item_id, "")}
        if pin.get("owner"):
            theme["owner"] = pin["owner"]
        area_id = self.moves.get(theme_id, theme.get("area_id"))
        if area_id is not None:
            theme["area_id"] = int(area_id)
            theme["area_name"] = area_names.get(int(area_id), f"area {area_id}")
        return theme


def _split_themes_of(actions: Iterable[CurationAction]) -> dict[int, tuple[int, SplitGroup]]:
    """The themes splits made: new id -> (the theme it was split off, the sub-group)."""
    return {
        group.theme_id: (action.themes[0], group)
        for action in actions
        if action.kind == SPLIT_THEME
        for group in action.groups
    }


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)
