"""Trust in the model folder: what LATEST may name, verify-then-load from the same bytes, signatures, the
safe router format, the sweep of killed runs' folders, and quarantine files without raw rows."""

from __future__ import annotations

import builtins
import io
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from feedback_nlp import artifact
from feedback_nlp.cli import main as cli_main
from feedback_nlp.errors import ConfigError, ModelLoadError
from feedback_nlp.model import FeedbackModel

KEY = "k" * 40
OTHER_KEY = "o" * 40
CARD = "4111 1111 1111 1111"
EMAIL = "jane.doe@example.com"


@pytest.fixture(autouse=True)
def _no_signing_key_from_the_environment(monkeypatch):
    monkeypatch.delenv(artifact.SIGNING_KEY_ENV, raising=False)


def copy_model(tiny_model_dir: Path, models_dir: Path, name: str | None = None) -> Path:
    target = models_dir / (name or tiny_model_dir.name)
    shutil.copytree(tiny_model_dir, target)
    return target


def rewrite_manifest(folder: Path, name: str) -> None:
    """What an attacker with write access does: replace a file and update its sha256 in metadata.json."""
    metadata = json.loads((folder / artifact.METADATA_FILE).read_text(encoding="utf-8"))
    metadata["files"][name] = artifact.sha256_file(folder / name)
    artifact.write_json(folder / artifact.METADATA_FILE, metadata)


# -- LATEST names a folder directly inside the models dir ----------------------------------------------


@pytest.mark.parametrize("name", ["../outside", "/tmp/outside", "sub/dir", "..", ".tmp-run", "a\\b", "C:x"])
def test_latest_naming_anything_but_a_version_folder_is_refused(tmp_path, tiny_model_dir, name, capsys):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    copy_model(tiny_model_dir, tmp_path, "outside")  # a real model, one level up
    (models_dir / "LATEST").write_text(name + "\n", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="not a version folder directly inside"):
        artifact.resolve_model_dir(models_dir)
    assert cli_main(["themes", "--models-dir", str(models_dir)]) == 2
    assert "directly inside" in capsys.readouterr().err


def test_version_names_are_plain_folder_names():
    assert artifact.is_version_name("20260101T120000Z-1a2b3c4d")
    assert artifact.is_version_name("20260101T120000Z-1a2b3c4d-2")
    for bad in ("", ".", "..", "../x", "/x", "x/y", ".work-v", "x\ny", "C:x", "x\\y"):
        assert not artifact.is_version_name(bad), bad


# -- verify, then load from the bytes that were verified -----------------------------------------------


def test_each_loaded_file_is_read_once_and_a_swap_after_the_check_is_not_used(
    tmp_path, tiny_model_dir, monkeypatch
):
    folder = copy_model(tiny_model_dir, tmp_path)
    router = folder / artifact.ROUTER_FILE
    opened: dict[str, int] = {}
    real_open = builtins.open

    def spying_open(file, mode="r", *args, **kwargs):
        name = Path(os.fsdecode(file)).name if isinstance(file, (str, bytes, os.PathLike)) else None
        if name is not None and Path(os.fsdecode(file)).parent == folder:
            opened[name] = opened.get(name, 0) + 1
            if name == router.name and opened[name] == 1:
                # hand over the genuine bytes, then replace the file on disk: a loader that opens the
                # file again after checking it gets garbage
                with real_open(file, "rb") as handle:
                    genuine = handle.read()
                with real_open(file, "wb") as handle:
                    handle.write(b"swapped after the check")
                return io.BytesIO(genuine)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spying_open)
    monkeypatch.setattr(io, "open", spying_open)
    parts = artifact.load(folder)
    monkeypatch.undo()
    assert type(parts.router).__name__ == "ThemeRouter"
    for name in artifact.LOADED_FILES & set(parts.metadata["files"]):
        assert opened.get(name) == 1, (name, opened)


# -- the router cannot run code on load ----------------------------------------------------------------


class _RunsCode:
    def __reduce__(self):
        return (Path.touch, (Path(os.environ["FEEDBACK_NLP_TEST_MARKER"]),))


class _UnknownType:
    pass


