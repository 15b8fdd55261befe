"""Alignment signals: promise gaps from call notes, enablement gaps for shipped items.

Every call note and ticket text in this file was WRITTEN FOR THE TEST (none is real customer feedback). The
roadmap below is small and hand-made; the end-to-end tests use the tiny model of conftest.py (RM-1
in_progress export, RM-2 planned SSO, RM-3 shipped card declines, RM-4 parked dark mode).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from feedback_nlp.alignment import (
    KIND_COMMITMENT,
    KIND_MISSING,
    REASON_BEFORE_TARGET,
    REASON_PARKED,
    REASON_UNPLANNED,
    AlignmentDetector,
    LemmaTexts,
    UnitInput,
    find_gaps,
    parse_period,
    parse_target,
    summarise_signals,
    widen_patterns,
)
from feedback_nlp.report import compute_report, render_html, render_markdown
from feedback_nlp.schemas import FeedbackRecord, ItemScore, UnitScore
from feedback_nlp.store import open_store

OCT = datetime(2026, 10, 5, 10, 0, tzinfo=UTC)  # Monday of 2026-W41

# A hand-made roadmap for the gap rules.
ROADMAP = [
    {
        "id": "R-SSO",
        "title": "SAML single sign-on",
        "owner": "@identity",
        "status": "planned",
        "keywords": ["sso", "saml", "okta"],
        "target": "2027-Q2",
    },
    {
        "id": "R-DARK",
        "title": "Dark mode",
        "owner": "@design",
        "status": "parked",
        "keywords": ["dark mode", "night theme"],
    },
    {
        "id": "R-WALLET",
        "title": "Google Pay and Apple Pay",
        "owner": "@cards",
        "status": "shipped",
        "keywords": ["google pay", "apple pay", "wallet"],
        "target": "2026-09-28",
    },
    {
        "id": "R-EXPORT",
        "title": "Fast export",
        "owner": "@data",
        "status": "in_progress",
        "keywords": ["csv export", "export"],
    },
]


@pytest.fixture(scope="module")
def detector(preparer):
    return AlignmentDetector(nlp=preparer._get_nlp())


def _unit(
    text: str,
    *,
    source: str = "call_note",
    roadmap_item_id: str | None = None,
    when: datetime = OCT,
    account: str = "ACC-1",
    arr: float = 100_000.0,
    item_id: str = "N-1",
) -> UnitInput:
    return UnitInput(
        item_id=item_id,
        unit_index=0,
        text=text,
        source=source,
        created_at=when,
        account_id=account,
        account_arr=arr,
        theme_id=7 if roadmap_item_id else 8,
        roadmap_item_id=roadmap_item_id,
    )


# -- detection -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, cue, stated_end",
    [
        # written for the test
        ("Told them SSO ships in Q3.", "told", date(2027, 9, 30)),
        ("They renew only if the Salesforce sync is there by March.", "renewal_condition", date(2027, 3, 31)),
        ("We committed to an audit log.", "promised", None),
        ("Promised them dark mode before renewal.", "promised", None),
        ("We told them the NetSuite sync is coming next quarter.", "told", date(2027, 3, 31)),
        ("They expect the NetSuite sync by March.", "expected", date(2027, 3, 31)),
        ("Okta SSO is coming in 2027-Q1 according to our rep.", "coming", date(2027, 3, 31)),
    ],
)
def test_commitments_are_found_with_their_date(detector, text, cue, stated_end):
    signals = detector.detect([_unit(text)])
    assert [(s.kind, s.cue, s.stated_end) for s in signals] == [(KIND_COMMITMENT, cue, stated_end)]


@pytest.mark.parametrize(
    "text",
    [
        # written for the test: requests, questions, follow-ups and negations are not commitments
        "They want SSO.",
        "They want SSO by March.",
        "Asked when SSO is coming.",
        "We never promised SSO.",
        "Promised to send the recap by Friday.",
        "The refund was promised by the shop but it never arrived.",
        "Helena hinted they may close the account at renewal; they're looking at two competitors.",
        "They were charged a transfer fee they didn't expect on a payout to Brazil.",
        "Asked if we can issue a virtual card before the physical card ships.",
        "Their CFO is coming to the next call in March.",
    ],
)
def test_plain_requests_and_small_talk_are_not_commitments(detector, text):
    assert [s for s in detector.detect([_unit(text)]) if s.kind == KIND_COMMITMENT] == []


def test_commitments_are_only_looked_for_in_call_notes(detector):
    assert detector.detect([_unit("Told them SSO ships in Q3.", source="ticket")]) == []


@pytest.mark.parametrize(
    "text, cue",
    [
        # written for the test
        ("Is there a way to add my card to Google Pay?", "is there a way"),
        ("When will you support Apple Pay?", "when will"),
        ("Do you support Google Pay?", "do you support"),
        ("Please add Apple Pay for our cards.", "please add"),
        ("Please let us export the invoices to CSV.", "please add"),
        ("I wish I could pay with my phone wallet.", "wish"),
        ("They'd love Google Pay on the Android phones.", "would love"),
    ],
)
def test_missing_phrasing_is_found(detector, text, cue):
    signals = detector.detect([_unit(text, source="ticket")])
    assert [(s.kind, s.cue) for s in signals] == [(KIND_MISSING, cue)]


@pytest.mark.parametrize(
    "text",
    [
        # written for the test
        "When will my card arrive?",
        "Google Pay works great now, the whole team pays with their phones.",
        "It doesn't support Google Pay on my old phone.",
        "Thanks for adding Apple Pay, it was easy to set up.",
        # asking to be told or called back is not asking for a capability
        "Please let me know when the refund arrives.",
        "Please let us know if you need the receipt.",
        "Please get back to me about the transfer.",
        "Please get in touch with our finance team.",
    ],
)
def test_events_complaints_and_praise_are_not_missing_phrasing(detector, text):
    assert detector.detect([_unit(text, source="ticket")]) == []


class _PipeCountingNlp:
    """A spaCy pipeline that records each ``pipe`` call: how many texts, and which components were off."""

    def __init__(self, nlp):
        self.nlp = nlp
        self.calls: list[tuple[int, tuple[str, ...]]] = []

    def __getattr__(self, name):  # the vocab, the tokenizer, the components: the real pipeline's
        return getattr(self.nlp, name)

    def pipe(self, texts, batch_size=64, disable=()):
        texts = list(texts)
        self.calls.append((len(texts), tuple(disable)))
        return self.nlp.pipe(texts, batch_size=batch_size, disable=disable)


class _WholePipelineDetector(AlignmentDetector):
    """The reference: every component on every candidate, as before the NER was left to call notes."""

    def _parse(self, nlp, units):
        return list(nlp.pipe([unit.text for unit in units], batch_size=self.batch_size))


def test_a_batch_is_parsed_once_and_the_ner_runs_on_call_notes_only(preparer):
    counting = _PipeCountingNlp(preparer._get_nlp())
    units = [
        _unit("Told them SSO ships in Q3.", item_id="N-1"),
        _unit("Please add Apple Pay for our cards.", source="ticket", item_id="T-1"),
        _unit("When will you support Apple Pay?", source="ticket", item_id="T-2"),
        _unit("my card was declined", source="ticket", item_id="T-3"),  # no hint: not parsed at all
    ]
    signals = AlignmentDetector(nlp=counting).detect(units)
    assert counting.calls == [(1, ()), (2, ("ner",))]
    assert [(s.item_id, s.kind) for s in signals] == [
        ("N-1", KIND_COMMITMENT),
        ("T-1", KIND_MISSING),
        ("T-2", KIND_MISSING),
    ]


def test_tickets_without_the_ner_give_the_whole_pipelines_signals(preparer):
    """The sample's tickets with a hint (about 180) and the call notes: the same signals either way."""
    import csv

    sample = Path(__file__).resolve().parents[1] / "examples" / "feedback"
    with open(sample / "tickets.csv", encoding="utf-8") as handle:
        tickets = [row["text"] for row in csv.DictReader(handle)]
    with open(sample / "call_notes.jsonl", encoding="utf-8") as handle:
        notes = [json.loads(line)["text"] for line in handle if line.strip()]
    units = [_unit(text, source="ticket", item_id=f"T-{i}") for i, text in enumerate(tickets)]
    units += [_unit(text, item_id=f"N-{i}") for i, text in enumerate(notes[:40])]
    nlp = preparer._get_nlp()
    found = AlignmentDetector(nlp=nlp).detect(units)
    assert sum(s.kind == KIND_MISSING for s in found) >= 10
    assert found == _WholePipelineDetector(nlp=nlp).detect(units)


