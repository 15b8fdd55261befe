"""Measure theme discovery and routing against gold labels (Banking77 and similar labelled sets).

Texts go through the same preparation as ``train``: each is split into units and redacted by
:class:`feedback_nlp.prepare.TextPreparer` (``max_unit_chars`` from the config), so a long text is judged the
way the product sees it, not truncated at the encoder's window. Each unit carries its text's gold label.
Discovery is scored on the units (what ``train`` clusters); routing is trained on the train texts' units
and scored per test text on its primary unit (the most confident one, as the API answers).

The scores themselves are in ``feedback_nlp.metrics``, which imports nothing heavy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from feedback_nlp.config import TrainingConfig
from feedback_nlp.embedding import Embedder
from feedback_nlp.metrics import clustering_scores, routing_scores
from feedback_nlp.prepare import TextPreparer
from feedback_nlp.routing import router_from_config
from feedback_nlp.schemas import FeedbackRecord
from feedback_nlp.themes import ThemeDiscoverer

# evaluate reads bare texts; they are prepared like tickets (the ticket rules for splitting units)
_SOURCE = "ticket"


@dataclass(frozen=True)
class PreparedTexts:
    """The units of a list of texts: each unit's (redacted) text, its text's position and gold label."""

    units: list[str]
    owner: np.ndarray  # position of each unit's text
    labels: np.ndarray  # gold label of each unit (its text's)

    @property
    def n_long(self) -> int:
        """Texts split into more than one unit."""
        return int((np.bincount(self.owner) > 1).sum()) if len(self.owner) else 0


def prepare_texts(texts: Sequence[str], labels: Sequence[str], preparer: TextPreparer) -> PreparedTexts:
    """Split and redact ``texts`` as training does; every unit keeps its text's label."""
    now = datetime.now(UTC)
    records = [
        FeedbackRecord(id=str(n), text=text, source=_SOURCE, created_at=now) for n, text in enumerate(texts)
    ]
    units, owner = [], []
    for n, prepared in enumerate(preparer.prepare(records)):
        for unit in prepared:
            units.append(unit.unit.text)
            owner.append(n)
    owner_array = np.asarray(owner, dtype=np.int64)
    return PreparedTexts(units, owner_array, np.asarray(labels)[owner_array])


def evaluate(
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    test_texts: Sequence[str],
    test_labels: Sequence[str],
    embedder: Embedder,
    config: TrainingConfig | None = None,
    preparer: TextPreparer | None = None,
) -> dict[str, Any]:
    """Discovery on the test texts' units scored against their labels; routing trained on train, scored on
    each test text's primary unit.

    Unassigned units count as one extra cluster in NMI/ARI/V-measure (the honest choice: dropping them
    would flatter the scores).
    """
    config = config or TrainingConfig()
    preparer = preparer or TextPreparer(
        max_unit_chars=config.max_unit_chars, keep_terms=config.redaction_keep_terms
    )
    seconds: dict[str, float] = {}
    tick = time.perf_counter()
    train = prepare_texts(train_texts, train_labels, preparer)
    test = prepare_texts(test_texts, test_labels, preparer)
    seconds["prepare"] = time.perf_counter() - tick
    tick = time.perf_counter()
    X_train = embedder.embed(train.units)
    X_test = embedder.embed(test.units)
    seconds["embed"] = time.perf_counter() - tick

    tick = time.perf_counter()
    discoverer = ThemeDiscoverer.from_config(config)
    predicted_themes = discoverer.fit(X_test).labels_
    seconds["discover"] = time.perf_counter() - tick

    tick = time.perf_counter()
    # accuracy and calibration only: no in-scope score is measured here, so no rehearsal for it
    router = router_from_config(config).set_params(in_scope__rehearsal_groups=0)
    router.fit(X_train, train.labels, train.units)
    probabilities = router.predict_proba(X_test, test.units)
    seconds["route"] = time.perf_counter() - tick
    primary = _primary_units(test.owner, probabilities.max(axis=1))
    return {
        "discovery": {
            **clustering_scores(test.labels, predicted_themes),
            "n_themes": int(discoverer.n_themes_),
        },
        "routing": routing_scores(np.asarray(test_labels), router.classes_, probabilities[primary]),
        "sizes": {
            "train": len(train_texts),
            "test": len(test_texts),
            "train_units": len(train.units),
            "test_units": len(test.units),
            "test_texts_split": test.n_long,
        },
        "seconds": {name: round(value, 2) for name, value in seconds.items()},
    }


def _primary_units(owner: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Position of each text's most confident unit (the first on a tie)."""
    order = np.lexsort((-confidence, owner))  # by text, most confident first
    first = np.ones(len(order), dtype=bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    return order[first]  # one per text: preparation never leaves a text without a unit
