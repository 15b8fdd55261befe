"""The weekly theme report on a small hand-built store whose figures are worked out below by hand.

Report week 2026-W47 (Mon 16 Nov to Sun 22 Nov 2026), 4 trailing weeks W43..W46.

Trailing weeks, each the same (one unit per item):
    theme 1: 2, theme 2: 4, theme 3: 1, theme 4: 1, theme 5: 6, no theme: 1   -> 15 units, 15 items a week
Report week:
    theme 1 (CSV export, R-1 @data-team): 12 tickets, all routed; accounts A1 x5, A2 x4, A5 x3 (A5: no ARR)
    theme 2 (SSO login, R-2 alice): 3 call notes (A2, A2, A3) routed; 3 tickets: A3 routed, A3 triage,
        no account routed
    theme 3 (Dark mode, no roadmap item, no owner): call notes; one note from A1 with two units, one from
        A2, one from A3 -> 4 units, 3 items; all triage
    theme 4 (Mobile app, no roadmap item): A4 x3 (2 tickets, 1 call note), all triage
    no theme: 2 tickets without account, triage
    -> 27 units, 26 items
ARR: A1 10,000 in W44, 15,000 this week, 999,999 in W48 (after the week: ignored); A2 20,000; A3 5,000;
A4 500,000; A5 unknown.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from scipy import stats
from sqlalchemy import insert

from feedback_nlp.report import (
    ModelInfo,
    compute_report,
    last_complete_week,
    load_model_info,
    parse_week,
    render_html,
    render_markdown,
    write_report,
)
from feedback_nlp.store import FeedbackStore, open_store
from feedback_nlp.store_schema import feedback_items, feedback_units

WEEK = "2026-W47"
MONDAY = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
TRIAGE = "triage@example.com"
HISTORY = 4

THEMES = [
    {
        "id": 1,
        "name": "CSV export timeouts",
        "area_id": 10,
        "area_name": "Exports and invoices",
        "keywords": ["csv", "export"],
        "size": 40,
        "examples": [],
        "roadmap_item": {"id": "R-1", "title": "Faster exports"},
        "roadmap_score": 0.8,
        "owner": "@data-team",
    },
    {
        "id": 2,
        "name": "SSO login",
        "area_id": 11,
        "area_name": "Sign-in",
        "keywords": ["sso"],
        "size": 30,
        "examples": [],
        "roadmap_item": {"id": "R-2", "title": "SAML SSO"},
        "roadmap_score": 0.7,
        "owner": "alice@example.com",
    },
    {
        "id": 3,
        "name": "Dark mode",
        "area_id": 12,
        "area_name": "Apps",
        "keywords": ["dark"],
        "size": 10,
        "examples": [],
        "roadmap_item": None,
        "roadmap_score": None,
        "owner": "",
    },
    {
        "id": 4,
        "name": "Mobile app",
        "area_id": 12,
        "area_name": "Apps",
        "keywords": ["mobile"],
        "size": 10,
        "examples": [],
        "roadmap_item": None,
        "roadmap_score": None,
        "owner": TRIAGE,
    },
    {
        "id": 5,
        "name": "Invoice PDFs",
        "area_id": 10,
        "area_name": "Exports and invoices",
        "keywords": ["invoice"],
        "size": 25,
        "examples": [],
        "roadmap_item": {"id": "R-3", "title": "Invoice redesign"},
        "roadmap_score": 0.6,
        "owner": "@data-team",
    },
]
ROADMAP = [
    {
        "id": "R-1",
        "title": "Faster exports",
        "description": "",
        "owner": "@data-team",
        "status": "in_progress",
        "keywords": [],
    },
    {
        "id": "R-2",
        "title": "SAML SSO",
        "description": "",
        "owner": "alice@example.com",
        "status": "planned",
        "keywords": [],
    },
    {
        "id": "R-3",
        "title": "Invoice redesign",
        "description": "",
        "owner": "@data-team",
        "status": "planned",
        "keywords": [],
    },
    {
        "id": "R-4",
        "title": "Audit log",
        "description": "",
        "owner": "bob@example.com",
        "status": "planned",
        "keywords": [],
    },
]
ARR = {"A1": 15_000.0, "A2": 20_000.0, "A3": 5_000.0, "A4": 500_000.0, "A5": None}


def model_info(version: str = "v2") -> SimpleNamespace:
    return SimpleNamespace(
        version=version,
        metadata={"created_at": "2026-11-10T08:00:00+00:00", "config": {"default_owner": TRIAGE}},
        themes=THEMES,
        roadmap=ROADMAP,
        default_owner=TRIAGE,
    )


class StoreBuilder:
    """Inserts items with their units; routing fields follow the themes above."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.units: list[dict] = []

    def add(
        self,
        when: datetime,
        source: str,
        account: str | None,
        themes: list[int | None],
        route: str | None = None,
        arr: float | None = None,
        confidence: float = 0.9,
    ) -> None:
        item_id = f"it-{len(self.items):04d}"
        if arr is None and account is not None:
            arr = ARR[account]
        by_id = {t["id"]: t for t in THEMES}
        for index, theme_id in enumerate(themes):
            theme = by_id.get(theme_id) if theme_id is not None else None
            link = theme["roadmap_item"] if theme else None
            unit_route = route or ("owner" if link else "triage")
            self.units.append(
                {
                    "item_id": item_id,
                    "unit_index": index,
                    "start_char": 0,
                    "end_char": 10,
                    "text_redacted": f"{theme['name'] if theme else 'something else'} request "
                    f"{len(self.units)} from [EMAIL]",
                    "theme_id": theme_id,
                    "theme_name": theme["name"] if theme else None,
                    "confidence": confidence,
                    "roadmap_item_id": link["id"] if link and unit_route == "owner" else None,
                    "roadmap_item_title": link["title"] if link and unit_route == "owner" else None,
                    "owner": theme["owner"] if unit_route == "owner" else TRIAGE,
                    "route": unit_route,
                    "model_version": "v2",
                    "scored_at": when,
                    "created_at": when,
                    "source": source,
                    "account_id": account,
                    "account_arr": arr,
                }
            )
        self.items.append(
            {
                "id": item_id,
                "source": source,
                "created_at": when,
                "account_id": account,
                "account_arr": arr,
                "segment": None,
                "channel": None,
                "metadata_json": None,
                "text_redacted": "x",
                "n_units": len(themes),
                "theme_id": themes[0],
                "route": "owner",
                "model_version": "v2",
                "scored_at": when,
            }
        )

    def write(self, url: str) -> FeedbackStore:
        store = open_store(url)  # the real schema, through the migrations
        with store.engine.begin() as conn:
            conn.execute(insert(feedback_items), self.items)
            conn.execute(insert(feedback_units), self.units)
        return store


