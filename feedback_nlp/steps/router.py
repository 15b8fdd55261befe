"""Step 8: train the router on the discovery sample (and the seeds' own examples)."""

from __future__ import annotations

import numpy as np

from feedback_nlp.config import TrainingConfig
from feedback_nlp.routing import TrainedRouter, train_router
from feedback_nlp.steps.discover import DiscoveredThemes
from feedback_nlp.steps.identify import IdentifiedThemes


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
    return train_router(X, y, texts, config)
