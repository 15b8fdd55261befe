"""Compute the weekly theme report from the feedback store: every figure, as one JSON-ready dict.

The HTML, Markdown and JSON outputs are all rendered from the dict returned by :func:`compute_report`,
so their numbers agree by construction.

Conventions used throughout (also stated in the rendered report):

* A week is an ISO week, Monday 00:00 UTC to the next Monday; the trailing weeks are the
  ``weeks_of_history`` weeks before the report week, minus any that end before the store's first item
  (weeks before data existed would drag every average towards zero).
* Theme names, roadmap links and owners come from the current model, unless a theme's units were mostly
  scored by another model version under another name (theme ids need not survive a retrain): then, and for
  ids the current model does not know, they come from what was stored with the units.
* Rising/fading: an exact test of this week's count against the trailing weeks' counts; one channel only:
  how unlikely the theme's split is under the week's call-note/ticket mix. Both are corrected with
  Benjamini-Hochberg across themes and flagged only from ``MIN_COUNT`` units.
* Evidence for a roadmap item or an owner is what the router sent there (``route == "owner"``); the triage
  queue is every unit routed to triage plus every unit with no theme.
* Revenue at stake is the sum of ARR over the distinct accounts behind the units, each account counted
  once, with its latest ARR known at the end of the week.
* Alignment: the signals stored with this week's feedback (:mod:`feedback_nlp.alignment`) are judged against
  the current model's roadmap: promise gaps ranked by ARR, enablement gaps by the number of requests.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from scipy import stats
from sqlalchemy import Connection, Engine, func, select

from feedback_nlp.curation import CurationView
from feedback_nlp.errors import ConfigError
from feedback_nlp.report.formatting import fmt_change_pct, fmt_float, fmt_money, plural
from feedback_nlp.schemas import ROUTE_OWNER, ROUTE_TRIAGE, SOURCE_CALL_NOTE, SOURCE_TICKET
from feedback_nlp.store_schema import alignment_signals, feedback_items, feedback_units

logger = logging.getLogger(__name__)

# 2: areas (the "areas" section; the volume chart stacks every area, no "other themes" remainder).
REPORT_SCHEMA_VERSION = 2
DEFAULT_CURRENCY = "USD"
MIN_COUNT = 3  # a theme needs this many units this week (rising) or per trailing week (fading) to be flagged
ALPHA = 0.05  # Benjamini-Hochberg false discovery rate across themes
TOP_N = 10
QUOTES_PER_SECTION = 3
TRIAGE_EXAMPLES = 5
QUOTE_MAX_CHARS = 300
_SQL_IN_CHUNK = 500  # stay under SQLite's bound-parameter limit

_WEEK_PATTERN = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, order=True)
class Week:
    """An ISO week (``2026-W47``): Monday 00:00 UTC up to, not including, the next Monday."""

    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def start(self) -> datetime:
        monday = date.fromisocalendar(self.year, self.number, 1)
        return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=7)

    def shift(self, weeks: int) -> Week:
        return Week.containing(self.start + timedelta(weeks=weeks))

    @classmethod
    def containing(cls, moment: datetime | date) -> Week:
        iso = moment.isocalendar()
        return cls(iso.year, iso.week)


def parse_week(label: str) -> Week:
    """``"2026-W47"`` -> :class:`Week`.

    Raises:
        ConfigError: when the label is not ``YYYY-Www`` or the year has no such week.
    """
    match = _WEEK_PATTERN.match(label.strip())
    if not match:
        raise ConfigError(f"week {label!r} is not in the form YYYY-Www, for example 2026-W47")
    year, number = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ConfigError(f"week {label!r} does not exist: {year} has no ISO week {number}") from None
    return Week(year, number)


def last_complete_week(today: date | None = None) -> Week:
    """The ISO week before the one containing ``today`` (UTC today by default)."""
    today = today or datetime.now(UTC).date()
    return Week.containing(today - timedelta(days=7))


@dataclass(frozen=True)
class _Unit:
    item_id: str
    unit_index: int
    created_at: datetime
    week: str
    source: str
    account_id: str | None
    theme_id: int | None
    theme_name: str | None
    area_id: int | None  # as stored (NULL for units stored before areas existed)
    area_name: str | None
    roadmap_item_id: str | None
    roadmap_item_title: str | None
    owner: str
    route: str
    confidence: float
    text: str
    model_version: str

    @property
    def in_triage(self) -> bool:
        return self.route == ROUTE_TRIAGE or self.theme_id is None

    @property
    def routed(self) -> bool:
        return self.route == ROUTE_OWNER and self.theme_id is not None


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; the store writes UTC, so naive means UTC.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return _utc(value).isoformat() if value is not None else None


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _as_dict(entry: Any) -> dict[str, Any]:
    if isinstance(entry, dict):
        return entry
    if hasattr(entry, "to_dict"):
        return entry.to_dict()
    return dict(vars(entry))


# --------------------------------------------------------------------------------------------- queries


def _fetch_units(conn: Connection, start: datetime, end: datetime) -> list[_Unit]:
    u = feedback_units.c
    query = (
        select(
            u.item_id,
            u.unit_index,
            u.created_at,
            u.source,
            u.account_id,
            u.theme_id,
            u.theme_name,
            u.area_id,
            u.area_name,
            u.roadmap_item_id,
            u.roadmap_item_title,
            u.owner,
            u.route,
            u.confidence,
            u.text_redacted,
            u.model_version,
        )
        .where(u.created_at >= start, u.created_at < end)
        .order_by(u.created_at, u.item_id, u.unit_index)
    )
    units = []
    for row in conn.execute(query):
        created = _utc(row.created_at)
        units.append(
            _Unit(
                item_id=row.item_id,
                unit_index=row.unit_index,
                created_at=created,
                week=Week.containing(created).label,
                source=row.source,
                account_id=row.account_id,
                theme_id=int(row.theme_id) if row.theme_id is not None else None,
                theme_name=row.theme_name,
                area_id=int(row.area_id) if row.area_id is not None else None,
                area_name=row.area_name,
                roadmap_item_id=row.roadmap_item_id,
                roadmap_item_title=row.roadmap_item_title,
                owner=row.owner or "",
                route=row.route,
                confidence=float(row.confidence),
                text=row.text_redacted or "",
                model_version=row.model_version,
            )
        )
    return units


def _fetch_item_weeks(conn: Connection, start: datetime, end: datetime) -> Counter[str]:
    i = feedback_items.c
    query = select(i.created_at).where(i.created_at >= start, i.created_at < end)
    return Counter(Week.containing(_utc(created)).label for (created,) in conn.execute(query))


def _store_start(conn: Connection) -> datetime | None:
    first = conn.execute(select(func.min(feedback_items.c.created_at))).scalar()
    if first is None:
        return None
    if isinstance(first, str):  # some SQLite drivers return MIN() of a DateTime column as text
        first = datetime.fromisoformat(first)
    return _utc(first)


def _latest_arr(conn: Connection, account_ids: Iterable[str], before: datetime) -> dict[str, float]:
    """Latest known ARR per account as of ``before``: ARR changes over time and the newest figure counts."""
    i = feedback_items.c
    ids = sorted(set(account_ids))
    latest: dict[str, tuple[datetime, str, float]] = {}
    for offset in range(0, len(ids), _SQL_IN_CHUNK):
        chunk = ids[offset : offset + _SQL_IN_CHUNK]
        query = select(i.account_id, i.created_at, i.id, i.account_arr).where(
            i.account_id.in_(chunk), i.account_arr.is_not(None), i.created_at < before
        )
        for row in conn.execute(query):
            key = (_utc(row.created_at), row.id, float(row.account_arr))
            if row.account_id not in latest or key[:2] > latest[row.account_id][:2]:
                latest[row.account_id] = key
    return {account: value[2] for account, value in latest.items()}


# --------------------------------------------------------------------------------------------- helpers


def _quote(unit: _Unit, theme_names: dict[int, str]) -> dict[str, Any]:
    text = " ".join(unit.text.split())
    if len(text) > QUOTE_MAX_CHARS:
        text = text[: QUOTE_MAX_CHARS - 1].rstrip() + "\u2026"
    return {
        "text": text,
        "item_id": unit.item_id,
        "unit_index": unit.unit_index,
        "theme_id": unit.theme_id,
        "theme_name": theme_names.get(unit.theme_id) if unit.theme_id is not None else None,
        "source": unit.source,
        "account_id": unit.account_id,
        "created_at": _iso(unit.created_at),
        "confidence": round(unit.confidence, 4),
    }


def _pick_quotes(
    units: Sequence[_Unit], theme_names: dict[int, str], limit: int = QUOTES_PER_SECTION, key: Any = None
) -> list[dict[str, Any]]:
    """Up to ``limit`` distinct quotes, most confident first, one per account before repeating accounts.

    Spreading over accounts keeps one chatty customer from filling a section.
    """
    key = key or (lambda u: (-u.confidence, -u.created_at.timestamp(), u.item_id, u.unit_index))
    ordered = sorted((u for u in units if u.text.strip()), key=key)
    chosen: list[_Unit] = []
    seen_texts: set[str] = set()
    seen_accounts: set[str | None] = set()
    for distinct_accounts in (True, False):
        for unit in ordered:
            if len(chosen) >= limit:
                break
            normalized = " ".join(unit.text.lower().split())
            if normalized in seen_texts:
                continue
            if distinct_accounts and unit.account_id is not None and unit.account_id in seen_accounts:
                continue
            chosen.append(unit)
            seen_texts.add(normalized)
            seen_accounts.add(unit.account_id)
    return [_quote(u, theme_names) for u in chosen]


def _accounts_revenue(units: Iterable[_Unit], arr: dict[str, float]) -> tuple[int, float, int]:
    """(distinct accounts, their summed ARR, how many of them have no ARR known)."""
    accounts = {u.account_id for u in units if u.account_id is not None}
    revenue = sum(arr.get(a, 0.0) for a in accounts)
    return len(accounts), round(revenue, 2), sum(1 for a in accounts if a not in arr)


def _mean(values: Sequence[int]) -> float | None:
    return sum(values) / len(values) if values else None


def _change_pct(current: float, baseline: float | None) -> float | None:
    if baseline is None or baseline == 0:
        return None
    return round((current - baseline) / baseline, 4)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def rate_change_test(this_week: int, trailing_total: int, trailing_weeks: int) -> tuple[float, float]:
    """Exact test that this week's count has the same Poisson rate as the trailing weeks.

    Conditional on the total ``n = this_week + trailing_total``, this week's count is
    Binomial(n, 1 / (trailing_weeks + 1)) under equal rates. Unlike a Poisson test against the trailing
    mean, this accounts for the mean itself being estimated from few small counts, and stays defined
    when the trailing weeks are all zero.

    Returns:
        (p_rise, p_fade): one-sided p-values for "higher than before" and "lower than before".
    """
    n = this_week + trailing_total
    p0 = 1.0 / (trailing_weeks + 1)
    p_rise = float(stats.binom.sf(this_week - 1, n, p0))
    p_fade = float(stats.binom.cdf(this_week, n, p0))
    return p_rise, p_fade


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order."""
    if not p_values:
        return []
    return [float(q) for q in stats.false_discovery_control(list(p_values), method="bh")]


