"""Step 8: train the router on the discovery sample, the seeds' own examples and the owners' corrections."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from feedback_nlp.config import TrainingConfig
from feedback_nlp.routing import TrainedRouter, refit_router, train_router
from feedback_nlp.steps.discover import DiscoveredThemes
from feedback_nlp.steps.identify import IdentifiedThemes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorrectedUnits:
    """Units an owner corrected to a theme (feedback_nlp.corrections), embedded, with their served theme."""

    X: np.ndarray
    y: np.ndarray
    texts: tuple[str, ...]
    skipped: int  # corrected to a theme this run does not serve (retired without a successor)

    @property
    def used(self) -> int:
        return len(self.texts)


def corrected_units(
    texts: Sequence[str],
    theme_ids: Sequence[int],
    themes: IdentifiedThemes,
    embed: Callable[[list[str]], np.ndarray],
) -> CorrectedUnits | None:
    """The corrections' texts embedded with their theme as this run serves it (a merged theme's under the
    theme that absorbed it); None when there are none."""
    served = set(themes.ids.served_ids)
    pairs = [(text, themes.merged_into.get(t, t)) for text, t in zip(texts, theme_ids, strict=True)]
    kept = [(text, t) for text, t in pairs if t in served]
    if not kept:
        return None
    X = np.asarray(embed([text for text, _ in kept]), dtype=np.float32)
    y = np.asarray([t for _, t in kept], dtype=np.int64)
    return CorrectedUnits(X, y, tuple(text for text, _ in kept), len(pairs) - len(kept))


def train_theme_router(
    discovered: DiscoveredThemes,
    themes: IdentifiedThemes,
    config: TrainingConfig,
    corrected: CorrectedUnits | None = None,
) -> TrainedRouter:
    """Train on the sample's served themes; seed examples are repeated up to a theme's minimum size, so a
    seed with few units is not drowned by big themes. Corrected units are added once each with the theme
    an owner gave them: a person's label, so it is not down-weighted.

    When the serving model's borders were kept (``discovered.kept``) and its router knows exactly the themes
    this run trains on, only the classifier is refitted (:func:`feedback_nlp.routing.refit_router`); the
    router's metrics then name the version it was refitted from (``refit_from``), or say why it was not
    (``full_refit_reason``)."""
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
    if discovered.kept is None:
        return train_router(*with_corrections(X, y, texts, corrected), config)
    # which training units are new since the serving router (the seeds' examples and corrections are not)
    new_units = np.zeros(len(y), dtype=bool)
    new_units[: int(assigned.sum())] = discovered.kept.new_units[assigned]
    if corrected is not None:
        replaced = set(corrected.texts)
        kept_rows = np.asarray([text not in replaced for text in texts], dtype=bool)
        new_units = np.concatenate([new_units[kept_rows], np.zeros(corrected.used, dtype=bool)])
    X, y, texts = with_corrections(X, y, texts, corrected)
    previous = discovered.kept.previous
    known = set(previous.router.router.classes_.tolist())
    if known == set(np.unique(y).tolist()):
        router = refit_router(X, y, texts, config, previous.router, new_units)
        router.metrics["refit_from"] = previous.version
        return router
    reason = f"the themes changed since {previous.version} (the router is trained afresh)"
    logger.info("incremental retrain: %s", reason)
    router = train_router(X, y, texts, config)
    router.metrics["full_refit_reason"] = reason
    return router


def with_corrections(
    X: np.ndarray, y: np.ndarray, texts: list[str], corrected: CorrectedUnits | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The router's training data with the corrected units in it, once each, with their corrected theme; the
    same text's copies with the theme discovery gave it are dropped (a person's label replaces it rather than
    arguing with it)."""
    if corrected is None:
        return X, y, texts
    replaced = set(corrected.texts)
    keep = np.asarray([text not in replaced for text in texts], dtype=bool)
    return (
        np.vstack([X[keep], corrected.X.astype(X.dtype, copy=False)]),
        np.concatenate([y[keep], corrected.y.astype(y.dtype, copy=False)]),
        [text for text, kept in zip(texts, keep, strict=True) if kept] + list(corrected.texts),
    )
