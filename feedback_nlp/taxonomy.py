"""Human curation that survives retraining: ``training/taxonomy.yaml``.

Decisions refer to theme IDs (stable across retrains, see :mod:`feedback_nlp.registry`). Each run applies
them; a decision about a retired theme is carried to its successor when the lineage is clear (one
successor), and listed as stale otherwise.

Format::

    rename:
      - {theme: 3, name: Card delivery delays}
    merge:                      # the first theme absorbs the others
      - {themes: [4, 9], name: Duplicate and extra charges}
    pin:
      - {theme: 2, roadmap_item: RM-02}
      - {theme: 7, owner: "@payments-team"}
    ignore:
      - {theme: 24, reason: meeting logistics in call notes}
    rename_area:                # areas group themes (feedback_nlp/areas.py); their IDs are stable too
      - {area: 1, name: Payments}
    move:                       # a theme into another area
      - {theme: 12, area: 1}
    split:                      # sub-groups of a theme made themes of their own, with new stable ids
      - theme: 5
        groups:
          - {theme_id: 31, name: Export to PDF, examples: ["PDF export cuts the table", "Cannot save as PDF"]}
    seeds:                      # guided discovery: kept as themes, new ones still found around them
      - name: ERP sync (NetSuite, Xero, QuickBooks)
        examples: ["They want a two-way NetSuite sync", "Asked for a Xero integration"]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from feedback_nlp.errors import ConfigError
from feedback_nlp.registry import ThemeRegistry, as_registry
from feedback_nlp.split import SplitGroup

SECTIONS = ("rename", "merge", "pin", "ignore", "seeds", "rename_area", "move", "split")
RETIRED_WHY = "retired without a single successor"


@dataclass
class Seed:
    name: str
    examples: list[str]
    theme_id: int | None = None  # a split's sub-group keeps the id it was given when split
    split_from: int | None = None  # the theme it was split off


@dataclass
class Taxonomy:
    renames: dict[int, str] = field(default_factory=dict)
    merges: list[dict[str, Any]] = field(default_factory=list)
    pins: list[dict[str, Any]] = field(default_factory=list)
    ignored: dict[int, str] = field(default_factory=dict)
    seeds: list[Seed] = field(default_factory=list)
    # decisions kept (in the store) that a run cannot apply yet, with why (feedback_nlp.curation)
    not_applied: list[dict[str, Any]] = field(default_factory=list)
    # where the decisions came from: the YAML file, the store (for the summary)
    sources: list[str] = field(default_factory=list)
    area_renames: dict[int, str] = field(default_factory=dict)
    moves: dict[int, int] = field(default_factory=dict)  # theme id -> area id
    # theme id -> the sub-groups split off it (each also one of ``seeds``, which is how a run applies it)
    splits: list[tuple[int, tuple[SplitGroup, ...]]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path | str | None) -> Taxonomy:
        """Read and check a taxonomy file; an absent path gives an empty taxonomy."""
        if path is None:
            return cls()
        path = Path(path)
        raw = _read_sections(path)
        splits = _splits(path, raw.get("split") or [])
        return cls(
            renames=_renames(path, raw.get("rename") or []),
            merges=_merges(path, raw.get("merge") or []),
            pins=_pins(path, raw.get("pin") or []),
            ignored=_ignored(path, raw.get("ignore") or []),
            seeds=_seeds(path, raw.get("seeds") or []) + _split_seeds(splits),
            splits=splits,
            sources=[str(path)],
            area_renames=_area_renames(path, raw.get("rename_area") or []),
            moves=_moves(path, raw.get("move") or []),
        )


def _read_sections(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such taxonomy file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with sections {', '.join(SECTIONS)}")
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown sections {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    return raw


def _renames(path: Path, entries: list[Any]) -> dict[int, str]:
    renames = {}
    for n, entry in enumerate(entries, 1):
        _need(path, "rename", n, entry, ("theme", "name"))
        renames[int(entry["theme"])] = str(entry["name"]).strip()
    return renames


def _area_renames(path: Path, entries: list[Any]) -> dict[int, str]:
    renames = {}
    for n, entry in enumerate(entries, 1):
        _need(path, "rename_area", n, entry, ("area", "name"))
        renames[_integer(path, "rename_area", n, entry["area"])] = str(entry["name"]).strip()
    return renames


def _moves(path: Path, entries: list[Any]) -> dict[int, int]:
    moves = {}
    for n, entry in enumerate(entries, 1):
        _need(path, "move", n, entry, ("theme", "area"))
        moves[_integer(path, "move", n, entry["theme"])] = _integer(path, "move", n, entry["area"])
    return moves


def _integer(path: Path, section: str, number: int, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: {section} #{number}: {value!r} is not an id (a whole number)") from None


def _merges(path: Path, entries: list[Any]) -> list[dict[str, Any]]:
    merges = []
    for n, entry in enumerate(entries, 1):
        _need(path, "merge", n, entry, ("themes",))
        themes = [int(t) for t in entry["themes"]]
        if len(themes) < 2 or len(set(themes)) != len(themes):
            raise ConfigError(f"{path}: merge #{n} needs two or more different themes")
        merges.append({"themes": themes, "name": entry.get("name")})
    return merges


def _pins(path: Path, entries: list[Any]) -> list[dict[str, Any]]:
    pins = []
    for n, entry in enumerate(entries, 1):
        _need(path, "pin", n, entry, ("theme",))
        if not entry.get("roadmap_item") and not entry.get("owner"):
            raise ConfigError(f"{path}: pin #{n} needs roadmap_item or owner")
        pins.append(
            {
                "theme": int(entry["theme"]),
                "roadmap_item": entry.get("roadmap_item"),
                "owner": entry.get("owner"),
            }
        )
    return pins


def _ignored(path: Path, entries: list[Any]) -> dict[int, str]:
    ignored = {}
    for n, entry in enumerate(entries, 1):
        _need(path, "ignore", n, entry, ("theme",))
        ignored[int(entry["theme"])] = str(entry.get("reason") or "marked as noise")
    return ignored


def _seeds(path: Path, entries: list[Any]) -> list[Seed]:
    seeds = []
    for n, entry in enumerate(entries, 1):
        _need(path, "seeds", n, entry, ("name", "examples"))
        examples = [str(e).strip() for e in entry["examples"] if str(e).strip()]
        if len(examples) < 2:
            raise ConfigError(f"{path}: seed #{n} ({entry['name']}) needs at least two example texts")
        seeds.append(Seed(str(entry["name"]).strip(), examples))
    return seeds


def _splits(path: Path, entries: list[Any]) -> list[tuple[int, tuple[SplitGroup, ...]]]:
    splits = []
    for n, entry in enumerate(entries, 1):
        _need(path, "split", n, entry, ("theme", "groups"))
        theme = _integer(path, "split", n, entry["theme"])
        if not isinstance(entry["groups"], list) or not entry["groups"]:
            raise ConfigError(f"{path}: split #{n} needs groups: a list of {{theme_id, name, examples}}")
        groups = []
        for group in entry["groups"]:
            _need(path, "split", n, group, ("theme_id", "name", "examples"))
            examples = [str(e).strip() for e in group["examples"] or [] if str(e).strip()]
            groups.append(
                SplitGroup(
                    theme_id=_integer(path, "split", n, group["theme_id"]),
                    name=str(group["name"]).strip(),
                    phrases=tuple(str(p) for p in group.get("phrases") or []),
                    examples=tuple(examples),
                )
            )
        splits.append((theme, tuple(groups)))
    return splits


def _split_seeds(splits: list[tuple[int, tuple[SplitGroup, ...]]]) -> list[Seed]:
    return [
        Seed(group.name, list(group.examples), theme_id=group.theme_id, split_from=theme)
        for theme, groups in splits
        for group in groups
        if group.examples
    ]


def _need(path: Path, section: str, number: int, entry: Any, keys: tuple[str, ...]) -> None:
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {section} #{number} must be a mapping")
    for key in keys:
        if entry.get(key) in (None, "", []):
            raise ConfigError(f"{path}: {section} #{number} has no {key}")


@dataclass
class ResolvedTaxonomy:
    """Decisions with theme IDs resolved to themes active in this run, and what could not be applied."""

    renames: dict[int, str] = field(default_factory=dict)
    merges: list[dict[str, Any]] = field(default_factory=list)
    pins: list[dict[str, Any]] = field(default_factory=list)
    ignored: dict[int, str] = field(default_factory=dict)
    area_renames: dict[int, str] = field(default_factory=dict)
    moves: dict[int, int] = field(
        default_factory=dict
    )  # served theme id -> area id (checked by the areas step)
    carried: list[dict[str, Any]] = field(default_factory=list)
    stale: list[dict[str, Any]] = field(default_factory=list)
    not_applied: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def lost(self) -> list[dict[str, Any]]:
        """Decisions about a theme that vanished (retired without a single successor): curation this run
        cannot carry, which the promotion gate counts as a failure. A decision about an id no model ever had
        was never applied, so it is stale but not lost."""
        return [entry for entry in self.stale if entry["why"] == RETIRED_WHY]

    def report(self) -> dict[str, Any]:
        return {
            "renames": len(self.renames),
            "merges": len(self.merges),
            "pins": len(self.pins),
            "ignored": len(self.ignored),
            "area_renames": len(self.area_renames),
            "moves": len(self.moves),
            "carried": self.carried,
            "stale": self.stale,
            "lost": self.lost,
            "not_applied": self.not_applied,
            "sources": self.sources,
        }


def resolve(
    taxonomy: Taxonomy,
    registry: ThemeRegistry | Mapping[str, Any],
    active_ids: set[int],
    roadmap_ids: set[str],
) -> ResolvedTaxonomy:
    """Map every decision onto themes active now; carry or mark stale the ones about retired themes.

    ``registry`` is the run's theme registry, typed or in its JSON form.
    """
    resolved = ResolvedTaxonomy(not_applied=list(taxonomy.not_applied), sources=list(taxonomy.sources))
    themes = as_registry(registry)
    known_ids = {entry.id for entry in themes.themes}

    def current(theme_id: int, decision: str) -> int | None:
        if theme_id in active_ids:
            return theme_id
        successor = themes.successor_of(theme_id)
        if successor is not None and successor in active_ids:
            resolved.carried.append({"decision": decision, "from": theme_id, "to": successor})
            return successor
        why = RETIRED_WHY if theme_id in known_ids else "no theme has this id"
        resolved.stale.append({"decision": decision, "theme": theme_id, "why": why})
        return None

    for theme_id, name in taxonomy.renames.items():
        target = current(theme_id, f"rename to {name!r}")
        if target is not None:
            resolved.renames[target] = name
    for merge in taxonomy.merges:
        label = f"merge {merge['themes']}"
        members = [m for m in (current(t, label) for t in merge["themes"]) if m is not None]
        members = list(dict.fromkeys(members))
        if len(members) >= 2:
            resolved.merges.append({"into": members[0], "themes": members[1:], "name": merge.get("name")})
    for pin in taxonomy.pins:
        what = f"pin to {pin.get('roadmap_item') or pin.get('owner')}"
        if pin.get("roadmap_item") and pin["roadmap_item"] not in roadmap_ids:
            resolved.stale.append(
                {
                    "decision": what,
                    "theme": pin["theme"],
                    "why": f"roadmap item {pin['roadmap_item']} is not on the roadmap",
                }
            )
            continue
        target = current(pin["theme"], what)
        if target is not None:
            resolved.pins.append({**pin, "theme": target})
    for theme_id, reason in taxonomy.ignored.items():
        target = current(theme_id, "ignore")
        if target is not None:
            resolved.ignored[target] = reason
    for theme_id, area_id in taxonomy.moves.items():
        target = current(theme_id, f"move to area {area_id}")
        if target is not None:
            resolved.moves[target] = area_id
    resolved.area_renames = dict(taxonomy.area_renames)
    return resolved
