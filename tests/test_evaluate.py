"""``evaluate`` measures what ``train`` does: texts are split into units and redacted, then scored."""

from __future__ import annotations

import numpy as np

from feedback_nlp.config import TrainingConfig
from feedback_nlp.embedding import HashingEmbedder
from feedback_nlp.evaluate import _primary_units, evaluate, prepare_texts

TOPICS = {
    "export": "The CSV export times out when the report is large, the export never finishes.",
    "login": "Single sign on with SAML fails, nobody on the team can log in to the admin console.",
    "refund": "The refund for the cancelled order has not arrived on the card after two weeks.",
}


def _texts(per_topic: int) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for n in range(per_topic):
        for label, sentence in TOPICS.items():
            texts.append(f"{sentence} Ticket number {n}.")
            labels.append(label)
    return texts, labels


def test_a_long_text_is_split_into_units_that_keep_its_label(preparer):
    long_text = " ".join([TOPICS["export"]] * 3 + [TOPICS["refund"]] * 3)  # about 480 characters
    preparer.max_unit_chars = 200
    try:
        prepared = prepare_texts(["short one about login", long_text], ["login", "mixed"], preparer)
    finally:
        preparer.max_unit_chars = 1000
    assert len(prepared.units) >= 3 and prepared.n_long == 1
    assert all(len(unit) <= 200 for unit in prepared.units)
    assert list(prepared.owner[:2]) == [0, 1] and set(prepared.labels[1:]) == {"mixed"}
    assert "".join(prepared.units[1:]).replace(" ", "") == long_text.replace(" ", "")  # nothing cut off


def test_evaluate_scores_units_for_discovery_and_primary_units_for_routing(preparer):
    train_texts, train_labels = _texts(12)
    test_texts, test_labels = _texts(10)
    test_texts[0] = " ".join([TOPICS["export"]] * 8)  # longer than max_unit_chars: several units
    config = TrainingConfig(encoder="hashing", min_themes=2, min_theme_size=5, min_similarity=0.05,
                            router_rehearsal_groups=0, max_unit_chars=300)  # fmt: skip
    preparer.max_unit_chars = 300
    try:
        result = evaluate(
            train_texts, train_labels, test_texts, test_labels, HashingEmbedder(), config, preparer
        )
    finally:
        preparer.max_unit_chars = 1000
    sizes = result["sizes"]
    assert sizes["test"] == 30 and sizes["test_texts_split"] == 1 and sizes["test_units"] > 30
    assert result["routing"]["accuracy"] > 0.9 and result["discovery"]["n_themes"] >= 2


def test_the_primary_unit_is_each_texts_most_confident():
    owner = np.array([0, 0, 1, 2, 2, 2])
    confidence = np.array([0.2, 0.9, 0.5, 0.3, 0.3, 0.8])
    assert list(_primary_units(owner, confidence)) == [1, 2, 5]
