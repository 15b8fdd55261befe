"""The training job's pass 1 (stages.prepare_and_embed): spaCy prepares the next chunk on another thread while
the encoder embeds the current one; the result is that of preparing, then embedding, everything at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np

from feedback_nlp import stages
from feedback_nlp.embedding import CachedEmbedder, HashingEmbedder
from feedback_nlp.prepare import PreparedCache, TextPreparer
from feedback_nlp.schemas import FeedbackRecord

TEXTS = [
    "The CSV export times out on the full ledger",
    "We need single sign-on with Okta for the admin console",
    "Card payments are declined abroad",
    "Maria said the invoice API is missing; call her on 07700 900123",
    "Please add an API for invoices",
    "Card payments are declined abroad",  # a repeat: a cache hit in a later chunk
    "Good call with Marco. They want SSO before renewal.\n- The export keeps failing on big ledgers.",
]


class _ThreadRecordingPreparer(TextPreparer):
    """Notes the thread each ``prepare`` call runs on."""

    def __init__(self, nlp):
        super().__init__(nlp=nlp)
        self.threads: list[str] = []

    def prepare(self, records):
        self.threads.append(threading.current_thread().name)
        return super().prepare(records)


def test_chunks_are_prepared_on_another_thread_with_the_result_of_one_pass(preparer, tmp_path, monkeypatch):
    created = datetime(2026, 11, 2, tzinfo=UTC)
    records = [
        FeedbackRecord(f"r{i}", text, "call_note" if text.startswith("Good call") else "ticket", created)
        for i, text in enumerate(TEXTS)
    ]
    monkeypatch.setattr(stages, "PREPARE_CHUNK", 3)
    recording = _ThreadRecordingPreparer(preparer._get_nlp())
    embedder = HashingEmbedder()
    prepared_cache = PreparedCache(tmp_path, max_unit_chars=1000)
    cached = CachedEmbedder(embedder, tmp_path)
    try:
        units, X, prepare_seconds, embed_seconds = stages.prepare_and_embed(
            records, recording, prepared_cache, cached
        )
    finally:
        prepared_cache.close()
        cached.cache.close()

    expected = preparer.prepare(records)
    assert [[(u.unit, u.lemmas) for u in r] for r in units] == [
        [(u.unit, u.lemmas) for u in r] for r in expected
    ]
    flat = [u.unit.text for r in expected for u in r]
    assert len(flat) > len(records)  # the call note is split
    np.testing.assert_allclose(X, embedder.embed(flat), rtol=1e-6)
    assert len(recording.threads) == 3  # chunks of 3, 3 and 1
    assert all(name.startswith("prepare") for name in recording.threads)
    assert cached.hits == 1 and prepare_seconds > 0 and embed_seconds > 0


def test_no_records_give_no_units_and_an_empty_matrix(preparer, tmp_path):
    prepared_cache = PreparedCache(tmp_path, max_unit_chars=1000)
    cached = CachedEmbedder(HashingEmbedder(), tmp_path)
    try:
        units, X, _, _ = stages.prepare_and_embed([], preparer, prepared_cache, cached)
    finally:
        prepared_cache.close()
        cached.cache.close()
    assert units == [] and X.shape[0] == 0
