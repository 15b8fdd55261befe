"""Slack messages in Block Kit: header, sections and context blocks (Slack renders no Markdown tables).

Limits kept (api.slack.com/reference/block-kit/blocks): at most 50 blocks, header text 150 characters,
section text 3,000 characters, 10 fields per section. Customer text is escaped (``&``, ``<``, ``>``) so a
quote cannot become a link or a mention. A top-level ``text`` is the notification's fallback.
"""

from __future__ import annotations

import json
from typing import Any

from feedback_nlp.notify.alerts import Alert
from feedback_nlp.notify.digest import OwnerDigest
from feedback_nlp.report.formatting import fmt_money

MAX_BLOCKS = 50
_HEADER_CHARS = 150
_SECTION_CHARS = 3000


def escape(text: str) -> str:
    """Text safe inside Slack mrkdwn (the three characters Slack asks to escape)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def quote(text: str) -> str:
    """Customer text as a Slack block quote (every line marked, escaped)."""
    return "\n".join(f">{escape(line)}" for line in text.splitlines() or [""])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": _clip(text, _HEADER_CHARS), "emoji": False},
    }


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(mrkdwn, _SECTION_CHARS)}}


def _context(mrkdwn: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(mrkdwn, _SECTION_CHARS)}]}


def _button(text: str, url: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [{"type": "button", "text": {"type": "plain_text", "text": text}, "url": url}],
    }


def _change(pct: float | None) -> str:
    return "" if pct is None else f" ({pct:+.0%} vs trailing mean)"


def digest_blocks(digest: OwnerDigest) -> dict[str, Any]:
    """The digest as a Slack message: ``{"text": fallback, "blocks": [...]}``."""
    summary = (
        f"{digest.units} feedback units routed to you in {digest.week}, from {digest.n_accounts} accounts "
        f"({fmt_money(digest.revenue, digest.currency)} ARR)"
    )
    blocks: list[dict[str, Any]] = [
        _header(f"Feedback digest {digest.week}: {digest.owner}"),
        _section(escape(summary)),
    ]
    if digest.themes:
        lines = "\n".join(f"\u2022 *{escape(t.name)}*: {t.units}" for t in digest.themes)
        blocks.append(_section(f"*Your themes*\n{lines}"))
    if digest.rising:
        lines = "\n".join(
            f"\u2022 *{escape(t.name)}*: {t.units}{_change(t.change_pct)}" for t in digest.rising
        )
        blocks.append(_section(f"*Rising*\n{lines}"))
    if digest.roadmap_items:
        lines = "\n".join(
            f"\u2022 {escape(i.id)} {escape(i.title)} ({escape(i.status)}): {i.units}"
            for i in digest.roadmap_items
        )
        blocks.append(_section(f"*Roadmap items*\n{lines}"))
    if digest.quotes:
        blocks.append({"type": "divider"})
        for q in digest.quotes:
            blocks.append(_section(quote(q.text)))
            theme = f" \u00b7 {escape(q.theme_name)}" if q.theme_name else ""
            account = f" \u00b7 account {escape(q.account_id)}" if q.account_id else ""
            blocks.append(_context(f"feedback `{escape(q.item_id)}`{theme}{account}"))
    blocks.append(_button("Open in the workbench", digest.link))
    return {"text": _clip(summary, _SECTION_CHARS), "blocks": blocks[:MAX_BLOCKS]}


def alert_blocks(alert: Alert) -> dict[str, Any]:
    """One alert as a Slack message."""
    why = ", ".join(alert.reasons)
    title = f"Feedback for {alert.owner}: {alert.theme_name or 'no theme'}"
    facts = [f"feedback `{escape(alert.item_id)}`", f"why: {escape(why)}"]
    if alert.roadmap_item:
        facts.append(f"roadmap: {escape(alert.roadmap_item)}")
    if alert.account_id:
        arr = f" ({alert.account_arr:,.0f} ARR)" if alert.account_arr is not None else ""
        facts.append(f"account {escape(alert.account_id)}{arr}")
    blocks = [
        _header(title),
        _section(quote(alert.text)),
        _context(" \u00b7 ".join(facts)),
        _button("Open in the workbench", alert.link),
    ]
    return {"text": _clip(f"{title} ({why})", _SECTION_CHARS), "blocks": blocks}


def to_json(message: dict[str, Any]) -> str:
    """The exact bytes posted (and stored in the outbox)."""
    return json.dumps(message, ensure_ascii=False, sort_keys=True)