def build_store() -> StoreBuilder:
    b = StoreBuilder()
    b.add(MONDAY - timedelta(weeks=7), "ticket", "A2", [2])  # W40: the store starts before the window
    for week in range(1, HISTORY + 1):
        day = MONDAY - timedelta(weeks=week)
        for _ in range(2):
            b.add(day, "ticket", "A1", [1], arr=10_000.0)
        for _ in range(4):
            b.add(day, "call_note", "A2", [2])
        b.add(day, "call_note", "A3", [3])
        b.add(day, "ticket", "A4", [4])
        for _ in range(6):
            b.add(day, "ticket", "A3", [5])
        b.add(day, "ticket", None, [None])
    # the report week, spread over Monday to Sunday night
    for i, account in enumerate(["A1"] * 5 + ["A2"] * 4 + ["A5"] * 3):
        b.add(MONDAY + timedelta(hours=i * 10), "ticket", account, [1])
    b.add(MONDAY, "call_note", "A2", [2])
    b.add(MONDAY, "call_note", "A2", [2])
    b.add(MONDAY, "call_note", "A3", [2])
    b.add(MONDAY, "ticket", "A3", [2])
    b.add(MONDAY, "ticket", "A3", [2], route="triage", confidence=0.2)
    b.add(MONDAY, "ticket", None, [2])
    b.add(MONDAY + timedelta(days=1), "call_note", "A1", [3, 3])
    b.add(MONDAY + timedelta(days=2), "call_note", "A2", [3])
    b.add(MONDAY + timedelta(days=6, hours=14, minutes=59), "call_note", "A3", [3])  # Sun 23:59 UTC
    b.add(MONDAY, "ticket", "A4", [4])
    b.add(MONDAY, "ticket", "A4", [4])
    b.add(MONDAY, "call_note", "A4", [4])
    b.add(MONDAY, "ticket", None, [None])
    b.add(MONDAY, "ticket", None, [None])
    # after the week: must change neither counts nor A1's ARR
    b.add(MONDAY + timedelta(weeks=1), "ticket", "A1", [1, 1, 1], arr=999_999.0)
    return b


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "feedback.sqlite"
    url = f"sqlite:///{path}"
    feedback_store = build_store().write(url)
    yield SimpleNamespace(url=url, engine=feedback_store.engine, path=path)
    feedback_store.close()


