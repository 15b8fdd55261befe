"""Shared fixtures. Nothing here reaches a model hub: the hashing embedder or the installed encoder only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"


@pytest.fixture(scope="session")
def preparer():
    """One loaded spaCy pipeline for the whole session (loading costs about a second)."""
    from feedback_nlp.prepare import TextPreparer

    return TextPreparer()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A real model (hashing embedder) trained once per session on the tiny hand-written set."""
    from tiny_data import train_tiny_model

    return train_tiny_model(tmp_path_factory.mktemp("tiny") / "models")


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from feedback_nlp.model import FeedbackModel

    return FeedbackModel.load(tiny_model_dir)
