"""Render the report dict as Markdown for chat tools: the same headlines and figures as the HTML, no plots."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from feedback_nlp.report.formatting import (
    CHANNEL_ROWS,
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
    quote_citation,
)

# Characters that would end a table cell, style text, or open a link or raw HTML.
_SPECIAL = re.compile(r"[\\|*`<>]|(?<!\w)_|_(?!\w)|\[|\]")
# Redaction tokens such as [EMAIL] stay readable: without a following "(", "[" or ":" they cannot form a link.
_TOKEN = re.compile(r"\[[A-Z]+\](?![(\[:])")


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


def _table(
    rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, Callable[[dict[str, Any]], str], bool]]
) -> str:
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


_THEME_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], str], bool]] = [
    ("Theme", lambda r: r["name"], False),
    ("Units", lambda r: fmt_int(r["units"]), True),
    ("Trailing mean", lambda r: fmt_float(r["trailing_mean"]), True),
    ("Accounts", lambda r: fmt_int(r["accounts"]), True),
    ("Revenue at stake", lambda r: fmt_money(r["revenue"]), True),
    ("Roadmap item", lambda r: fmt_roadmap(r["roadmap_item"]), False),
    ("Owner", lambda r: fmt_owner(r["owner"]), False),
]

_TREND_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], str], bool]] = [
    ("Theme", lambda r: r["name"], False),
    ("This week", lambda r: fmt_int(r["this_week"]), True),
    ("Trailing mean", lambda r: fmt_float(r["trailing_mean"]), True),
    ("Change", lambda r: fmt_signed(r["change"]), True),
    ("Change %", lambda r: fmt_change_pct(r["change_pct"]), True),
    ("p", lambda r: fmt_p(r["p_value"]), True),
    ("q (BH)", lambda r: fmt_p(r["q_value"]), True),
    ("Owner", lambda r: fmt_owner(r["owner"]), False),
]


def render_markdown(report: dict[str, Any]) -> str:
    """The report's headlines and tables as a Markdown document (a string)."""
    h = report["headline"]
    model = report["model"]
    trends = report["trends"]
    out: list[str] = []
    add = out.append
    add(f"# Customer feedback themes, week {report['week']}\n")
    add(
        f"Model {_cell(model['version'])}, trained {fmt_date(model['created_at'])}; compared with "
        f"{len(report['history']['weeks'])} trailing weeks; generated {fmt_date(report['generated_at'])}.\n"
    )

    add("## Headline\n")
    add(
        f"- **{fmt_int(h['items'])}** feedback items ({fmt_change_pct(h['items_change_pct'])} vs "
        f"trailing mean {fmt_float(h['items_trailing_mean'])})"
    )
    add(
        f"- **{fmt_int(h['units'])}** feedback units ({fmt_change_pct(h['units_change_pct'])} vs "
        f"trailing mean {fmt_float(h['units_trailing_mean'])})"
    )
    add(
        f"- **{fmt_pct(h['routed_share'])}** routed to owners ({fmt_int(h['units_routed'])} units), "
        f"**{fmt_pct(h['triage_share'])}** left for triage ({fmt_int(h['units_triage'])} units)"
    )
    add(f"- **{fmt_int(h['accounts'])}** accounts, revenue at stake **{fmt_money(h['revenue_at_stake'])}**")
    if "promise_gaps" in h:
        add(
            f"- **{fmt_int(h['promise_gaps'])}** promise gaps (ARR **{fmt_money(h['promise_gap_revenue'])}**), "
            f"**{fmt_int(h['enablement_gaps'])}** enablement gaps ({fmt_int(h['enablement_gap_requests'])} "
            "requests for shipped items)"
        )
    add("")
    for note in report["notes"]:
        add(f"> Note: {_cell(note)}")
    if report["notes"]:
        add("")

    add("## Top themes by volume\n")
    add(
        _table(report["top_by_volume"], _THEME_COLUMNS)
        if report["top_by_volume"]
        else "_No themed feedback this week._"
    )
    add("\n## Top themes by revenue at stake\n")
    add(
        _table(report["top_by_revenue"], _THEME_COLUMNS)
        if report["top_by_revenue"]
        else "_No account with a known ARR raised a theme this week._"
    )

    add("\n## Rising themes\n")
    add(
        _table(trends["rising"], _TREND_COLUMNS)
        if trends["rising"]
        else "_No significantly rising theme this week._"
    )
    add("\n## Fading themes\n")
    add(
        _table(trends["fading"], _TREND_COLUMNS)
        if trends["fading"]
        else "_No significantly fading theme this week._"
    )
    add(
        f"\n_Test: {_cell(trends['test'])}; flagged when q < {report['settings']['alpha']} and the "
        f"count is at least {report['settings']['min_count']}._"
    )
    add("\n## New themes since the last model\n")
    if trends["new_themes"] is None:
        add("_No previous model to compare with._")
    elif not trends["new_themes"]:
        add(f"_No new themes since {_cell(trends['previous_model_version'])}._")
    else:
        add(
            _table(
                trends["new_themes"],
                [
                    ("Theme", lambda r: r["name"], False),
                    ("Units this week", lambda r: fmt_int(r["units"]), True),
                    ("Roadmap item", lambda r: fmt_roadmap(r["roadmap_item"]), False),
                ],
            )
        )

    add("\n## Unplanned demand\n")
    if report["unplanned"]:
        add(
            _table(
                report["unplanned"],
                [
                    ("Theme", lambda r: r["name"], False),
                    ("Accounts", lambda r: fmt_int(r["accounts"]), True),
                    ("Revenue at stake", lambda r: fmt_money(r["revenue"]), True),
                    ("Units", lambda r: fmt_int(r["units"]), True),
                ],
            )
        )
        for row in report["unplanned"]:
            add(f"\n### {_line(row['name'])}\n")
            add(_quotes(row["quotes"]))
    else:
        add("_All feedback this week maps to a roadmap item._")
    add("\n## Roadmap items with no evidence this week\n")
    if report["roadmap_without_evidence"]:
        add(
            _table(
                report["roadmap_without_evidence"],
                [
                    ("Item", lambda r: r["id"], False),
                    ("Title", lambda r: r["title"], False),
                    ("Status", lambda r: r["status"], False),
                    ("Owner", lambda r: fmt_owner(r["owner"]), False),
                    (
                        "Last evidence",
                        lambda r: (r["last_evidence_at"] or "")[:10] or "none in the period",
                        False,
                    ),
                ],
            )
        )
    else:
        add("_Every roadmap item received feedback this week._")

    channels = report["channels"]
    add("\n## Sales vs support\n")
    totals = channels["totals"]
    add(
        f"{fmt_int(totals['call_note'])} units from call notes, {fmt_int(totals['ticket'])} from tickets, "
        f"{fmt_int(totals['other_sources'])} from other sources (call-note share "
        f"{fmt_pct(totals['call_note_share'])}).\n"
    )
    for key, label in (("sales_only", "Heard only by sales"), ("support_only", "Heard only by support")):
        names = ", ".join(f"{r['name']} ({fmt_int(r['units'])})" for r in channels[key])
        add(f"- **{label}:** {_cell(names or 'none')}")
    add("")
    if channels["by_theme"]:
        shown = channels["by_theme"][:CHANNEL_ROWS]
        add(
            _table(
                shown,
                [
                    ("Theme", lambda r: r["name"], False),
                    ("Call notes", lambda r: fmt_int(r["call_note"]), True),
                    ("Tickets", lambda r: fmt_int(r["ticket"]), True),
                    ("Other", lambda r: fmt_int(r["other_sources"]), True),
                    ("Call-note share", lambda r: fmt_pct(r["call_note_share"]), True),
                ],
            )
        )
        if len(channels["by_theme"]) > len(shown):
            add(f"\n_{len(channels['by_theme']) - len(shown)} smaller themes are in the JSON file._")

    if "alignment" in report:
        _alignment(report["alignment"], add)

    add("\n## By owner\n")
    if not report["owners"]:
        add("_No roadmap owners in this model._")
    for section in report["owners"]:
        add(f"\n### {_line(fmt_owner(section['owner']))}\n")
        add(
            f"{fmt_int(section['units'])} units routed this week from "
            f"{fmt_int(section['n_accounts'])} accounts, revenue at stake {fmt_money(section['revenue'])}.\n"
        )
        if section["roadmap_items"]:
            add(
                _table(
                    section["roadmap_items"],
                    [
                        ("Item", lambda r: r["id"], False),
                        ("Title", lambda r: r["title"], False),
                        ("Status", lambda r: r["status"], False),
                        ("Units", lambda r: fmt_int(r["units"]), True),
                        ("Accounts", lambda r: fmt_int(r["accounts"]), True),
                        ("Revenue at stake", lambda r: fmt_money(r["revenue"]), True),
                    ],
                )
            )
            add("")
        add(_quotes(section["quotes"], "_No evidence arrived this week._"))

    t = report["triage"]
    add("\n## Triage queue\n")
    add(
        f"{fmt_int(t['units'])} units ({fmt_pct(t['share'])} of the week; trailing mean "
        f"{fmt_float(t['trailing_mean'])}, {fmt_change_pct(t['change_pct'])}) went to "
        f"{_cell(fmt_owner(model['default_owner']))}: {fmt_int(t['no_theme'])} matched no theme, "
        f"{fmt_int(t['unplanned_theme'])} matched a theme with no roadmap item, "
        f"{fmt_int(t['low_confidence'])} matched a theme with too little confidence.\n"
    )
    add(_quotes(t["examples"], "_The triage queue is empty this week._"))
    add("")
    return "\n".join(out)


def _alignment(alignment: dict[str, Any], add: Callable[[str], None]) -> None:
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
                    ("Account", lambda r: r["account_id"] or "unknown", False),
                    ("ARR", lambda r: fmt_money(r["arr"]), True),
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
                    row["account_id"] and f"account {row['account_id']}",
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
        "_Shipped roadmap items that customers still ask for as if missing (\u201cplease add\u201d, \u201cwhen "
        "will\u201d, \u201cis there a way\u201d) after the ship date: the field and the customers do not know._\n"
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
        accounts = ", ".join(f"{a['account_id']} ({fmt_money(a['arr'])})" for a in row["accounts"][:10])
        more = len(row["accounts"]) - 10
        add(f"Accounts: {_cell(accounts or 'none known')}{f' and {more} more' if more > 0 else ''}.\n")
        add(_quotes(row["quotes"]))