@pytest.fixture(scope="module")
def report(store):
    previous = [dict(t) for t in THEMES if t["id"] in (1, 2, 5)] + [
        dict(THEMES[3], name="Mobile app", id=7),  # renumbered by a retrain: the same theme
        {"id": 3, "name": "Fax support", "keywords": ["fax"]},  # id 3 meant something else then
    ]
    return compute_report(
        store.engine,
        model_info(),
        WEEK,
        weeks_of_history=HISTORY,
        previous_themes=previous,
        previous_version="v1",
        generated_at=datetime(2026, 11, 23, tzinfo=UTC),
    )


def by_id(rows: list[dict]) -> dict:
    return {row["id"]: row for row in rows}


# ------------------------------------------------------------------------------------------- weeks


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 11, 23), "2026-W47"),  # Monday: the week just ended is complete
        (date(2026, 11, 22), "2026-W46"),  # Sunday: W47 is not over yet
        (date(2027, 1, 5), "2026-W53"),  # 2026 has 53 ISO weeks
    ],
)
def test_last_complete_week(today, expected):
    assert last_complete_week(today).label == expected


def test_week_bounds_and_bad_labels():
    week = parse_week("2026-W47")
    assert week.start == datetime(2026, 11, 16, tzinfo=UTC)
    assert week.end == datetime(2026, 11, 23, tzinfo=UTC)
    from feedback_nlp.errors import ConfigError

    for bad in ("2026-47", "2025-W53", "2026-W00"):
        with pytest.raises(ConfigError):
            parse_week(bad)


# ------------------------------------------------------------------------------------------- figures


def test_headline(report):
    h = report["headline"]
    assert h["units"] == 27
    assert h["items"] == 26
    assert h["units_trailing_mean"] == 15
    assert h["items_trailing_mean"] == 15
    assert h["units_change_pct"] == pytest.approx((27 - 15) / 15, abs=1e-4)
    assert h["units_routed"] == 12 + 5
    assert h["units_triage"] == 1 + 4 + 3 + 2
    assert h["routed_share"] == pytest.approx(17 / 27, abs=1e-4)
    assert h["accounts"] == 5
    assert h["revenue_at_stake"] == 15_000 + 20_000 + 5_000 + 500_000
    assert h["accounts_without_arr"] == 1
    assert report["history"]["weeks"] == ["2026-W43", "2026-W44", "2026-W45", "2026-W46"]
    assert report["model"]["version"] == "v2"
    assert report["model"]["created_at"] == "2026-11-10T08:00:00+00:00"


def test_volumes_and_distinct_account_revenue(report):
    assert [r["id"] for r in report["top_by_volume"]] == [1, 2, 3, 4]
    assert [r["units"] for r in report["top_by_volume"]] == [12, 6, 4, 3]
    revenue = by_id(report["top_by_revenue"])
    assert [r["id"] for r in report["top_by_revenue"]] == [4, 3, 1, 2]
    # A4 raised theme 4 three times: counted once
    assert revenue[4]["revenue"] == 500_000 and revenue[4]["accounts"] == 1
    # A1 (latest ARR 15,000, not the older 10,000 nor the later 999,999) twice in one note, A2, A3
    assert revenue[3]["revenue"] == 15_000 + 20_000 + 5_000 and revenue[3]["accounts"] == 3
    # A5 has no ARR: an account, but no revenue
    assert revenue[1]["revenue"] == 15_000 + 20_000 and revenue[1]["accounts"] == 3
    assert revenue[1]["accounts_without_arr"] == 1
    assert revenue[1]["roadmap_item"] == {"id": "R-1", "title": "Faster exports"}
    assert revenue[1]["owner"] == "@data-team"
    assert by_id(report["themes"])[1]["weekly"] == [2, 2, 2, 2, 12]
    assert report["volume_over_weeks"]["no_theme"] == [1, 1, 1, 1, 2]
    assert report["volume_over_weeks"]["total"] == [15, 15, 15, 15, 27]


def test_the_volume_chart_stacks_every_area_and_counts_every_unit(report):
    volume = report["volume_over_weeks"]
    series = {s["id"]: s["counts"] for s in volume["series"]}
    assert set(series) == {10, 11, 12} and "other_themes" not in volume
    themes = by_id(report["themes"])
    assert series[10] == [a + b for a, b in zip(themes[1]["weekly"], themes[5]["weekly"])]
    assert series[12] == [a + b for a, b in zip(themes[3]["weekly"], themes[4]["weekly"])]
    for week, total in enumerate(volume["total"]):  # no unit left out, none counted twice
        assert sum(counts[week] for counts in series.values()) + volume["no_theme"][week] == total