def test_a_planted_pickle_with_an_updated_manifest_does_not_run(tmp_path, tiny_model_dir, monkeypatch):
    folder = copy_model(tiny_model_dir, tmp_path)
    marker = tmp_path / "code-ran"
    monkeypatch.setenv("FEEDBACK_NLP_TEST_MARKER", str(marker))
    for name in (artifact.ROUTER_FILE, "router.joblib"):
        (folder / name).write_bytes(pickle.dumps(_RunsCode()))
        rewrite_manifest(folder, name)
    with pytest.raises(ModelLoadError, match="cannot be loaded"):
        FeedbackModel.load(folder)
    assert not marker.exists()


def test_a_router_of_types_not_on_the_trusted_list_is_refused(tmp_path, tiny_model_dir):
    import skops.io

    folder = copy_model(tiny_model_dir, tmp_path)
    skops.io.dump(_UnknownType(), folder / artifact.ROUTER_FILE)
    rewrite_manifest(folder, artifact.ROUTER_FILE)
    with pytest.raises(ModelLoadError, match="_UnknownType"):
        artifact.load(folder)


def test_the_router_is_stored_with_skops_and_scores_the_same(tiny_model_dir, tiny_model):
    import zipfile

    assert zipfile.is_zipfile(tiny_model_dir / artifact.ROUTER_FILE)  # skops' format, not a pickle
    again = FeedbackModel.load(tiny_model_dir)
    text = ["the CSV export times out on the full ledger"]
    assert [u.theme_id for s in again.score_texts(text) for u in s.units] == [
        u.theme_id for s in tiny_model.score_texts(text) for u in s.units
    ]


# -- signing -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_model_dir(tmp_path_factory) -> Path:
    from tiny_data import train_tiny_model

    models_dir = tmp_path_factory.mktemp("signed") / "models"
    old = os.environ.get(artifact.SIGNING_KEY_ENV)
    os.environ[artifact.SIGNING_KEY_ENV] = KEY  # the training job reads the same variable as the loader
    try:
        return train_tiny_model(models_dir)
    finally:
        if old is None:
            del os.environ[artifact.SIGNING_KEY_ENV]
        else:
            os.environ[artifact.SIGNING_KEY_ENV] = old


def test_training_with_a_key_signs_the_manifest(signed_model_dir, monkeypatch):
    signature = (signed_model_dir / artifact.SIGNATURE_FILE).read_text().strip()
    assert signature.startswith("hmac-sha256:") and len(signature) == len("hmac-sha256:") + 64
    monkeypatch.setenv(artifact.SIGNING_KEY_ENV, KEY)
    assert artifact.load(signed_model_dir).metadata["version"]
    assert artifact.verify(signed_model_dir)["version"]


def test_with_a_key_unsigned_wrongly_signed_and_re_manifested_folders_are_refused(
    tmp_path, tiny_model_dir, signed_model_dir, monkeypatch
):
    monkeypatch.setenv(artifact.SIGNING_KEY_ENV, KEY)
    with pytest.raises(ModelLoadError, match="not signed"):
        artifact.load(tiny_model_dir)
    with pytest.raises(ModelLoadError, match="does not match"):
        artifact.load(signed_model_dir, signing_key=OTHER_KEY)
    # files and manifest replaced together: the checksums agree, the signature does not
    tampered = copy_model(signed_model_dir, tmp_path)
    shutil.copyfile(tiny_model_dir / artifact.ROUTER_FILE, tampered / artifact.ROUTER_FILE)
    rewrite_manifest(tampered, artifact.ROUTER_FILE)
    with pytest.raises(ModelLoadError, match="SIGNATURE does not match"):
        artifact.load(tampered)
    (tampered / artifact.SIGNATURE_FILE).write_text("hmac-sha256:abc\n")
    with pytest.raises(ModelLoadError, match="expected 'hmac-sha256:<64 hex digits>'"):
        artifact.load(tampered)
    monkeypatch.delenv(artifact.SIGNING_KEY_ENV)
    assert artifact.load(tiny_model_dir).router is not None  # no key: signatures are not required


def test_a_short_signing_key_is_refused_with_how_to_make_one(monkeypatch):
    from pydantic import ValidationError

    from feedback_nlp.settings import Settings

    with pytest.raises(ConfigError, match="token_urlsafe"):
        artifact.signing_key_from("short")
    with pytest.raises(ValidationError, match="token_urlsafe"):
        Settings(_env_file=None, model_signing_key="short")
    monkeypatch.setenv(artifact.SIGNING_KEY_ENV, KEY)
    assert Settings(_env_file=None).signing_key == KEY
    assert KEY not in repr(Settings(_env_file=None))


# -- the sweep of killed runs' folders -----------------------------------------------------------------


