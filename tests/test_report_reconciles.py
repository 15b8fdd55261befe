"""The report's numbers add up, or say beside them why not (issue 19).

Uses the hand-built store of ``tests/test_report.py``; its figures are worked out there. Small extra stores
below stage the two contradictions the issue reports: a theme "rising" while it fell since last week, and a
theme heard only in call notes that the one-channel test does not flag.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from feedback_nlp.commands.report import _default_week
from feedback_nlp.report import (
    Week,
    compute_report,
    find_accounts_file,
    latest_week_with_data,
    read_account_names,
    render_html,
    render_markdown,
)
from feedback_nlp.report.formatting import fmt_money, plural, quote_citation
from tests.test_report import HISTORY, MONDAY, WEEK, StoreBuilder, build_store, model_info

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "feedback.sqlite"
    feedback_store = build_store().write(f"sqlite:///{path}")
    yield feedback_store
    feedback_store.close()


@pytest.fixture(scope="module")
def report(store):
    names = {"A1": "Acme Ltd", "A4": "Globex <b>Corp</b>"}
    return compute_report(
        store.engine,
        model_info(),
        WEEK,
        weeks_of_history=HISTORY,
        generated_at=datetime(2026, 11, 23, tzinfo=UTC),
        currency="EUR",
        account_names=names,
    )


def _text(page: str) -> str:
    """Visible text of the HTML, entities decoded, whitespace collapsed."""
    import html

    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


# ------------------------------------------------------------------------------------ reconciliation


def test_units_add_up_to_the_headline(report):
    h, rec = report["headline"], report["reconciliation"]["units"]
    assert h["units_routed"] + h["units_triage"] == h["units"] == rec["headline"] == 27
    assert rec["in_themes"] + rec["without_theme"] == h["units"]
    assert sum(r["units"] for r in report["themes"]) == rec["in_themes"] == 25
    # every routed unit is in one owner section, in two, or with the triage owner
    owners = sum(s["units"] for s in report["owners"])
    assert owners == rec["routed"] - rec["routed_outside_owner_sections"] + rec["in_two_owner_sections"]


def test_each_sum_equals_the_headline_or_the_text_says_why(report):
    """Theme revenue (600,000) and owner revenue (60,000) differ from the headline's 540,000: both say why."""
    h, rec = report["headline"], report["reconciliation"]
    theme_revenue = sum(r["revenue"] for r in report["themes"])
    owner_revenue = sum(s["revenue"] for s in report["owners"])
    assert (theme_revenue, owner_revenue, h["revenue_at_stake"]) == (600_000, 60_000, 540_000)
    assert (
        rec["revenue"]["sum_of_themes"] == theme_revenue and rec["revenue"]["sum_of_owners"] == owner_revenue
    )
    assert rec["revenue"]["accounts_in_several_themes"] == 3  # A1, A2 and A3 each raised two themes
    page, markdown = _text(render_html(report)), render_markdown(report)
    for text in (page, markdown):
        assert (
            "the themes add up to 600,000 EUR against the headline's 540,000 EUR because 3 accounts raised "
            "more than one theme" in text
        )
        assert "The owner sections add up to 60,000 EUR against the headline's 540,000 EUR" in text
        assert "accounts heard only in the triage queue count in no owner section" in text
    # the revenue table explains the once-per-theme count beside it, not only at the end
    assert "each account counts once per theme" in page.lower()


def test_roadmap_item_and_its_theme_differ_only_with_a_reason(report):
    """SSO login has 6 units; its item R-2 has 5 routed: the sixth went to triage, and the text says so."""
    themes = {r["id"]: r for r in report["themes"]}
    items = {row["id"]: row for s in report["owners"] for row in s["roadmap_items"]}
    assert themes[2]["units"] == 6 and items["R-2"]["units"] == 5
    explained = {row["id"]: row for row in report["reconciliation"]["roadmap_items"]}
    assert set(explained) == {"R-2"}  # R-1 equals its theme; have neither units nor themes
    assert explained["R-2"]["theme_units_in_triage"] == 1
    note = (
        "Roadmap item R-2 counts the 5 units routed to it (25,000 EUR); its theme \u201cSSO login\u201d "
        "counts 6 (25,000 EUR): 1 of the theme units went to triage."
    )
    assert note in _text(render_html(report)) and note in render_markdown(report)
    # every item whose count differs from its linked themes' is explained
    for item_id, row in items.items():
        linked = [t for t in themes.values() if t["roadmap_item"] and t["roadmap_item"]["id"] == item_id]
        if row["units"] != sum(t["units"] for t in linked):
            assert item_id in explained


