"""The encoder on ONNX Runtime: exported once from the local sentence-transformers weights, then cached.

sentence-transformers' own ``backend="onnx"`` needs ``optimum``, whose releases pin transformers below the
version we run (4.57 against our 5.x), so the model is exported here with ``torch.onnx``'s TorchScript
exporter from the same verified weights the torch backend loads, and int8 weights come from ONNX Runtime's
dynamic quantization. Nothing is downloaded: the export reads only the local model folder.

Why the TorchScript exporter and eager attention, not the dynamo exporter: ONNX Runtime (1.32) ran the
dynamo exporter's graph 15 to 20% slower, at every batch size and on one or two threads, for the same
vectors (cosine 1.000000): its layer norms are fused into SkipLayerNormalization kernels that took 100 ms
where the TorchScript graph's LayerNormalization took 12, in 50 calls of 4 tickets on one thread
(benchmarks/README.md, "Encoder backends"). Eager attention exports as plain MatMul and Softmax; the SDPA one
adds masking operators and ran 1 to 5% slower. torch marks the TorchScript exporter deprecated; torch is
pinned (2.13.0), and should a later torch drop it, the dynamo graph with ONNX Runtime's SkipLayerNormFusion
disabled (``disabled_optimizers``) recovered most of the difference.

This module owns the export folder (:data:`ONNX_FILE`, :data:`TOKENIZER_FILE`, :data:`EXPORT_FILE`). One
folder per (encoder, weights sha256, backend, export format) under the encoder cache
(``FEEDBACK_NLP_ENCODER_CACHE_DIR``, by default ``~/.cache/feedback-nlp/encoders``). An export is written
to a temporary folder beside it and renamed into place, so processes exporting at the same time (Dask
workers, two service replicas) never see a half-written file: the first rename wins and the others use it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from feedback_nlp import threads
from feedback_nlp.errors import EncoderError

logger = logging.getLogger(__name__)

TORCH_BACKEND = "torch"
ONNX_BACKEND = "onnx"
ONNX_INT8_BACKEND = "onnx-int8"
ENCODER_BACKENDS = (TORCH_BACKEND, ONNX_BACKEND, ONNX_INT8_BACKEND)
# Backends whose embeddings are the same to within float rounding (cosine >= 0.999, tests/test_onnx_encoder.py
# and benchmarks/README.md), so a model trained with one may be scored with the other. int8 weights move
# the vectors further (cosine about 0.99): a model trained with them is scored only with them.
INTERCHANGEABLE_BACKENDS = frozenset({TORCH_BACKEND, ONNX_BACKEND})

ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
EXPORT_FILE = "export.json"
# Raised when the export's layout, inputs or exporter change, so that an older cached export is not reused
# (2: the TorchScript exporter with eager attention, faster on ONNX Runtime than 1's dynamo graph).
EXPORT_FORMAT = 2
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# The opset the TorchScript export was measured at (benchmarks/README.md); its operators here
# (LayerNormalization since 17) need nothing newer, and ONNX Runtime 1.20 and later run it.
ONNX_OPSET = 17


def interchangeable(trained_with: str, scoring_with: str) -> bool:
    """Whether vectors of ``scoring_with`` may be compared with a model trained on ``trained_with``'s."""
    return trained_with == scoring_with or {trained_with, scoring_with} <= INTERCHANGEABLE_BACKENDS


def check_backend(backend: str) -> str:
    if backend not in ENCODER_BACKENDS:
        raise EncoderError(f"encoder backend {backend!r} is not one of {', '.join(ENCODER_BACKENDS)}")
    return backend


def default_cache_dir() -> Path:
    """``FEEDBACK_NLP_ENCODER_CACHE_DIR``, else ``$XDG_CACHE_HOME/feedback-nlp/encoders`` (``~/.cache``)."""
    from feedback_nlp.settings import get_settings

    configured = get_settings().encoder_cache_dir
    if configured is not None:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "feedback-nlp" / "encoders"


def export_dir(cache_dir: Path, encoder_name: str, weights_sha256: str, backend: str) -> Path:
    """The cached export of one encoder's weights for one backend."""
    stem = Path(encoder_name).name or "encoder"
    return Path(cache_dir) / f"{stem}-{weights_sha256[:16]}-{backend}-v{EXPORT_FORMAT}"