def _sample_texts() -> tuple[list[str], list[str]]:
    import csv

    sample = Path(__file__).resolve().parents[1] / "examples" / "feedback"
    with open(sample / "tickets.csv", encoding="utf-8") as handle:
        tickets = [row["text"] for row in csv.DictReader(handle)]
    with open(sample / "call_notes.jsonl", encoding="utf-8") as handle:
        notes = [json.loads(line)["text"] for line in handle if line.strip()]
    return tickets, notes


def test_a_hinted_unit_no_pattern_can_match_is_not_parsed(preparer):
    counting = _PipeCountingNlp(preparer._get_nlp())
    units = [
        _unit("Please fix the export, it fails every night.", source="ticket", item_id="T-1"),  # "please"
        _unit("Is there anything you can do? The fee is possible to waive.", source="ticket", item_id="T-2"),
        _unit("Please add Apple Pay for our cards.", source="ticket", item_id="T-3"),
    ]
    detector = AlignmentDetector(nlp=counting)
    assert detector.worth_parsing(units) == [False, False, True]
    signals = detector.detect(units)
    assert counting.calls == [(1, ("ner",))]  # T-3 only
    assert [(s.item_id, s.cue) for s in signals] == [("T-3", "please add")]
    reference = _PipeCountingNlp(preparer._get_nlp())
    every = AlignmentDetector(nlp=reference, precise_prefilter=False)
    assert every.worth_parsing(units) == [True, True, True]  # each has a hint word
    assert every.detect(units) == signals
    assert reference.calls == [(3, ("ner",))]


