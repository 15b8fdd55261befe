"""Each owner's weekly digest, taken from the weekly report (``feedback_nlp.report.compute_report``).

The digest is short on purpose: the owner's figures for the week, their themes, what is rising, a few quotes
with their feedback ids (to look them up), and a link to the workbench. Everything in it is already in the
report, so the digest and the report never disagree; quotes are the report's (redacted) quotes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

# Enough to read in a notification; the report has the rest.
DIGEST_THEMES = 5
DIGEST_QUOTES = 3


@dataclass(frozen=True)
class DigestTheme:
    id: int
    name: str
    units: int
    trailing_mean: float | None = None
    change_pct: float | None = None


@dataclass(frozen=True)
class DigestQuote:
    item_id: str
    text: str
    theme_name: str | None
    account_id: str | None


@dataclass(frozen=True)
class DigestRoadmapItem:
    id: str
    title: str
    status: str
    units: int


@dataclass(frozen=True)
class OwnerDigest:
    """One owner's week. ``weeks``/``weekly_units`` are the trailing weeks of the owner's themes (chart)."""

    owner: str
    week: str
    units: int
    n_accounts: int
    revenue: float
    currency: str
    themes: tuple[DigestTheme, ...]
    rising: tuple[DigestTheme, ...]
    roadmap_items: tuple[DigestRoadmapItem, ...]
    quotes: tuple[DigestQuote, ...]
    weeks: tuple[str, ...]
    weekly_units: tuple[int, ...]
    link: str

    def idempotency_key(self, channel: str) -> str:
        """One digest per owner, week and channel: sending the week again queues nothing new."""
        return f"digest:{self.week}:{self.owner}:{channel}"


def workbench_link(base_url: str, week: str, owner: str) -> str:
    """The workbench page for this owner's week (``/ui`` under FEEDBACK_NLP_PUBLIC_BASE_URL)."""
    return f"{base_url.rstrip('/')}/ui?{urlencode({'week': week, 'owner': owner}, quote_via=quote)}"


def _owner_theme_ids(report: Mapping[str, Any], section: Mapping[str, Any]) -> set[int]:
    owner = section["owner"]
    item_ids = {str(item["id"]) for item in section.get("roadmap_items", [])}
    ids = {int(t["id"]) for t in section.get("themes", [])}
    for row in report.get("themes", []):
        link = row.get("roadmap_item") or {}
        if row.get("owner") == owner or str(link.get("id")) in item_ids:
            ids.add(int(row["id"]))
    return ids


def _weekly(report: Mapping[str, Any], theme_ids: set[int]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    weeks = tuple(str(w) for w in report.get("volume_over_weeks", {}).get("weeks", []))
    totals = [0] * len(weeks)
    for row in report.get("themes", []):
        if int(row["id"]) in theme_ids and len(row.get("weekly", [])) == len(weeks):
            totals = [a + int(b) for a, b in zip(totals, row["weekly"], strict=True)]
    return weeks, tuple(totals)


def owner_digest(report: Mapping[str, Any], section: Mapping[str, Any], base_url: str) -> OwnerDigest:
    """The digest of one ``report["owners"]`` section."""
    theme_ids = _owner_theme_ids(report, section)
    rows = {int(r["id"]): r for r in report.get("themes", [])}
    themes = tuple(
        DigestTheme(
            int(t["id"]), str(t["name"]), int(t["units"]), rows.get(int(t["id"]), {}).get("trailing_mean")
        )
        for t in section.get("themes", [])[:DIGEST_THEMES]
    )
    rising = tuple(
        DigestTheme(
            int(r["id"]), str(r["name"]), int(r["this_week"]), r.get("trailing_mean"), r.get("change_pct")
        )
        for r in report.get("trends", {}).get("rising", [])
        if int(r["id"]) in theme_ids
    )
    quotes = tuple(
        DigestQuote(str(q["item_id"]), str(q["text"]), q.get("theme_name"), q.get("account_id"))
        for q in section.get("quotes", [])[:DIGEST_QUOTES]
    )
    items = tuple(
        DigestRoadmapItem(str(i["id"]), str(i["title"]), str(i.get("status") or ""), int(i["units"]))
        for i in section.get("roadmap_items", [])
    )
    weeks, weekly = _weekly(report, theme_ids)
    return OwnerDigest(
        owner=str(section["owner"]),
        week=str(report["week"]),
        units=int(section["units"]),
        n_accounts=int(section.get("n_accounts") or 0),
        revenue=float(section.get("revenue") or 0.0),
        currency=str(report.get("settings", {}).get("currency") or "USD"),
        themes=themes,
        rising=rising,
        roadmap_items=items,
        quotes=quotes,
        weeks=weeks,
        weekly_units=weekly,
        link=workbench_link(base_url, str(report["week"]), str(section["owner"])),
    )


def owner_digests(report: Mapping[str, Any], owners: Sequence[str], base_url: str) -> list[OwnerDigest]:
    """The digests of ``owners`` (in that order); an owner with no section this week gets an empty one."""
    sections = {str(s["owner"]): s for s in report.get("owners", [])}
    empty: dict[str, Any] = {"units": 0, "themes": [], "quotes": [], "roadmap_items": []}
    return [
        owner_digest(report, sections.get(owner) or {**empty, "owner": owner}, base_url) for owner in owners
    ]
