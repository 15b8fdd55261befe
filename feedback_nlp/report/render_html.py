"""Render the report dict as one self-contained HTML page: inline CSS and SVG, no scripts, no external files.

Every piece of text from the store or the model goes through :func:`html.escape`. Figure cells carry
``data-key`` attributes naming the JSON field they show, so tests (and scrapers) can tie them back.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from feedback_nlp.report import charts
from feedback_nlp.report.formatting import (
    CHANNEL_ROWS,
    fmt_account,
    fmt_change_pct,
    fmt_date,
    fmt_float,
    fmt_int,
    fmt_money,
    fmt_owner,
    fmt_p,
    fmt_pct,
    fmt_roadmap,
    fmt_signed,
    plural,
    quote_citation,
)

_CSS = """
:root { --ink: #1d2330; --muted: #5b6472; --line: #d9dde3; --accent: #1f5fa8; --bg: #ffffff; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--ink); background: var(--bg); margin: 0 auto; max-width: 1080px; padding: 24px;
       line-height: 1.45; font-size: 15px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 6px; }
p.sub, .muted { color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card .value { font-size: 24px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 13px; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; max-width: 100%; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; font-size: 14px; }
nav.toc ol { columns: 2; margin: 4px 0; padding-left: 20px; }
.summary { font-size: 16px; }
@media (max-width: 600px) { body { padding: 12px; font-size: 14px; } nav.toc ol { columns: 1; }
  th, td { padding: 4px 6px; } }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f4f6f8; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.rising { color: #2e7d32; font-weight: 600; }
.fading { color: #c62828; font-weight: 600; }
blockquote { margin: 6px 0 10px; padding: 6px 12px; border-left: 3px solid var(--accent);
             background: #f7f9fc; }
blockquote p { margin: 0; }
blockquote cite { display: block; color: var(--muted); font-size: 12px; font-style: normal; margin-top: 2px; }
figure { margin: 10px 0 16px; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13px; }
.notes { border: 1px solid #e6c200; background: #fffbe6; border-radius: 8px; padding: 8px 14px; }
.owner { border: 1px solid var(--line); border-radius: 8px; padding: 4px 14px 10px; margin: 12px 0; }
footer { margin-top: 40px; color: var(--muted); font-size: 13px; border-top: 1px solid var(--line);
         padding-top: 8px; }
@media print { body { max-width: none; } .owner, figure, table { break-inside: avoid; } }
"""


# Each section appends its parts (joined by newlines) through this.
Add = Callable[[str], None]


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, str, Callable[[dict[str, Any]], str], bool]],
    table_id: str,
    row_key: str = "id",
) -> str:
    """columns: (header, data-key, formatter(row) -> text, numeric)."""
    head = "".join(
        f'<th class="num">{_e(h)}</th>' if num else f"<th>{_e(h)}</th>" for h, _, _, num in columns
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{"num" if num else "text"}" data-key="{_e(key)}">{_e(fmt(row))}</td>'
            for _, key, fmt, num in columns
        )
        body.append(f'<tr data-{_e(row_key.replace("_", "-"))}="{_e(row.get(row_key))}">{cells}</tr>')
    return (
        f'<div class="scroll"><table id="{_e(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _figure(svg: str | None, caption: str, empty: str, figure_id: str) -> str:
    if svg is None:
        return f'<p class="muted" id="{_e(figure_id)}-empty">{_e(empty)}</p>'
    return (
        f'<figure id="{_e(figure_id)}" role="img" aria-label="{_e(caption)}">{svg}'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _quotes(quotes: Sequence[dict[str, Any]], empty: str = "No quotes.") -> str:
    if not quotes:
        return f'<p class="muted">{_e(empty)}</p>'
    parts = []
    for q in quotes:
        cite = quote_citation(q)
        parts.append(f'<blockquote class="quote"><p>{_e(q["text"])}</p><cite>{_e(cite)}</cite></blockquote>')
    return "".join(parts)


def _card(key: str, value: str, label: str) -> str:
    return (
        f'<div class="card" data-key="{_e(key)}"><div class="value">{_e(value)}</div>'
        f'<div class="label">{_e(label)}</div></div>'
    )


def _period(report: dict[str, Any]) -> str:
    start = datetime.fromisoformat(report["period"]["start"])
    last_day = datetime.fromisoformat(report["period"]["end"]) - timedelta(days=1)
    return f"{start:%a %d %b %Y} to {last_day:%a %d %b %Y} (UTC)"


Column = tuple[str, str, Callable[[dict[str, Any]], str], bool]


def _currency(report: dict[str, Any]) -> str:
    # Reports written before the currency setting existed were in the default.
    return str(report["settings"].get("currency", "USD"))


def _theme_columns(currency: str) -> list[Column]:
    return [
        ("Theme", "name", lambda r: r["name"], False),
        ("Area", "area_name", lambda r: r.get("area_name") or "", False),
        ("Units", "units", lambda r: fmt_int(r["units"]), True),
        ("Trailing mean", "trailing_mean", lambda r: fmt_float(r["trailing_mean"]), True),
        ("Accounts", "accounts", lambda r: fmt_int(r["accounts"]), True),
        ("Revenue at stake", "revenue", lambda r: fmt_money(r["revenue"], currency), True),
        ("Roadmap item", "roadmap_item", lambda r: fmt_roadmap(r["roadmap_item"]), False),
        ("Owner", "owner", lambda r: fmt_owner(r["owner"]), False),
    ]


_TREND_COLUMNS: list[Column] = [
    ("Theme", "name", lambda r: r["name"], False),
    ("This week", "this_week", lambda r: fmt_int(r["this_week"]), True),
    ("Last week", "last_week", lambda r: fmt_int(r.get("last_week")), True),
    ("vs last week", "change_vs_last_week", lambda r: fmt_signed(r.get("change_vs_last_week"), 0), True),
    ("Trailing mean", "trailing_mean", lambda r: fmt_float(r["trailing_mean"]), True),
    ("Change", "change", lambda r: fmt_signed(r["change"]), True),
    ("Change %", "change_pct", lambda r: fmt_change_pct(r["change_pct"]), True),
    ("p", "p_value", lambda r: fmt_p(r["p_value"]), True),
    ("q (BH)", "q_value", lambda r: fmt_p(r["q_value"]), True),
    ("Owner", "owner", lambda r: fmt_owner(r["owner"]), False),
]

# (section id, title) in page order, for the table of contents.
_TOC = (
    ("summary", "Summary"),
    ("headline", "Headline"),
    ("areas", "Areas and their themes"),
    ("top-themes", "Top themes"),
    ("trends", "Rising and fading themes"),
    ("unplanned", "Unplanned demand"),
    ("channels", "Sales vs support"),
    ("alignment", "Alignment"),
    ("owners", "By owner"),
    ("triage", "Triage queue"),
    ("reconciliation", "How the figures add up"),
)


def render_html(report: dict[str, Any]) -> str:
    """The whole report as one HTML document (a string)."""
    parts: list[str] = []
    for section in _SECTIONS:
        section(report, parts.append)
    return "\n".join(parts)


def _head(report: dict[str, Any], add: Add) -> None:
    """Doctype, styles and the page title."""
    model = report["model"]
    add("<!DOCTYPE html>")
    add('<html lang="en"><head><meta charset="utf-8">')
    add('<meta name="viewport" content="width=device-width, initial-scale=1">')
    add(f"<title>Customer feedback themes, week {_e(report['week'])}</title>")
    add(f"<style>{_CSS}</style></head><body>")
    add(f"<header><h1>Customer feedback themes, week {_e(report['week'])}</h1>")
    add(
        f'<p class="sub">{_e(_period(report))} \u00b7 model {_e(model["version"])}, trained '
        f"{_e(fmt_date(model['created_at']))} \u00b7 compared with "
        f"{len(report['history']['weeks'])} trailing weeks \u00b7 generated "
        f"{_e(fmt_date(report['generated_at']))}</p></header>"
    )


def _summary(report: dict[str, Any], add: Add) -> None:
    """A few sentences from the figures, then the table of contents."""
    from feedback_nlp.report.compute import summary_sentences

    sentences = report.get("summary") or summary_sentences(report)
    add('<section id="summary"><h2>Summary</h2>')
    add(f'<p class="summary">{_e(" ".join(sentences))}</p></section>')
    toc = [(anchor, title) for anchor, title in _TOC if anchor != "alignment" or "alignment" in report]
    add(
        '<nav class="toc" aria-label="Contents"><ol>'
        + "".join(f'<li><a href="#{anchor}">{_e(title)}</a></li>' for anchor, title in toc)
        + "</ol></nav>"
    )


def _headline(report: dict[str, Any], add: Add) -> None:
    """Headline cards, the model, and the notes."""
    h = report["headline"]
    model = report["model"]
    add('<section id="headline"><h2>Headline</h2><div class="cards">')
    add(
        _card(
            "items",
            fmt_int(h["items"]),
            f"feedback items: tickets and call notes ({fmt_change_pct(h['items_change_pct'])} vs "
            f"trailing mean {fmt_float(h['items_trailing_mean'])})",
        )
    )
    add(
        _card(
            "units",
            fmt_int(h["units"]),
            f"feedback units: the single requests inside the items; one item can hold several "
            f"({fmt_change_pct(h['units_change_pct'])} vs trailing mean "
            f"{fmt_float(h['units_trailing_mean'])})",
        )
    )
    add(
        _card(
            "routed_share",
            fmt_pct(h["routed_share"]),
            f"routed to owners ({fmt_int(h['units_routed'])} units)",
        )
    )
    add(
        _card(
            "triage_share",
            fmt_pct(h["triage_share"]),
            f"left for triage ({fmt_int(h['units_triage'])} units)",
        )
    )
    add(_card("accounts", fmt_int(h["accounts"]), "accounts raising feedback"))
    add(
        _card(
            "revenue_at_stake",
            fmt_money(h["revenue_at_stake"], _currency(report)),
            "revenue at stake (ARR of those accounts, each counted once)",
        )
    )
    if "promise_gaps" in h:
        add(
            _card(
                "promise_gaps",
                fmt_int(h["promise_gaps"]),
                f"{'promise gap' if h['promise_gaps'] == 1 else 'promise gaps'} "
                f"(ARR {fmt_money(h['promise_gap_revenue'], _currency(report))})",
            )
        )
        add(
            _card(
                "enablement_gaps",
                fmt_int(h["enablement_gaps"]),
                f"{'enablement gap' if h['enablement_gaps'] == 1 else 'enablement gaps'} "
                f"({plural(h['enablement_gap_requests'], 'request')} for shipped items)",
            )
        )
    add("</div>")
    add(
        f'<p class="muted">Model <span data-key="model.version">{_e(model["version"])}</span>, trained '
        f'<span data-key="model.created_at">{_e(fmt_date(model["created_at"]))}</span>: '
        f"{fmt_int(model['n_themes'])} themes, {fmt_int(model['n_roadmap_items'])} roadmap items; unrouted "
        f"feedback goes to {_e(fmt_owner(model['default_owner']))}.</p>"
    )
    if report["notes"]:
        add(
            '<div class="notes" id="notes"><ul>'
            + "".join(f"<li>{_e(n)}</li>" for n in report["notes"])
            + "</ul></div>"
        )
    add("</section>")


_AREA_TREND_COLUMNS: list[Column] = [("Area", "name", lambda r: r["name"], False), *_TREND_COLUMNS[1:-1]]


def _areas(report: dict[str, Any], add: Add) -> None:
    """The volume chart stacked by area, each area's themes under it, and the rising and fading areas."""
    areas = report.get("areas")
    add('<section id="areas"><h2>Areas and their themes</h2>')
    add(
        _figure(
            charts.volume_chart(report["volume_over_weeks"]),
            "Feedback units per week by area, every unit counted (the report week is the last bar).",
            "No feedback in these weeks, so there is nothing to plot.",
            "chart-volume",
        )
    )
    if areas is None:  # a report written before areas existed
        add("</section>")
        return
    currency = _currency(report)
    flagged = areas["rising"] + areas["fading"]
    add("<h3>Rising and fading areas</h3>")
    add(
        _table(flagged, _AREA_TREND_COLUMNS, "area-trends")
        if flagged
        else '<p class="muted">No area rose or faded significantly this week.</p>'
    )
    for area in areas["rows"]:
        themes = [t for t in area["themes"] if t["units"]]
        if not area["units"]:
            continue
        add(
            f'<h3 id="area-{_e(area["id"])}">{_e(area["name"])} '
            f'<span class="muted">{_e(plural(area["units"], "unit"))} this week, '
            f"trailing mean {_e(fmt_float(area['trailing_mean']))}</span></h3>"
        )
        add(_table(themes, _theme_columns(currency), f"area-{area['id']}-themes"))
    add("</section>")


def _top_themes(report: dict[str, Any], add: Add) -> None:
    """The top themes by volume and by revenue."""
    add('<section id="top-themes"><h2>Top themes</h2>')
    currency = _currency(report)
    add("<h3>By volume</h3>")
    add(
        _table(report["top_by_volume"], _theme_columns(currency), "top-by-volume")
        if report["top_by_volume"]
        else '<p class="muted">No themed feedback this week.</p>'
    )
    add("<h3>By revenue at stake</h3>")
    add(
        '<p class="muted">Sum of the latest known ARR of the distinct accounts raising the theme this week; '
        "each account counts once per theme, so the themes add up to more than the headline when an account "
        'raised several (see <a href="#reconciliation">How the figures add up</a>). The table above holds '
        "the same rows with their figures.</p>"
    )
    add(
        _figure(
            charts.revenue_chart(report["top_by_revenue"], currency),
            "Revenue at stake per theme this week.",
            "No account with a known ARR raised a theme this week.",
            "chart-revenue",
        )
    )
    add("</section>")


def _trends(report: dict[str, Any], add: Add) -> None:
    """Rising and fading themes, new and retired ones."""
    trends = report["trends"]
    add('<section id="trends"><h2>Rising and fading themes</h2>')
    add(
        f'<p class="muted">Each theme\'s count this week against its mean over the trailing weeks: '
        f"{_e(trends['test'])}. Flagged when q &lt; {report['settings']['alpha']} and the count "
        f"(this week for rising, the trailing mean for fading) is at least "
        f"{report['settings']['min_count']}. The test uses the trailing mean; last week&#x27;s count is "
        "shown beside it, so a theme can rise against the mean while falling since last week.</p>"
    )
    add(
        _figure(
            charts.trend_chart(trends),
            "Change of each theme this week against its trailing weekly mean: green rising, red fading, "
            "grey not significant. Labels give this week's count vs the trailing mean.",
            "No trailing weeks to compare with, or no change.",
            "chart-trends",
        )
    )
    for direction in ("rising", "fading"):
        add(f'<h3 class="{direction}">{direction.capitalize()}</h3>')
        add(
            _table(trends[direction], _TREND_COLUMNS, f"{direction}-themes")
            if trends[direction]
            else f'<p class="muted" id="{direction}-none">No significantly {direction} theme this week.</p>'
        )
    add("<h3>New themes since the last model</h3>")
    if trends["new_themes"] is None:
        add('<p class="muted">No previous model to compare with.</p>')
    elif not trends["new_themes"]:
        add(f'<p class="muted">No new themes since {_e(trends["previous_model_version"])}.</p>')
    else:
        add(f'<p class="muted">Compared with {_e(trends["previous_model_version"])}.</p>')
        add(
            _table(
                trends["new_themes"],
                [
                    ("Theme", "name", lambda r: r["name"], False),
                    ("Units this week", "units", lambda r: fmt_int(r["units"]), True),
                    ("Roadmap item", "roadmap_item", lambda r: fmt_roadmap(r["roadmap_item"]), False),
                ],
                "new-themes",
            )
        )
    if trends["retired_themes"]:
        add(
            '<p class="muted">No longer in the model: '
            + _e(", ".join(t["name"] for t in trends["retired_themes"]))
            + ".</p>"
        )
    add("</section>")


def _unplanned(report: dict[str, Any], add: Add) -> None:
    """Themes with no roadmap item, and roadmap items with no evidence."""
    currency = _currency(report)
    add('<section id="unplanned"><h2>Unplanned demand</h2>')
    add('<p class="muted">Themes with no roadmap item, ranked by accounts and then revenue at stake.</p>')
    if report["unplanned"]:
        add(
            _table(
                report["unplanned"],
                [
                    ("Theme", "name", lambda r: r["name"], False),
                    ("Accounts", "accounts", lambda r: fmt_int(r["accounts"]), True),
                    ("Revenue at stake", "revenue", lambda r: fmt_money(r["revenue"], currency), True),
                    ("Units", "units", lambda r: fmt_int(r["units"]), True),
                ],
                "unplanned-table",
            )
        )
        for row in report["unplanned"]:
            add(f"<h3>{_e(row['name'])}</h3>{_quotes(row['quotes'])}")
    elif report.get("empty_week"):
        add(
            f'<p class="muted">No feedback was stored for {_e(report["week"])}, so there is no demand '
            "to show.</p>"
        )
    else:
        add('<p class="muted">All feedback this week maps to a roadmap item.</p>')
    add("<h3>Roadmap items with no evidence this week</h3>")
    if report["roadmap_without_evidence"]:
        add(
            _table(
                report["roadmap_without_evidence"],
                [
                    ("Item", "id", lambda r: r["id"], False),
                    ("Title", "title", lambda r: r["title"], False),
                    ("Status", "status", lambda r: r["status"], False),
                    ("Owner", "owner", lambda r: fmt_owner(r["owner"]), False),
                    ("Linked themes", "linked_themes", lambda r: str(len(r["linked_themes"])), True),
                    (
                        "Last evidence",
                        "last_evidence_at",
                        lambda r: (r["last_evidence_at"] or "")[:10] or "none in the period",
                        False,
                    ),
                ],
                "no-evidence",
            )
        )
    else:
        add('<p class="muted">Every roadmap item received feedback this week.</p>')
    add("</section>")


def _channels(report: dict[str, Any], add: Add) -> None:
    """Sales vs support."""
    channels = report["channels"]
    add('<section id="channels"><h2>Sales vs support</h2>')
    add(
        f'<p class="muted">This week: {fmt_int(channels["totals"]["call_note"])} units from call notes, '
        f"{fmt_int(channels['totals']['ticket'])} from tickets, "
        f"{fmt_int(channels['totals']['other_sources'])} from other sources "
        f"(call-note share {fmt_pct(channels['totals']['call_note_share'])}). A theme counts as heard in one "
        "channel only when that is unlikely under this mix (q &lt; "
        f"{report['settings']['alpha']}, at least {report['settings']['min_count']} units).</p>"
    )
    for key, label in (
        ("sales_only", "Heard only by sales (call notes, no tickets)"),
        ("support_only", "Heard only by support (tickets, no call notes)"),
    ):
        add(f'<p id="{key}"><strong>{_e(label)}:</strong> {_e(one_channel_text(channels, key))}</p>')
    if channels["by_theme"]:
        shown = channels["by_theme"][:CHANNEL_ROWS]
        add(
            _table(
                shown,
                [
                    ("Theme", "name", lambda r: r["name"], False),
                    ("Call notes", "call_note", lambda r: fmt_int(r["call_note"]), True),
                    ("Tickets", "ticket", lambda r: fmt_int(r["ticket"]), True),
                    ("Other", "other_sources", lambda r: fmt_int(r["other_sources"]), True),
                    ("Call-note share", "call_note_share", lambda r: fmt_pct(r["call_note_share"]), True),
                ],
                "channels-table",
            )
        )
        if len(channels["by_theme"]) > len(shown):
            add(
                f'<p class="muted">{len(channels["by_theme"]) - len(shown)} smaller themes are in the JSON '
                "file.</p>"
            )
    add("</section>")


def one_channel_text(channels: dict[str, Any], key: str) -> str:
    """What was observed in one channel only, then which of it is significant: the text never contradicts
    the table (a theme 3 of 3 call notes is listed even when the week's mix makes that unremarkable)."""
    unit = "call notes" if key == "sales_only" else "tickets"
    observed = channels.get(f"observed_{key}")
    significant = ", ".join(f"{r['name']} ({fmt_int(r['units'])})" for r in channels[key])
    if observed is None:  # a report written before the observed split was kept
        return (significant or "none") + "."
    if not observed:
        return f"observed: none; significant: {significant or 'none'}."
    seen = "; ".join(
        f"{r['name']} ({r['units']} of {plural(r['of'], 'unit')} {unit}"
        f"{', significant' if r['significant'] else ''})"
        for r in observed
    )
    return (
        f"observed this week: {seen}. Significant under the week's mix: {significant or 'none'}"
        + ("" if significant else " (the split could be chance at these counts)")
        + "."
    )


def _alignment_section(report: dict[str, Any], add: Add) -> None:
    # Reports written before alignment existed have no such section.
    if "alignment" in report:
        add(_alignment(report["alignment"], _currency(report)))


def _owners(report: dict[str, Any], add: Add) -> None:
    """One box per owner with their roadmap items, accounts and quotes."""
    currency = _currency(report)
    add('<section id="owners"><h2>By owner</h2>')
    add(
        '<p class="muted">An owner&#x27;s units are those routed to them or to their roadmap items; a '
        "roadmap "
        "item counts only the units routed to it, which can differ from its theme&#x27;s units (some go to "
        "triage, an item can be linked from several themes). Revenue counts each account once per owner and "
        'per item. <a href="#reconciliation">How the figures add up</a>.</p>'
    )
    if not report["owners"]:
        add('<p class="muted">No roadmap owners in this model.</p>')
    for position, section in enumerate(report["owners"], start=1):
        add(
            f'<div class="owner" data-owner="{_e(section["owner"])}">'
            f"<h3>{_e(fmt_owner(section['owner']))}</h3>"
        )
        add(
            f'<p><span data-key="units">{fmt_int(section["units"])}</span> units routed this week from '
            f'<span data-key="n_accounts">{fmt_int(section["n_accounts"])}</span> accounts, revenue at stake '
            f'<span data-key="revenue">{_e(fmt_money(section["revenue"], currency))}</span>.</p>'
        )
        if section["roadmap_items"]:
            add(
                _table(
                    section["roadmap_items"],
                    [
                        ("Item", "id", lambda r: r["id"], False),
                        ("Title", "title", lambda r: r["title"], False),
                        ("Status", "status", lambda r: r["status"], False),
                        ("Units", "units", lambda r: fmt_int(r["units"]), True),
                        ("Accounts", "accounts", lambda r: fmt_int(r["accounts"]), True),
                        ("Revenue at stake", "revenue", lambda r: fmt_money(r["revenue"], currency), True),
                    ],
                    f"owner-items-{position}",
                )
            )
        else:
            add('<p class="muted">No roadmap items.</p>')
        if section["units_without_roadmap_item"]:
            add(
                f'<p class="muted">{fmt_int(section["units_without_roadmap_item"])} units were routed '
                "here by theme without a roadmap item.</p>"
            )
        if section["accounts"]:
            shown = section["accounts"][:10]
            text = ", ".join(
                f"{fmt_account(a['account_id'], a.get('account_name'))} ({fmt_money(a['arr'], currency)})"
                for a in shown
            )
            more = len(section["accounts"]) - len(shown)
            add(f"<p><strong>Accounts:</strong> {_e(text)}{_e(f' and {more} more' if more > 0 else '')}.</p>")
        add(_quotes(section["quotes"], "No evidence arrived this week."))
        add("</div>")
    add("</section>")


def _triage(report: dict[str, Any], add: Add) -> None:
    """The triage queue."""
    model = report["model"]
    t = report["triage"]
    add('<section id="triage"><h2>Triage queue</h2>')
    add(
        f'<p><span data-key="units">{fmt_int(t["units"])}</span> units ({fmt_pct(t["share"])} of the week; '
        f"trailing mean {fmt_float(t['trailing_mean'])}, {fmt_change_pct(t['change_pct'])}) went to "
        f"{_e(fmt_owner(model['default_owner']))}: {fmt_int(t['no_theme'])} matched no theme, "
        f"{fmt_int(t['unplanned_theme'])} matched a theme with no roadmap item and "
        f"{fmt_int(t['low_confidence'])} matched a theme with too little confidence. They are a prompt to "
        "extend the roadmap or the themes.</p>"
    )
    if t["by_nearest_theme"]:
        add(
            _table(
                t["by_nearest_theme"],
                [
                    ("Nearest theme", "name", lambda r: r["name"], False),
                    ("Units", "units", lambda r: fmt_int(r["units"]), True),
                ],
                "triage-nearest",
            )
        )
    add(_quotes(t["examples"], "The triage queue is empty this week."))
    add("</section>")


def _reconciliation(report: dict[str, Any], add: Add) -> None:
    """Why the sections' sums differ from the headline, one sentence per difference."""
    notes = (report.get("reconciliation") or {}).get("notes")
    add('<section id="reconciliation"><h2>How the figures add up</h2>')
    if notes:
        add('<ul id="reconciliation-notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    else:
        add('<p class="muted">No feedback this week, so there is nothing to reconcile.</p>')
    add("</section>")


def _footer(report: dict[str, Any], add: Add) -> None:
    add(
        f"<footer>Feedback units are the single requests inside tickets and call notes. Weeks are ISO weeks "
        f"in UTC. Quotes are redacted before they are stored. Report schema {report['schema_version']}; "
        f"the same figures are in report-{_e(report['week'])}.json.</footer>"
    )
    add("</body></html>")


def _alignment(alignment: dict[str, Any], currency: str = "USD") -> str:
    """The "Alignment" section: promise gaps by ARR, enablement gaps by volume."""
    parts = ['<section id="alignment"><h2>Alignment</h2>', "<h3>Promise gaps</h3>"]
    parts.append(
        '<p class="muted">Commitments in call notes (promised, coming, committed or expected by a date '
        "or for a renewal) to an item that is parked, to no roadmap item, or dated before the item&#x27;s "
        "target; ranked by the account&#x27;s ARR.</p>"
    )
    promises = alignment["promise_gaps"]
    if promises:
        rows = [dict(row, row_id=f"{row['feedback_id']}#{row['unit_index']}") for row in promises]
        parts.append(
            _table(
                rows,
                [
                    (
                        "Account",
                        "account_id",
                        lambda r: fmt_account(r["account_id"], r.get("account_name")),
                        False,
                    ),
                    ("ARR", "arr", lambda r: fmt_money(r["arr"], currency), True),
                    ("Gap", "reason", lambda r: r["reason"].replace("_", " "), False),
                    ("Roadmap item", "roadmap_item", lambda r: fmt_roadmap(r["roadmap_item"]), False),
                    (
                        "Stated date",
                        "date_text",
                        lambda r: r["date_text"] or ("renewal" if r["renewal"] else "none"),
                        False,
                    ),
                    ("Owner", "owner", lambda r: fmt_owner(r["owner"]), False),
                    ("Quote", "quote", lambda r: r["quote"], False),
                ],
                "promise-gaps",
                row_key="row_id",
            )
        )
    else:
        parts.append('<p class="muted" id="promise-gaps-none">No promise gaps this week.</p>')
    parts.append("<h3>Enablement gaps</h3>")
    parts.append(
        '<p class="muted">Shipped roadmap items that customers still ask for as if missing (&#x201c;please '
        "add&#x201d;, &#x201c;when will&#x201d;, &#x201c;is there a way&#x201d;) after the ship date; "
        "ranked by the number of requests.</p>"
    )
    enablement = alignment["enablement_gaps"]
    if not enablement:
        parts.append('<p class="muted" id="enablement-gaps-none">No enablement gaps this week.</p>')
    else:
        rows = [dict(row, item_id=row["roadmap_item"]["id"]) for row in enablement]
        parts.append(
            _table(
                rows,
                [
                    ("Roadmap item", "roadmap_item", lambda r: fmt_roadmap(r["roadmap_item"]), False),
                    ("Shipped by", "shipped_by", lambda r: r["shipped_by"] or "unknown", False),
                    ("Requests", "units", lambda r: fmt_int(r["units"]), True),
                    ("Accounts", "n_accounts", lambda r: fmt_int(r["n_accounts"]), True),
                    ("Call notes", "call_note", lambda r: fmt_int(r["channels"]["call_note"]), True),
                    ("Tickets", "ticket", lambda r: fmt_int(r["channels"]["ticket"]), True),
                    ("Owner", "owner", lambda r: fmt_owner(r["owner"]), False),
                ],
                "enablement-gaps",
                row_key="item_id",
            )
        )
        for row in enablement:
            accounts = ", ".join(
                f"{fmt_account(a['account_id'], a.get('account_name'))} ({fmt_money(a['arr'], currency)})"
                for a in row["accounts"][:10]
            )
            more = len(row["accounts"]) - 10
            parts.append(
                f"<h4>{_e(fmt_roadmap(row['roadmap_item']))}</h4><p><strong>Accounts:</strong> "
                f"{_e(accounts or 'none known')}{_e(f' and {more} more' if more > 0 else '')}.</p>"
            )
            parts.append(_quotes(row["quotes"]))
    parts.append("</section>")
    return "".join(parts)


_SECTIONS: tuple[Callable[[dict[str, Any], Add], None], ...] = (
    _head,
    _summary,
    _headline,
    _areas,
    _top_themes,
    _trends,
    _unplanned,
    _channels,
    _alignment_section,
    _owners,
    _triage,
    _reconciliation,
    _footer,
)