def test_the_precise_prefilter_gives_the_same_signals_on_short_and_long_units(preparer):
    """The sample's tickets, their units when joined 30 at a time into long tickets (about 2 KB, as the
    pipeline benchmark's) and its call notes: the same signals with and without the precise pre-filter, from
    fewer parses."""
    tickets, notes = _sample_texts()
    joined = [" ".join(tickets[i : i + 30]) for i in range(0, 240, 30)]
    records = [
        FeedbackRecord(id=f"L-{i}", text=text, source="ticket", created_at=OCT)
        for i, text in enumerate(joined)
    ]
    long_units = [
        _unit(prepared.unit.text, source="ticket", item_id=f"L-{i}")
        for i, units in enumerate(preparer.prepare(records))
        for prepared in units
    ]
    units = [_unit(text, source="ticket", item_id=f"T-{i}") for i, text in enumerate(tickets)]
    units += long_units + [_unit(text, item_id=f"N-{i}") for i, text in enumerate(notes[:40])]
    precise, every = _PipeCountingNlp(preparer._get_nlp()), _PipeCountingNlp(preparer._get_nlp())
    found = AlignmentDetector(nlp=precise).detect(units)
    assert len(long_units) > len(joined)  # long tickets, cut into units
    assert sum(s.item_id.startswith("L-") for s in found) >= 3
    assert found == AlignmentDetector(nlp=every, precise_prefilter=False).detect(units)
    parsed, parsed_before = (sum(n for n, _ in nlp.calls) for nlp in (precise, every))
    assert parsed < parsed_before / 2


def test_every_lemma_the_pipeline_gives_is_within_the_widened_texts(preparer):
    """The pre-filter's premise, on real text: each token's lemma is one its text could be given."""
    nlp = preparer._get_nlp()
    lemma_texts = LemmaTexts.of(nlp)
    assert lemma_texts is not None
    tickets, notes = _sample_texts()
    outside = [
        (token.text, token.lemma_)
        for doc in nlp.pipe(tickets[:300] + notes[:40], disable=["ner"])
        for token in doc
        if (texts := lemma_texts.texts(token.lemma_)) is not None and token.lower_ not in texts
    ]
    assert outside == []
    assert {"had", "has", "having", "got", "brought"} <= lemma_texts.texts("have") | lemma_texts.texts(
        "get"
    ) | lemma_texts.texts("bring")


def test_widened_patterns_match_texts_not_lemmas(preparer):
    nlp = preparer._get_nlp()
    lemma_texts = LemmaTexts.of(nlp)
    widened = widen_patterns({"WHEN": [[{"LOWER": "when"}, {"LEMMA": {"IN": ["will", "be"]}}]]}, lemma_texts)
    [[first, second]] = widened["WHEN"]
    assert first == {"LOWER": "when"}
    assert {"will", "'ll", "wo", "is", "was", "are", "'s"} <= set(second["LOWER"]["IN"])
    assert "please" not in second["LOWER"]["IN"]


