"""Render the report dict as Markdown for chat tools: the same headlines and figures as the HTML, no plots."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

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

# Characters that would end a table cell, style text, or open a link or raw HTML.
_SPECIAL = re.compile(r"[\\|*`<>]|(?<!\w)_|_(?!\w)|\[|\]")
# Redaction tokens such as [EMAIL] stay readable: without a following "(", "[" or ":" they cannot form a link.
_TOKEN = re.compile(r"\[[A-Z]+\](?![(\[:])")

# A table column: heading, how to format a row's cell, and whether it is numeric (right-aligned).
Columns = Sequence[tuple[str, Callable[[dict[str, Any]], str], bool]]
# Each section appends its lines through this.
Add = Callable[[str], None]


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell or quote: one line, no markup of its own."""
    text = " ".join(str(value).split())
    parts = []
    position = 0
    for token in _TOKEN.finditer(text):
        parts.append(_SPECIAL.sub(lambda m: "\\" + m.group(0), text[position : token.start()]))
        parts.append(token.group(0))
        position = token.end()
    parts.append(_SPECIAL.sub(lambda m: "\\" + m.group(0), text[position:]))
    return "".join(parts)


def _line(value: Any) -> str:
    """Like :func:`_cell`, for text that starts a line (quotes, headings) where "#" or "-" would be markup."""
    escaped = _cell(value)
    return "\\" + escaped if escaped[:1] in ("#", "+", "-", "=") else escaped