# --------------------------------------------------------------------------------------------- report


def compute_report(
    engine_or_connection: Engine | Connection,
    model_info: Any,
    week: str | Week,
    weeks_of_history: int = 8,
    previous_themes: list[dict[str, Any]] | None = None,
    *,
    previous_version: str | None = None,
    generated_at: datetime | None = None,
    currency: str = DEFAULT_CURRENCY,
    account_names: dict[str, str] | None = None,
    curation: CurationView | None = None,
) -> dict[str, Any]:
    """Compute every figure of the weekly report for ``week`` from the feedback store.

    Args:
        engine_or_connection: a SQLAlchemy engine or connection to the store (only read).
        model_info: anything with ``version``, ``metadata``, ``themes``, ``roadmap`` and ``default_owner``
            (a ``FeedbackModel`` or a :class:`~feedback_nlp.report.model_info.ModelInfo`).
        week: ISO week label such as ``"2026-W47"``.
        weeks_of_history: trailing weeks to compare against.
        previous_themes: themes.json of the previous model, to list new themes; ``None`` if there is none.
        previous_version: name of that previous model, shown with the new themes.
        generated_at: timestamp written into the report (now by default; tests pin it).
        currency: the currency of the stored ARR figures, shown beside every amount.
        account_names: account id -> name, shown beside the id where known (from ``accounts.csv``).
        curation: the store's curation (``CurationView.of(store.curation())``), resolved at read time:
            curated names, merged themes counted under the absorbing theme, ignored themes left out of the
            top themes and unplanned demand (still reconciled). None: the model's own curation only.

    Returns:
        A JSON-serialisable dict (dates as ISO strings) holding every figure the report shows.

    Raises:
        ConfigError: for a malformed week or a negative history length.
    """
    if weeks_of_history < 0:
        raise ConfigError(f"weeks_of_history must be 0 or more, got {weeks_of_history}")
    report_week = parse_week(week) if isinstance(week, str) else week
    if isinstance(engine_or_connection, Engine):
        with engine_or_connection.connect() as conn:
            report = _compute(
                conn,
                model_info,
                report_week,
                weeks_of_history,
                previous_themes,
                previous_version,
                generated_at,
                curation,
            )
    else:
        report = _compute(
            engine_or_connection,
            model_info,
            report_week,
            weeks_of_history,
            previous_themes,
            previous_version,
            generated_at,
            curation,
        )
    report["settings"]["currency"] = currency
    rec = report["reconciliation"]
    rec["notes"] = _reconciliation_notes(rec["units"], rec["revenue"], rec["roadmap_items"], currency)
    _name_accounts(report, account_names or {})
    report["summary"] = summary_sentences(report)
    return report


def latest_week_with_data(engine: Engine, not_after: Week | None = None) -> Week | None:
    """The latest ISO week holding feedback, no later than ``not_after`` (the last complete week by default).

    The default report week: an empty week would say nothing about a store whose data stops earlier.
    """
    not_after = not_after or last_complete_week()
    i = feedback_items.c
    with engine.connect() as conn:
        latest = conn.execute(select(func.max(i.created_at)).where(i.created_at < not_after.end)).scalar()
    if latest is None:
        return None
    if isinstance(latest, str):  # as in _store_start
        latest = datetime.fromisoformat(latest)
    return Week.containing(_utc(latest))


@dataclass(frozen=True)
class _Model:
    """What the report reads from the model: version, themes by id, roadmap and the triage owner."""

    version: str
    created_at: Any
    themes: dict[int, dict[str, Any]]
    roadmap: list[dict[str, Any]]
    default_owner: str

    @classmethod
    def of(cls, model_info: Any) -> _Model:
        metadata = _get(model_info, "metadata") or {}
        return cls(
            version=str(_get(model_info, "version") or ""),
            created_at=metadata.get("created_at"),
            themes={int(t["id"]): t for t in (_as_dict(t) for t in _get(model_info, "themes") or [])},
            roadmap=[_as_dict(item) for item in _get(model_info, "roadmap") or []],
            default_owner=_get(model_info, "default_owner") or "",
        )

    def curated(self, view: CurationView) -> _Model:
        """The themes as the store's curation shapes them now (merged ones folded, names, pins, ignores)."""
        if view.empty:
            return self
        themes = {int(t["id"]): t for t in view.themes(list(self.themes.values()), self.roadmap)}
        return replace(self, themes=themes)