def test_areas_list_their_themes_and_are_tested_for_rising_and_fading(report):
    rows = {row["id"]: row for row in report["areas"]["rows"]}
    assert [t["id"] for t in rows[10]["themes"]] == [1, 5] and rows[10]["name"] == "Exports and invoices"
    assert rows[10]["units"] == by_id(report["themes"])[1]["units"] + by_id(report["themes"])[5]["units"]
    # history: 8 units a week in area 10, then this week's 12 + theme 5's: rising like theme 1
    rising = {row["id"] for row in report["areas"]["rising"]}
    fading = {row["id"] for row in report["areas"]["fading"]}
    assert not rising & fading and rising | fading <= set(rows)


def _bh(p_values: dict[int, float]) -> dict[int, float]:
    """Benjamini-Hochberg by hand: q_(i) = min over j >= i of p_(j) * m / j."""
    ordered = sorted(p_values.items(), key=lambda kv: kv[1])
    m = len(ordered)
    q, running = {}, 1.0
    for rank in range(m, 0, -1):
        theme_id, p = ordered[rank - 1]
        running = min(running, p * m / rank)
        q[theme_id] = running
    return q


def test_significance_flags(report):
    # this week vs the 4 trailing weeks' total; under equal rates this week ~ Binomial(n, 1/5)
    counts = {1: (12, 8), 2: (6, 16), 3: (4, 4), 4: (3, 4), 5: (0, 24)}
    p = {}
    for theme_id, (x, s) in counts.items():
        up = stats.binom.sf(x - 1, x + s, 0.2)
        down = stats.binom.cdf(x, x + s, 0.2)
        p[theme_id] = min(1.0, 2 * min(up, down))
    q = _bh(p)
    tested = by_id(report["trends"]["tested"])
    for theme_id in counts:
        assert tested[theme_id]["q_value"] == pytest.approx(q[theme_id], rel=1e-4)
    assert q[1] < 0.05 and q[5] < 0.05 and q[2] > 0.05  # the premises of the fixture
    assert [r["id"] for r in report["trends"]["rising"]] == [1]  # 2/week -> 12
    assert [r["id"] for r in report["trends"]["fading"]] == [5]  # 6/week -> 0
    assert tested[2]["direction"] is None  # 4/week -> 6 is noise
    assert tested[3]["direction"] is None
    assert tested[1]["change"] == pytest.approx(10.0)
    assert tested[5]["trailing_mean"] == pytest.approx(6.0)


def test_new_and_retired_themes(report):
    # Dark mode (3) is new although the previous model had an id 3: that was another theme (no shared
    # keyword); Mobile app (4) is not new although its id was 7 then (same name).
    assert [t["id"] for t in report["trends"]["new_themes"]] == [3]
    assert report["trends"]["new_themes"][0]["units"] == 4
    assert report["trends"]["new_themes"][0]["roadmap_item"] is None
    assert [t["name"] for t in report["trends"]["retired_themes"]] == ["Fax support"]
    assert report["trends"]["previous_model_version"] == "v1"


def test_theme_details_follow_the_model_that_scored_them(store):
    # A retrain (v3) reused id 1 for another theme; the units of id 1 were scored by v2 as CSV exports.
    themes = [dict(THEMES[0], name="Card delivery", keywords=["card"], roadmap_item=None, owner=TRIAGE)]
    themes += THEMES[1:]
    info = model_info(version="v3")
    info.themes = themes
    report = compute_report(store.engine, info, WEEK, weeks_of_history=HISTORY)
    top = by_id(report["top_by_volume"])
    assert top[1]["name"] == "CSV export timeouts" and top[1]["in_model"] is False
    assert top[1]["roadmap_item"] == {"id": "R-1", "title": "Faster exports"}
    assert top[1]["owner"] == "@data-team"
    assert top[2]["in_model"] is True  # same name in both: the current model describes it
    assert [r["id"] for r in report["unplanned"]] == [3, 4]  # theme 1 is not unplanned demand
    assert any("v2 (" in note and "v3" in note for note in report["notes"])


