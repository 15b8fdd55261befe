"""E-mails for owners: multipart (plain text + HTML), the HTML built for Gmail and Outlook.

Those clients drop ``<style>`` blocks in places, most CSS layout and inline SVG, so the HTML uses tables for
layout, inline ``style`` attributes only, and the chart is a PNG attached as a related part and shown
through ``cid:`` (``multipart/alternative`` inside ``multipart/related``, the order RFC 2387 and the mail
clients expect). The Message-ID is derived from the message's idempotency key: a message delivered again
after a crash carries the same id, and mail systems show one copy.
"""

from __future__ import annotations

import hashlib
import html
import io
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from feedback_nlp.notify.alerts import Alert
from feedback_nlp.notify.digest import OwnerDigest
from feedback_nlp.report.formatting import fmt_money

CHART_CID = "weekly-chart"
_FONT = "font-family:Arial,Helvetica,sans-serif;color:#1a1a1a"
_QUOTE = "padding:8px 12px;border-left:3px solid #1f4e8c;background:#f5f7fa;font-size:14px"
_CELL = "padding:4px 8px;border-bottom:1px solid #e5e5e5;font-size:14px"


def message_id(idempotency_key: str, sender: str) -> str:
    """A Message-ID fixed by the key (the same message always has the same id)."""
    domain = sender.rsplit("@", 1)[-1].strip("<> ") or "feedback-nlp.invalid"
    return f"<{hashlib.sha256(idempotency_key.encode('utf-8')).hexdigest()[:32]}@{domain}>"


def weekly_chart_png(weeks: tuple[str, ...], units: tuple[int, ...]) -> bytes:
    """A small bar chart of the owner's units per week, as PNG."""
    figure = Figure(figsize=(5.6, 1.8), dpi=100)
    axes = figure.add_subplot()
    axes.bar(range(len(units)), units, color=["#9db4d0"] * (len(units) - 1) + ["#1f4e8c"])
    axes.set_xticks(range(len(weeks)), [w.split("-")[-1] for w in weeks], fontsize=8)
    axes.tick_params(axis="y", labelsize=8)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.set_ylabel("units", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer, metadata={"Software": None})
    return buffer.getvalue()


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(title: str, header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    head = "".join(f'<th align="left" style="{_CELL};color:#555">{_e(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{_e(c)}</td>' for c in row) + "</tr>" for row in rows
    )
    return (
        f'<tr><td style="padding:16px 0 4px;font-size:16px;font-weight:bold">{_e(title)}</td></tr>'
        f'<tr><td><table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">'
        f"<tr>{head}</tr>{body}</table></td></tr>"
    )


def _quotes_html(digest: OwnerDigest) -> str:
    cells = []
    for q in digest.quotes:
        about = " \u00b7 ".join(
            filter(None, [q.theme_name, f"account {q.account_id}" if q.account_id else None])
        )
        cells.append(
            f'<tr><td style="{_QUOTE}">'
            f"&ldquo;{_e(q.text)}&rdquo;<br>"
            f'<span style="font-size:12px;color:#555">feedback <code>{_e(q.item_id)}</code>'
            f"{' &middot; ' + _e(about) if about else ''}</span></td></tr>"
            '<tr><td style="height:6px;line-height:6px;font-size:6px">&nbsp;</td></tr>'
        )
    if not cells:
        return ""
    return '<tr><td style="padding:16px 0 4px;font-size:16px;font-weight:bold">Quotes</td></tr>' + "".join(
        cells
    )


def _summary(digest: OwnerDigest) -> str:
    return (
        f"{digest.units} feedback units routed to you in {digest.week}, from {digest.n_accounts} accounts "
        f"({fmt_money(digest.revenue, digest.currency)} ARR)."
    )