def test_an_item_linked_from_two_themes_is_explained(tmp_path):
    info = model_info()
    info.themes = [dict(t) for t in info.themes]
    info.themes[4] = dict(info.themes[4], roadmap_item={"id": "R-1", "title": "Faster exports"})  # theme 5
    b = StoreBuilder()
    when = MONDAY
    b.add(when, "ticket", "A1", [1])
    b.add(when, "ticket", "A2", [5], route="owner")
    b.units[-1].update(roadmap_item_id="R-1", roadmap_item_title="Faster exports", owner="@data-team")
    store = b.write(f"sqlite:///{tmp_path / 's.sqlite'}")
    report = compute_report(store.engine, info, WEEK, weeks_of_history=1)
    store.close()
    [row] = report["reconciliation"]["roadmap_items"]
    assert (row["id"], row["units"], row["theme_units"]) == ("R-1", 2, 2)
    assert [t["id"] for t in row["linked_themes"]] == [1, 5]
    themes = {r["id"]: r for r in report["themes"]}
    assert themes[1]["units"] == themes[5]["units"] == 1  # each theme row shows 1, the item 2
    note = (
        "Roadmap item R-1 counts the 2 units routed to it (35,000 USD); its themes \u201cCSV export "
        "timeouts\u201d, \u201cInvoice PDFs\u201d count 2 (35,000 USD): the item is linked from 2 themes."
    )
    assert note in report["reconciliation"]["notes"]
    assert note in render_markdown(report)


# ----------------------------------------------------------------------------------------- trends


def test_rising_shows_last_week_and_the_baseline_the_test_used(tmp_path):
    """26 last week, 19 this week, none before: rising against the trailing mean, falling since last week."""
    b = StoreBuilder()
    for weeks_ago in range(2, 5):  # quiet weeks before, so the store starts before the window
        b.add(MONDAY - timedelta(weeks=weeks_ago), "ticket", "A1", [None])
    for _ in range(26):
        b.add(MONDAY - timedelta(weeks=1), "ticket", "A1", [1])
    for _ in range(19):
        b.add(MONDAY, "ticket", "A1", [1])
    store = b.write(f"sqlite:///{tmp_path / 's.sqlite'}")
    report = compute_report(store.engine, model_info(), WEEK, weeks_of_history=4)
    store.close()
    [row] = report["trends"]["rising"]
    assert (row["this_week"], row["last_week"], row["change_vs_last_week"]) == (19, 26, -7)
    assert row["trailing_mean"] == 6.5 and row["change_vs_last_week_pct"] == pytest.approx(-7 / 26, abs=1e-4)
    assert report["trends"]["compared_with"] == "trailing_mean"
    markdown = render_markdown(report)
    assert "| CSV export timeouts | 19 | 26 | -7 | 6.5 | +12.5 |" in markdown
    for text in (markdown, _text(render_html(report))):
        assert "The test uses the trailing mean; last week's count is shown beside it" in text


# --------------------------------------------------------------------------------------- channels


def test_one_channel_text_never_contradicts_the_table(tmp_path):
    """Most of the week is call notes, so 3 of 3 call notes is not significant; the text still shows it."""
    b = StoreBuilder()
    for _ in range(3):
        b.add(MONDAY, "call_note", "A2", [2])
    for _ in range(20):
        b.add(MONDAY, "call_note", "A1", [1])
    b.add(MONDAY, "ticket", "A1", [1])
    store = b.write(f"sqlite:///{tmp_path / 's.sqlite'}")
    report = compute_report(store.engine, model_info(), WEEK, weeks_of_history=1)
    store.close()
    channels = report["channels"]
    assert channels["sales_only"] == []
    [observed] = channels["observed_sales_only"]
    assert (observed["name"], observed["units"], observed["of"], observed["significant"]) == (
        "SSO login",
        3,
        3,
        False,
    )
    for text in (render_markdown(report), _text(render_html(report))):
        line = next(x for x in text.split("Heard only by support")[0].split("Heard only by sales")[1:])
        assert "SSO login (3 of 3 units call notes)" in line
        assert "Significant under the week's mix: none" in line
        assert not re.search(r"Heard only by sales[^:]*:\** none", text)


# --------------------------------------------------------------------------------------- empty weeks


def test_default_week_is_the_latest_with_data(store):
    assert latest_week_with_data(store.engine, Week(2026, 50)) == Week(2026, 48)  # 3 units after W47
    assert latest_week_with_data(store.engine, Week(2026, 47)) == Week(2026, 47)
    assert latest_week_with_data(store.engine, Week(2026, 30)) is None
    assert _default_week(store.engine, Week(2026, 30)) == "2026-W30"  # nothing earlier: the week asked


def test_an_empty_week_says_so_plainly(store):
    report = compute_report(store.engine, model_info(), "2026-W50", weeks_of_history=HISTORY)
    assert report["empty_week"] is True
    for text in (render_markdown(report), _text(render_html(report))):
        assert "All feedback this week maps to a roadmap item" not in text
        assert "No feedback was stored for 2026-W50" in text
    assert report["summary"][0].startswith("No feedback was stored for 2026-W50")


