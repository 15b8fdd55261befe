"""FeedbackModel.score_batches (ingest): the next batch is prepared while the current one is encoded, and the
results are those of score() on each batch, in order."""

from __future__ import annotations

from datetime import UTC, datetime

from feedback_nlp.schemas import FeedbackRecord

TEXTS = [
    "The CSV export times out on the full ledger",
    "We need single sign-on with Okta for the admin console",
    "Card payments are declined abroad",
    "Maria said the invoice API is missing; call her on 07700 900123",
    "Please add an API for invoices",
]


def records(prefix: str) -> list[FeedbackRecord]:
    created = datetime(2026, 11, 2, tzinfo=UTC)
    return [
        FeedbackRecord(id=f"{prefix}-{i}", text=t, source="ticket", created_at=created)
        for i, t in enumerate(TEXTS)
    ]


def test_score_batches_equals_score_on_each_batch_in_order(tiny_model):
    batches = [records("A"), records("B")[:2], records("C")[3:]]
    streamed = list(tiny_model.score_batches(iter(batches)))
    assert [batch for batch, _ in streamed] == batches
    for batch, scores in streamed:
        assert [score.to_dict() for score in scores] == [score.to_dict() for score in tiny_model.score(batch)]
    assert list(tiny_model.score_batches(iter([]))) == []