def digest_html(digest: OwnerDigest) -> str:
    """The digest's HTML part (tables and inline styles; the chart through ``cid:``)."""
    parts = [
        '<tr><td style="font-size:20px;font-weight:bold;padding-bottom:8px">'
        f"Feedback digest {_e(digest.week)}</td></tr>",
        f'<tr><td style="font-size:14px;padding-bottom:8px">{_e(_summary(digest))}</td></tr>',
    ]
    if digest.weekly_units and any(digest.weekly_units):
        parts.append(
            f'<tr><td><img src="cid:{CHART_CID}" width="560" height="180" alt="Your themes: units per week, '
            f'{_e(digest.weeks[0])} to {_e(digest.weeks[-1])}" style="display:block;border:0"></td></tr>'
        )
    if digest.themes:
        parts.append(
            _table("Your themes", ("Theme", "Units"), [(t.name, str(t.units)) for t in digest.themes])
        )
    if digest.rising:
        rising = [
            (t.name, str(t.units), "" if t.change_pct is None else f"{t.change_pct:+.0%}")
            for t in digest.rising
        ]
        parts.append(_table("Rising", ("Theme", "Units", "vs trailing mean"), rising))
    if digest.roadmap_items:
        rows = [(i.id, i.title, i.status, str(i.units)) for i in digest.roadmap_items]
        parts.append(_table("Roadmap items", ("Id", "Title", "Status", "Units"), rows))
    parts.append(_quotes_html(digest))
    parts.append(
        f'<tr><td style="padding:16px 0"><a href="{_e(digest.link)}" style="background:#1f4e8c;'
        'color:#ffffff;padding:8px 14px;text-decoration:none;border-radius:3px;font-size:14px">'
        "Open in the workbench</a></td></tr>"
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Feedback digest</title></head>'
        f'<body style="margin:0;padding:0;background:#ffffff"><table role="presentation" width="100%" '
        f'cellpadding="0" cellspacing="0" border="0"><tr><td align="center">'
        f'<table role="presentation" width="600" '
        f'cellpadding="0" cellspacing="0" border="0" style="{_FONT};max-width:600px">{"".join(parts)}</table>'
        "</td></tr></table></body></html>"
    )


def digest_text(digest: OwnerDigest) -> str:
    """The digest's plain-text part (every fact of the HTML part)."""
    lines = [f"Feedback digest {digest.week} for {digest.owner}", "", _summary(digest)]
    if digest.themes:
        lines += ["", "Your themes:"] + [f"- {t.name}: {t.units}" for t in digest.themes]
    if digest.rising:
        lines += ["", "Rising:"] + [f"- {t.name}: {t.units}" for t in digest.rising]
    if digest.roadmap_items:
        lines += ["", "Roadmap items:"] + [
            f"- {i.id} {i.title} ({i.status}): {i.units}" for i in digest.roadmap_items
        ]
    if digest.quotes:
        lines += ["", "Quotes:"] + [f'- "{q.text}" (feedback {q.item_id})' for q in digest.quotes]
    lines += ["", f"Open in the workbench: {digest.link}", ""]
    return "\n".join(lines)


def _envelope(subject: str, sender: str, recipient: str, key: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id(key, sender)
    return message


def digest_email(digest: OwnerDigest, sender: str, recipient: str) -> EmailMessage:
    """The digest as an e-mail: text and HTML alternatives, the chart as a related PNG."""
    key = digest.idempotency_key("email")
    message = _envelope(
        f"Feedback digest {digest.week}: {digest.units} units for you", sender, recipient, key
    )
    message.set_content(digest_text(digest))
    message.add_alternative(digest_html(digest), subtype="html")
    if digest.weekly_units and any(digest.weekly_units):
        html_part = message.get_body(preferencelist=("html",))
        assert isinstance(html_part, EmailMessage)
        html_part.add_related(
            weekly_chart_png(digest.weeks, digest.weekly_units),
            maintype="image",
            subtype="png",
            cid=f"<{CHART_CID}>",
            filename="weekly-chart.png",
        )
    return message


def alert_email(alert: Alert, sender: str, recipient: str, key: str) -> EmailMessage:
    """One alert as a short e-mail (text and HTML)."""
    why = ", ".join(alert.reasons)
    subject = f"Feedback for you: {alert.theme_name or 'no theme'} ({why})"
    message = _envelope(subject, sender, recipient, key)
    facts = [f"feedback {alert.item_id}", f"why: {why}"]
    if alert.roadmap_item:
        facts.append(f"roadmap: {alert.roadmap_item}")
    if alert.account_id:
        facts.append(f"account {alert.account_id}")
    message.set_content(
        f'"{alert.text}"\n\n' + "\n".join(facts) + f"\n\nOpen in the workbench: {alert.link}\n"
    )
    message.add_alternative(
        f'<!DOCTYPE html><html><body style="margin:0"><table role="presentation" width="600" cellpadding="0" '
        f'cellspacing="0" border="0" style="{_FONT}"><tr>'
        f'<td style="{_QUOTE}">&ldquo;{_e(alert.text)}&rdquo;</td></tr>'
        f'<tr><td style="font-size:12px;color:#555;padding:8px 0">{_e(" · ".join(facts))}</td></tr>'
        f'<tr><td><a href="{_e(alert.link)}" style="color:#1f4e8c">Open in the workbench</a></td></tr>'
        "</table></body></html>",
        subtype="html",
    )
    return message
