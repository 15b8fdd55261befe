"""Loaders for the public labelled data sets the quality benchmark uses (see ../shared/data/README.md).

The data root is ``../shared/data`` relative to the repository, or ``FEEDBACK_NLP_SHARED_DATA``. Every
loader returns None when its files are missing, so the benchmark can skip that part and say so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = REPO_ROOT / "benchmarks" / ".cache"


def data_root() -> Path:
    configured = os.environ.get("FEEDBACK_NLP_SHARED_DATA")
    return Path(configured).expanduser() if configured else REPO_ROOT.parent / "shared" / "data"


def _missing(paths: list[Path]) -> list[Path]:
    return [p for p in paths if not p.is_file()]


@dataclass
class Banking77:
    train: pd.DataFrame  # text, category
    test: pd.DataFrame


@dataclass
class URR:
    reviews: pd.DataFrame  # review_id, app, text, labels (list of str), first_label


@dataclass
class IS22:
    reviews: pd.DataFrame  # app, review_id, text
    judgements: pd.DataFrame  # app, feature, review_id, relevant (0/1)
    features: pd.DataFrame  # app, feature (all listed features, judged or not)


def load_banking77(root: Path) -> tuple[Banking77 | None, list[Path]]:
    folder = root / "banking77"
    paths = [folder / "train.csv", folder / "test.csv"]
    missing = _missing(paths)
    if missing:
        return None, missing
    train, test = (pd.read_csv(p).dropna(subset=["text", "category"]) for p in paths)
    return Banking77(train.reset_index(drop=True), test.reset_index(drop=True)), []


def load_urr(root: Path) -> tuple[URR | None, list[Path]]:
    path = root / "urr-app-reviews" / "golden_set.csv"
    if not path.is_file():
        return None, [path]
    frame = pd.read_csv(path).dropna(subset=["text", "labels"]).reset_index(drop=True)
    frame["text"] = frame["text"].astype(str)
    frame["labels"] = (
        frame["labels"].astype(str).str.split(";").map(lambda ls: [x.strip() for x in ls if x.strip()])
    )
    frame["first_label"] = frame["labels"].str[0]
    return URR(frame), []


def load_is22(root: Path) -> tuple[IS22 | None, list[Path]]:
    folder = root / "is22-app-review-features"
    paths = [folder / "reviews.csv", folder / "judgements.csv", folder / "features.csv"]
    missing = _missing(paths)
    if missing:
        return None, missing
    reviews, judgements, features = (pd.read_csv(p) for p in paths)
    reviews = reviews.dropna(subset=["text"]).drop_duplicates(["app", "review_id"]).reset_index(drop=True)
    reviews["text"] = reviews["text"].astype(str)
    judgements = judgements.drop_duplicates(["app", "feature", "review_id"]).reset_index(drop=True)
    return IS22(reviews, judgements[["app", "feature", "review_id", "relevant"]], features), []


def cached_embedder(config, cache_dir: Path):
    """The training config's encoder (weights, batch size, backend) behind the embedding cache in
    ``cache_dir``: what the quality benchmarks embed the labelled sets with."""
    from feedback_nlp.embedding import CachedEmbedder, build_embedder

    encoder = build_embedder(
        config.encoder, config.encoder_sha256, config.embedding_batch_size, config.encoder_backend
    )
    return CachedEmbedder(encoder, cache_dir)
