"""The abstention protocol of issue 6, used by ``bench_quality.py``.

Hide ``N_HELD_OUT_INTENTS`` Banking77 intents (a seeded draw) from the router's training data, set the triage
threshold so that ``IN_SCOPE_ROUTED`` of the in-scope test texts are routed, and count how many test texts of
the hidden intents go to triage. numpy and the router only (no spaCy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from feedback_nlp.metrics import abstention_rate
from feedback_nlp.routing import InScopeScorer, ThemeRouter

N_HELD_OUT_INTENTS = 10
IN_SCOPE_ROUTED = 0.95


def held_out_intents(y_train: np.ndarray, seed: int) -> np.ndarray:
    """The intents hidden from training in draw ``seed``."""
    return np.random.RandomState(seed).choice(np.unique(y_train), N_HELD_OUT_INTENTS, replace=False)


def abstention_draw(
    router: ThemeRouter,
    seed: int,
    X_train: np.ndarray,
    y_train: np.ndarray,
    texts_train: Sequence[str],
    X_test: np.ndarray,
    y_test: np.ndarray,
    texts_test: Sequence[str],
) -> dict[str, Any]:
    """Fit ``router`` without draw ``seed``'s intents; the share of their test texts sent to triage.

    Three scores are thresholded: the calibrated probability alone, ``in_scope_score`` (learned by rehearsal,
    what the service triages on beside the probability) and, from the same fitted router, the percentile
    score a router without a novelty model falls back to.
    """
    held_out = held_out_intents(y_train, seed)
    train_in, test_in = ~np.isin(y_train, held_out), ~np.isin(y_test, held_out)
    texts_train, texts_test = np.asarray(texts_train, dtype=object), np.asarray(texts_test, dtype=object)
    t_in, t_out = texts_test[test_in].tolist(), texts_test[~test_in].tolist()
    router.fit(X_train[train_in], y_train[train_in], texts_train[train_in].tolist())
    in_scope_probabilities = router.predict_proba(X_test[test_in], t_in)
    run = abstention_rate(
        in_scope_probabilities.max(axis=1),
        router.predict_proba(X_test[~test_in], t_out).max(axis=1),
        IN_SCOPE_ROUTED,
    )
    scored = abstention_rate(
        router.in_scope_score(X_test[test_in], t_in),
        router.in_scope_score(X_test[~test_in], t_out),
        IN_SCOPE_ROUTED,
    )
    # the percentile score: a scorer without rehearsal beside the same fitted classifier and calibration
    percentile_scorer = InScopeScorer(rehearsal_groups=0, random_state=router.in_scope_.random_state).fit(
        X_train[train_in],
        y_train[train_in],
        texts_train[train_in].tolist(),
        classifier=router.classifier_,
        calibration=router.calibration_,
    )

    def percentile_score(X: np.ndarray, texts: list[str]) -> np.ndarray:
        decision = router.decision_function(X, texts)
        return percentile_scorer.score(X, decision, router.calibration_.predict_proba(decision))

    percentile = abstention_rate(
        percentile_score(X_test[test_in], t_in), percentile_score(X_test[~test_in], t_out), IN_SCOPE_ROUTED
    )
    in_scope_accuracy = (router.classes_[in_scope_probabilities.argmax(axis=1)] == y_test[test_in]).mean()
    run.update(
        {
            "in_scope_score_unseen_to_triage": scored["unseen_to_triage"],
            "in_scope_score_threshold": scored["threshold"],
            "percentile_score_unseen_to_triage": percentile["unseen_to_triage"],
            "in_scope_accuracy": round(float(in_scope_accuracy), 4),
            "rehearsal": novelty.summary if (novelty := router.in_scope_.novelty_) is not None else None,
            "held_out": sorted(held_out.tolist()),
        }
    )
    return run