def _plant(models_dir: Path, name: str, age_s: float = 0) -> Path:
    folder = models_dir / name
    folder.mkdir(parents=True)
    (folder / "part-00000.pkl").write_text("raw ticket text " + CARD, encoding="utf-8")
    if age_s:
        stamp = time.time() - age_s
        os.utime(folder, (stamp, stamp))
    return folder


def test_a_killed_runs_folders_are_swept_and_a_live_runs_are_kept(tmp_path):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    # a run killed with -9 while it held its lock: the kernel drops the lock, its folders stay behind
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from feedback_nlp import artifact; "
            "d = Path(sys.argv[1]); lock = artifact.RunLock(d, 'killed').__enter__(); "
            "(d / '.tmp-killed').mkdir(); (d / '.work-killed').mkdir(); print('ready', flush=True); "
            "time.sleep(60)",
            str(models_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
    legacy_old = _plant(models_dir, ".work-legacy", age_s=artifact.UNLOCKED_STALE_AFTER_S + 60)
    legacy_new = _plant(models_dir, ".tmp-recent")
    with artifact.RunLock(models_dir, "live"):
        live = [_plant(models_dir, ".tmp-live"), _plant(models_dir, ".work-live")]
        removed = artifact.sweep_stale_runs(models_dir)
        assert all(path.exists() for path in live)
    assert sorted(p.name for p in removed) == [".tmp-killed", ".work-killed", ".work-legacy"]
    assert not legacy_old.exists() and legacy_new.exists()
    assert not (models_dir / ".run-killed.lock").exists()
    assert not (models_dir / ".run-live.lock").exists()  # a finished run removes its own lock


# -- quarantine files keep no raw row ------------------------------------------------------------------


def _bad_rows(path: Path) -> Path:
    rows = [
        {"id": "Q-1", "text": f"pay with {CARD} or mail {EMAIL}", "source": "ticket",
         "created_at": f"not a date {CARD.replace(' ', '')}", "requester": EMAIL},
        {"id": "Q-2", "text": "", "source": "ticket", "created_at": "2026-09-01", "requester": EMAIL},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + f"{{broken {EMAIL}\n")
    return path


def _assert_no_raw_row(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    for secret in (CARD, CARD.replace(" ", ""), EMAIL):
        assert secret not in text
    rows = [json.loads(line) for line in text.splitlines()]
    assert rows and all(set(row) == {"file", "line", "reason", "field", "preview"} for row in rows)
    assert all(len(row["preview"]) <= 120 for row in rows)
    return rows


def test_ingest_quarantine_out_keeps_reason_line_and_a_redacted_preview(tmp_path, tiny_model_dir):
    bad = _bad_rows(tmp_path / "bad.jsonl")
    out = tmp_path / "quarantine.jsonl"
    code = cli_main([
        "ingest", "--models-dir", str(tiny_model_dir.parent), "--model", str(tiny_model_dir),
        "--database-url", f"sqlite:///{tmp_path}/store.sqlite", "--quarantine-out", str(out), str(bad),
    ])  # fmt: skip
    assert code == 2  # nothing in the file was accepted: a user error, and the quarantine says why
    rows = _assert_no_raw_row(out)
    assert [(row["line"], row["field"]) for row in rows] == [(1, "created_at"), (2, "text"), (3, None)]
    assert "[CARD]" in rows[0]["preview"] and "[EMAIL]" in rows[0]["preview"]
    assert "[CARD]" in rows[0]["reason"]


def test_train_sweeps_a_killed_run_and_its_quarantine_keeps_no_raw_row(tmp_path):
    from tiny_data import tiny_config, write_tiny_dataset

    from feedback_nlp.pipeline import train

    models_dir = tmp_path / "models"
    models_dir.mkdir()
    leftovers = [_plant(models_dir, ".tmp-killed"), _plant(models_dir, ".work-killed")]
    (models_dir / ".run-killed.lock").touch()  # its owner is gone: nobody holds the lock
    feedback, roadmap = write_tiny_dataset(tmp_path / "data")
    result = train([*feedback, _bad_rows(tmp_path / "bad.jsonl")], roadmap, models_dir, tiny_config())
    assert not any(path.exists() for path in leftovers)
    assert sorted(p.name for p in models_dir.iterdir() if p.name.startswith(".")) == [".embedding-cache"]
    rows = _assert_no_raw_row(result.path / artifact.QUARANTINE_FILE)
    assert len(rows) == 3
