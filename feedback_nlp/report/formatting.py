"""Number and date formats shared by the HTML and Markdown renderers, so that both show the same figures."""

from __future__ import annotations

from datetime import datetime

NO_OWNER = "(no owner)"
CHANNEL_ROWS = 15  # the channel tables list the biggest themes; the JSON holds all of them


def fmt_int(value: int | float | None) -> str:
    """``1234`` -> ``"1,234"``; ``None`` -> ``"n/a"``."""
    if value is None:
        return "n/a"
    return f"{int(round(value)):,}"


def fmt_float(value: float | None, digits: int = 1) -> str:
    """A mean or other non-integer count: ``2.25`` -> ``"2.2"`` (digits after the point)."""
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def fmt_money(value: float | None, currency: str | None = None) -> str:
    """Revenue (ARR) in whole units with thousands separators, then the currency if given: ``"1,234 USD"``."""
    if value is None:
        return "n/a"
    return f"{value:,.0f} {currency}" if currency else f"{value:,.0f}"


def plural(count: int, word: str, words: str | None = None) -> str:
    """``plural(1, "gap")`` -> ``"1 gap"``; ``plural(2, "gap")`` -> ``"2 gaps"``; ``words`` if irregular."""
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def fmt_account(account_id: str | None, name: str | None = None) -> str:
    """An account as its name with the id in brackets when the name is known: ``"Zephyr (ACC-4)"``."""
    if not account_id:
        return "unknown"
    return f"{name} ({account_id})" if name else account_id


def fmt_pct(share: float | None) -> str:
    """A share in [0, 1] as a percentage: ``0.125`` -> ``"12.5%"``."""
    if share is None:
        return "n/a"
    return f"{share * 100:.1f}%"


def fmt_change_pct(change: float | None) -> str:
    """A relative change with its sign: ``0.2`` -> ``"+20.0%"``; ``None`` (no baseline) -> ``"n/a"``."""
    if change is None:
        return "n/a"
    return f"{change * 100:+.1f}%"


def fmt_signed(value: float | None, digits: int = 1) -> str:
    """An absolute change with its sign: ``3.25`` -> ``"+3.2"``."""
    if value is None:
        return "n/a"
    return f"{value:+,.{digits}f}"


def fmt_p(value: float | None) -> str:
    """A p-value or q-value with three significant digits."""
    if value is None:
        return "n/a"
    if value < 0.001:
        return f"{value:.1e}"
    return f"{value:.3f}"


def fmt_date(value: str | None) -> str:
    """An ISO timestamp from the report dict as ``YYYY-MM-DD HH:MM UTC`` (or as given if unparsable)."""
    if not value:
        return "unknown"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


def fmt_owner(owner: str | None) -> str:
    return owner if owner else NO_OWNER


def fmt_roadmap(item: dict | None) -> str:
    """``{"id": "R-1", "title": "SSO"}`` -> ``"R-1 SSO"``; none -> ``"none"``."""
    if not item:
        return "none"
    title = item.get("title") or ""
    return f"{item.get('id')} {title}".strip()


def quote_citation(quote: dict) -> str:
    """Where a quote came from: theme, source, account, day and feedback id, joined by middle dots."""
    account = quote.get("account_id")
    item = quote.get("item_id") or quote.get("feedback_id")
    parts = (
        quote.get("theme_name"),
        quote.get("source"),
        account and f"account {fmt_account(account, quote.get('account_name'))}",
        (quote.get("created_at") or "")[:10],
        item and f"feedback {item}",
    )
    return " \u00b7 ".join(part for part in parts if part)