@pytest.mark.parametrize(
    "phrase, reference, expected",
    [
        ("2027-Q1", date(2026, 10, 5), (date(2027, 1, 1), date(2027, 3, 31))),
        ("in Q3", date(2026, 10, 5), (date(2027, 7, 1), date(2027, 9, 30))),  # this year's Q3 is over
        ("Q4", date(2026, 10, 5), (date(2026, 10, 1), date(2026, 12, 31))),
        ("Q3'27", date(2026, 1, 5), (date(2027, 7, 1), date(2027, 9, 30))),
        ("by March", date(2026, 10, 5), (date(2027, 3, 1), date(2027, 3, 31))),
        ("March 2026", date(2026, 10, 5), (date(2026, 3, 1), date(2026, 3, 31))),
        ("by March 15", date(2026, 1, 5), (date(2026, 3, 15), date(2026, 3, 15))),
        ("end of the year", date(2026, 10, 5), (date(2026, 12, 31), date(2026, 12, 31))),
        ("next quarter", date(2026, 11, 20), (date(2027, 1, 1), date(2027, 3, 31))),
        ("2026-11-09", date(2026, 1, 1), (date(2026, 11, 9), date(2026, 11, 9))),
    ],
)
def test_parse_period(phrase, reference, expected):
    period = parse_period(phrase, reference)
    assert (period.start, period.end) == expected


@pytest.mark.parametrize("phrase", ["two weeks", "Monday", "soon", "", "Q5"])
def test_unparseable_dates_are_none(phrase):
    assert parse_period(phrase, date(2026, 10, 5)) is None


def test_roadmap_target_is_a_quarter_or_a_date():
    assert parse_target("2027-Q1").start == date(2027, 1, 1)
    assert parse_target(date(2027, 2, 1)).end == date(2027, 2, 1)
    assert parse_target(None) is None


# -- gaps ----------------------------------------------------------------------------------------------------


def _gaps(detector, *units: UnitInput) -> dict:
    return find_gaps(detector.detect(list(units)), ROADMAP, default_owner="triage@example.com")


def test_promise_to_a_parked_item_is_a_gap(detector):
    # the unit's theme has no item; the sentence names the parked item directly
    gaps = _gaps(detector, _unit("Told them dark mode is coming in Q1 2027, which they loved."))
    [gap] = gaps["promise_gaps"]
    assert gap["reason"] == REASON_PARKED and gap["roadmap_item"]["id"] == "R-DARK"
    assert gap["matched_by"] == "named" and gap["owner"] == "@design"
    assert gap["account_id"] == "ACC-1" and gap["arr"] == 100_000.0
    assert gap["stated_by"] == "2027-03-31" and "dark mode" in gap["quote"]


def test_promise_with_no_roadmap_item_is_unplanned(detector):
    gaps = _gaps(detector, _unit("We committed to a NetSuite sync for their renewal."))
    [gap] = gaps["promise_gaps"]
    assert gap["reason"] == REASON_UNPLANNED and gap["roadmap_item"] is None
    assert gap["owner"] == "triage@example.com" and gap["renewal"] is True


def test_promise_dated_before_the_target_is_a_gap_and_after_it_is_not(detector):
    early = _unit(
        "Told them SSO ships in Q4.", roadmap_item_id="R-SSO", item_id="N-early"
    )  # 2026-Q4 < 2027-Q2
    late = _unit("Told them SSO ships in Q3.", roadmap_item_id="R-SSO", item_id="N-late")  # 2027-Q3
    gaps = _gaps(detector, early, late)
    assert [(g["feedback_id"], g["reason"]) for g in gaps["promise_gaps"]] == [
        ("N-early", REASON_BEFORE_TARGET)
    ]
    assert gaps["promise_gaps"][0]["roadmap_item"]["target"] == "2027-Q2"


def test_plain_request_for_a_parked_item_is_not_flagged(detector):
    gaps = _gaps(detector, _unit("They want dark mode for the admin console.", roadmap_item_id="R-DARK"))
    assert gaps["promise_gaps"] == [] and gaps["counts"]["promise_gaps"] == 0


def test_promise_gaps_are_ranked_by_arr(detector):
    small = _unit("We committed to dark mode.", account="SMALL", arr=5_000, item_id="N-small")
    big = _unit("We committed to dark mode.", account="BIG", arr=500_000, item_id="N-big")
    gaps = _gaps(detector, small, big)
    assert [g["account_id"] for g in gaps["promise_gaps"]] == ["BIG", "SMALL"]
    assert gaps["counts"]["promise_gap_revenue"] == 505_000


