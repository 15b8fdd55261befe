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


DEMO_FEEDBACK = ("tickets.csv", "call_notes.jsonl", "legacy_export.csv")


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory, preparer) -> Path:
    """The model ``make demo`` trains: the bundled sample, training/config.yaml, the real encoder (once per
    session, a few minutes on 2 cores: used where a test is about the real demo model)."""
    from feedback_nlp.config import TrainingConfig
    from feedback_nlp.pipeline import train

    root = tmp_path_factory.mktemp("demo")
    config = TrainingConfig.from_yaml(REPO_ROOT / "training" / "config.yaml")
    feedback = [EXAMPLES / "feedback" / name for name in DEMO_FEEDBACK]
    return train(feedback, EXAMPLES / "roadmap.yaml", root / "models", config, preparer=preparer).path
