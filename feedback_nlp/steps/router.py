"""Step 8: train the router on the discovery sample (and the seeds' own examples)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from feedback_nlp.config import TrainingConfig
from feedback_nlp.metrics import expected_ece
from feedback_nlp.routing import ThemeRouter, balanced_subsample, cross_fitted_probabilities
from feedback_nlp.steps.discover import DiscoveredThemes
from feedback_nlp.steps.identify import IdentifiedThemes

NEAR_COPY_SIMILARITY = 0.95


@dataclass(frozen=True)
class TrainedRouter:
    router: ThemeRouter
    metrics: dict[str, Any]


def train_theme_router(
    discovered: DiscoveredThemes, themes: IdentifiedThemes, config: TrainingConfig
) -> TrainedRouter:
    """Train on the sample's served themes; seed examples are repeated up to a theme's minimum size, so a
    seed with few units is not drowned by big themes."""
    sample = discovered.sample
    sample_served = themes.ids.served(discovered.labels)
    assigned = sample_served >= 0
    X, y = sample.X[assigned], sample_served[assigned]
    texts = [text for text, keep in zip(sample.texts, assigned) if keep]
    seeds = discovered.seeds
    if len(seeds.texts):
        seed_id_per_example: list[int] = []
        for seed_id, (seed, _) in themes.seeds_by_id.items():  # same order as seeds.texts
            seed_id_per_example += [themes.merged_into.get(seed_id, seed_id)] * len(seed.examples)
        fewest = max(1, min(len(s.examples) for s in seeds.seeds))
        repeats = max(1, int(np.ceil(config.min_theme_size / fewest)))
        X = np.vstack([X, np.repeat(seeds.example_vectors, repeats, axis=0)])
        y = np.concatenate([y, np.repeat(np.asarray(seed_id_per_example, dtype=np.int64), repeats)])
        texts += [text for text in seeds.texts for _ in range(repeats)]
    router, metrics = _train_router(X, y, config, texts)
    return TrainedRouter(router, metrics)


def _train_router(
    X: np.ndarray, y: np.ndarray, config: TrainingConfig, texts: Sequence[str] | None = None
) -> tuple[ThemeRouter, dict[str, Any]]:
    """Measure the router on a stratified 20% hold-out of the discovered themes, then refit on all."""

    def make() -> ThemeRouter:
        return ThemeRouter(
            C=config.router_C,
            calibration=config.calibration,
            random_state=config.random_state,
            text_features=config.router_text_features,
            rehearsal_groups=config.router_rehearsal_groups,
        )

    texts = list(texts) if texts is not None else [""] * len(X)
    available = len(y)
    keep = balanced_subsample(y, config.router_max_units, config.random_state)
    if len(keep) < available:
        X, y, texts = X[keep], y[keep], [texts[i] for i in keep]

    metrics: dict[str, Any] = {"trained_on_units": int(len(y)), "units_available": int(available)}
    _, counts = np.unique(y, return_counts=True)
    if counts.min() >= 5 and len(y) >= 50:
        X_fit, X_hold, y_fit, y_hold, texts_fit, texts_hold = train_test_split(
            X, y, texts, test_size=0.2, stratify=y, random_state=config.random_state
        )
        if config.calibration == "temperature":
            # The temperature is fitted on the hold-out's decision values (one SVM fit, not four); what is
            # reported about the hold-out is measured with the temperature fitted on its other half.
            held_out = make().fit(X_fit, y_fit, texts_fit, X_val=X_hold, y_val=y_hold, texts_val=texts_hold)
            probabilities = cross_fitted_probabilities(
                held_out.decision_function(X_hold, texts_hold),
                np.searchsorted(held_out.classes_, y_hold),
                config.random_state,
            )
        else:
            held_out = make().fit(X_fit, y_fit, texts_fit)
            probabilities = held_out.predict_proba(X_hold, texts_hold)
        predicted = held_out.classes_[probabilities.argmax(axis=1)]
        # Text unlike anything seen in training goes to triage even when the router is confident: the
        # threshold is the in-scope score below which only `in_scope_quantile` of held-out units fall.
        in_scope = held_out.in_scope_score(X_hold, texts_hold)
        # Calibrate on held-out text that is new to the router: near-copies of training units (templated
        # tickets, re-sent notes) score as familiar and would set the bar far too high for genuinely new text.
        novel = np.ones(len(X_hold), dtype=bool)
        rows = max(
            1, (1 << 24) // max(len(X_fit), 1)
        )  # a 64 MB similarity block at a time, whatever the size
        for start in range(0, len(X_hold), rows):
            novel[start : start + rows] = (X_hold[start : start + rows] @ X_fit.T).max(
                axis=1
            ) < NEAR_COPY_SIMILARITY
        threshold = None
        if config.in_scope_quantile > 0 and novel.sum() >= 20:
            threshold = float(np.quantile(in_scope[novel], config.in_scope_quantile))
        triage = probabilities.max(axis=1) < config.confidence_threshold
        if threshold is not None:
            triage |= in_scope < threshold
        metrics.update(
            {
                "holdout_accuracy": round(float(accuracy_score(y_hold, predicted)), 4),
                "holdout_macro_f1": round(float(f1_score(y_hold, predicted, average="macro")), 4),
                "holdout_ece": round(expected_ece(probabilities, predicted == y_hold), 4),
                "holdout_triage_fraction": round(float(triage.mean()), 4),
                "in_scope_threshold": round(threshold, 4) if threshold is not None else None,
                "in_scope_calibration_units": int(novel.sum()),
            }
        )
        # The refit on all units keeps what was measured on the hold-out instead of paying for it again: the
        # temperature and the in-scope score the threshold was chosen with (its rehearsal: 8 SVM fits).
        final = make().set_params(rehearsal_groups=0, temperature=held_out.temperature_).fit(X, y, texts)
        final.adopt_novelty_model(held_out)
        metrics["rehearsal"] = held_out.rehearsal_
        return final, metrics
    # Too few units per theme for a hold-out: no in-scope threshold is set, so a rehearsal would be wasted.
    return make().set_params(rehearsal_groups=0).fit(X, y, texts), metrics