def ensure_export(
    model_dir: Path, encoder_name: str, weights_sha256: str, backend: str, cache_dir: Path | None = None
) -> Path:
    """The export folder for ``backend``, exported from ``model_dir`` first when it is not cached yet.

    Raises:
        EncoderError: the ``onnx`` extra is not installed, or the cache folder cannot be written.
    """
    check_backend(backend)
    if backend == TORCH_BACKEND:
        raise EncoderError("the torch backend has no ONNX export")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = export_dir(cache_dir, encoder_name, weights_sha256, backend)
    if (target / EXPORT_FILE).is_file():
        return target
    _require_onnx_extra(backend)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=cache_dir))
    except OSError as exc:
        raise EncoderError(
            f"cannot write the ONNX export to {cache_dir} ({exc.strerror}); set "
            "FEEDBACK_NLP_ENCODER_CACHE_DIR to a writable folder"
        ) from None
    try:
        if backend == ONNX_BACKEND:
            with _exporters_quiet():
                _export_fp32(model_dir, staging)
        else:
            fp32 = ensure_export(model_dir, encoder_name, weights_sha256, ONNX_BACKEND, cache_dir)
            with _exporters_quiet():
                _quantize_int8(fp32, staging)
        _write_manifest(staging, encoder_name, weights_sha256, backend)
        publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def publish(staging: Path, target: Path) -> None:
    """Rename a finished ``staging`` folder to ``target``; when another process got there first, keep its."""
    # mkdtemp makes the folder owner-only (0700); the export is shared like any cache (a service running as
    # another user than the training job reads it) and holds only the public encoder's weights: 0755. (Not
    # the umask: reading it means setting it, a race with every other thread creating files.)
    os.chmod(staging, 0o755)
    try:
        os.rename(staging, target)
        logger.info("exported the encoder to %s", target)
    except OSError:
        if not (target / EXPORT_FILE).is_file():
            raise
        logger.debug("%s was exported by another process meanwhile; using it", target)


@contextlib.contextmanager
def _exporters_quiet() -> Iterator[None]:
    """The exporters' chatter (torch.onnx's deprecation and axis-naming warnings, torchvision not installed,
    ONNX Runtime's advice to pre-process) is for their developers: shown only with debug logging."""
    if logger.isEnabledFor(logging.DEBUG):
        yield
        return
    chatty = [logging.getLogger(name) for name in ("torch.onnx", "torch._dynamo")]
    levels = [each.level for each in chatty]
    root_filter = _DropQuantizationAdvice()
    logging.getLogger().addFilter(root_filter)
    try:
        for each in chatty:
            each.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.getLogger().removeFilter(root_filter)
        for each, level in zip(chatty, levels):
            each.setLevel(level)


class _DropQuantizationAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname


# What exporting needs; scoring with an export already written needs onnxruntime alone (importing onnx
# cost seconds of every model load on the 2-core box).
EXPORT_MODULES = ("onnx", "onnxruntime")


def _require_onnx_extra(backend: str, modules: tuple[str, ...] = EXPORT_MODULES) -> None:
    try:
        for module in modules:
            importlib.import_module(module)
    except ImportError:
        raise EncoderError(
            f"encoder backend {backend!r} needs onnxruntime and onnx, which feedback-nlp "
            "installs; reinstall it (pip install feedback-nlp) or choose encoder_backend: torch"
        ) from None


class _SentenceEmbeddingGraph:
    """Builds the torch module exported: token ids in, the sentence-transformers pipeline's vector out."""

    @staticmethod
    def build(model: Any) -> Any:
        import torch

        class Graph(torch.nn.Module):
            def __init__(self, pipeline: Any):
                super().__init__()
                self.pipeline = pipeline

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                features = {
                    "input_ids": input_ids,
                    "attention_mask": attention_mask,
                    "token_type_ids": token_type_ids,
                    "modality": "text",
                }
                return self.pipeline(features)["sentence_embedding"]

        return Graph(model).eval()