# ------------------------------------------------------------------------------------ presentation


def test_quotes_carry_the_feedback_id_and_the_account_name(report):
    quote = report["owners"][0]["quotes"][0]
    assert quote_citation(quote).endswith(f"feedback {quote['item_id']}")
    named = [q for s in report["owners"] for q in s["quotes"] if q["account_id"] == "A1"]
    assert named and all(q["account_name"] == "Acme Ltd" for q in named)
    assert "account Acme Ltd (A1)" in render_markdown(report)
    page = render_html(report)
    assert "Globex &lt;b&gt;Corp&lt;/b&gt; (A4)" in page and "<b>Corp" not in page  # names are escaped


def test_every_amount_carries_the_currency(report):
    page, markdown = render_html(report), render_markdown(report)
    for text in (_text(page), markdown):
        amounts = re.findall(r"\b\d{1,3}(?:,\d{3})+(?! \d)(?: [A-Z]{3})?", text)
        assert amounts and all(a.endswith(" EUR") for a in amounts), [a for a in amounts if "EUR" not in a]


@pytest.mark.parametrize(("count", "expected"), [(0, "0 gaps"), (1, "1 gap"), (2, "2 gaps")])
def test_plural(count, expected):
    assert plural(count, "gap") == expected


def test_money_format():
    assert fmt_money(1234.4, "USD") == "1,234 USD" and fmt_money(None, "USD") == "n/a"


def test_units_and_items_are_explained_where_first_used(report):
    page = _text(render_html(report))
    first_units = page.index("feedback units")
    assert page.index("single requests inside the items") - first_units < 80
    markdown = render_markdown(report)
    assert "feedback items, the tickets and call notes" in markdown
    assert "the single requests inside the items, one item can hold several" in markdown


def test_tables_scroll_at_phone_width(report):
    page = render_html(report)
    assert page.count("<table") == page.count('<div class="scroll"><table')
    assert ".scroll { overflow-x: auto;" in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page


def test_summary_and_contents(report):
    assert 3 <= len(report["summary"]) <= 5
    summary = " ".join(report["summary"])
    assert "Rising most: \u201cCSV export timeouts\u201d" in summary  # what rose
    assert "\u201cMobile app\u201d: 500,000 EUR" in summary  # where the money is
    assert "no owner: \u201cDark mode\u201d" in summary  # what has no owner
    page = render_html(report)
    assert page.index('id="summary"') < page.index('id="headline"')
    toc = re.search(r'<nav class="toc".*?</nav>', page, re.S)
    assert toc is not None
    ids = set(re.findall(r'\bid="([^"]+)"', page))
    links = re.findall(r'href="#([^"]+)"', toc.group(0))
    assert len(links) >= 8 and set(links) <= ids
    markdown = render_markdown(report)
    headings = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
        for h in re.findall(r"^## (.+)$", markdown, re.M)
    }
    assert set(re.findall(r"\]\(#([a-z0-9-]+)\)", markdown.split("## Headline")[0])) <= headings


def test_revenue_table_no_longer_repeats_the_volume_table(report):
    page = render_html(report)
    assert 'id="top-by-volume"' in page and 'id="top-by-revenue"' not in page
    assert 'id="chart-revenue"' in page  # the ranking stays, as a chart


# ------------------------------------------------------------------------------------------ accounts


def test_bundled_accounts_file_is_found_beside_the_roadmap():
    metadata = {"roadmap": {"path": str(REPO_ROOT / "examples" / "roadmap.yaml")}, "inputs": []}
    found = find_accounts_file(metadata)
    assert found == REPO_ROOT / "examples" / "accounts.csv"
    names = read_account_names(found)
    assert names["ACC-0004"] == "Zephyr Landscaping" and len(names) == 80
    by_input = {"inputs": [{"path": str(REPO_ROOT / "examples" / "feedback" / "tickets.csv")}]}
    assert find_accounts_file(by_input) == found
    assert find_accounts_file({"roadmap": {"path": "/nowhere/roadmap.yaml"}}) is None


def test_an_accounts_file_without_names_is_refused(tmp_path):
    from feedback_nlp.errors import ConfigError

    bad = tmp_path / "accounts.csv"
    bad.write_text("account_id,arr\nA1,5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="account_id and name"):
        read_account_names(bad)
    with pytest.raises(ConfigError, match="--accounts"):
        read_account_names(tmp_path / "missing.csv")


def test_a_model_info_without_currency_renders_in_the_default(store):
    report = compute_report(
        store.engine, SimpleNamespace(**vars(model_info())), WEEK, weeks_of_history=HISTORY
    )
    assert report["settings"]["currency"] == "USD"
    del report["settings"]["currency"]  # a report written before the setting existed
    assert "540,000 USD" in render_markdown(report)
