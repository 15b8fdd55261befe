"""spaCy preparation: PII redaction and call-note splitting. The texts were written for these tests."""

from __future__ import annotations

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


class _CountingNlp:
    def __init__(self, nlp):
        self.nlp = nlp
        self.counts = {"passes": 0}

    def pipe(self, texts, batch_size=64):
        for doc in self.nlp.pipe(texts, batch_size=batch_size):
            yield _CountingDoc(doc, self.counts)


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
    from feedback_nlp.prepare import TextPreparer

    def passes(sentences: int) -> tuple[int, int]:
        counting = _CountingNlp(preparer._get_nlp())
        text = " ".join(_LONG_SENTENCES[i % len(_LONG_SENTENCES)] for i in range(sentences))
        record = FeedbackRecord(id="long", text=text, source=source, created_at=NOW)
        [units] = TextPreparer(nlp=counting, max_unit_chars=200).prepare([record])
        return counting.counts["passes"], len(units)

    short_passes, short_units = passes(8)
    long_passes, long_units = passes(80)
    assert long_units >= 5 * short_units >= 10
    assert long_passes == short_passes <= 6
