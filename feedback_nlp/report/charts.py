"""The report's plots as inline SVG strings, drawn with matplotlib without pyplot or a global backend.

Text stays text (``svg.fonttype = none``) so the SVG is small and searchable; the XML prolog, DOCTYPE and
metadata block are stripped so the markup can sit inside HTML and refers to nothing outside it.
"""

from __future__ import annotations

import io
import re
from typing import Any

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from matplotlib.typing import RcKeyType

from feedback_nlp.report.formatting import fmt_money

_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,  # theme names may contain "$"; never treat them as TeX
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
# tab10 with its grey swapped for navy (grey is kept for "no theme"), then tab20's light shades: up to 20
# areas get their own colour, and past that the colours repeat with a hatch (areas are about 8 to 25)
_PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#393b79",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#9c9ede",
    "#dbdb8d",
    "#9edae5",
]
_GREY = "#b0b0b0"
_RISING = "#2e7d32"
_FADING = "#c62828"
_LABEL_CHARS = 40


def _label(text: str) -> str:
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "\u2026"


def _to_svg(fig: Figure, name: str) -> str:
    buffer = io.StringIO()
    # A fixed salt makes the generated ids, and so the whole file, the same from run to run.
    with matplotlib.rc_context({**_RC, "svg.hashsalt": "feedback-nlp"}):
        FigureCanvasSVG(fig).print_svg(buffer, metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = re.sub(r"<\?xml[^>]*\?>\s*", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.DOTALL)
    # matplotlib numbers its ids per figure (figure_1, axes_1...); prefix them, and every reference to them,
    # so that the charts sharing one HTML page have unique ids.
    svg = re.sub(r'\bid="', f'id="chart-{name}-', svg)
    svg = re.sub(r'\bhref="#', f'href="#chart-{name}-', svg)
    svg = svg.replace("url(#", f"url(#chart-{name}-")
    return svg.strip()


def volume_chart(volume: dict[str, Any]) -> str | None:
    """Stacked weekly bars: every area (each unit counted in its theme's area), and units with no theme."""
    weeks = volume["weeks"]
    if not weeks or not any(volume["total"]):
        return None
    # (label, counts, colour, hatch): areas in colour, units with no theme in hatched grey
    layers: list[tuple[str, list[int], str, str | None]] = [
        (_label(s["name"]), s["counts"], _PALETTE[i % len(_PALETTE)], "xx" if i >= len(_PALETTE) else None)
        for i, s in enumerate(volume["series"])
    ]
    layers.append(("no theme", volume["no_theme"], _GREY, "//"))
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(9, 3.8))
        ax = fig.add_subplot()
        bottom = [0] * len(weeks)
        for name, counts, color, hatch in layers:
            if not any(counts):
                continue
            ax.bar(
                range(len(weeks)),
                counts,
                bottom=bottom,
                label=name,
                color=color,
                hatch=hatch,
                edgecolor="white",
                linewidth=0.5,
            )
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        ax.set_xticks(range(len(weeks)), weeks, rotation=45, ha="right")
        ax.get_xticklabels()[-1].set_fontweight("bold")  # the report week
        ax.set_ylabel("feedback units")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
        fig.subplots_adjust(left=0.07, right=0.7, bottom=0.25, top=0.95)
    return _to_svg(fig, "volume")


def trend_chart(trends: dict[str, Any], limit: int = 12) -> str | None:
    """Horizontal bars of this week minus the trailing mean; flagged themes coloured, the rest grey."""
    flagged = trends["rising"] + trends["fading"]
    flagged_ids = {row["id"] for row in flagged}
    others = sorted(
        (r for r in trends["tested"] if r["id"] not in flagged_ids and r["change"] != 0),
        key=lambda r: (-abs(r["change"]), r["id"]),
    )
    rows = (flagged + others)[:limit]
    if not rows:
        return None
    rows.sort(key=lambda r: r["change"])
    colors = [
        _RISING if r["direction"] == "rising" else _FADING if r["direction"] == "fading" else _GREY
        for r in rows
    ]
    labels = [f"{_label(r['name'])} ({r['this_week']} vs {r['trailing_mean']:.1f})" for r in rows]
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(9, 0.45 * len(rows) + 1.0))
        ax = fig.add_subplot()
        ax.barh(range(len(rows)), [r["change"] for r in rows], color=colors)
        ax.set_yticks(range(len(rows)), labels)
        ax.axvline(0, color="#444444", linewidth=0.8)
        ax.set_xlabel("units this week minus the trailing weekly mean")
        fig.subplots_adjust(left=0.42, right=0.97, bottom=0.8 / (0.45 * len(rows) + 1.0), top=0.97)
    return _to_svg(fig, "trends")


def revenue_chart(top_by_revenue: list[dict[str, Any]], currency: str | None = None) -> str | None:
    """Horizontal bars of revenue at stake (distinct-account ARR) for the top themes, in ``currency``."""
    rows = [r for r in top_by_revenue if r["revenue"] > 0]
    if not rows:
        return None
    rows = list(reversed(rows))  # largest at the top
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(9, 0.45 * len(rows) + 1.0))
        ax = fig.add_subplot()
        bars = ax.barh(range(len(rows)), [r["revenue"] for r in rows], color=_PALETTE[0])
        ax.set_yticks(range(len(rows)), [_label(r["name"]) for r in rows])
        ax.bar_label(
            bars,
            labels=[f"{fmt_money(r['revenue'], currency)} ({r['accounts']} acc.)" for r in rows],
            padding=3,
            fontsize=8,
        )
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: fmt_money(value, currency)))
        ax.set_xlabel("revenue at stake: ARR of distinct accounts raising the theme this week")
        ax.margins(x=0.25)
        fig.subplots_adjust(left=0.32, right=0.97, bottom=0.8 / (0.45 * len(rows) + 1.0), top=0.97)
    return _to_svg(fig, "revenue")
