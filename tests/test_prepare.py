"""spaCy preparation: PII redaction and call-note splitting. The texts were written for these tests."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from feedback_nlp.prepare import is_small_talk, redact_patterns
from feedback_nlp.schemas import FeedbackRecord

NOW = datetime(2026, 9, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "secret", "token"),
    [
        (
            "reach me at dana.whitfield@acme-logistics.com please",
            "dana.whitfield@acme-logistics.com",
            "[EMAIL]",
        ),
        ("call me on +1 415 555 0134 after 5", "415 555 0134", "[PHONE]"),
        ("my number is (020) 7946 0958", "7946 0958", "[PHONE]"),
        ("card 4111 1111 1111 1111 was declined", "4111 1111 1111 1111", "[CARD]"),
        ("card 5500-0000-0000-0004 again", "5500-0000-0000-0004", "[CARD]"),
    ],
)
def test_patterns_are_redacted(text, secret, token):
    redacted = redact_patterns(text)
    assert secret not in redacted and token in redacted


def test_short_numbers_are_not_redacted():
    assert (
        redact_patterns("I was charged 25 euros on 12 March, order 4411")
        == "I was charged 25 euros on 12 March, order 4411"
    )


def test_person_names_are_redacted(preparer):
    (units,) = preparer.prepare(
        [FeedbackRecord("t", "This is Priya Raman from finance, my card was declined.", "ticket", NOW)]
    )
    assert "Priya" not in units[0].unit.text and "[PERSON]" in units[0].unit.text
    assert "priya" not in units[0].lemmas and "raman" not in units[0].lemmas


NOTE = (
    "Good call with Marco Rossi, he just got back from paternity leave. "
    "They keep hitting the top-up limit when paying suppliers; asked whether we can raise it. "
    "It happens every month end.\n"
    "- Finance said the exchange rate on EUR card payments looked off again.\n"
    "- Want SSO for the admin console before renewal.\n"
    "Thanks for the time, next check-in in two weeks."
)


def test_call_note_is_split_into_requests_without_small_talk(preparer):
    (units,) = preparer.prepare([FeedbackRecord("n", NOTE, "call_note", NOW)])
    texts = [u.unit.text for u in units]
    assert len(units) == 3
    assert texts[0].startswith("They keep hitting the top-up limit") and texts[0].endswith("every month end.")
    assert "exchange rate" in texts[1] and "SSO" in texts[2]
    for prepared in units:  # offsets point into the original note
        unit = prepared.unit
        assert NOTE[unit.start : unit.end] == unit.text
    assert [u.unit.index for u in units] == [0, 1, 2]
    assert not any("paternity" in t or "check-in" in t for t in texts)


def test_ticket_is_one_unit_unless_longer_than_the_window(preparer):
    short = "The CSV export times out. It fails every time."
    long_text = " ".join(f"Sentence number {i} says the export is slow again." for i in range(60))
    short_units, long_units = preparer.prepare(
        [FeedbackRecord("a", short, "ticket", NOW), FeedbackRecord("b", long_text, "ticket", NOW)]
    )
    assert len(short_units) == 1 and short_units[0].unit.text == short
    assert len(long_units) > 1
    assert all(len(u.unit.text) <= preparer.max_unit_chars for u in long_units)
    covered = sum(u.unit.end - u.unit.start for u in long_units)
    assert covered >= len(long_text) - len(long_units) * 2  # nothing dropped but the joins' spaces


def test_a_note_of_only_small_talk_still_gives_one_unit(preparer):
    (units,) = preparer.prepare([FeedbackRecord("n", "Thanks for the time, talk soon.", "call_note", NOW)])
    assert len(units) == 1


def test_small_talk_detector_keeps_requests():
    assert is_small_talk("Thanks for the time, next check-in in two weeks.")
    assert not is_small_talk("Thanks, but they need the card limit raised before renewal.")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Employees keep asking about Apple Pay; Julia wanted to know if it's live yet.", "Julia"),
        ("Monthly sync with Lukas Moreau and Henrik.", "Henrik"),
        ("Chloe said the top-up left their bank account but failed on our side.", "Chloe"),
    ],
)
def test_first_names_the_small_model_misses_are_redacted(preparer, text, name):
    redacted = preparer.redact(text)
    assert name not in redacted and "[PERSON]" in redacted


def test_product_names_are_kept(preparer):
    text = "Asked whether we sync with NetSuite; Google Pay support was a recurring ask."
    assert preparer.redact(text) == text


def test_product_names_tagged_as_people_are_kept(preparer):
    assert preparer.redact("Apple Pay is broken for our staff.") == "Apple Pay is broken for our staff."


def test_roles_in_brackets_mark_a_person(preparer):
    redacted = preparer.redact("Pricing conversation with Carmen (AP Manager) ahead of renewal.")
    assert "Carmen" not in redacted and "(AP Manager)" in redacted


def test_a_sentence_about_a_product_sync_is_not_small_talk(preparer):
    note = (
        "Monthly sync with the finance team. Told them the NetSuite sync is coming in Q1; they are counting "
        "on it for the year-end close."
    )
    (units,) = preparer.prepare([FeedbackRecord("n", note, "call_note", NOW)])
    assert [u.unit.text for u in units] == [note[note.index("Told") :]]


@pytest.mark.parametrize(
    ("sentence", "small_talk"),
    [
        ("Short call with [PERSON] to go through open issues.", True),
        ("Expansion call with [PERSON] about rolling the cards out to the marketing team.", True),
        ("Call with the CFO: they need SSO.", False),
        ("They keep hitting the top-up limit.", False),
    ],
)
def test_meeting_openers_set_the_scene(sentence, small_talk):
    assert is_small_talk(sentence) is small_talk


@pytest.mark.parametrize(
    ("text", "secrets"),
    [
        ("dial bob smith about the invoice, the export keeps failing", ["bob", "smith"]),
        ("Sophie from procurement wants the card limit raised.", ["Sophie"]),
        ("Call 07700 692791 back: the top-up failed.", ["692791"]),
        ("Statements should go to 14 Elm Road, Leeds LS1 4AP instead.", ["Elm Road", "LS1 4AP"]),
    ],
)
def test_units_and_their_lemmas_carry_no_personal_data(preparer, text, secrets):
    (units,) = preparer.prepare([FeedbackRecord("t", text, "ticket", NOW)])
    lemmas = " ".join(lemma for unit in units for lemma in unit.lemmas)
    for unit in units:
        for secret in secrets:
            assert secret not in unit.unit.text
            assert not set(secret.lower().split()) & set(lemmas.split())


def test_a_name_is_redacted_in_every_unit_of_a_note(preparer):
    note = "They need SSO before renewal, said Marta.\n- Marta also asked for a CSV export of all cards."
    units = preparer.prepare([FeedbackRecord("n", note, "call_note", NOW)])[0]
    assert units and all("Marta" not in u.unit.text and "marta" not in u.lemmas for u in units)


class _CountingDoc:
    """A spaCy ``Doc`` that counts whole-document passes: iterations over its tokens and reads of ``.text``
    (which spaCy rebuilds from every token on each read)."""

    def __init__(self, doc, counts):
        self._doc = doc
        self._counts = counts

    def __iter__(self):
        self._counts["passes"] += 1
        return iter(self._doc)

    @property
    def text(self):
        self._counts["passes"] += 1
        return self._doc.text

    def __len__(self):
        return len(self._doc)

    def __getitem__(self, index):
        return self._doc[index]

    def __getattr__(self, name):
        return getattr(self._doc, name)


class _CountingPreparer:
    """Wraps the docs a ``TextPreparer`` parses in :class:`_CountingDoc`."""

    @staticmethod
    def make(nlp, max_unit_chars):
        from feedback_nlp.prepare import TextPreparer

        counts = {"passes": 0}

        class Counting(TextPreparer):
            def _parse(self, texts, sentences):
                return (_CountingDoc(doc, counts) for doc in super()._parse(texts, sentences))

        return Counting(nlp=nlp, max_unit_chars=max_unit_chars), counts


class _ComponentCountingNlp:
    """A spaCy pipeline that counts the documents each of its components annotates, and their tokens."""

    def __init__(self, nlp):
        self.nlp = nlp
        self.runs: dict[str, int] = {name: 0 for name in nlp.pipe_names}
        self.tokens: dict[str, int] = {name: 0 for name in nlp.pipe_names}
        self.pipeline = [(name, self._counting(name, component)) for name, component in nlp.pipeline]

    def _counting(self, name, component):
        runs, tokens = self.runs, self.tokens

        class Counting:
            def pipe(self, docs, batch_size=128):
                for doc in component.pipe(docs, batch_size=batch_size):
                    runs[name] += 1
                    tokens[name] += len(doc)
                    yield doc

        return Counting()

    def make_doc(self, text):
        return self.nlp.make_doc(text)

    def pipe(self, texts, batch_size=64):  # the slow path: every component on every text
        for doc in self.nlp.pipe(texts, batch_size=batch_size):
            for name in self.runs:
                self.runs[name] += 1
            yield doc


# names, numbers and requests in every sentence: many units and many spans to redact
_LONG_SENTENCES = (
    "Maria said the CSV export times out for big accounts at month end.",
    "They asked for SAML SSO through Okta before the renewal in January.",
    "Call Bob Smith on 07700 692791 about the declined card fees, bob@example.com.",
    "The mobile app crashes when uploading large receipts.",
)


@pytest.mark.parametrize("source", ["call_note", "ticket"])
def test_a_long_text_is_read_a_fixed_number_of_times_not_once_per_unit(preparer, source):
    """Preparation is linear in the text: each unit slices what was found once over the whole document.

    Counted, not timed: a 20 KB text used to cost about 10 s of CPU because the document was walked again
    for every unit and every name span.
    """

    def passes(sentences: int) -> tuple[int, int]:
        counting, counts = _CountingPreparer.make(preparer._get_nlp(), max_unit_chars=200)
        text = " ".join(_LONG_SENTENCES[i % len(_LONG_SENTENCES)] for i in range(sentences))
        record = FeedbackRecord(id="long", text=text, source=source, created_at=NOW)
        [units] = counting.prepare([record])
        return counts["passes"], len(units)

    short_passes, short_units = passes(8)
    long_passes, long_units = passes(80)
    assert long_units >= 5 * short_units >= 10
    assert long_passes == short_passes <= 6


@pytest.mark.parametrize("source", ["call_note", "ticket"])
def test_a_long_text_runs_each_spacy_component_once_not_once_per_unit(preparer, source):
    """A 20-unit document is one document to every component but the NER, which reads each run of sentences
    that may name a person once (``recognise_in_windows``): every token at most once, never once per unit."""
    from feedback_nlp.prepare import TextPreparer

    counting = _ComponentCountingNlp(preparer._get_nlp())
    text = " ".join(_LONG_SENTENCES[i % len(_LONG_SENTENCES)] for i in range(60))
    [units] = TextPreparer(nlp=counting, max_unit_chars=200).prepare([FeedbackRecord("l", text, source, NOW)])
    assert len(units) >= 20
    tokens = len(preparer._get_nlp().make_doc(text))
    assert {name: runs for name, runs in counting.runs.items() if name != "ner"} == {
        name: 1 for name in counting.runs if name != "ner"
    }
    assert {name: read for name, read in counting.tokens.items() if name != "ner"} == {
        name: tokens for name in counting.tokens if name != "ner"
    }
    # three of every four sentences may name someone ("The mobile app crashes ..." cannot): 15 runs of three
    assert counting.runs["ner"] == 15
    assert 0.6 * tokens < counting.tokens["ner"] < 0.85 * tokens


def test_a_20_kb_text_costs_each_component_at_most_20_times_a_1_kb_text(preparer):
    """Preparation is linear in the text: counted in tokens each spaCy component reads, not timed."""
    from feedback_nlp.prepare import TextPreparer

    def tokens_read(chars: int) -> dict[str, int]:
        counting = _ComponentCountingNlp(preparer._get_nlp())
        text = " ".join(_LONG_SENTENCES[i % len(_LONG_SENTENCES)] for i in range(chars // 60))[:chars]
        TextPreparer(nlp=counting).prepare([FeedbackRecord("l", text, "ticket", NOW)])
        return counting.tokens

    one_kb, twenty_kb = tokens_read(1_000), tokens_read(20_000)
    assert set(one_kb) == set(twenty_kb) and all(one_kb.values())
    assert all(twenty_kb[name] <= 20 * 1.05 * one_kb[name] for name in one_kb), (one_kb, twenty_kb)


def test_the_ner_reads_only_the_sentences_of_a_long_text_that_may_name_someone(preparer):
    """A long ticket with one name among many requests: the NER reads that sentence, and the name is redacted
    as the whole-text NER redacts it."""
    from feedback_nlp.prepare import TextPreparer

    requests = [
        "the export times out for big accounts at month end.",
        "card payments are declined abroad and the fee on transfers is too high.",
        "the mobile app crashes when uploading large receipts.",
    ]
    sentences = [requests[i % len(requests)] for i in range(40)]
    sentences[17] = "Rosalind Okafor said the statement totals are wrong again."
    record = FeedbackRecord("l", " ".join(sentences), "ticket", NOW)
    counting = _ComponentCountingNlp(preparer._get_nlp())
    windowed = TextPreparer(nlp=counting).prepare([record])[0]
    whole = TextPreparer(nlp=preparer._get_nlp(), fast_path=False).prepare([record])[0]

    assert counting.runs["ner"] == 1 and counting.tokens["ner"] < 0.1 * counting.tokens["tok2vec"]
    assert [u.unit for u in windowed] == [u.unit for u in whole]
    written = " ".join(u.unit.text + " " + " ".join(u.lemmas) for u in windowed).lower()
    assert "rosalind" not in written and "okafor" not in written and "[person]" in written


def test_the_ner_runs_only_where_a_name_can_be(preparer):
    from feedback_nlp.prepare import TextPreparer

    no_name = [
        "my card was declined twice at the supermarket",
        "Why was I charged a fee for my transfer?",
        "I can't top up with my card, it says pending",
    ]
    maybe_name = [
        "Maria said the export times out",  # a capitalised word that is no stop word
        "ask oscar about the refund",  # a listed given name in lower case
        "The Okta login loops",  # a proper noun
    ]
    counting = _ComponentCountingNlp(preparer._get_nlp())
    records = [FeedbackRecord(str(i), text, "ticket", NOW) for i, text in enumerate(no_name + maybe_name)]
    TextPreparer(nlp=counting).prepare(records)
    assert counting.runs["ner"] == len(maybe_name)
    assert counting.runs["tok2vec"] == len(records)

    slow = _ComponentCountingNlp(preparer._get_nlp())
    TextPreparer(nlp=slow, fast_path=False).prepare(records)
    assert slow.runs["ner"] == len(records)


def test_the_parser_runs_only_where_sentences_or_a_proper_noun_need_it(preparer):
    """Short tickets without a proper noun skip the parser; notes, long texts and proper nouns get it."""
    from feedback_nlp.prepare import TextPreparer

    unparsed = [
        ("ticket", "my card was declined twice at the supermarket"),
        ("ticket", "Why was I charged a fee for my transfer? It should be free."),  # two sentences, one unit
    ]
    parsed = [
        ("ticket", "The Okta login loops"),  # a proper noun: the person rules read its dependencies
        ("call_note", "they want a csv export. the limit is too low."),  # a note is split at sentences
        ("ticket", "the export times out. " * 10),  # longer than one unit: split at sentences
    ]
    counting = _ComponentCountingNlp(preparer._get_nlp())
    texts = unparsed + parsed
    records = [FeedbackRecord(str(i), text, source, NOW) for i, (source, text) in enumerate(texts)]
    prepared = TextPreparer(nlp=counting, max_unit_chars=100).prepare(records)
    assert counting.runs["parser"] == len(parsed)
    assert counting.runs["tagger"] == len(records)
    assert [len(units) for units in prepared] == [1, 1, 1, 2, 3]


# Names (full, first only, lower case, cued and uncued, in brackets), e-mails, phones, cards, addresses,
# product names the NER takes for people, and texts with no name at all; tickets, long tickets and notes.
_FAST_PATH_TEXTS = [
    ("ticket", "my card was declined twice at the supermarket, please help"),
    ("ticket", "Why was I charged a fee for my transfer? It should be free."),
    ("ticket", "This is Priya Raman from finance, my card was declined."),
    ("ticket", "Chloe said the top-up left their bank account but failed on our side."),
    ("ticket", "dial bob smith about the invoice, the export keeps failing"),
    ("ticket", "hi delphine, the statement is wrong again"),
    ("ticket", "rosalind said it started last week"),
    ("ticket", "Reach me at dana.whitfield@acme-logistics.com or +44 7700 692791 about the refund."),
    ("ticket", "card 4111 1111 1111 1111 was declined, call (020) 7946 0958"),
    ("ticket", "Statements should go to 14 Elm Road, Leeds LS1 4AP instead."),
    ("ticket", "Apple Pay is broken for our staff, and Google Pay too."),
    ("ticket", "Pricing conversation with Carmen (AP Manager) ahead of renewal."),
    ("ticket", "Works well. Greats app, Superb!"),
    ("ticket", "I really need to top-up my card today but it keeps getting declined"),
    ("ticket", "how do I get a new pin, it has been blocked"),
    ("ticket", "When will you support Apple Pay? I asked Maria last week."),
    ("ticket", " ".join(_LONG_SENTENCES * 6)),
    ("call_note", NOTE),
    (
        "call_note",
        "They need SSO before renewal, said Marta.\n- Marta also asked for a CSV export of all cards.",
    ),
    (
        "call_note",
        "Monthly sync with Lukas Moreau and Henrik.\n- henrik wants the limit raised.\n- ping j.doe@x.io",
    ),
]


def test_the_fast_path_gives_the_slow_paths_units_and_redactions(preparer):
    from feedback_nlp.prepare import TextPreparer

    records = [FeedbackRecord(str(i), text, source, NOW) for i, (source, text) in enumerate(_FAST_PATH_TEXTS)]
    slow = TextPreparer(nlp=preparer._get_nlp(), fast_path=False).prepare(records)
    fast = TextPreparer(nlp=preparer._get_nlp()).prepare(records)
    assert sum(len(units) for units in fast) > len(records)  # the long ticket and the notes are split
    lemma_differences = {}
    for record, slow_units, fast_units in zip(records, slow, fast):
        assert [u.unit for u in fast_units] == [u.unit for u in slow_units]
        for slow_unit, fast_unit in zip(slow_units, fast_units):
            if slow_unit.lemmas != fast_unit.lemmas:
                only_slow = Counter(slow_unit.lemmas) - Counter(fast_unit.lemmas)
                only_fast = Counter(fast_unit.lemmas) - Counter(slow_unit.lemmas)
                lemma_differences[record.text] = (dict(only_slow), dict(only_fast))
    # The one deliberate difference: without a parse, "getting" in "keeps getting declined" is a verb ("get",
    # a stop word), where the parser's "auxpass" made it an auxiliary that the lemmatizer leaves as written.
    assert lemma_differences == {
        "I really need to top-up my card today but it keeps getting declined": ({"getting": 1}, {})
    }
    assert TextPreparer(nlp=preparer._get_nlp()).redact(NOTE) == TextPreparer(
        nlp=preparer._get_nlp(), fast_path=False
    ).redact(NOTE)
