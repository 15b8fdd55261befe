"""Scores of theme discovery, routing, abstention and roadmap mapping against gold labels.

Pure functions of arrays (numpy and scikit-learn only, no spaCy, torch or sentence-transformers), so a
script can score results where the library's heavy dependencies are not installed. Used by the training
job (the router's held-out calibration), ``feedback_nlp.evaluate``, the quality benchmarks and their tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    adjusted_rand_score,
    f1_score,
    normalized_mutual_info_score,
    v_measure_score,
)


def expected_ece(probabilities: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence (equal-width bins)."""
    confidence = probabilities.max(axis=1)
    edges = np.linspace(0, 1, bins + 1)
    error = 0.0
    for low, high in pairwise(edges):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(error)


def clustering_scores(gold: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """NMI, ARI and V-measure of a clustering against gold labels; unassigned (-1) count as one cluster."""
    gold = np.asarray(gold)
    predicted = np.asarray(predicted)
    return {
        "nmi": round(float(normalized_mutual_info_score(gold, predicted)), 4),
        "ari": round(float(adjusted_rand_score(gold, predicted)), 4),
        "v_measure": round(float(v_measure_score(gold, predicted)), 4),
        "n_gold_labels": len(np.unique(gold)),
        "unassigned_fraction": round(float((predicted < 0).mean()), 4),
    }


def multilabel_majority_hit_rate(label_sets: Sequence[Sequence[str]], predicted: np.ndarray) -> float:
    """How often the majority label of a unit's discovered theme is among the unit's own labels.

    The majority label of a theme is the label most units of the theme carry (every label of a multi-label
    unit counts once). Unassigned units count as misses.
    """
    predicted = np.asarray(predicted)
    majority: dict[int, str] = {}
    for theme in np.unique(predicted[predicted >= 0]):
        counts: dict[str, int] = {}
        for index in np.flatnonzero(predicted == theme):
            for label in set(label_sets[int(index)]):
                counts[label] = counts.get(label, 0) + 1
        majority[int(theme)] = min(counts, key=lambda label: (-counts[label], label))
    hits = [predicted[i] >= 0 and majority[int(predicted[i])] in label_sets[i] for i in range(len(predicted))]
    return round(float(np.mean(hits)), 4) if hits else 0.0


def routing_scores(gold: np.ndarray, classes: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1 and expected calibration error of a router's probabilities."""
    gold = np.asarray(gold)
    predicted = np.asarray(classes)[probabilities.argmax(axis=1)]
    return {
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
        "macro_f1": round(float(f1_score(gold, predicted, average="macro")), 4),
        "ece": round(expected_ece(probabilities, predicted == gold), 4),
    }


def abstention_rate(
    in_scope_confidence: np.ndarray, unseen_confidence: np.ndarray, routed_fraction: float = 0.95
) -> dict[str, float]:
    """Share of unseen-topic units sent to triage when the threshold routes ``routed_fraction`` of in-scope.

    The threshold is the ``1 - routed_fraction`` quantile of the in-scope confidences; a unit goes to
    triage when its confidence is below it.
    """
    threshold = float(np.quantile(np.asarray(in_scope_confidence), 1.0 - routed_fraction))
    return {
        "threshold": threshold,
        "in_scope_routed": round(float((np.asarray(in_scope_confidence) >= threshold).mean()), 4),
        "unseen_to_triage": round(float((np.asarray(unseen_confidence) < threshold).mean()), 4),
    }


def is22_mapping_scores(
    item_ids: np.ndarray, scores: np.ndarray, judgements: dict[Any, int], threshold: float, k: int = 10
) -> dict[str, Any]:
    """Retrieval quality of one roadmap item against incomplete relevance judgements.

    Units are ranked by score; unjudged units are unknown, not wrong, so they are skipped (the condensed
    list of Sakai 2007): precision@k is over the first ``k`` judged units. ``ideal_precision_at_k`` is the
    best any ranking could score with these judgements. Recall is over all relevant judgements (one whose unit
    is missing from ``item_ids`` counts as not found); a unit is attached when its score is >= ``threshold``.
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    ranked = [item_ids[i] for i in order if item_ids[i] in judgements]
    relevant_total = sum(1 for value in judgements.values() if value)
    flags = [int(judgements[i]) for i in ranked]
    top = flags[:k]
    hits, precisions = 0, []
    for rank, flag in enumerate(flags, start=1):
        if flag:
            hits += 1
            precisions.append(hits / rank)
    return {
        "precision_at_k": round(sum(top) / k, 4),
        "ideal_precision_at_k": round(min(k, relevant_total) / k, 4),
        "average_precision": round(sum(precisions) / relevant_total, 4) if relevant_total else 0.0,
        **attachment_scores(item_ids, np.asarray(scores) >= threshold, judgements),
    }


def attachment_scores(
    item_ids: np.ndarray, attached: np.ndarray, judgements: dict[Any, int]
) -> dict[str, Any]:
    """How well the units attached to one roadmap item (a boolean mask over ``item_ids``) match the
    judgements.

    ``recall`` is over all relevant judgements (one whose unit is missing from ``item_ids`` counts as not
    found); ``attached_precision`` is over the attached units that were judged (unjudged ones are unknown).
    """
    relevant_total = sum(1 for value in judgements.values() if value)
    attached_ids = {item_ids[i] for i in np.flatnonzero(np.asarray(attached, dtype=bool))}
    attached_judged = [judgements[i] for i in attached_ids if i in judgements]
    return {
        "recall": round(sum(attached_judged) / relevant_total, 4) if relevant_total else 0.0,
        "attached_precision": (
            round(sum(attached_judged) / len(attached_judged), 4) if attached_judged else 0.0
        ),
        "attached": len(attached_ids),
        "attached_judged": len(attached_judged),
        "relevant_judged": relevant_total,
        "judged": len(judgements),
    }