def test_unplanned_demand_ranked_by_accounts_then_revenue(report):
    unplanned = report["unplanned"]
    # theme 3 has 3 accounts and 40,000; theme 4 one account and 500,000: accounts rank first
    assert [r["id"] for r in unplanned] == [3, 4]
    assert [r["accounts"] for r in unplanned] == [3, 1]
    assert 1 <= len(unplanned[0]["quotes"]) <= 3
    assert all("Dark mode" in q["text"] for q in unplanned[0]["quotes"])
    # quotes spread over accounts before repeating one
    assert len({q["account_id"] for q in unplanned[0]["quotes"]}) == len(unplanned[0]["quotes"])


def test_roadmap_items_without_evidence(report):
    rows = by_id(report["roadmap_without_evidence"])
    assert set(rows) == {"R-3", "R-4"}
    assert rows["R-3"]["last_evidence_at"].startswith("2026-11-09")  # W46, inside the window
    assert rows["R-4"]["last_evidence_at"] is None
    assert rows["R-4"]["linked_themes"] == []
    assert rows["R-3"]["linked_themes"] == [5]


def test_channel_split(report):
    channels = by_id(report["channels"]["by_theme"])
    assert (channels[1]["call_note"], channels[1]["ticket"]) == (0, 12)
    assert (channels[2]["call_note"], channels[2]["ticket"]) == (3, 3)
    assert channels[2]["call_note_share"] == 0.5
    assert (channels[4]["call_note"], channels[4]["ticket"]) == (1, 2)
    assert [r["id"] for r in report["channels"]["sales_only"]] == [3]
    assert [r["id"] for r in report["channels"]["support_only"]] == [1]
    totals = report["channels"]["totals"]
    assert (totals["call_note"], totals["ticket"], totals["other_sources"]) == (3 + 4 + 1, 12 + 3 + 2 + 2, 0)
    # One channel only is judged against the week's mix: 8 call notes in 27 units. Theme 1 (12 tickets,
    # no call note) and theme 3 (4 call notes, no ticket) are both unlikely under it; BH over 4 themes.
    share = 8 / 27
    p1, p3 = (1 - share) ** 12, share**4
    assert channels[1]["one_channel_p"] == pytest.approx(p1, rel=1e-4)
    assert channels[3]["one_channel_p"] == pytest.approx(p3, rel=1e-4)
    assert channels[2]["one_channel_p"] == 1.0
    q = min(p3 * 4 / 1, p1 * 4 / 2)  # p3 < p1: ranks 1 and 2; BH takes the running minimum from the top
    assert channels[3]["one_channel_q"] == pytest.approx(q, rel=1e-4) and q < 0.05


def test_owner_sections(report):
    owners = {s["owner"]: s for s in report["owners"]}
    assert set(owners) == {"@data-team", "alice@example.com", "bob@example.com"}  # not the triage queue
    data = owners["@data-team"]
    assert data["units"] == 12 and data["n_accounts"] == 3 and data["revenue"] == 35_000
    items = by_id(data["roadmap_items"])
    assert items["R-1"]["units"] == 12 and items["R-3"]["units"] == 0
    assert len(data["quotes"]) == 3
    alice = owners["alice@example.com"]
    # 5 routed SSO units (the low-confidence one went to triage) from A2, A3 and one without account
    assert alice["units"] == 5 and alice["n_accounts"] == 2 and alice["revenue"] == 25_000
    assert [a["account_id"] for a in alice["accounts"]] == ["A2", "A3"]
    bob = owners["bob@example.com"]
    assert bob["units"] == 0 and bob["quotes"] == [] and [i["id"] for i in bob["roadmap_items"]] == ["R-4"]
    assert [s["owner"] for s in report["owners"]] == ["@data-team", "alice@example.com", "bob@example.com"]


def test_triage_queue(report):
    t = report["triage"]
    assert t["units"] == 10
    assert t["no_theme"] == 2
    assert t["unplanned_theme"] == 4 + 3  # Dark mode and Mobile app have no roadmap item
    assert t["low_confidence"] == 1
    assert t["trailing_mean"] == 3  # no theme, theme 3 and theme 4: one each per trailing week
    assert [(r["id"], r["units"]) for r in t["by_nearest_theme"]] == [(3, 4), (4, 3), (2, 1)]
    assert 1 <= len(t["examples"]) <= 5
    assert t["examples"][0]["theme_id"] is None  # what matched nothing comes first


def test_theme_without_owner_is_said(report):
    assert any("Dark mode" in note and "no owner" in note for note in report["notes"])
    assert "(no owner)" in render_html(report)


# ------------------------------------------------------------------------------------------- outputs


