"""Thread discipline (feedback_nlp/threads.py): where the thread count comes from, and what apply() sets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from feedback_nlp import threads

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("env", "configured", "expected"),
    [
        ({"FEEDBACK_NLP_THREADS": "3", "OMP_NUM_THREADS": "5"}, None, 3),
        ({"OMP_NUM_THREADS": "1"}, None, 1),  # a Dask nanny's single-threaded worker
        ({"FEEDBACK_NLP_THREADS": "3"}, 2, 2),
        ({}, None, "cores"),
    ],
)
def test_thread_count_prefers_the_setting_then_the_environment_then_the_cores(
    monkeypatch, env, configured, expected
):
    for name in ("FEEDBACK_NLP_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    want = len(os.sched_getaffinity(0)) if expected == "cores" else expected
    assert threads.thread_count(configured) == want


def test_the_encoder_runs_with_the_configured_threads_and_no_spinning():
    """In a fresh process, as the command line starts: torch gets FEEDBACK_NLP_THREADS intra-op threads and
    one inter-op thread, and OpenMP waits passively."""
    code = (
        "import os, feedback_nlp.cli\n"
        "from feedback_nlp.embedding import SentenceTransformerEmbedder\n"
        "SentenceTransformerEmbedder().embed(['the export times out'])\n"
        "import torch\n"
        "print(torch.get_num_threads(), torch.get_num_interop_threads(), os.environ['OMP_WAIT_POLICY'])\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FEEDBACK_NLP_", "OMP_"))}
    env.update({"FEEDBACK_NLP_THREADS": "1", "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"})
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "PASSIVE"]
