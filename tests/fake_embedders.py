"""Stand-in encoders: one that makes themes unambiguous, one that kills its Dask worker, one that fails.

They live in a module (not in a test file) so that Dask workers can unpickle them: pytest puts ``tests/`` on
``sys.path`` and the spawned worker processes inherit it.
"""

from __future__ import annotations


class TopicEmbedder:
    """A test embedder with one direction per topic word family, plus a little per-text noise.

    For tests about what happens *after* embedding (theme IDs across retrains, curation): it makes the
    themes in the tiny data set unambiguous, so a test fails only when the logic under test is wrong.
    """

    name = "topic-test"
    fingerprint = "topic-test-v1"
    TOPICS = (
        ("export", "csv", "excel"),
        ("sso", "sign-on", "saml", "okta", "sign", "login"),
        ("declined", "decline"),
        ("refund",),
        ("crash", "crashes", "crashing", "freezes", "app"),
        ("dark", "night"),
        ("audit", "trail"),
    )

    def __init__(self, dim: int = 32, noise: float = 0.15):
        self.dim = dim
        self.noise = noise

    def embed(self, texts):
        import hashlib

        import numpy as np

        rows = []
        for text in texts:
            words = {w.strip(".,;:!?()'\"").lower() for w in text.split()}
            vector = np.zeros(self.dim)
            for index, family in enumerate(self.TOPICS):
                if words & set(family):
                    vector[index] += 1.0
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
            vector += self.noise * np.random.RandomState(seed).randn(self.dim)
            rows.append(vector / np.linalg.norm(vector))
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), self.dim)


class WorkerKillingEmbedder:
    """The hashing embedder, except that the first call inside a Dask worker kills that worker's process.

    For the test that a worker dying mid-run costs a rerun of its task, not the run. ``marker`` is a file
    written just before the kill, so the rerun (on another worker, or the restarted one) goes through.
    """

    name = "hashing"

    def __init__(self, marker: str):
        from feedback_nlp.embedding import HashingEmbedder

        self.marker = marker
        self._inner = HashingEmbedder()

    @property
    def fingerprint(self) -> str:
        return self._inner.fingerprint

    def embed(self, texts):
        import os

        try:
            from distributed import get_worker

            get_worker()
            in_worker = True
        except (ImportError, ValueError):
            in_worker = False
        if in_worker and texts:
            try:
                # created atomically: when two workers get here at once only one dies (two dying at once
                # would lose the job's scattered data, which is another test's question)
                handle = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return self._inner.embed(texts)
            os.write(handle, str(os.getpid()).encode())
            os.close(handle)
            os._exit(1)  # no cleanup, no exception: as if the machine had gone away
        return self._inner.embed(texts)


class FailingEmbedder:
    """An encoder that always fails, for tests that a failed run leaves the serving model alone."""

    name = "hashing"
    fingerprint = "failing-v1"

    def embed(self, texts):
        raise RuntimeError("the encoder failed (test)")


class OnnxTopicEmbedder(TopicEmbedder):
    """The topic embedder, saying it runs on ONNX Runtime fp32 (whose vectors stand in for torch's)."""

    backend = "onnx"


class Int8TopicEmbedder(TopicEmbedder):
    """The topic embedder, saying it runs on ONNX Runtime with int8 weights (vectors of their own)."""

    backend = "onnx-int8"