class _Cells(HTMLParser):
    """Collects tables (id -> rows of {data-key: text}), headline cards and tags/attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, str]]] = {}
        self.cards: dict[str, str] = {}
        self.attrs: list[tuple[str, str, str]] = []
        self._table: str | None = None
        self._key: str | None = None
        self._card: str | None = None
        self._in_value = False
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name, value in attrs:
            self.attrs.append((tag, name, value or ""))
        if tag == "table":
            self._table = a.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table and any(k.startswith("data-") for k in a):
            self.tables[self._table].append({})
        elif tag == "td" and self._table and "data-key" in a:
            self._key, self._text = a["data-key"], []
        elif tag == "div" and a.get("class") == "card":
            self._card = a["data-key"]
        elif tag == "div" and a.get("class") == "value" and self._card:
            self._in_value, self._text = True, []

    def handle_endtag(self, tag):
        if tag == "td" and self._key:
            self.tables[self._table][-1][self._key] = "".join(self._text)
            self._key = None
        elif tag == "table":
            self._table = None
        elif tag == "div" and self._in_value:
            self.cards[self._card] = "".join(self._text)
            self._in_value, self._card = False, None

    def handle_data(self, data):
        self._text.append(data)


def _md_table(markdown: str, heading: str) -> list[list[str]]:
    section = markdown.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # skip the header
    return [[re.sub(r"\\(.)", r"\1", c.strip()) for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_files_agree_and_html_is_self_contained(report, tmp_path):
    paths = write_report(report, tmp_path / "out")
    assert {p.name for p in paths.values()} == {
        f"report-{WEEK}.html",
        f"report-{WEEK}.md",
        f"report-{WEEK}.json",
    }
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    page = paths["html"].read_text(encoding="utf-8")
    markdown = paths["md"].read_text(encoding="utf-8")

    # self-contained: no scripts, nothing fetched from elsewhere
    assert "<script" not in page.lower()
    parser = _Cells()
    parser.feed(page)
    for tag, name, value in parser.attrs:
        if name in ("src", "href", "xlink:href"):
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
    assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", page) and "@import" not in page
    assert page.count("<svg") == 3  # volume, rising/fading, revenue
    # the three inline SVGs share one id space: ids unique, every internal reference resolves
    ids = [value for _, name, value in parser.attrs if name == "id"]
    assert len(ids) == len(set(ids))
    refs = {v[1:] for _, n, v in parser.attrs if n in ("href", "xlink:href")} | set(
        re.findall(r"url\(#([^)]+)\)", page)
    )
    assert refs and refs <= set(ids)
    assert 'id="chart-volume"' in page and 'id="chart-trends"' in page and 'id="chart-revenue"' in page

    # the JSON holds the same figures as the dict, dates as ISO strings
    assert data["headline"] == report["headline"]
    assert data["period"]["start"] == "2026-11-16T00:00:00+00:00"

    # headline: the same numbers in all three
    h = data["headline"]
    assert parser.cards["units"] == "27" == str(h["units"])
    assert parser.cards["items"] == "26" == str(h["items"])
    assert parser.cards["revenue_at_stake"] == "540,000 USD" == f"{h['revenue_at_stake']:,.0f} USD"
    assert parser.cards["routed_share"] == "63.0%" == f"{h['routed_share'] * 100:.1f}%"
    assert "- **27** feedback units (+80.0% vs trailing mean 15.0)" in markdown
    assert "**540,000 USD**" in markdown and "**63.0%** routed to owners" in markdown

    # tables: every row of the top-theme tables and the rising table, in HTML and Markdown
    html_volume = parser.tables["top-by-volume"]
    md_volume = _md_table(markdown, "Top themes by volume")
    assert len(html_volume) == len(md_volume) == len(data["top_by_volume"]) == 4
    for row, html_row, md_row in zip(data["top_by_volume"], html_volume, md_volume, strict=True):
        assert html_row["name"] == md_row[0] == row["name"]
        assert html_row["area_name"] == md_row[1] == row["area_name"]
        assert html_row["units"] == md_row[2] == str(row["units"])
        assert html_row["accounts"] == md_row[4] == str(row["accounts"])
        assert html_row["revenue"] == md_row[5] == f"{row['revenue']:,.0f} USD"
    # the areas, each with its themes under it, in HTML and Markdown
    md_areas = _md_table(markdown, "Areas and their themes")
    assert [r[0] for r in md_areas][:3] == [
        "Area: Exports and invoices",
        "CSV export timeouts",
        "Area: Sign-in",
    ]
    assert [r["name"] for r in parser.tables["area-10-themes"]] == ["CSV export timeouts"]
    # the revenue ranking repeats the volume table's rows, so it is a chart and one line, not a table
    assert "top-by-revenue" not in parser.tables and "## Top themes by revenue" not in markdown
    assert [r["revenue"] for r in data["top_by_revenue"]] == [500_000, 40_000, 35_000, 25_000]
    assert (
        "By revenue at stake: Mobile app (500,000 USD), Dark mode (40,000 USD), CSV export timeouts "
        "(35,000 USD), SSO login (25,000 USD)." in markdown
    )
    md_rising = _md_table(markdown, "Rising themes")
    assert (
        [r["name"] for r in parser.tables["rising-themes"]]
        == [r[0] for r in md_rising]
        == ["CSV export timeouts"]
    )
    assert parser.tables["rising-themes"][0]["change"] == md_rising[0][5] == "+10.0"
    assert "| Invoice PDFs | 0 | 6 | -6 | 6.0 | -6.0 | -100.0% |" in markdown  # figures are not escaped
    assert [r["name"] for r in parser.tables["unplanned-table"]] == [
        r[0] for r in _md_table(markdown, "Unplanned demand")
    ]


def test_text_is_escaped(store, tmp_path):
    themes = [dict(THEMES[0], name='<img src="https://evil.example/x.png"> & $x$ | *bold*')] + THEMES[1:]
    info = model_info()
    info.themes = themes
    report = compute_report(store.engine, info, WEEK, weeks_of_history=HISTORY)
    page = render_html(report)
    assert "<img" not in page and "&lt;img src=&quot;https://evil.example/x.png&quot;&gt;" in page
    md = render_markdown(report)
    assert "\\| \\*bold\\*" in md


def test_empty_week_still_renders(store, tmp_path):
    report = compute_report(store.engine, model_info(), "2026-W50", weeks_of_history=HISTORY)
    assert report["headline"]["units"] == 0 and report["headline"]["items"] == 0
    assert report["headline"]["routed_share"] is None
    assert any("No feedback" in note for note in report["notes"])
    # W46..W49 trail W50; W48 holds the 3 units after the fixture's week
    assert report["headline"]["units_trailing_mean"] == pytest.approx((15 + 27 + 3 + 0) / 4)
    assert [r["id"] for r in report["trends"]["fading"]] == []  # nothing reaches 3 a week on average
    paths = write_report(report, tmp_path)
    page = paths["html"].read_text(encoding="utf-8")
    assert "No feedback was stored for 2026-W50." in page
    assert "The triage queue is empty this week." in page


def test_empty_store_still_renders(tmp_path):
    empty = open_store(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    report = compute_report(empty.engine, model_info(), WEEK)
    empty.close()
    assert report["history"]["weeks"] == []
    assert report["headline"]["units_trailing_mean"] is None
    assert report["trends"]["tested"] == [] and report["trends"]["new_themes"] is None
    assert "<svg" not in render_html(report)  # nothing to plot, and it says so instead
    assert "nothing to plot" in render_html(report)
    assert "_No themed feedback this week._" in render_markdown(report)


# ------------------------------------------------------------------------------------------- command


def _write_version(
    models_dir: Path, version: str, created_at: str, themes: list[dict], roadmap: bool
) -> Path:
    folder = models_dir / version
    folder.mkdir(parents=True)
    (folder / "themes.json").write_text(json.dumps(themes), encoding="utf-8")
    (folder / "metadata.json").write_text(
        json.dumps({"created_at": created_at, "config": {"default_owner": TRIAGE}}), encoding="utf-8"
    )
    if roadmap:
        (folder / "roadmap.json").write_text(json.dumps(ROADMAP), encoding="utf-8")
    return folder


@pytest.fixture
def models_dir(tmp_path) -> Path:
    models = tmp_path / "models"
    old = [dict(t) for t in THEMES if t["id"] in (1, 2, 4, 5)] + [{"id": 9, "name": "Retired"}]
    _write_version(models, "20261001-000000", "2026-10-01T00:00:00+00:00", old, roadmap=True)
    _write_version(models, "20261110-080000", "2026-11-10T08:00:00+00:00", THEMES, roadmap=True)
    _write_version(
        models, "20261201-000000", "2026-12-01T00:00:00+00:00", THEMES, roadmap=True
    )  # newer, not LATEST
    (models / "LATEST").write_text("20261110-080000\n", encoding="utf-8")
    return models


def test_load_model_info(models_dir):
    info = load_model_info(models_dir)
    assert info.version == "20261110-080000"
    assert info.default_owner == TRIAGE
    assert [i["id"] for i in info.roadmap] == ["R-1", "R-2", "R-3", "R-4"]
    (info.path / "roadmap.json").unlink()
    fallback = load_model_info(models_dir)
    assert [i["id"] for i in fallback.roadmap] == ["R-1", "R-2", "R-3"]  # only items themes link to


def test_command_end_to_end(store, models_dir, tmp_path, monkeypatch, capsys):
    from feedback_nlp.cli import main
    from feedback_nlp.settings import get_settings

    monkeypatch.setenv("FEEDBACK_NLP_DATABASE_URL", store.url)
    get_settings.cache_clear()
    out = tmp_path / "reports"
    try:
        code = main(
            [
                "report",
                "--models-dir",
                str(models_dir),
                "--week",
                WEEK,
                "--out",
                str(out),
                "--weeks-of-history",
                str(HISTORY),
            ]
        )
    finally:
        get_settings.cache_clear()
    assert code == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / f"report-{WEEK}.{ext}") for ext in ("html", "md", "json")]
    data = json.loads((out / f"report-{WEEK}.json").read_text(encoding="utf-8"))
    assert data["model"]["version"] == "20261110-080000"
    assert data["headline"]["units"] == 27
    # compared with the model trained before LATEST, not the newer one
    assert data["trends"]["previous_model_version"] == "20261001-000000"
    assert [t["id"] for t in data["trends"]["new_themes"]] == [3]
    assert [t["name"] for t in data["trends"]["retired_themes"]] == ["Retired"]
    assert "<svg" in (out / f"report-{WEEK}.html").read_text(encoding="utf-8")


def test_command_errors(tmp_path, models_dir, monkeypatch, capsys):
    from feedback_nlp.cli import main
    from feedback_nlp.settings import get_settings

    monkeypatch.setenv("FEEDBACK_NLP_DATABASE_URL", f"sqlite:///{tmp_path / 'missing.sqlite'}")
    get_settings.cache_clear()
    try:
        assert main(["report", "--models-dir", str(models_dir), "--week", WEEK, "--out", str(tmp_path)]) == 2
        assert "does not exist" in capsys.readouterr().err
        assert not (tmp_path / "missing.sqlite").exists()  # no empty store created by accident
        assert main(["report", "--models-dir", str(tmp_path / "nowhere"), "--week", WEEK]) == 2
        assert "LATEST" in capsys.readouterr().err
        with pytest.raises(SystemExit):
            main(["report", "--week", "2026-47"])
    finally:
        get_settings.cache_clear()


# ------------------------------------------------------------------------------------------- real model


def test_report_on_feedback_scored_by_a_real_model(tiny_model, tiny_model_dir, tmp_path):
    """The trained model's own objects work as model_info, and the JSON-only loader reads the same."""
    from tiny_data import TOPIC_TEXTS

    from feedback_nlp.schemas import FeedbackRecord

    texts = [text for topic in ("export", "sso", "refund") for text in TOPIC_TEXTS[topic]]
    records = [
        FeedbackRecord(
            id=f"r{i}",
            text=text,
            source="ticket" if i % 3 else "call_note",
            created_at=MONDAY - timedelta(weeks=i % 3),  # W45, W46 and the report week
            account_id=f"acc{i % 4}",
            account_arr=1000.0 * (i % 4 + 1),
        )
        for i, text in enumerate(texts)
    ]
    feedback_store = open_store(f"sqlite:///{tmp_path / 'scored.sqlite'}")
    feedback_store.upsert_scored_batch(list(zip(records, tiny_model.score(records), strict=True)))
    pinned = datetime(2026, 11, 23, tzinfo=UTC)
    from_model = compute_report(feedback_store.engine, ModelInfo.of(tiny_model), WEEK, 2, generated_at=pinned)
    from_json = compute_report(
        feedback_store.engine,
        load_model_info(tiny_model_dir.parent, tiny_model_dir),
        WEEK,
        2,
        generated_at=pinned,
    )
    units = feedback_store.count_units()
    feedback_store.close()

    assert from_model == from_json
    week_records = [r for r in records if r.created_at == MONDAY]
    assert from_model["headline"]["items"] == len(week_records) == 5
    assert sum(from_model["volume_over_weeks"]["total"]) == units
    assert from_model["model"]["version"] == tiny_model.version_
    names = {t["id"]: t["name"] for t in tiny_model.themes_}
    assert all(row["name"] == names[row["id"]] for row in from_model["top_by_volume"])
    assert "<svg" in render_html(from_model)