def test_shipped_item_still_requested_after_its_ship_date_is_an_enablement_gap(detector):
    before = _unit(
        "Do you support Google Pay?",
        source="ticket",
        roadmap_item_id="R-WALLET",
        when=datetime(2026, 9, 1, tzinfo=UTC),
        item_id="T-1",
    )
    after = [
        _unit(
            "Do you support Google Pay?",
            source="ticket",
            roadmap_item_id="R-WALLET",
            item_id="T-2",
            account="ACC-2",
            arr=20_000,
        ),
        _unit(
            "Is there a way to add our cards to Apple Pay?",
            source="ticket",
            roadmap_item_id="R-WALLET",
            item_id="T-3",
            account="ACC-3",
            arr=30_000,
        ),
        _unit(
            "They'd love Google Pay for the field team.",
            roadmap_item_id="R-WALLET",
            item_id="N-4",
            account="ACC-3",
            arr=30_000,
        ),
    ]
    gaps = _gaps(detector, before, *after)
    [gap] = gaps["enablement_gaps"]
    assert gap["roadmap_item"]["id"] == "R-WALLET" and gap["shipped_by"] == "2026-09-28"
    assert gap["units"] == 3 and gap["n_accounts"] == 2 and gap["revenue"] == 50_000
    assert gap["channels"] == {"call_note": 1, "ticket": 2, "other": 0}
    assert {q["feedback_id"] for q in gap["quotes"]} <= {"T-2", "T-3", "N-4"} and len(gap["quotes"]) == 3
    assert gaps["counts"]["enablement_gap_requests"] == 3


def test_shipped_item_mentioned_positively_or_not_shipped_is_not_flagged(detector):
    praise = _unit(
        "Google Pay works great, the whole team pays with their phones now.",
        source="ticket",
        roadmap_item_id="R-WALLET",
    )
    planned = _unit("Is there a way to log in with Okta?", source="ticket", roadmap_item_id="R-SSO")
    gaps = _gaps(detector, praise, planned)
    assert gaps["enablement_gaps"] == [] and gaps["promise_gaps"] == []


# -- store, service and report, end to end with the tiny model -----------------------------------------------

# Written for the test: a call note with one promise to the parked dark mode item, one plain request for SSO.
PROMISE_NOTE = (
    "Good call with the finance team. Told them dark mode ships in Q1 2027 so they stop asking. "
    "They want single sign-on with Okta for the admin console. Talk soon."
)
SHIPPED_TICKET = "Is there a way to stop my card getting declined at the hotel?"  # written for the test
PRAISE_TICKET = "Card payments are not declined any more since the fix, thank you."  # written for the test


def _records() -> list[FeedbackRecord]:
    week = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)  # 2026-W47
    return [
        FeedbackRecord(
            id="N-100",
            text=PROMISE_NOTE,
            source="call_note",
            created_at=week,
            account_id="ACC-9",
            account_arr=250_000.0,
            channel="sales_call",
        ),
        FeedbackRecord(
            id="T-100",
            text=SHIPPED_TICKET,
            source="ticket",
            created_at=week,
            account_id="ACC-8",
            account_arr=12_000.0,
        ),
        FeedbackRecord(
            id="T-101",
            text=PRAISE_TICKET,
            source="ticket",
            created_at=week,
            account_id="ACC-7",
            account_arr=9_000.0,
        ),
    ]


def _declines_scored(model, records: list[FeedbackRecord]) -> list[ItemScore]:
    """The tiny model's scores, with the ticket units pinned to the card-declines theme (RM-3, shipped).

    The hashing embedder is not meant to be accurate; pinning keeps the test about alignment, not routing.
    """
    scores = model.score(records)
    declines = next(t for t in model.themes_ if (t.get("roadmap_item") or {}).get("id") == "RM-3")
    for record, score in zip(records, scores, strict=True):
        if record.source == "ticket":
            score.units = [
                UnitScore(
                    u.unit_index,
                    u.start,
                    u.end,
                    u.text,
                    declines["id"],
                    declines["name"],
                    0.9,
                    dict(declines["roadmap_item"]),
                    declines["owner"],
                    "owner",
                    u.explanation,
                )
                for u in score.units
            ]
    return scores


