"""Forward passes formed by token length under a budget (issue 20): pure, no encoder."""

from __future__ import annotations

import itertools

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


def _cost(lengths, batches, overhead: int) -> int:
    return sum(overhead + len(b) * max(lengths[i] for i in b) for b in batches)


def test_with_a_pass_overhead_a_long_text_gets_a_pass_of_its_own_instead_of_padding_the_short_ones():
    lengths = [14, 60, 12, 10]
    greedy = length_batches(lengths, token_budget=512, max_batch=64)
    cut = length_batches(lengths, token_budget=512, max_batch=64, pass_overhead=16)
    assert [list(b) for b in greedy] == [[1, 0, 2, 3]]  # 4 x 60 padded positions
    assert [list(b) for b in cut] == [[1], [0, 2, 3]]  # 60 + 3 x 14, and one pass more
    assert _cost(lengths, cut, 16) == 16 + 60 + 16 + 42 < _cost(lengths, greedy, 16)
    # a pass costs more than the padding it would save: one pass
    assert [list(b) for b in length_batches([12, 10, 11], 512, 64, pass_overhead=16)] == [[0, 2, 1]]


def _all_cuts(n: int):
    """Every way to cut n sorted texts into consecutive runs."""
    for mask in itertools.product([False, True], repeat=n - 1):
        starts = [0] + [i + 1 for i, cut in enumerate(mask) if cut]
        yield list(zip(starts, starts[1:] + [n]))


@pytest.mark.parametrize("seed", range(6))
def test_the_cuts_cost_what_the_cheapest_of_all_cuts_within_the_limits_costs(seed):
    rng = np.random.default_rng(seed)
    lengths = [int(n) for n in rng.integers(1, 90, size=int(rng.integers(1, 9)))]
    budget, max_batch, overhead = 160, 4, int(rng.integers(0, 40))
    batches = length_batches(lengths, budget, max_batch, pass_overhead=overhead)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(len(b) == 1 or (len(b) <= max_batch and len(b) * max(lengths[i] for i in b) <= budget)
               for b in batches)  # fmt: skip
    ordered = sorted(lengths, reverse=True)
    cheapest = min(
        sum(overhead + (end - start) * ordered[start] for start, end in cuts)
        for cuts in _all_cuts(len(lengths))
        if all(
            end - start == 1 or (end - start <= max_batch and (end - start) * ordered[start] <= budget)
            for start, end in cuts
        )  # fmt: skip
    )
    assert _cost(lengths, batches, overhead) == cheapest
    assert _cost(lengths, batches, overhead) <= _cost(
        lengths, length_batches(lengths, budget, max_batch), overhead
    )
