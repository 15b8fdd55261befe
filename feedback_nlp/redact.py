"""Find and replace personal data in text without a language model.

:func:`find_pii` returns the character spans of e-mails, URLs, IBANs, payment cards, US social security
numbers, phone numbers, street addresses and the person names that a cue or the given-name list gives
away; :func:`redact` replaces them by placeholders such as ``[PHONE]``. The spaCy step
(:mod:`feedback_nlp.prepare`) adds the names its NER finds and redacts every span in one pass, so that the
unit text, its lemmas (theme keywords) and everything built from them see the same redacted text.

Each detector trades recall against false redactions of product names and amounts;
``make bench-privacy`` measures both (benchmarks/README.md).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import phonenumbers
from spacy.lang.en.stop_words import STOP_WORDS
from stdnum import iban as _iban
from stdnum import luhn as _luhn

from feedback_nlp.first_names import AMBIGUOUS_FIRST_NAMES, FIRST_NAMES

EMAIL, URL, IBAN, CARD, SSN, PHONE, ADDRESS, PERSON = (
    "EMAIL",
    "URL",
    "IBAN",
    "CARD",
    "SSN",
    "PHONE",
    "ADDRESS",
    "PERSON",
)
# When spans of two kinds overlap, the merged span takes the kind listed first.
KINDS = (EMAIL, URL, IBAN, CARD, SSN, PHONE, ADDRESS, PERSON)


@dataclass(frozen=True, order=True)
class Span:
    """Characters ``text[start:end]`` hold personal data of ``kind`` (one of :data:`KINDS`)."""

    start: int
    end: int
    kind: str


_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
# With a scheme or "www.": the whole token. Without either, a domain counts only when a path or query
# follows ("acme.io/reset?token=..."); a bare "example.com" names a company, not a person.
_URL = re.compile(
    r"\b(?:(?:https?|ftp)://|www\.)\S+"
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|io|co|uk|de|fr|eu|app|dev|ai|me|info|biz|us)[/?#]\S*",
    re.IGNORECASE,
)
_TRAILING_PUNCT = ".,;:!?)]}'\">"
# Two letters, two check digits, then 11 to 30 letters or digits, optionally in groups of four.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", re.IGNORECASE)
# 13 to 19 digits, optionally grouped by spaces or dashes: the shape of a payment card number.
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
# 123-45-6789 (or spaces); area 000, 666 and 900-999, group 00 and serial 0000 are never issued.
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
_SSN_CUED = re.compile(
    r"\b(?:ssn|social security(?: number| no\.?| #)?)\s*(?:is|:|#|no\.?)?\s*(\d{9})\b", re.IGNORECASE
)
# Any run of 9 or more digits in 2 to 4-digit groups that the phone library did not take: an account or
# phone number in a local format; kept from the first version of the redactor as a net.
_DIGIT_RUN = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?!\w)"
)
# Regions whose national formats (07700 692791, (415) 555-0134) are read without a country code; numbers
# with +CC or 00CC are read in any region.
PHONE_REGIONS = ("GB", "US")
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥]|\b(?:usd|eur|gbp|chf|jpy|cad|aud))\s*$", re.IGNORECASE)
_CURRENCY_AFTER = re.compile(
    r"^\s*(?:[$€£¥]|(?:usd|eur|gbp|chf|jpy|cad|aud|dollars?|euros?|pounds?|k\b|m\b|million|bn)\b)",
    re.IGNORECASE,
)
_DATE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$")

# A house number, one to four words, then a street word; words such as "place" and "park" must be
# capitalised, and no word in between may be a function word or a count ("3 users on the way").
_STREET_ANY_CASE = (
    r"(?i:street|st|road|rd|avenue|ave|lane|ln|boulevard|blvd|drive|dr|strasse|straße|str|parkway|pkwy"
    r"|highway|hwy|terrace|crescent|way|close)"
)
_STREET_CAPITALISED = r"(?:Place|Pl|Court|Ct|Square|Sq|Row|Gardens|Grove|Hill|Mews|Walk|Park)"
_STREET_NAME_WORD = r"(?:[A-Z][\w'.-]*|[a-z][\w'-]+)"
_ADDRESS = re.compile(
    r"(?:\b(?i:flat|apt|apartment|suite|unit)\.?\s*\d+[A-Za-z]?,?\s+)?"
    r"\b\d{1,5}[A-Za-z]?(?:-\d{1,5})?,?\s+"
    rf"((?:{_STREET_NAME_WORD}\s+){{1,4}}?)"
    rf"(?:{_STREET_ANY_CASE}|{_STREET_CAPITALISED})\b\.?"
    r"(?:,?\s+(?i:apt|suite|unit|flat)\.?\s*\w+)?"
    r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+)?)?"  # city
    r"(?:,?\s*[A-Z]{2}(?=[\s,]+\d{5}))?"  # US state before a ZIP
    r"(?:,?\s*(?:\d{5}(?:-\d{4})?\b|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b))?"  # ZIP or UK postcode
)
# German order: Hauptstraße 5, Lindenweg 12a.
_ADDRESS_DE = re.compile(
    r"\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|platz|allee|gasse|ring)\s+\d{1,4}[a-z]?\b"
)
_PO_BOX = re.compile(r"\bP\.?\s?O\.?\s+Box\s+\d+\b", re.IGNORECASE)
_UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}\b")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that look like street names but say how many of something: "3 cards on the way".
_NOT_STREET_WORDS = _words(
    "users user cards card people employees seats days weeks months hours times accounts invoices payments "
    "transfers items steps more new old other of the a an on in at to by for and or per"
)

# -- names ---------------------------------------------------------------------------------------------------
# Words right before a person ("call bob", "Hi Anna", "spoke with maria"), matched at the end of a window.
_NAME_CUE = re.compile(
    r"\b(?:call(?:ed|ing)?|rang|phoned|texted|emailed|pinged|messaged|ask(?:ed)?|tell|told|cc|attn:?"
    r"|hi|hello|hey|dear|thanks|thank you|cheers|regards|best|sincerely"
    r"|(?:spoke|speak(?:ing)?|talk(?:ed|ing)?|met|meeting|call|sync|chat(?:ted)?|catch-?up) (?:with|to)"
    r"|contact(?: is|:)|reach out to|loop in|looped in|hand(?:ed)? (?:it )?(?:over )?to)[,:]?\s+$",
    re.IGNORECASE,
)
# Cues that introduce a person only when the next word is capitalised: "This is Imogen Lindqvist, the
# controller", but "this is broken".
_NAME_CUE_CAPITALISED = re.compile(
    r"\b(?:this is|it's|it is|i am|i'm|here is|here's)[,:]?\s+$", re.IGNORECASE
)
# "helga gallagher said the same": one or two lower-case words opening a sentence before a verb of speech.
_LOWER_SPEAKER = re.compile(
    r"(?:^\s*(?:[-*\u2022]\s+)?|[.!?;:]\s+|\n\s*(?:[-*\u2022]\s+)?)([a-z][a-z'-]{2,}(?: [a-z][a-z'-]{2,})?)"
    r"(?= (?:said|says|asked|mentioned|wrote|emailed|complained|confirmed|reported)\b)"
)
# "X from finance": a person of a team.
_FROM_TEAM = re.compile(
    r"\s+(?:from|in|at) (?:the )?(?:finance|accounting|accounts|procurement|legal|it|ops|operations|hr"
    r"|payroll|security|compliance|treasury|sales|marketing|support|engineering|audit)\b",
    re.IGNORECASE,
)
# "bob said": a lower-case given name as the subject of a verb people do.
_PERSON_VERB_AFTER = re.compile(
    r"\s+(?:said|says|asked|asks|wants|wanted|mentioned|reported|called|emailed|wrote|confirmed|complained"
    r"|needs|needed|thinks|thought|is|was|will|would|can|could)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’-]*")
# Capitalised words after a cue that are not people.
NOT_PEOPLE = _words(
    """
    finance procurement legal security it ops operations accounting accounts sales marketing support
    engineering hr payroll management leadership treasury admin admins customer customers team teams cfo ceo
    cto coo controller owner founder compliance audit travel product everyone everybody nobody user users all
    there folks guys back again later soon today tomorrow yesterday monday tuesday wednesday thursday friday
    saturday sunday january february march april may june july august september october november december
    sir madam bank them him her me us you we they the a an our your their my this that what when why how
    """
)
# Words that follow "call", "ask", "thanks" ... without being a person.
_NOT_NAMES_AFTER_CUE = _words(
    "questions question center centre permission help details receipts invoice invoices support desk line "
    "number numbers immediately directly urgently quickly first again also everyone anyone someone people "
    "staff employees agent agents bank card cards center"
)
# Words that end a name rather than continue it ("call bob tomorrow", "ask anna again").
_NOT_SURNAMES = NOT_PEOPLE | _words(
    "asap now again back about re regarding thanks thank please and or but if so then when to for with on "
    "at by from in of"
)


def _is_name_word(word: str, *, cued: bool) -> bool:
    lower = word.lower().rstrip("'’s") if word.lower().endswith(("'s", "’s")) else word.lower()
    if lower in NOT_PEOPLE:
        return False
    if lower in FIRST_NAMES:
        return True
    if not cued:
        return False
    # after a cue: a given name that is also a word, or any word that is not a function word
    # ("Hi, Last week ...", "Hi, I'm ..."); lower case too ("hi delphine", "spoke with orla rahman")
    if lower in AMBIGUOUS_FIRST_NAMES:
        return True
    return (
        len(lower) > 2
        and lower not in STOP_WORDS
        and lower not in _NOT_NAMES_AFTER_CUE
        and "'" not in lower
        and word.isalpha()
    )


def _surname_end(text: str, end: int, capitalised: bool, keep: Collection[str]) -> int:
    """Extend a name over up to two following surname words ("Bob Smith", "bob smith")."""
    for _ in range(2):
        match = re.match(r"[ \t]+([A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’-]+)", text[end:])
        if not match:
            break
        word = match.group(1)
        lower = word.lower()
        if lower in _NOT_SURNAMES or lower in keep or len(word) < 2:
            break
        if capitalised and not word[0].isupper():
            break
        if not capitalised and (not word.islower() or len(word) < 3 or _PERSON_VERB_AFTER.match(" " + word)):
            break
        end += match.end()
    return end


def find_names(text: str, keep: Collection[str] = ()) -> list[Span]:
    """Person names that a cue or the given-name list gives away (the NER adds the others).

    Args:
        text: any text.
        keep: lower-case words and phrases never taken as names (product names, see prepare.py).
    """
    # the words of the kept phrases ("google" of "Google Pay"), gathered once per text, not once per word
    phrase_words = frozenset(word for term in keep if " " in term for word in term.split())
    spans = [
        span
        for match in _WORD.finditer(text)
        if (span := _name_at(text, match, keep, phrase_words)) is not None
    ]
    for match in _LOWER_SPEAKER.finditer(text):
        words = match.group(1).split()
        if not any(w in STOP_WORDS or w in NOT_PEOPLE or w in keep for w in words):
            spans.append(Span(*match.span(1), PERSON))
    return spans


def _name_at(
    text: str, match: re.Match[str], keep: Collection[str], phrase_words: Collection[str]
) -> Span | None:
    """The name starting at the word ``match``, with its surname, or None when the word is not one (a word of
    ``keep`` or of its phrases, ``phrase_words``, never is)."""
    word = match.group()
    start, end = match.span()
    window = text[max(0, start - 24) : start]
    cued = bool(_NAME_CUE.search(window)) or (
        word[:1].isupper() and bool(_NAME_CUE_CAPITALISED.search(window))
    )
    after = text[end : end + 40]
    lower = word.lower()
    if lower in keep or lower in phrase_words:
        return None
    if _is_name_word(word, cued=cued):
        # a lower-case listed name without a cue is a person only before a verb, a team or a surname
        if (
            not cued
            and word.islower()
            and not (_PERSON_VERB_AFTER.match(after) or _FROM_TEAM.match(after))
            and _surname_end(text, end, False, keep) == end
        ):
            return None
    elif not (word[:1].isupper() and lower not in NOT_PEOPLE and _FROM_TEAM.match(after)):
        return None
    if word[:1].isupper() and re.fullmatch(r"[A-Z]{2,}", word) and lower not in FIRST_NAMES:
        return None  # SSO, CSV, EUR: acronyms, not names
    return Span(start, _surname_end(text, end, word[:1].isupper(), keep), PERSON)


# -- patterns ------------------------------------------------------------------------------------------------
def _url_spans(text: str) -> Iterable[Span]:
    for match in _URL.finditer(text):
        end = match.end()
        while end > match.start() and text[end - 1] in _TRAILING_PUNCT:
            end -= 1
        yield Span(match.start(), end, URL)


def _iban_spans(text: str) -> Iterable[Span]:
    for match in _IBAN.finditer(text):
        candidate = match.group()
        # the pattern may run into the next words ("GB82 WEST ... 32 please"): try shorter ends too
        for end in range(len(candidate), 14, -1):
            piece = candidate[:end].rstrip()
            # mod-97 and the country's length only: the national check digits of some countries (ES, FR)
            # are not needed to know that this is somebody's account
            if piece[-1:].isalnum() and _iban.is_valid(piece.upper(), check_country=False):
                yield Span(match.start(), match.start() + len(piece), IBAN)
                break


def _card_spans(text: str) -> Iterable[Span]:
    for match in _CARD.finditer(text):
        if _luhn.is_valid(re.sub(r"\D", "", match.group())):
            yield Span(*match.span(), CARD)


def _ssn_spans(text: str) -> Iterable[Span]:
    for match in _SSN.finditer(text):
        yield Span(*match.span(), SSN)
    for match in _SSN_CUED.finditer(text):
        yield Span(*match.span(1), SSN)


def _is_amount_or_date(text: str, start: int, end: int) -> bool:
    return bool(
        _CURRENCY_BEFORE.search(text[max(0, start - 5) : start])
        or _CURRENCY_AFTER.match(text[end : end + 10])
        or _DATE.match(text[start:end])
    )


def _phone_spans(text: str) -> Iterable[Span]:
    if sum(c.isdigit() for c in text) < 7:
        return  # the phone library is the slowest detector; most texts have no number at all
    seen = set()
    for region in PHONE_REGIONS:
        # POSSIBLE (a plausible length for the country) rather than VALID: fictional and newly allocated
        # ranges ("07700 692791") are not VALID but are still somebody's number in a ticket
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
            start, end = match.start, match.end
            digits = sum(c.isdigit() for c in match.raw_string)
            if (start, end) in seen or digits < (8 if match.raw_string.startswith("+") else 9):
                continue
            if _is_amount_or_date(text, start, end):
                continue
            seen.add((start, end))
            yield Span(start, end, PHONE)
    for run in _DIGIT_RUN.finditer(text):
        run_start, run_end = run.span()
        if sum(c.isdigit() for c in run.group()) >= 9 and not _is_amount_or_date(text, run_start, run_end):
            yield Span(run_start, run_end, PHONE)


def _address_spans(text: str) -> Iterable[Span]:
    for match in _ADDRESS.finditer(text):
        words = match.group(1).lower().split()
        if any(word in _NOT_STREET_WORDS or word in STOP_WORDS for word in words):
            continue
        yield Span(match.start(), match.end(), ADDRESS)
    for pattern in (_ADDRESS_DE, _PO_BOX, _UK_POSTCODE):
        for match in pattern.finditer(text):
            yield Span(*match.span(), ADDRESS)


def find_patterns(text: str) -> list[Span]:
    """Spans of e-mails, URLs, IBANs, cards, SSNs, phones and street addresses (overlaps not merged)."""
    spans: list[Span] = [Span(*m.span(), EMAIL) for m in _EMAIL.finditer(text)]
    for finder in (_url_spans, _iban_spans, _card_spans, _ssn_spans, _phone_spans, _address_spans):
        spans.extend(finder(text))
    return spans


def find_pii(text: str, keep: Collection[str] = ()) -> list[Span]:
    """Every span :mod:`feedback_nlp.redact` finds without a model: patterns and cued names, merged."""
    return merge_spans([*find_patterns(text), *find_names(text, keep)])


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Sorted spans; overlapping ones become one, of the kind listed first in :data:`KINDS`."""
    merged: list[Span] = []
    for span in sorted(spans):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            kind = min(last.kind, span.kind, key=KINDS.index)
            merged[-1] = Span(last.start, max(last.end, span.end), kind)
        else:
            merged.append(span)
    return merged