def _table(rows: Sequence[dict[str, Any]], columns: Columns) -> str:
    head = "| " + " | ".join(h for h, _, _ in columns) + " |"
    rule = "|" + "|".join("---:" if num else "---" for _, _, num in columns) + "|"
    body = ["| " + " | ".join(_cell(fmt(r)) for _, fmt, _ in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def _quotes(quotes: Sequence[dict[str, Any]], empty: str = "_No quotes._") -> str:
    if not quotes:
        return empty
    lines = []
    for q in quotes:
        cite = quote_citation(q)
        lines.append(f"> {_line(q['text'])}\n> \u2014 {_cell(cite)}")
    return "\n\n".join(lines)


def _currency(report: dict[str, Any]) -> str:
    # Reports written before the currency setting existed were in the default.
    return str(report["settings"].get("currency", "USD"))


def _theme_columns(currency: str) -> Columns:
    return [
        ("Theme", lambda r: r["name"], False),
        ("Area", lambda r: r.get("area_name") or "", False),
        ("Units", lambda r: fmt_int(r["units"]), True),
        ("Trailing mean", lambda r: fmt_float(r["trailing_mean"]), True),
        ("Accounts", lambda r: fmt_int(r["accounts"]), True),
        ("Revenue at stake", lambda r: fmt_money(r["revenue"], currency), True),
        ("Roadmap item", lambda r: fmt_roadmap(r["roadmap_item"]), False),
        ("Owner", lambda r: fmt_owner(r["owner"]), False),
    ]


_TREND_COLUMNS: Columns = [
    ("Theme", lambda r: r["name"], False),
    ("This week", lambda r: fmt_int(r["this_week"]), True),
    ("Last week", lambda r: fmt_int(r.get("last_week")), True),
    ("vs last week", lambda r: fmt_signed(r.get("change_vs_last_week"), 0), True),
    ("Trailing mean", lambda r: fmt_float(r["trailing_mean"]), True),
    ("Change", lambda r: fmt_signed(r["change"]), True),
    ("Change %", lambda r: fmt_change_pct(r["change_pct"]), True),
    ("p", lambda r: fmt_p(r["p_value"]), True),
    ("q (BH)", lambda r: fmt_p(r["q_value"]), True),
    ("Owner", lambda r: fmt_owner(r["owner"]), False),
]


_NEW_THEME_COLUMNS: Columns = [
    ("Theme", lambda r: r["name"], False),
    ("Units this week", lambda r: fmt_int(r["units"]), True),
    ("Roadmap item", lambda r: fmt_roadmap(r["roadmap_item"]), False),
]


def _unplanned_columns(currency: str) -> Columns:
    return [
        ("Theme", lambda r: r["name"], False),
        ("Accounts", lambda r: fmt_int(r["accounts"]), True),
        ("Revenue at stake", lambda r: fmt_money(r["revenue"], currency), True),
        ("Units", lambda r: fmt_int(r["units"]), True),
    ]


_NO_EVIDENCE_COLUMNS: Columns = [
    ("Item", lambda r: r["id"], False),
    ("Title", lambda r: r["title"], False),
    ("Status", lambda r: r["status"], False),
    ("Owner", lambda r: fmt_owner(r["owner"]), False),
    ("Last evidence", lambda r: (r["last_evidence_at"] or "")[:10] or "none in the period", False),
]

_CHANNEL_COLUMNS: Columns = [
    ("Theme", lambda r: r["name"], False),
    ("Call notes", lambda r: fmt_int(r["call_note"]), True),
    ("Tickets", lambda r: fmt_int(r["ticket"]), True),
    ("Other", lambda r: fmt_int(r["other_sources"]), True),
    ("Call-note share", lambda r: fmt_pct(r["call_note_share"]), True),
]


def _owner_item_columns(currency: str) -> Columns:
    return [
        ("Item", lambda r: r["id"], False),
        ("Title", lambda r: r["title"], False),
        ("Status", lambda r: r["status"], False),
        ("Units", lambda r: fmt_int(r["units"]), True),
        ("Accounts", lambda r: fmt_int(r["accounts"]), True),
        ("Revenue at stake", lambda r: fmt_money(r["revenue"], currency), True),
    ]


# Section headings in document order, for the table of contents.
_TOC = (
    "Summary",
    "Headline",
    "Areas and their themes",
    "Rising and fading areas",
    "Top themes by volume",
    "Rising themes",
    "Fading themes",
    "New themes since the last model",
    "Unplanned demand",
    "Roadmap items with no evidence this week",
    "Sales vs support",
    "Alignment",
    "By owner",
    "Triage queue",
    "How the figures add up",
)


def _anchor(heading: str) -> str:
    """The anchor GitHub and most Markdown renderers give a heading."""
    return re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")


def render_markdown(report: dict[str, Any]) -> str:
    """The report's headlines and tables as a Markdown document (a string)."""
    out: list[str] = []
    for section in _SECTIONS:
        section(report, out.append)
    out.append("")
    return "\n".join(out)


def _title(report: dict[str, Any], add: Add) -> None:
    model = report["model"]
    add(f"# Customer feedback themes, week {report['week']}\n")
    add(
        f"Model {_cell(model['version'])}, trained {fmt_date(model['created_at'])}; compared with "
        f"{len(report['history']['weeks'])} trailing weeks; generated {fmt_date(report['generated_at'])}.\n"
    )


def _summary(report: dict[str, Any], add: Add) -> None:
    from feedback_nlp.report.compute import summary_sentences

    add("## Summary\n")
    add(_cell(" ".join(report.get("summary") or summary_sentences(report))) + "\n")
    add(
        "Contents: "
        + " \u00b7 ".join(f"[{h}](#{_anchor(h)})" for h in _TOC if h != "Alignment" or "alignment" in report)
        + "\n"
    )


def _headline(report: dict[str, Any], add: Add) -> None:
    h = report["headline"]
    add("## Headline\n")
    add(
        f"- **{fmt_int(h['items'])}** feedback items, the tickets and call notes received "
        f"({fmt_change_pct(h['items_change_pct'])} vs trailing mean {fmt_float(h['items_trailing_mean'])})"
    )
    add(
        f"- **{fmt_int(h['units'])}** feedback units ({fmt_change_pct(h['units_change_pct'])} vs "
        f"trailing mean {fmt_float(h['units_trailing_mean'])}): the single requests inside the items, "
        "one item can hold several"
    )
    add(
        f"- **{fmt_pct(h['routed_share'])}** routed to owners ({fmt_int(h['units_routed'])} units), "
        f"**{fmt_pct(h['triage_share'])}** left for triage ({fmt_int(h['units_triage'])} units)"
    )
    currency = _currency(report)
    add(
        f"- **{fmt_int(h['accounts'])}** accounts, revenue at stake "
        f"**{fmt_money(h['revenue_at_stake'], currency)}** (each account counted once)"
    )
    if "promise_gaps" in h:
        gaps = plural(h["promise_gaps"], "promise gap").split(" ", 1)
        enablement = plural(h["enablement_gaps"], "enablement gap").split(" ", 1)
        add(
            f"- **{gaps[0]}** {gaps[1]} "
            f"(ARR **{fmt_money(h['promise_gap_revenue'], currency)}**), "
            f"**{enablement[0]}** {enablement[1]} ({plural(h['enablement_gap_requests'], 'request')} "
            "for shipped items)"
        )
    add("")
    for note in report["notes"]:
        add(f"> Note: {_cell(note)}")
    if report["notes"]:
        add("")


def _table_or(rows: Sequence[dict[str, Any]], columns: Columns, empty: str) -> str:
    return _table(rows, columns) if rows else empty


def _area_columns(currency: str) -> Columns:
    return [
        ("Area / theme", lambda r: f"Area: {r['name']}" if "themes" in r else r["name"], False),
        ("Units", lambda r: fmt_int(r["units"]), True),
        ("Trailing mean", lambda r: fmt_float(r["trailing_mean"]), True),
        ("Accounts", lambda r: fmt_int(r["accounts"]), True),
        ("Revenue at stake", lambda r: fmt_money(r["revenue"], currency), True),
        ("Roadmap item", lambda r: "" if "themes" in r else fmt_roadmap(r["roadmap_item"]), False),
    ]


_AREA_TREND_COLUMNS: Columns = [("Area", lambda r: r["name"], False), *_TREND_COLUMNS[1:-1]]


def _areas(report: dict[str, Any], add: Add) -> None:
    """Every area with its themes under it (this week's units), then the rising and fading areas."""
    areas = report.get("areas")
    if areas is None:  # a report written before areas existed
        return
    currency = _currency(report)
    add("## Areas and their themes\n")
    rows = [row for area in areas["rows"] for row in (area, *(t for t in area["themes"] if t["units"]))]
    add(_table_or(rows, _area_columns(currency), "_No themed feedback this week._"))
    add("\n## Rising and fading areas\n")
    flagged = areas["rising"] + areas["fading"]
    add(_table_or(flagged, _AREA_TREND_COLUMNS, "_No area rose or faded significantly this week._"))
    add("")


def _top_themes(report: dict[str, Any], add: Add) -> None:
    currency = _currency(report)
    add("## Top themes by volume\n")
    add(_table_or(report["top_by_volume"], _theme_columns(currency), "_No themed feedback this week._"))
    # The revenue ranking has the same rows as the table above: one line, not a second table.
    ranking = ", ".join(
        f"{r['name']} ({fmt_money(r['revenue'], currency)})" for r in report["top_by_revenue"]
    )
    add(
        f"\nBy revenue at stake: {_cell(ranking or 'no account with a known ARR raised a theme this week')}. "
        "Each account counts once per theme, so the themes add up to more than the headline when an account "
        "raised several ([How the figures add up](#how-the-figures-add-up))."
    )


def _trends(report: dict[str, Any], add: Add) -> None:
    trends = report["trends"]
    add("\n## Rising themes\n")
    add(_table_or(trends["rising"], _TREND_COLUMNS, "_No significantly rising theme this week._"))
    add("\n## Fading themes\n")
    add(_table_or(trends["fading"], _TREND_COLUMNS, "_No significantly fading theme this week._"))
    add(
        f"\n_Test: {_cell(trends['test'])}; flagged when q < {report['settings']['alpha']} and the "
        f"count is at least {report['settings']['min_count']}. The test uses the trailing mean; last week's "
        "count is shown beside it, so a theme can rise against the mean while falling since last week._"
    )


def _new_themes(report: dict[str, Any], add: Add) -> None:
    trends = report["trends"]
    add("\n## New themes since the last model\n")
    if trends["new_themes"] is None:
        add("_No previous model to compare with._")
    elif not trends["new_themes"]:
        add(f"_No new themes since {_cell(trends['previous_model_version'])}._")
    else:
        add(_table(trends["new_themes"], _NEW_THEME_COLUMNS))


def _unplanned(report: dict[str, Any], add: Add) -> None:
    add("\n## Unplanned demand\n")
    if not report["unplanned"]:
        if report.get("empty_week"):
            add(f"_No feedback was stored for {_cell(report['week'])}, so there is no demand to show._")
        else:
            add("_All feedback this week maps to a roadmap item._")
        return
    add(_table(report["unplanned"], _unplanned_columns(_currency(report))))
    for row in report["unplanned"]:
        add(f"\n### {_line(row['name'])}\n")
        add(_quotes(row["quotes"]))


def _roadmap_without_evidence(report: dict[str, Any], add: Add) -> None:
    add("\n## Roadmap items with no evidence this week\n")
    add(
        _table_or(
            report["roadmap_without_evidence"],
            _NO_EVIDENCE_COLUMNS,
            "_Every roadmap item received feedback this week._",
        )
    )


def _channels(report: dict[str, Any], add: Add) -> None:
    channels = report["channels"]
    add("\n## Sales vs support\n")
    totals = channels["totals"]
    add(
        f"{fmt_int(totals['call_note'])} units from call notes, {fmt_int(totals['ticket'])} from tickets, "
        f"{fmt_int(totals['other_sources'])} from other sources (call-note share "
        f"{fmt_pct(totals['call_note_share'])}).\n"
    )
    from feedback_nlp.report.render_html import one_channel_text

    for key, label in (("sales_only", "Heard only by sales"), ("support_only", "Heard only by support")):
        add(f"- **{label}:** {_cell(one_channel_text(channels, key))}")
    add("")
    if channels["by_theme"]:
        shown = channels["by_theme"][:CHANNEL_ROWS]
        add(_table(shown, _CHANNEL_COLUMNS))
        if len(channels["by_theme"]) > len(shown):
            add(f"\n_{len(channels['by_theme']) - len(shown)} smaller themes are in the JSON file._")


def _alignment_section(report: dict[str, Any], add: Add) -> None:
    # Reports written before alignment existed have no such section.
    if "alignment" in report:
        _alignment(report["alignment"], add, _currency(report))


def _owners(report: dict[str, Any], add: Add) -> None:
    currency = _currency(report)
    add("\n## By owner\n")
    add(
        "_An owner's units are those routed to them or to their roadmap items; a roadmap item counts only "
        "the units routed to it, which can differ from its theme's units. Revenue counts each account once "
        "per owner and per item ([How the figures add up](#how-the-figures-add-up))._"
    )
    if not report["owners"]:
        add("_No roadmap owners in this model._")
    for section in report["owners"]:
        add(f"\n### {_line(fmt_owner(section['owner']))}\n")
        add(
            f"{fmt_int(section['units'])} units routed this week from "
            f"{fmt_int(section['n_accounts'])} accounts, revenue at stake "
            f"{fmt_money(section['revenue'], currency)}.\n"
        )
        if section["roadmap_items"]:
            add(_table(section["roadmap_items"], _owner_item_columns(currency)))
            add("")
        add(_quotes(section["quotes"], "_No evidence arrived this week._"))


def _triage(report: dict[str, Any], add: Add) -> None:
    t = report["triage"]
    add("\n## Triage queue\n")
    add(
        f"{fmt_int(t['units'])} units ({fmt_pct(t['share'])} of the week; trailing mean "
        f"{fmt_float(t['trailing_mean'])}, {fmt_change_pct(t['change_pct'])}) went to "
        f"{_cell(fmt_owner(report['model']['default_owner']))}: {fmt_int(t['no_theme'])} matched no theme, "
        f"{fmt_int(t['unplanned_theme'])} matched a theme with no roadmap item, "
        f"{fmt_int(t['low_confidence'])} matched a theme with too little confidence.\n"
    )
    add(_quotes(t["examples"], "_The triage queue is empty this week._"))


def _reconciliation(report: dict[str, Any], add: Add) -> None:
    notes = (report.get("reconciliation") or {}).get("notes")
    add("\n## How the figures add up\n")
    if not notes:
        add("_No feedback this week, so there is nothing to reconcile._")
    for note in notes or []:
        add(f"- {_cell(note)}")


def _alignment(alignment: dict[str, Any], add: Add, currency: str = "USD") -> None:
    """The "Alignment" section: promise gaps by ARR, enablement gaps by volume."""
    add("\n## Alignment\n")
    add("### Promise gaps\n")
    add(
        "_Commitments in call notes (promised, coming, committed or expected by a date or for a renewal) to "
        "an item that is parked, to no roadmap item, or dated before the item's target._\n"
    )
    promises = alignment["promise_gaps"]
    if promises:
        add(
            _table(
                promises,
                [
                    ("Account", lambda r: fmt_account(r["account_id"], r.get("account_name")), False),
                    ("ARR", lambda r: fmt_money(r["arr"], currency), True),
                    ("Gap", lambda r: r["reason"].replace("_", " "), False),
                    ("Roadmap item", lambda r: fmt_roadmap(r["roadmap_item"]), False),
                    (
                        "Stated date",
                        lambda r: r["date_text"] or ("renewal" if r["renewal"] else "none"),
                        False,
                    ),
                    ("Owner", lambda r: fmt_owner(r["owner"]), False),
                ],
            )
        )
        add("")
        for row in promises:
            cite = " \u00b7 ".join(
                x
                for x in (
                    row["detail"],
                    row["source"],
                    row["account_id"]
                    and f"account {fmt_account(row['account_id'], row.get('account_name'))}",
                    (row["created_at"] or "")[:10],
                    row["feedback_id"],
                )
                if x
            )
            add(f"> {_line(row['quote'])}\n> \u2014 {_cell(cite)}\n")
    else:
        add("_No promise gaps this week._\n")
    add("### Enablement gaps\n")
    add(
        "_Shipped roadmap items that customers still ask for as if missing "
        "(\u201cplease add\u201d, \u201cwhen will\u201d, \u201cis there a way\u201d) after the ship date: "
        "the field and the customers do not know._\n"
    )
    enablement = alignment["enablement_gaps"]
    if not enablement:
        add("_No enablement gaps this week._")
        return
    add(
        _table(
            enablement,
            [
                ("Roadmap item", lambda r: fmt_roadmap(r["roadmap_item"]), False),
                ("Shipped by", lambda r: r["shipped_by"] or "unknown", False),
                ("Requests", lambda r: fmt_int(r["units"]), True),
                ("Accounts", lambda r: fmt_int(r["n_accounts"]), True),
                ("Call notes", lambda r: fmt_int(r["channels"]["call_note"]), True),
                ("Tickets", lambda r: fmt_int(r["channels"]["ticket"]), True),
                ("Owner", lambda r: fmt_owner(r["owner"]), False),
            ],
        )
    )
    for row in enablement:
        add(f"\n#### {_line(fmt_roadmap(row['roadmap_item']))}\n")
        accounts = ", ".join(
            f"{fmt_account(a['account_id'], a.get('account_name'))} ({fmt_money(a['arr'], currency)})"
            for a in row["accounts"][:10]
        )
        more = len(row["accounts"]) - 10
        add(f"Accounts: {_cell(accounts or 'none known')}{f' and {more} more' if more > 0 else ''}.\n")
        add(_quotes(row["quotes"]))


_SECTIONS: tuple[Callable[[dict[str, Any], Add], None], ...] = (
    _title,
    _summary,
    _headline,
    _areas,
    _top_themes,
    _trends,
    _new_themes,
    _unplanned,
    _roadmap_without_evidence,
    _channels,
    _alignment_section,
    _owners,
    _triage,
    _reconciliation,
)