def _export_fp32(model_dir: Path, staging: Path) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    from feedback_nlp.embedding import hide_loading_bar

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    threads.apply(threads.applied())
    hide_loading_bar()  # as the torch embedder's load does
    # eager attention: plain MatMul and Softmax in the graph, which ONNX Runtime runs fastest (module doc)
    model = SentenceTransformer(
        str(model_dir), device="cpu", local_files_only=True, model_kwargs={"attn_implementation": "eager"}
    )
    # Two texts of different lengths, so that the graph is traced with padding and keeps the attention mask.
    features = model.preprocess(["Export the graph with padding.", "short"])
    example = tuple(features[name] for name in INPUT_NAMES)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    with torch.no_grad():
        torch.onnx.export(
            _SentenceEmbeddingGraph.build(model),
            example,
            str(staging / ONNX_FILE),
            input_names=list(INPUT_NAMES),
            output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    if not (staging / ONNX_FILE).is_file():
        raise EncoderError(f"{model_dir}: torch.onnx.export wrote no {ONNX_FILE}")
    _save_tokenizer(model, staging / TOKENIZER_FILE)


def _save_tokenizer(model: Any, path: Path) -> None:
    """The model's own fast tokenizer, with ``max_seq_length`` truncation and longest padding set here."""
    backend = getattr(model.tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise EncoderError(
            "the encoder's tokenizer is not a fast (tokenizers) one; use encoder_backend: torch"
        )
    tokenizer = backend.__class__.from_str(backend.to_str())
    tokenizer.no_padding()
    tokenizer.no_truncation()
    path.write_text(tokenizer.to_str(), encoding="utf-8")
    pad_token = model.tokenizer.pad_token
    settings = {
        "max_seq_length": int(model.max_seq_length),
        "pad_token": pad_token,
        "pad_id": int(model.tokenizer.pad_token_id),
        "dim": _dimension(model),
    }
    (path.parent / "tokenizer_settings.json").write_text(json.dumps(settings), encoding="utf-8")


def _dimension(model: Any) -> int:
    # renamed get_embedding_dimension in sentence-transformers 6; the old name warns
    method = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(method())


def _quantize_int8(fp32_dir: Path, staging: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel scales: one scale per output column keeps the vectors at cosine 0.993 on average to
    # torch's (one scale per tensor: 0.967, and as low as 0.93) on the sample's tickets
    quantize_dynamic(
        str(fp32_dir / ONNX_FILE), str(staging / ONNX_FILE), weight_type=QuantType.QInt8, per_channel=True
    )
    for name in (TOKENIZER_FILE, "tokenizer_settings.json"):
        shutil.copyfile(fp32_dir / name, staging / name)


def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _write_manifest(staging: Path, encoder_name: str, weights_sha256: str, backend: str) -> None:
    from feedback_nlp.embedding import sha256_file

    manifest = {
        "format": EXPORT_FORMAT,
        "encoder": encoder_name,
        "weights_sha256": weights_sha256,
        "backend": backend,
        "onnx_sha256": sha256_file(staging / ONNX_FILE),
        "versions": {name: _version(name) for name in ("torch", "onnxruntime", "onnx")},
    }
    (staging / EXPORT_FILE).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


class OnnxEmbedder:
    """The encoder on ONNX Runtime (fp32 or int8 weights); the same interface as the torch one.

    Args:
        model_dir: the verified sentence-transformers folder the export is made from.
        name: the configured encoder name (recorded in the artifact).
        weights_sha256: the verified weights' checksum (the export's key and this embedder's fingerprint).
        backend: ``"onnx"`` or ``"onnx-int8"``.
        batch_size: texts per ONNX Runtime call.
        cache_dir: where exports are kept; :func:`default_cache_dir` when None.
    """

    def __init__(
        self,
        model_dir: Path,
        name: str,
        weights_sha256: str,
        backend: str = ONNX_BACKEND,
        batch_size: int = 64,
        cache_dir: Path | None = None,
    ):
        self.model_dir = Path(model_dir)
        self.name = name
        self.backend = backend
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self._sha256 = weights_sha256
        self._session: Any = None
        self._tokenizer: Any = None
        self._dim = 0

    @property
    def fingerprint(self) -> str:
        return self._sha256

    def _load(self) -> None:
        folder = ensure_export(self.model_dir, self.name, self._sha256, self.backend, self.cache_dir)
        _require_onnx_extra(self.backend, ("onnxruntime",))
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from feedback_nlp.embedding import sha256_file

        manifest = json.loads((folder / EXPORT_FILE).read_text(encoding="utf-8"))
        if sha256_file(folder / ONNX_FILE) != manifest["onnx_sha256"]:
            raise EncoderError(
                f"{folder / ONNX_FILE} does not match the checksum in its {EXPORT_FILE}; delete {folder} "
                "to export it again"
            )
        settings = json.loads((folder / "tokenizer_settings.json").read_text(encoding="utf-8"))
        tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        tokenizer.enable_truncation(max_length=settings["max_seq_length"])
        tokenizer.enable_padding(pad_id=settings["pad_id"], pad_token=settings["pad_token"])
        self._tokenizer, self._dim = tokenizer, int(settings["dim"])
        self._session = ort.InferenceSession(
            str(folder / ONNX_FILE), sess_options=session_options(), providers=["CPUExecutionProvider"]
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._session is None:
            self._load()
        if len(texts) == 0:
            return np.zeros((0, self._dim), dtype=np.float32)
        # Passes formed by token length under a budget, as the torch embedder forms them: little padding.
        from feedback_nlp.embedding import DEFAULT_PASS_OVERHEAD, DEFAULT_TOKEN_BUDGET, length_batches

        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = [sum(e.attention_mask) for e in encodings]
        vectors = np.empty((len(texts), self._dim), dtype=np.float32)
        for chosen in length_batches(lengths, DEFAULT_TOKEN_BUDGET, self.batch_size, DEFAULT_PASS_OVERHEAD):
            vectors[chosen] = self._run([encodings[i] for i in chosen])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return vectors / norms

    def _run(self, encodings: list[Any]) -> np.ndarray:
        # each encoding is padded to the longest of all the texts: cut the pass down to its own longest
        width = max(sum(e.attention_mask) for e in encodings)
        feeds = {
            "input_ids": np.array([e.ids[:width] for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask[:width] for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids[:width] for e in encodings], dtype=np.int64),
        }
        return np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)


def session_options() -> Any:
    """ONNX Runtime's pools sized as :mod:`feedback_nlp.threads` sizes torch's: its intra-op threads follow
    ``FEEDBACK_NLP_THREADS`` (or the usable cores), one inter-op thread, and idle threads that sleep rather
    than spin (the counterpart of ``OMP_WAIT_POLICY=PASSIVE``) on a machine shared with other work."""
    import onnxruntime as ort

    count = threads.applied() or threads.apply()
    options = ort.SessionOptions()
    options.intra_op_num_threads = count
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initializers and the like: not ours to act on
    return options