def replace_spans(text: str, spans: Iterable[Span], start: int = 0, end: int | None = None) -> str:
    """``text[start:end]`` with each span (merged, see :func:`merge_spans`) replaced by ``[KIND]``."""
    end = len(text) if end is None else end
    pieces = []
    cursor = start
    for span in spans:
        if span.end <= cursor or span.start >= end:
            continue
        pieces.append(text[cursor : max(span.start, cursor)])
        pieces.append(f"[{span.kind}]")
        cursor = min(span.end, end)
    pieces.append(text[cursor:end])
    return "".join(pieces)


def redact(text: str, keep: Collection[str] = ()) -> str:
    """``text`` with every span of :func:`find_pii` replaced by its placeholder (no model needed)."""
    return replace_spans(text, find_pii(text, keep))


def redact_metadata(
    metadata: dict[str, object], raw_columns: Collection[str] = (), keep: Collection[str] = ()
) -> dict[str, object]:
    """Metadata with every string (nested too) redacted, except the values of ``raw_columns``.

    Extra columns of a feedback file (a requester's e-mail, an agent's name) are stored and served like the
    text, so they are redacted like it unless configured as safe to keep raw.
    """

    def clean(value: object) -> object:
        if isinstance(value, str):
            return _redact_value(value, keep)
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list):
            return [clean(item) for item in value]
        return value

    return {key: value if key in raw_columns else clean(value) for key, value in metadata.items()}


# A whole metadata value of two to four capitalised words reads as a name ("Jordan Reyes" in an ``author``
# column); a product name in such a column ("Google Pay") is kept only through ``keep`` or a raw column.
_FULL_NAME = re.compile(r"[A-Z][a-z'’-]+(?: [A-Z][a-z'’-]+){1,3}")


def _redact_value(value: str, keep: Collection[str]) -> str:
    if _FULL_NAME.fullmatch(value.strip()) and value.strip().lower() not in keep:
        return f"[{PERSON}]"
    return redact(value, keep)
