"""Forward passes formed by token length under a budget (issue 20): pure, no encoder."""

from __future__ import annotations

import numpy as np
import pytest

from feedback_nlp.embedding import length_batches


def test_passes_go_longest_first_and_hold_the_budget_of_padded_positions():
    lengths = [10, 40, 12, 100, 11, 39]
    batches = length_batches(lengths, token_budget=80, max_batch=64)
    assert [list(b) for b in batches] == [[3], [1, 5], [2, 4, 0]]
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 80 or len(batch) == 1


@pytest.mark.parametrize("max_batch", [1, 2, 64])
@pytest.mark.parametrize("budget", [1, 50, 10_000])
def test_every_text_is_in_exactly_one_pass_of_at_most_max_batch(budget, max_batch):
    lengths = list(np.random.default_rng(42).integers(1, 128, size=37))
    batches = length_batches(lengths, token_budget=budget, max_batch=max_batch)
    assert sorted(i for b in batches for i in b) == list(range(37))
    assert all(1 <= len(b) <= max_batch for b in batches)


def test_no_texts_no_passes():
    assert length_batches([], token_budget=1024, max_batch=64) == []