@dataclass(frozen=True)
class _Window:
    """The report week and the trailing weeks it is compared with."""

    week: Week
    weeks_requested: int
    history: list[Week]
    store_start: datetime | None

    @classmethod
    def read(cls, conn: Connection, week: Week, weeks_of_history: int) -> _Window:
        store_start = _store_start(conn)
        candidates = [week.shift(-offset) for offset in range(weeks_of_history, 0, -1)]
        history = [w for w in candidates if store_start is not None and w.end > store_start]
        return cls(week, weeks_of_history, history, store_start)

    @property
    def history_labels(self) -> list[str]:
        return [w.label for w in self.history]

    @property
    def labels(self) -> list[str]:
        """The trailing weeks, then the report week."""
        return self.history_labels + [self.week.label]

    @property
    def start(self) -> datetime:
        return self.history[0].start if self.history else self.week.start

    def shortfall_note(self) -> str | None:
        if len(self.history) >= self.weeks_requested:
            return None
        where = (
            "the store has no feedback before this week."
            if not self.history
            else f"the store starts in {self.history[0].label}."
        )
        return f"Only {len(self.history)} of {self.weeks_requested} trailing weeks are compared: " + where


@dataclass(frozen=True)
class _Units:
    """The units of the whole window, this week's among them, and the ARR of this week's accounts."""

    all_weeks: list[_Unit]
    this_week: list[_Unit]
    item_weeks: Counter[str]
    arr: dict[str, float]

    @classmethod
    def read(cls, conn: Connection, window: _Window) -> _Units:
        week = window.week
        units = _fetch_units(conn, window.start, week.end)
        item_weeks = _fetch_item_weeks(conn, window.start, week.end)
        week_units = [u for u in units if u.week == week.label]
        accounts = {u.account_id for u in week_units if u.account_id is not None}
        arr = _latest_arr(conn, accounts, week.end)
        logger.info(
            "report %s: %d units this week, %d in the %d trailing weeks",
            week.label,
            len(week_units),
            len(units) - len(week_units),
            len(window.history),
        )
        return cls(units, week_units, item_weeks, arr)

    def curated(self, view: CurationView) -> _Units:
        """Units of a merged theme counted under the theme that absorbed it (their stored name dropped, so
        that the absorbing theme's name is used)."""
        if not view.merged_into:
            return self

        def remap(unit: _Unit) -> _Unit:
            if unit.theme_id is None or view.canonical(unit.theme_id) == unit.theme_id:
                return unit
            return replace(unit, theme_id=view.canonical(unit.theme_id), theme_name=None)

        return replace(
            self, all_weeks=[remap(u) for u in self.all_weeks], this_week=[remap(u) for u in self.this_week]
        )


def _compute(
    conn: Connection,
    model_info: Any,
    week: Week,
    weeks_of_history: int,
    previous_themes: list[dict[str, Any]] | None,
    previous_version: str | None,
    generated_at: datetime | None,
    curation: CurationView | None = None,
) -> dict[str, Any]:
    view = curation or CurationView()
    model = _Model.of(model_info).curated(view)
    window = _Window.read(conn, week, weeks_of_history)
    units = _Units.read(conn, window).curated(view)
    stored_by_theme = _by_theme(units.all_weeks)
    week_by_theme = _by_theme(units.this_week)
    # Theme identity: the current model first, what was stored with the units otherwise.
    theme_meta = {
        theme_id: _theme_meta(
            theme_id, model.themes.get(theme_id), stored_by_theme.get(theme_id, []), model.version
        )
        for theme_id in sorted(set(model.themes) | set(stored_by_theme))
    }
    _apply_curation(theme_meta, view, model.themes)
    theme_names = {theme_id: meta["name"] for theme_id, meta in theme_meta.items()}
    theme_rows = {
        theme_id: _theme_row(
            meta, stored_by_theme.get(theme_id, []), week_by_theme.get(theme_id, []), units.arr, window
        )
        for theme_id, meta in theme_meta.items()
    }
    active = [row for row in theme_rows.values() if row["units"] > 0]
    # an ignored theme still counts in the reconciliation, but is no demand to show
    shown = [row for row in active if not row["ignored"]]
    top_by_volume = _top_by_volume(shown)
    trends = _trends(
        theme_rows, window.history_labels, model.themes, previous_themes, previous_version, week_by_theme
    )
    areas = _areas(theme_meta, theme_rows, units, window)
    alignment = _alignment(conn, week, model.roadmap, model.default_owner)
    versions = dict(sorted(Counter(u.model_version for u in units.all_weeks).items()))
    owners = _owners(
        model.roadmap, model.themes, units.this_week, model.default_owner, units.arr, theme_names
    )
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "week": week.label,
        "period": {"start": _iso(week.start), "end": _iso(week.end)},
        "history": _history_section(window, versions),
        "generated_at": _iso(generated_at or datetime.now(UTC)),
        "settings": {
            "alpha": ALPHA,
            "min_count": MIN_COUNT,
            "quotes_per_section": QUOTES_PER_SECTION,
            "top_n": TOP_N,
        },
        "model": _model_section(model),
        "headline": {
            **_headline(
                units.this_week, Counter(u.week for u in units.all_weeks), units.item_weeks, window, units.arr
            ),
            **_alignment_headline(alignment),
        },
        "top_by_volume": top_by_volume,
        "top_by_revenue": _top_by_revenue(shown),
        "trends": trends,
        "areas": areas,
        "volume_over_weeks": _volume_over_weeks(units.all_weeks, window.labels, theme_meta, areas["rows"]),
        "unplanned": _unplanned(shown, week_by_theme, theme_names),
        "roadmap_without_evidence": _roadmap_without_evidence(
            model.roadmap, units.all_weeks, week, model.themes
        ),
        "channels": _channels(active, units.this_week),
        "alignment": alignment,
        "owners": owners,
        "reconciliation": _reconciliation(units.this_week, units.arr, active, owners, model.roadmap),
        "triage": _triage(units.this_week, units.all_weeks, window.history_labels, theme_meta),
        "themes": [theme_rows[t] for t in sorted(theme_rows)],
        "empty_week": not units.this_week,
        "notes": _notes(window, units.this_week, theme_meta, week_by_theme, versions, model.version),
    }


def _apply_curation(
    theme_meta: dict[int, dict[str, Any]], view: CurationView, model_themes: dict[int, dict[str, Any]]
) -> None:
    """Curated names win over the names stored with the units (a rename made after they were scored shows
    without re-ingesting); ``ignored`` holds why a curator ignored a theme (the model's or the store's)."""
    for theme_id, meta in theme_meta.items():
        if theme_id in view.names:
            meta["name"] = view.names[theme_id]
        if theme_id in view.moves:  # a theme moved into another area counts there at once
            meta["area_id"] = view.moves[theme_id]
        if meta.get("area_id") is not None and meta["area_id"] in view.area_names:
            meta["area_name"] = view.area_names[meta["area_id"]]
        elif theme_id in view.moves:
            meta["area_name"] = _area_name_in_model(meta["area_id"], model_themes)
        meta["ignored"] = view.ignored.get(theme_id) or (model_themes.get(theme_id) or {}).get("ignored")


def _area_name_in_model(area_id: int, model_themes: dict[int, dict[str, Any]]) -> str:
    names = [t.get("area_name") for t in model_themes.values() if t.get("area_id") == area_id]
    return str(next((name for name in names if name), f"area {area_id}"))


