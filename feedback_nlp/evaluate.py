"""Measure theme discovery and routing against gold labels (Banking77 and similar labelled sets).

The scores themselves are in ``feedback_nlp.metrics``, which imports nothing heavy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from feedback_nlp.config import TrainingConfig
from feedback_nlp.embedding import Embedder
from feedback_nlp.metrics import clustering_scores, routing_scores
from feedback_nlp.routing import router_from_config
from feedback_nlp.themes import ThemeDiscoverer


def evaluate(
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    test_texts: Sequence[str],
    test_labels: Sequence[str],
    embedder: Embedder,
    config: TrainingConfig | None = None,
) -> dict[str, Any]:
    """Discovery on the test texts scored against their labels; routing trained on train, scored on test.

    Unassigned units count as one extra cluster in NMI/ARI/V-measure (the honest choice: dropping them
    would flatter the scores).
    """
    config = config or TrainingConfig()
    seconds: dict[str, float] = {}
    tick = time.perf_counter()
    X_train = embedder.embed(list(train_texts))
    X_test = embedder.embed(list(test_texts))
    seconds["embed"] = time.perf_counter() - tick

    tick = time.perf_counter()
    discoverer = ThemeDiscoverer.from_config(config)
    predicted_themes = discoverer.fit(X_test).labels_
    seconds["discover"] = time.perf_counter() - tick
    gold = np.asarray(test_labels)

    tick = time.perf_counter()
    # accuracy and calibration only: no in-scope score is measured here, so no rehearsal for it
    router = router_from_config(config).set_params(in_scope__rehearsal_groups=0)
    router.fit(X_train, np.asarray(train_labels), list(train_texts))
    probabilities = router.predict_proba(X_test, list(test_texts))
    seconds["route"] = time.perf_counter() - tick
    return {
        "discovery": {**clustering_scores(gold, predicted_themes), "n_themes": int(discoverer.n_themes_)},
        "routing": routing_scores(gold, router.classes_, probabilities),
        "sizes": {"train": len(train_texts), "test": len(test_texts)},
        "seconds": {name: round(value, 2) for name, value in seconds.items()},
    }