def test_store_keeps_signals_and_replaces_them_with_the_item(tiny_model, tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/align.sqlite")
    try:
        records = _records()
        store.upsert_scored_batch(list(zip(records, _declines_scored(tiny_model, records), strict=True)))
        rows = store.alignment_signals()
        assert {(r["item_id"], r["kind"]) for r in rows} == {
            ("N-100", KIND_COMMITMENT),
            ("T-100", KIND_MISSING),
        }
        commitment = next(r for r in rows if r["kind"] == KIND_COMMITMENT)
        assert commitment["stated_end"] == date(2027, 3, 31) and commitment["account_arr"] == 250_000.0
        assert "dark mode" in commitment["sentence"] and commitment["channel"] == "sales_call"

        gaps = find_gaps(rows, tiny_model.roadmap_, default_owner=tiny_model.default_owner)
        assert [(g["feedback_id"], g["reason"], g["roadmap_item"]["id"]) for g in gaps["promise_gaps"]] == [
            ("N-100", REASON_PARKED, "RM-4")
        ]
        assert [(g["roadmap_item"]["id"], g["units"]) for g in gaps["enablement_gaps"]] == [("RM-3", 1)]

        # the same note again without the promise: its signal goes
        quiet = FeedbackRecord(
            id="N-100",
            text="They want single sign-on with Okta for the admin console.",
            source="call_note",
            created_at=records[0].created_at,
            account_id="ACC-9",
        )
        store.upsert_scored(quiet, tiny_model.score([quiet])[0])
        assert {r["item_id"] for r in store.alignment_signals()} == {"T-100"}
        assert store.alignment_signals(kind=KIND_COMMITMENT) == []
    finally:
        store.close()


def test_alignment_endpoint_lists_gaps(tiny_model_dir, tmp_path):
    from feedback_nlp.service.main import create_app
    from feedback_nlp.settings import Settings

    models_dir = tmp_path / "models"
    models_dir.mkdir()
    shutil.copytree(tiny_model_dir, models_dir / tiny_model_dir.name)
    (models_dir / "LATEST").write_text(tiny_model_dir.name + "\n", encoding="utf-8")
    settings = Settings(
        _env_file=None,
        models_dir=models_dir,
        database_url=f"sqlite:///{tmp_path}/svc.sqlite",
        api_keys="k",
        admin_keys="a",
        reload_poll_seconds=0,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/v1/alignment").status_code == 401
        note = {
            "id": "N-200",
            "text": PROMISE_NOTE,
            "source": "call_note",
            "account_id": "ACC-9",
            "account_arr": 250000,
            "created_at": "2026-11-17T10:00:00Z",
        }
        assert client.post("/v1/score", json=note, headers={"X-API-Key": "k"}).status_code == 200
        body = client.get("/v1/alignment", headers={"X-API-Key": "k"}).json()
        assert body["model_version"] == tiny_model_dir.name
        [gap] = body["promise_gaps"]
        assert gap["reason"] == "parked" and gap["roadmap_item"]["id"] == "RM-4"
        assert gap["feedback_id"] == "N-200" and gap["arr"] == 250000 and gap["stated_by"] == "2027-03-31"
        assert body["counts"]["promise_gaps"] == 1 and body["counts"]["promise_gap_revenue"] == 250000
        # a note from long ago is listed, but not in a window of the last 7 days
        old = {**note, "id": "N-201", "created_at": "2020-01-06T10:00:00Z"}
        assert client.post("/v1/score", json=old, headers={"X-API-Key": "k"}).status_code == 200
        everything = client.get("/v1/alignment", headers={"X-API-Key": "k"}).json()
        assert {g["feedback_id"] for g in everything["promise_gaps"]} == {"N-200", "N-201"}
        recent = client.get("/v1/alignment?days=7", headers={"X-API-Key": "k"}).json()
        assert "N-201" not in {g["feedback_id"] for g in recent["promise_gaps"]}
        assert client.get("/v1/alignment?days=0", headers={"X-API-Key": "k"}).status_code == 422


def test_weekly_report_has_an_alignment_section_counted_in_the_headline(tiny_model, tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/report.sqlite")
    try:
        records = _records()
        store.upsert_scored_batch(list(zip(records, _declines_scored(tiny_model, records), strict=True)))
        info = SimpleNamespace(
            version=tiny_model.version_,
            metadata=tiny_model.metadata_,
            themes=tiny_model.themes_,
            roadmap=tiny_model.roadmap_,
            default_owner=tiny_model.default_owner,
        )
        report = compute_report(store.engine, info, "2026-W47", weeks_of_history=2)
        other_week = compute_report(store.engine, info, "2026-W48", weeks_of_history=2)
    finally:
        store.close()
    alignment = report["alignment"]
    assert [g["reason"] for g in alignment["promise_gaps"]] == [REASON_PARKED]
    assert [g["roadmap_item"]["id"] for g in alignment["enablement_gaps"]] == ["RM-3"]
    h = report["headline"]
    assert (h["promise_gaps"], h["enablement_gaps"], h["promise_gap_revenue"]) == (1, 1, 250_000)
    assert other_week["headline"]["promise_gaps"] == 0 and other_week["alignment"]["enablement_gaps"] == []
    json.dumps(report, allow_nan=False)  # JSON-ready

    page = render_html(report)
    assert page.index('id="alignment"') < page.index('id="owners"')
    assert 'data-key="promise_gaps"' in page and "dark mode ships in Q1 2027" in page
    assert 'id="promise-gaps"' in page and 'id="enablement-gaps"' in page
    markdown = render_markdown(report)
    assert markdown.index("## Alignment") < markdown.index("## By owner")
    assert "**1** promise gap (ARR **250,000 USD**)" in markdown  # singular, with its currency
    assert "RM-4 Dark mode" in markdown.split("## Alignment", 1)[1]


def test_summarise_signals_for_the_run_summary(detector):
    # Written for the test: units as the training job holds them, with the served theme's roadmap item.
    units = [
        _unit("We committed to dark mode by March.", item_id="N-1"),
        _unit("They want more reports.", item_id="N-2"),
        _unit("Do you support Google Pay?", source="ticket", item_id="T-1", roadmap_item_id="R-WALLET"),
    ]
    summary = summarise_signals(detector.detect(units), ROADMAP, default_owner="triage")
    assert summary["counts"]["promise_gaps"] == 1 and summary["promise_gaps"][0]["reason"] == REASON_PARKED
    assert summary["counts"]["enablement_gaps"] == 1
    assert summary["signals"] == {KIND_COMMITMENT: 1, KIND_MISSING: 1}
    json.dumps(summary, default=str)


def test_migration_adds_one_table_and_keeps_the_first(tmp_path):
    from sqlalchemy import inspect

    store = open_store(f"sqlite:///{tmp_path}/schema.sqlite")
    try:
        tables = set(inspect(store.engine).get_table_names())
    finally:
        store.close()
    # later migrations add the webhook receipts and the outbox (0003), curation (0004) and corrections (0005)
    assert tables == {
        "feedback_items",
        "feedback_units",
        "alignment_signals",
        "webhook_receipts",
        "outbox",
        "curation_actions",
        "corrections",
        "alembic_version",
    }
    first = (
        Path(__file__).resolve().parents[1] / "feedback_nlp" / "migrations" / "versions" / "0001_initial.py"
    )
    assert "alignment" not in first.read_text(encoding="utf-8")


def test_a_retrain_reuses_detected_signals(tmp_path):
    """Written for the test: the same units twice; the second pass parses nothing and finds the same."""
    from datetime import datetime

    from feedback_nlp.alignment import AlignmentDetector, SignalCache, UnitInput

    when = datetime(2026, 10, 1, tzinfo=UTC)
    units = [
        UnitInput(
            item_id="N-1",
            unit_index=0,
            source="call_note",
            created_at=when,
            theme_id=3,
            text="Told them the NetSuite sync is coming in Q1; they count on it.",
        ),
        UnitInput(
            item_id="T-1",
            unit_index=0,
            source="ticket",
            created_at=when,
            theme_id=5,
            text="Please add a way to export receipts.",
        ),
    ]
    cache = SignalCache(tmp_path)
    first = AlignmentDetector().detect(units, cache=cache)
    assert first
    detector = AlignmentDetector()
    detector._get = lambda: (_ for _ in ()).throw(AssertionError("parsed again"))  # noqa: SLF001
    units[0].theme_id = 7  # model facts come from the unit, not the cache
    second = detector.detect(units, cache=cache)
    assert [(s.kind, s.cue, s.sentence, s.stated_start) for s in second] == [
        (s.kind, s.cue, s.sentence, s.stated_start) for s in first
    ]
    assert second[0].theme_id == 7