def _by_theme(units: Iterable[_Unit]) -> dict[int, list[_Unit]]:
    grouped: dict[int, list[_Unit]] = defaultdict(list)
    for unit in units:
        if unit.theme_id is not None:
            grouped[unit.theme_id].append(unit)
    return dict(grouped)


def _history_section(window: _Window, versions: dict[str, int]) -> dict[str, Any]:
    return {
        "weeks_requested": window.weeks_requested,
        "weeks": window.history_labels,
        "start": _iso(window.history[0].start) if window.history else None,
        "store_start": _iso(window.store_start),
        "model_versions": versions,
    }


def _model_section(model: _Model) -> dict[str, Any]:
    return {
        "version": model.version,
        "created_at": model.created_at,
        "n_themes": len(model.themes),
        "n_roadmap_items": len(model.roadmap),
        "default_owner": model.default_owner,
    }


def _alignment_headline(alignment: dict[str, Any]) -> dict[str, Any]:
    keys = ("promise_gaps", "promise_gap_revenue", "enablement_gaps", "enablement_gap_requests")
    return {key: alignment["counts"][key] for key in keys}


def _other_sources(sources: Counter[str]) -> int:
    return sum(n for s, n in sources.items() if s not in (SOURCE_CALL_NOTE, SOURCE_TICKET))


def _theme_row(
    meta: dict[str, Any], stored: list[_Unit], in_week: list[_Unit], arr: dict[str, float], window: _Window
) -> dict[str, Any]:
    """A theme's figures for the week; every theme the model or the store knows gets one, even at 0 units."""
    n_accounts, revenue, no_arr = _accounts_revenue(in_week, arr)
    sources = Counter(u.source for u in in_week)
    weekly = Counter(u.week for u in stored)
    return {
        **meta,
        "units": len(in_week),
        "accounts": n_accounts,
        "accounts_without_arr": no_arr,
        "revenue": revenue,
        "trailing_mean": _round(_mean([weekly[label] for label in window.history_labels])),
        "weekly": [weekly[label] for label in window.labels],
        "call_note": sources[SOURCE_CALL_NOTE],
        "ticket": sources[SOURCE_TICKET],
        "other_sources": _other_sources(sources),
    }


_BRIEF_KEYS = (
    "id",
    "name",
    "area_id",
    "area_name",
    "roadmap_item",
    "owner",
    "in_model",
    "units",
    "accounts",
    "accounts_without_arr",
    "revenue",
    "trailing_mean",
)


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in _BRIEF_KEYS}


def _top_by_volume(active: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ranked = sorted(active, key=lambda r: (-r["units"], -r["revenue"], r["id"]))
    return [_brief(r) for r in ranked[:TOP_N]]


def _top_by_revenue(active: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ranked = sorted(active, key=lambda r: (-r["revenue"], -r["accounts"], -r["units"], r["id"]))
    return [_brief(r) for r in ranked if r["revenue"] > 0][:TOP_N]


def _notes(
    window: _Window,
    week_units: list[_Unit],
    theme_meta: dict[int, dict[str, Any]],
    week_by_theme: dict[int, list[_Unit]],
    versions: dict[str, int],
    current_version: str,
) -> list[str]:
    """Caveats to read before the figures: short history, no data, unowned themes, mixed models."""
    notes = []
    shortfall = window.shortfall_note()
    if shortfall:
        notes.append(shortfall)
    if not week_units:
        notes.append(f"No feedback was stored for {window.week.label}.")
    unowned = [meta for meta in theme_meta.values() if not meta["owner"]]
    notes += [
        f"Theme {meta['id']} \u201c{meta['name']}\u201d has no owner."
        for meta in unowned
        if meta["id"] in week_by_theme
    ]
    quiet_unowned = sum(1 for meta in unowned if meta["id"] not in week_by_theme)
    if quiet_unowned:
        notes.append(f"{quiet_unowned} other theme(s) with no feedback this week have no owner.")
    if len(versions) > 1 or (versions and current_version not in versions):
        notes.append(
            "The units in these weeks were scored by model version(s) "
            + ", ".join(f"{v} ({n} units)" for v, n in versions.items())
            + f", the report uses {current_version}: themes are compared by id across versions, and a theme "
            "whose units came mostly from another version is described as that version stored it."
        )
    return notes


def _alignment(
    conn: Connection, week: Week, roadmap: list[dict[str, Any]], default_owner: str
) -> dict[str, Any]:
    """Promise and enablement gaps among the alignment signals of this week's feedback."""
    from feedback_nlp.alignment import find_gaps

    a = alignment_signals.c
    query = (
        select(alignment_signals)
        .where(a.created_at >= week.start, a.created_at < week.end)
        .order_by(a.created_at, a.item_id, a.unit_index, a.kind)
    )
    signals = [dict(row) for row in conn.execute(query).mappings()]
    for row in signals:
        row["created_at"] = _utc(row["created_at"])
    accounts = {row["account_id"] for row in signals if row["account_id"] is not None}
    gaps = find_gaps(signals, roadmap, default_owner=default_owner, arr=_latest_arr(conn, accounts, week.end))
    return {
        "promise_gaps": gaps["promise_gaps"],
        "enablement_gaps": gaps["enablement_gaps"],
        "counts": gaps["counts"],
    }


def _round(value: float | None, digits: int = 4) -> float | None:
    return round(value, digits) if value is not None else None


def _theme_meta(
    theme_id: int, model_theme: dict[str, Any] | None, stored: list[_Unit], current_version: str
) -> dict[str, Any]:
    """Name, roadmap link and owner of a theme id, and whether they come from the current model.

    Theme ids are only comparable across model versions when training keeps them stable. So the current
    model describes a theme when its units were mostly scored by that model (or carry the same name);
    otherwise the name and links stored with the units, as their model saw them, are used.
    """

    def most_common(values: Iterable[Any]) -> Any:
        counted = Counter(v for v in values if v)
        return counted.most_common(1)[0][0] if counted else None

    stored_name = most_common(u.theme_name for u in stored)
    if model_theme is not None and (
        not stored
        or most_common(u.model_version for u in stored) == current_version
        or stored_name == model_theme.get("name")
    ):
        link = model_theme.get("roadmap_item")
        return {
            "id": theme_id,
            "name": str(model_theme.get("name") or f"theme {theme_id}"),
            "area_id": model_theme.get("area_id"),
            "area_name": model_theme.get("area_name"),
            "roadmap_item": {"id": str(link["id"]), "title": str(link.get("title") or "")} if link else None,
            "owner": model_theme.get("owner") or "",
            "in_model": True,
        }

    # Most common stored value wins: a theme the current model dropped still gets a readable label.
    link_id = most_common(u.roadmap_item_id for u in stored)
    link_title = most_common(u.roadmap_item_title for u in stored if u.roadmap_item_id == link_id)
    area_id, area_name = _stored_area(stored)
    return {
        "id": theme_id,
        "name": stored_name or f"theme {theme_id}",
        "area_id": area_id,
        "area_name": area_name,
        "roadmap_item": {"id": link_id, "title": link_title or ""} if link_id else None,
        "owner": most_common(u.owner for u in stored if u.routed) or "",
        "in_model": False,
    }


def _stored_area(stored: list[_Unit]) -> tuple[int | None, str | None]:
    """The area most of a theme's stored units were given, with its most common name (None: none had one)."""
    areas = Counter(u.area_id for u in stored if u.area_id is not None)
    if not areas:
        return None, None
    area_id = areas.most_common(1)[0][0]
    names = Counter(u.area_name for u in stored if u.area_id == area_id and u.area_name)
    return area_id, names.most_common(1)[0][0] if names else None


def _headline(
    week_units: list[_Unit],
    units_by_week: Counter[str],
    item_weeks: Counter[str],
    window: _Window,
    arr: dict[str, float],
) -> dict[str, Any]:
    items_trailing = _mean([item_weeks[label] for label in window.history_labels])
    units_trailing = _mean([units_by_week[label] for label in window.history_labels])
    n_items = item_weeks[window.week.label]
    n_units = len(week_units)
    routed = sum(1 for u in week_units if u.routed)
    triage = sum(1 for u in week_units if u.in_triage)
    n_accounts, revenue, no_arr = _accounts_revenue(week_units, arr)
    return {
        "items": n_items,
        "units": n_units,
        "items_trailing_mean": _round(items_trailing),
        "units_trailing_mean": _round(units_trailing),
        "items_change_pct": _change_pct(n_items, items_trailing),
        "units_change_pct": _change_pct(n_units, units_trailing),
        "units_routed": routed,
        "units_triage": triage,
        "routed_share": _share(routed, n_units),
        "triage_share": _share(triage, n_units),
        "accounts": n_accounts,
        "accounts_without_arr": no_arr,
        "revenue_at_stake": revenue,
        "model_versions": dict(sorted(Counter(u.model_version for u in week_units).items())),
    }


def same_theme(theme: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two models' themes are the same theme.

    The same id counts when the two also share a keyword or their name (or there is nothing to compare),
    so a training run that renumbers its themes does not hide new ones. Across different ids, the same
    name or half of the keywords in common (Jaccard >= 0.5) counts.
    """
    name, other_name = theme.get("name"), other.get("name")
    keywords, other_keywords = set(theme.get("keywords") or []), set(other.get("keywords") or [])
    if name and name == other_name:
        return True
    if int(theme["id"]) == int(other["id"]):
        if not (keywords and other_keywords) and not (name and other_name):
            return True
        return bool(keywords & other_keywords)
    if keywords and other_keywords:
        return len(keywords & other_keywords) / len(keywords | other_keywords) >= 0.5
    return False


def _trends(
    theme_rows: dict[int, dict[str, Any]],
    history_labels: list[str],
    model_themes: dict[int, dict[str, Any]],
    previous_themes: list[dict[str, Any]] | None,
    previous_version: str | None,
    week_by_theme: dict[int, list[_Unit]],
) -> dict[str, Any]:
    tested = _rate_tests(theme_rows, len(history_labels))
    rising = sorted((r for r in tested if r["direction"] == "rising"), key=lambda r: (-r["change"], r["id"]))
    fading = sorted((r for r in tested if r["direction"] == "fading"), key=lambda r: (r["change"], r["id"]))
    new_themes, retired_themes = (
        _new_and_retired(model_themes, previous_themes, week_by_theme)
        if previous_themes is not None
        else (None, None)
    )
    return {
        "test": "exact conditional binomial test of this week's count against the trailing weeks "
        "(equal Poisson rates), Benjamini-Hochberg across themes",
        "compared_with": "trailing_mean",  # the test's baseline; last week's count is shown beside it only
        "tested": tested,
        "rising": rising,
        "fading": fading,
        "previous_model_version": previous_version,
        "new_themes": new_themes,
        "retired_themes": retired_themes,
    }


def _rate_tests(theme_rows: dict[int, dict[str, Any]], trailing_weeks: int) -> list[dict[str, Any]]:
    """Every theme's rate test against ``trailing_weeks`` weeks, with its q-value and direction."""
    if not trailing_weeks:
        return []
    tested = [_rate_test(theme_id, row, trailing_weeks) for theme_id, row in sorted(theme_rows.items())]
    for row, q in zip(tested, benjamini_hochberg([r["p_value"] for r in tested]), strict=True):
        row["p_value"] = float(f"{row['p_value']:.6g}")
        row["q_value"] = float(f"{q:.6g}")
        row["direction"] = _direction(row, q)
    return tested


def _rate_test(theme_id: int, row: dict[str, Any], trailing_weeks: int) -> dict[str, Any]:
    this_week = row["units"]
    trailing_total = sum(row["weekly"][:-1])
    mean = trailing_total / trailing_weeks
    p_rise, p_fade = rate_change_test(this_week, trailing_total, trailing_weeks)
    # The trailing weeks end with last week, so weekly[-2] is last week's count.
    last_week = row["weekly"][-2]
    return {
        "id": theme_id,
        "name": row["name"],
        "owner": row["owner"],
        "roadmap_item": row["roadmap_item"],
        "this_week": this_week,
        "trailing_mean": round(mean, 4),
        "change": round(this_week - mean, 4),
        "change_pct": _change_pct(this_week, mean),
        "last_week": last_week,
        "change_vs_last_week": this_week - last_week,
        "change_vs_last_week_pct": _change_pct(this_week, last_week),
        "p_value": min(1.0, 2 * min(p_rise, p_fade)),
    }


def _direction(row: dict[str, Any], q: float) -> str | None:
    """ "rising" or "fading" when significant and the larger of the two counts reaches ``MIN_COUNT``."""
    significant = q < ALPHA
    if not significant:
        return None
    if row["this_week"] > row["trailing_mean"] and row["this_week"] >= MIN_COUNT:
        return "rising"
    if row["this_week"] < row["trailing_mean"] and row["trailing_mean"] >= MIN_COUNT:
        return "fading"
    return None


def _new_and_retired(
    model_themes: dict[int, dict[str, Any]],
    previous_themes: list[dict[str, Any]],
    week_by_theme: dict[int, list[_Unit]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Themes of the current model that the previous one lacked, and the previous model's that are gone."""
    current = [theme for _, theme in sorted(model_themes.items())]
    previous = sorted(previous_themes, key=lambda t: int(t["id"]))
    new_themes = [
        _new_theme(theme, len(week_by_theme.get(int(theme["id"]), [])))
        for theme in current
        if not any(same_theme(theme, old) for old in previous)
    ]
    retired_themes = [
        {"id": int(old["id"]), "name": str(old.get("name") or f"theme {old['id']}")}
        for old in previous
        if not any(same_theme(theme, old) for theme in current)
    ]
    return new_themes, retired_themes


def _new_theme(theme: dict[str, Any], units: int) -> dict[str, Any]:
    link = theme.get("roadmap_item")
    return {
        "id": int(theme["id"]),
        "name": str(theme.get("name") or f"theme {theme['id']}"),
        "size": theme.get("size"),
        "units": units,
        "roadmap_item": {"id": str(link["id"]), "title": str(link.get("title") or "")} if link else None,
    }


def _volume_over_weeks(
    units: list[_Unit],
    labels: list[str],
    theme_meta: dict[int, dict[str, Any]],
    area_rows: list[dict[str, Any]],
) -> dict[str, Any]:
    """Units per week stacked by area: every area is a series (no "other" remainder), then units with no
    theme. Areas are few (feedback_nlp/areas.py), so each gets its own bar segment."""
    by_week: dict[int | None, Counter[str]] = defaultdict(Counter)
    no_theme = Counter[str]()
    for unit in units:
        if unit.theme_id is None:
            no_theme[unit.week] += 1
        else:
            by_week[_area_of(unit, theme_meta)][unit.week] += 1
    return {
        "weeks": labels,
        "series": [
            {"id": row["id"], "name": row["name"], "counts": [by_week[row["id"]][w] for w in labels]}
            for row in area_rows
            if row["id"] in by_week
        ],
        "no_theme": [no_theme[w] for w in labels],
        "total": [sum(c[w] for c in by_week.values()) + no_theme[w] for w in labels],
    }


def _area_of(unit: _Unit, theme_meta: dict[int, dict[str, Any]]) -> int | None:
    """A unit's area: its theme's, as the current model (or the stored units) describe the theme."""
    meta = theme_meta.get(unit.theme_id) if unit.theme_id is not None else None
    return meta.get("area_id") if meta is not None else unit.area_id


NO_AREA_NAME = "themes without an area (scored before areas existed)"


def _areas(
    theme_meta: dict[int, dict[str, Any]],
    theme_rows: dict[int, dict[str, Any]],
    units: _Units,
    window: _Window,
) -> dict[str, Any]:
    """One row per area (its figures, like a theme's, and its themes, largest this week first) and the
    areas rising and fading by the same test as themes."""
    members: dict[int | None, list[int]] = defaultdict(list)
    names: dict[int | None, str] = {}
    for theme_id, meta in theme_meta.items():
        area_id = meta.get("area_id")
        members[area_id].append(theme_id)
        names.setdefault(area_id, meta.get("area_name") or NO_AREA_NAME)
    stored: dict[int | None, list[_Unit]] = defaultdict(list)
    in_week: dict[int | None, list[_Unit]] = defaultdict(list)
    for unit in units.all_weeks:
        if unit.theme_id is not None:
            stored[_area_of(unit, theme_meta)].append(unit)
    for unit in units.this_week:
        if unit.theme_id is not None:
            in_week[_area_of(unit, theme_meta)].append(unit)
    rows = {}
    for area_id in members:
        meta = {"id": area_id, "name": names[area_id], "roadmap_item": None, "owner": "", "in_model": True}
        row = _theme_row(meta, stored[area_id], in_week[area_id], units.arr, window)
        themes = sorted(members[area_id], key=lambda t: (-theme_rows[t]["units"], t))
        row["themes"] = [_brief(theme_rows[t]) for t in themes]
        rows[area_id] = row
    ordered = sorted(
        rows.values(), key=lambda r: (-sum(r["weekly"]), -r["units"], r["id"] is None, r["id"] or 0)
    )
    tested = _rate_tests({k: v for k, v in rows.items() if k is not None}, len(window.history_labels))
    return {
        "rows": ordered,
        "rising": sorted(
            (r for r in tested if r["direction"] == "rising"), key=lambda r: (-r["change"], r["id"])
        ),
        "fading": sorted(
            (r for r in tested if r["direction"] == "fading"), key=lambda r: (r["change"], r["id"])
        ),
    }


def _unplanned(
    active: list[dict[str, Any]], week_by_theme: dict[int, list[_Unit]], theme_names: dict[int, str]
) -> list[dict[str, Any]]:
    rows = [r for r in active if r["roadmap_item"] is None]
    rows.sort(key=lambda r: (-r["accounts"], -r["revenue"], -r["units"], r["id"]))
    return [
        {
            "id": r["id"],
            "name": r["name"],
            "owner": r["owner"],
            "units": r["units"],
            "accounts": r["accounts"],
            "revenue": r["revenue"],
            "quotes": _pick_quotes(week_by_theme[r["id"]], theme_names),
        }
        for r in rows
    ]


def _roadmap_without_evidence(
    roadmap: list[dict[str, Any]], units: list[_Unit], week: Week, model_themes: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    last_seen: dict[str, datetime] = {}
    in_week: Counter[str] = Counter()
    for unit in units:
        if unit.routed and unit.roadmap_item_id:
            last_seen[unit.roadmap_item_id] = max(
                unit.created_at, last_seen.get(unit.roadmap_item_id, unit.created_at)
            )
            if unit.week == week.label:
                in_week[unit.roadmap_item_id] += 1
    rows = []
    for item in roadmap:
        item_id = str(item.get("id"))
        if in_week[item_id]:
            continue
        linked = sorted(
            t
            for t, theme in model_themes.items()
            if theme.get("roadmap_item") and str(theme["roadmap_item"].get("id")) == item_id
        )
        rows.append(
            {
                "id": item_id,
                "title": str(item.get("title") or ""),
                "owner": item.get("owner") or "",
                "status": item.get("status") or "",
                "linked_themes": linked,
                "last_evidence_at": _iso(last_seen.get(item_id)),
            }
        )
    return rows


def _channels(active: list[dict[str, Any]], week_units: list[_Unit]) -> dict[str, Any]:
    sources = Counter(u.source for u in week_units)
    both = sources[SOURCE_CALL_NOTE] + sources[SOURCE_TICKET]
    overall_share = sources[SOURCE_CALL_NOTE] / both if both else None
    by_theme = []
    for r in sorted(active, key=lambda r: (-r["units"], r["id"])):
        pair = r["call_note"] + r["ticket"]
        # Chance that all of the theme's units come from one channel if it followed the week's channel mix.
        # Tickets far outnumber call notes, so a few tickets and no call note is expected, not a signal.
        if overall_share is None or pair < MIN_COUNT or (r["call_note"] and r["ticket"]):
            p_one_channel = 1.0
        elif r["ticket"] == 0:
            p_one_channel = overall_share**pair
        else:
            p_one_channel = (1 - overall_share) ** pair
        by_theme.append(
            {
                "id": r["id"],
                "name": r["name"],
                "units": r["units"],
                "call_note": r["call_note"],
                "ticket": r["ticket"],
                "other_sources": r["other_sources"],
                "call_note_share": _share(r["call_note"], pair),
                "one_channel_p": float(f"{p_one_channel:.6g}"),
            }
        )
    for row, q in zip(by_theme, benjamini_hochberg([r["one_channel_p"] for r in by_theme]), strict=True):
        row["one_channel_q"] = float(f"{q:.6g}")

    def single(channel: str, other: str) -> list[dict[str, Any]]:
        return [
            {"id": r["id"], "name": r["name"], "units": r[channel], "q_value": r["one_channel_q"]}
            for r in by_theme
            if r[channel] >= MIN_COUNT and r[other] == 0 and r["one_channel_q"] < ALPHA
        ]

    return {
        "totals": {
            "call_note": sources[SOURCE_CALL_NOTE],
            "ticket": sources[SOURCE_TICKET],
            "other_sources": _other_sources(sources),
            "call_note_share": _round(overall_share),
        },
        "test": "probability that every unit of the theme comes from one channel under the week's "
        "call-note/ticket mix, Benjamini-Hochberg across themes",
        "by_theme": by_theme,
        "sales_only": single(SOURCE_CALL_NOTE, SOURCE_TICKET),
        "support_only": single(SOURCE_TICKET, SOURCE_CALL_NOTE),
        "observed_sales_only": _observed_one_channel(by_theme, SOURCE_CALL_NOTE, SOURCE_TICKET),
        "observed_support_only": _observed_one_channel(by_theme, SOURCE_TICKET, SOURCE_CALL_NOTE),
    }


def _observed_one_channel(by_theme: list[dict[str, Any]], channel: str, other: str) -> list[dict[str, Any]]:
    """Themes heard this week in ``channel`` and not in ``other``, significant or not with ``significant``."""
    return [
        {
            "id": r["id"],
            "name": r["name"],
            "units": r[channel],
            "of": r[channel] + r[other] + r["other_sources"],
            "q_value": r["one_channel_q"],
            "significant": r[channel] >= MIN_COUNT and r["one_channel_q"] < ALPHA,
        }
        for r in by_theme
        if r[channel] > 0 and r[other] == 0
    ]


def _owners(
    roadmap: list[dict[str, Any]],
    model_themes: dict[int, dict[str, Any]],
    week_units: list[_Unit],
    default_owner: str,
    arr: dict[str, float],
    theme_names: dict[int, str],
) -> list[dict[str, Any]]:
    routed = [u for u in week_units if u.routed]
    owners: set[str] = {str(item.get("owner") or "") for item in roadmap}
    owners |= {str(t.get("owner") or "") for t in model_themes.values() if t.get("owner")}
    owners |= {u.owner for u in routed}
    owners.discard(default_owner)  # the default owner is the triage queue, which has its own section
    sections = [_owner_section(owner, roadmap, routed, arr, theme_names) for owner in owners]
    sections.sort(key=lambda s: (-s["units"], s["owner"] == "", s["owner"]))
    return sections


def _owner_section(
    owner: str,
    roadmap: list[dict[str, Any]],
    routed: list[_Unit],
    arr: dict[str, float],
    theme_names: dict[int, str],
) -> dict[str, Any]:
    """One owner's evidence: units routed to them or to their roadmap items, by item, theme and account."""
    items = [item for item in roadmap if str(item.get("owner") or "") == owner]
    item_ids = {str(item.get("id")) for item in items}
    evidence = [u for u in routed if u.owner == owner or u.roadmap_item_id in item_ids]
    item_rows = [_owner_item(item, evidence, arr) for item in items]
    item_rows.sort(key=lambda r: (-r["units"], r["id"]))
    n_accounts, revenue, no_arr = _accounts_revenue(evidence, arr)
    return {
        "owner": owner,
        "units": len(evidence),
        "n_accounts": n_accounts,
        "accounts_without_arr": no_arr,
        "revenue": revenue,
        "roadmap_items": item_rows,
        "units_without_roadmap_item": sum(1 for u in evidence if u.roadmap_item_id not in item_ids),
        "themes": _theme_counts(evidence, theme_names),
        "accounts": _owner_accounts(evidence, arr),
        "quotes": _pick_quotes(evidence, theme_names),
    }


def _owner_item(item: dict[str, Any], evidence: list[_Unit], arr: dict[str, float]) -> dict[str, Any]:
    item_units = [u for u in evidence if u.roadmap_item_id == str(item.get("id"))]
    n_accounts, revenue, _ = _accounts_revenue(item_units, arr)
    return {
        "id": str(item.get("id")),
        "title": str(item.get("title") or ""),
        "status": item.get("status") or "",
        "units": len(item_units),
        "accounts": n_accounts,
        "revenue": revenue,
    }


def _owner_accounts(evidence: list[_Unit], arr: dict[str, float]) -> list[dict[str, Any]]:
    """The accounts behind an owner's evidence, biggest ARR first."""
    accounts: list[dict[str, Any]] = [
        {"account_id": a, "arr": arr.get(a), "units": n}
        for a, n in Counter(u.account_id for u in evidence if u.account_id is not None).items()
    ]
    accounts.sort(key=lambda r: (-(r["arr"] or 0.0), -r["units"], r["account_id"]))
    return accounts


def _theme_counts(
    units: Iterable[_Unit], theme_names: dict[int, str], limit: int | None = None
) -> list[dict[str, Any]]:
    """Units per theme, most first (units with no theme left out), at most ``limit`` themes."""
    counts = Counter(u.theme_id for u in units if u.theme_id is not None)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [{"id": t, "name": theme_names.get(t, f"theme {t}"), "units": n} for t, n in ranked]


def _triage(
    week_units: list[_Unit],
    units: list[_Unit],
    history_labels: list[str],
    theme_meta: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    theme_names = {theme_id: meta["name"] for theme_id, meta in theme_meta.items()}
    queue = [u for u in week_units if u.in_triage]
    # The router sends a unit to triage when it matches no theme, when it is unsure, or when its theme
    # has no roadmap item (unplanned demand); each calls for a different fix.
    unplanned = sum(
        1 for u in queue if u.theme_id is not None and theme_meta[u.theme_id]["roadmap_item"] is None
    )
    per_week = Counter(u.week for u in units if u.in_triage)
    trailing = _mean([per_week[label] for label in history_labels])
    # Least confident first: those are the clearest signs of something the themes or roadmap miss.
    examples = _pick_quotes(
        queue,
        theme_names,
        limit=TRIAGE_EXAMPLES,
        key=lambda u: (
            u.theme_id is not None,
            u.confidence,
            -u.created_at.timestamp(),
            u.item_id,
            u.unit_index,
        ),
    )
    return {
        "units": len(queue),
        "share": _share(len(queue), len(week_units)),
        "trailing_mean": _round(trailing),
        "change_pct": _change_pct(len(queue), trailing),
        "no_theme": sum(1 for u in queue if u.theme_id is None),
        "unplanned_theme": unplanned,
        "low_confidence": sum(1 for u in queue if u.theme_id is not None) - unplanned,
        "by_nearest_theme": _theme_counts(queue, theme_names, TOP_N),
        "examples": examples,
    }


# --------------------------------------------------------------------------------------- reconciliation


def _reconciliation(
    week_units: list[_Unit],
    arr: dict[str, float],
    active: list[dict[str, Any]],
    owners: list[dict[str, Any]],
    roadmap: list[dict[str, Any]],
) -> dict[str, Any]:
    """How every section's units and revenue relate to the headline, with the reasons as sentences.

    Sections count different things on purpose (a theme counts every unit it matched, a roadmap item only
    the units routed to it; revenue counts an account once per row), so their sums differ from the
    headline. The reasons are stated beside the figures rather than left for the reader to guess.
    """
    linked: dict[str, list[int]] = defaultdict(list)
    for row in active:
        if row["roadmap_item"]:
            linked[row["roadmap_item"]["id"]].append(row["id"])
    names = {r["id"]: r["name"] for r in active}
    items = [_item_reconciliation(item, week_units, arr, active, linked, names) for item in roadmap]
    return {
        "units": _unit_reconciliation(week_units, active, owners, roadmap),
        "revenue": _revenue_reconciliation(week_units, arr, active, owners),
        "roadmap_items": [row for row in items if row is not None],
        "notes": [],  # filled in by compute_report, which knows the currency
    }


def _unit_reconciliation(
    week_units: list[_Unit],
    active: list[dict[str, Any]],
    owners: list[dict[str, Any]],
    roadmap: list[dict[str, Any]],
) -> dict[str, int]:
    item_owner = {str(item.get("id")): str(item.get("owner") or "") for item in roadmap}
    section_owners = {s["owner"] for s in owners}
    routed = [u for u in week_units if u.routed]
    # A unit is in its own owner's section and in its roadmap item's owner's section: one or two sections.
    sections_per_unit = [
        len({u.owner, item_owner.get(u.roadmap_item_id or "", u.owner)} & section_owners) for u in routed
    ]
    return {
        "headline": len(week_units),
        "routed": len(routed),
        "triage": sum(1 for u in week_units if u.in_triage),
        "in_themes": sum(r["units"] for r in active),
        "without_theme": sum(1 for u in week_units if u.theme_id is None),
        "in_owner_sections": sum(s["units"] for s in owners),
        "in_two_owner_sections": sum(1 for n in sections_per_unit if n > 1),
        "routed_outside_owner_sections": sum(1 for n in sections_per_unit if n == 0),
    }


def _revenue_reconciliation(
    week_units: list[_Unit], arr: dict[str, float], active: list[dict[str, Any]], owners: list[dict[str, Any]]
) -> dict[str, Any]:
    themes_per_account = Counter(
        account
        for account, _ in {(u.account_id, u.theme_id) for u in week_units if u.theme_id is not None}
        if account
    )
    owners_per_account = Counter(a["account_id"] for s in owners for a in s["accounts"])
    return {
        "headline": _accounts_revenue(week_units, arr)[1],
        "sum_of_themes": round(sum(r["revenue"] for r in active), 2),
        "sum_of_owners": round(sum(s["revenue"] for s in owners), 2),
        "accounts_in_several_themes": sum(1 for n in themes_per_account.values() if n > 1),
        "accounts_in_several_owners": sum(1 for n in owners_per_account.values() if n > 1),
    }


def _item_reconciliation(
    item: dict[str, Any],
    week_units: list[_Unit],
    arr: dict[str, float],
    active: list[dict[str, Any]],
    linked_by_item: dict[str, list[int]],
    names: dict[int, str],
) -> dict[str, Any] | None:
    """Why a roadmap item's routed units differ from its themes' units; ``None`` when they do not."""
    item_id = str(item.get("id"))
    linked = sorted(linked_by_item.get(item_id, []))
    item_units = [u for u in week_units if u.routed and u.roadmap_item_id == item_id]
    theme_units = [u for u in week_units if u.theme_id in linked]
    if {id(u) for u in item_units} == {id(u) for u in theme_units} and len(linked) <= 1:
        return None  # one theme and the same units: nothing to explain
    return {
        "id": item_id,
        "title": str(item.get("title") or ""),
        "units": len(item_units),
        "revenue": _accounts_revenue(item_units, arr)[1],
        "linked_themes": [{"id": t, "name": names[t]} for t in linked],
        "theme_units": len(theme_units),
        "theme_revenue": round(sum(r["revenue"] for r in active if r["id"] in linked), 2),
        **_item_differences(item_id, item_units, theme_units, linked),
    }


def _item_differences(
    item_id: str, item_units: list[_Unit], theme_units: list[_Unit], linked: list[int]
) -> dict[str, int]:
    """The units that make an item's count differ from its themes': to triage, elsewhere, other themes."""
    return {
        "theme_units_in_triage": sum(1 for u in theme_units if not u.routed),
        "theme_units_routed_elsewhere": sum(
            1 for u in theme_units if u.routed and u.roadmap_item_id != item_id
        ),
        "units_from_other_themes": sum(1 for u in item_units if u.theme_id not in linked),
    }


def _reconciliation_notes(
    units: dict[str, Any], revenue: dict[str, Any], items: list[dict[str, Any]], currency: str
) -> list[str]:
    def money(value: float) -> str:
        return fmt_money(value, currency)

    if not units["headline"]:
        return []
    notes = [
        f"The {plural(units['headline'], 'unit')} this week are {units['routed']} routed to owners plus "
        f"{units['triage']} left for triage; the themes hold {units['in_themes']} of them "
        f"({units['without_theme']} matched no theme)."
    ]
    if units["in_owner_sections"] != units["routed"]:
        notes.append(
            f"The owner sections hold {units['in_owner_sections']} units against {units['routed']} routed: "
            f"{units['in_two_owner_sections']} count in two sections (the theme's owner and the roadmap "
            "item's "
            f"owner differ) and {units['routed_outside_owner_sections']} went to the triage owner."
        )
    if revenue["sum_of_themes"] != revenue["headline"]:
        notes.append(
            "Revenue at stake counts each account once per row: the themes add up to "
            f"{money(revenue['sum_of_themes'])} against the headline's {money(revenue['headline'])} "
            f"because {plural(revenue['accounts_in_several_themes'], 'account')} raised more than one theme."
        )
    if revenue["sum_of_owners"] != revenue["headline"]:
        notes.append(
            f"The owner sections add up to {money(revenue['sum_of_owners'])} against the headline's "
            f"{money(revenue['headline'])}: an account counts once per owner "
            f"({plural(revenue['accounts_in_several_owners'], 'account')} reached more than one owner), "
            "and accounts heard only in the triage queue count in no owner section."
        )
    for item in items:
        themes = ", ".join(f"\u201c{t['name']}\u201d" for t in item["linked_themes"]) or "no theme"
        reasons = [
            f"{item['theme_units_in_triage']} of the theme units went to triage"
            if item["theme_units_in_triage"]
            else "",
            f"{item['theme_units_routed_elsewhere']} were routed to another item"
            if item["theme_units_routed_elsewhere"]
            else "",
            f"{item['units_from_other_themes']} came from other themes"
            if item["units_from_other_themes"]
            else "",
            f"the item is linked from {len(item['linked_themes'])} themes"
            if len(item["linked_themes"]) > 1
            else "",
        ]
        linked = (
            f"its theme {themes} counts {item['theme_units']}"
            if len(item["linked_themes"]) == 1
            else f"its themes {themes} count {item['theme_units']}"
            if item["linked_themes"]
            else "no theme heard this week links to it"
        )
        notes.append(
            f"Roadmap item {item['id']} counts the {plural(item['units'], 'unit')} routed to it "
            f"({money(item['revenue'])}); {linked}"
            + (f" ({money(item['theme_revenue'])})" if item["linked_themes"] else "")
            + ": "
            + "; ".join(r for r in reasons if r)
            + "."
        )
    return notes


def _name_accounts(node: Any, names: dict[str, str]) -> None:
    """Add ``account_name`` beside every ``account_id`` the names file knows, anywhere in the report."""
    if isinstance(node, dict):
        account = node.get("account_id")
        if isinstance(account, str) and account in names:
            node["account_name"] = names[account]
        for value in node.values():
            _name_accounts(value, names)
    elif isinstance(node, list):
        for value in node:
            _name_accounts(value, names)


# --------------------------------------------------------------------------------------------- summary


def summary_sentences(report: dict[str, Any]) -> list[str]:
    """Three to five sentences from the figures: volume, what rose, what is new, the money, no owner."""
    h = report["headline"]
    currency = report["settings"].get("currency", DEFAULT_CURRENCY)
    if not h["units"]:
        return [
            f"No feedback was stored for {report['week']}, so every figure below is zero; "
            "pick a week with data with --week (by default the report takes the latest week with data)."
        ]
    sentences = [
        f"{plural(h['units'], 'feedback unit')} (the single requests inside the items) arrived in "
        f"{plural(h['items'], 'item')} (tickets and call notes) "
        f"from {plural(h['accounts'], 'account')}, {fmt_change_pct(h['units_change_pct'])} against the "
        "trailing weekly mean."
    ]
    rising = report["trends"]["rising"]
    if rising:
        top = rising[0]
        sentences.append(
            f"Rising most: \u201c{top['name']}\u201d with {top['this_week']} units against a trailing "
            "mean of "
            f"{fmt_float(top['trailing_mean'])} ({top.get('last_week', 'n/a')} last week)"
            + (f", and {plural(len(rising) - 1, 'other theme')}" if len(rising) > 1 else "")
            + "."
        )
    else:
        sentences.append("No theme rose significantly against its trailing mean.")
    new = report["trends"]["new_themes"]
    if new:
        sentences.append(
            f"New since {report['trends']['previous_model_version']}: "
            + ", ".join(f"\u201c{t['name']}\u201d" for t in new[:3])
            + (f" and {len(new) - 3} more" if len(new) > 3 else "")
            + "."
        )
    if report["top_by_revenue"]:
        top = report["top_by_revenue"][0]
        sentences.append(
            f"The most revenue is behind \u201c{top['name']}\u201d: "
            f"{fmt_money(top['revenue'], currency)} of ARR "
            f"from {plural(top['accounts'], 'account')}."
        )
    unowned = [r for r in report["themes"] if r["units"] and not r["owner"]]
    if unowned:
        sentences.append(
            f"{plural(sum(r['units'] for r in unowned), 'unit')} fell in themes with no owner: "
            + ", ".join(f"\u201c{r['name']}\u201d" for r in unowned[:3])
            + "."
        )
    else:
        sentences.append("Every theme heard this week has an owner.")
    return sentences[:5]
