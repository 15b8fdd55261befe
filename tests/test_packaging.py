"""What ``pip install`` puts into site-packages, and the entry points the top-level folders keep."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# what the wheel is built from; the top-level service/ and training/ are copied so that the test sees them
BUILD_INPUTS = ("pyproject.toml", "README.md", "feedback_nlp", "service", "training")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    # built from a copy, so that setuptools' build/ and *.egg-info never land in the checkout
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
        + ["--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("feedback_nlp-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


@pytest.mark.slow
def test_the_wheel_installs_only_the_feedback_nlp_package(wheel):
    top_level = {name.split("/", 1)[0] for name in wheel.namelist()}
    dist_info = {name for name in top_level if name.endswith(".dist-info")}
    assert len(dist_info) == 1
    assert top_level - dist_info == {"feedback_nlp"}


@pytest.mark.slow
def test_the_wheel_holds_the_service_the_migrations_and_the_console_script(wheel):
    names = set(wheel.namelist())
    for path in (
        "feedback_nlp/service/main.py",
        "feedback_nlp/service/routers/score.py",
        "feedback_nlp/commands/train.py",
        "feedback_nlp/__main__.py",
        "feedback_nlp/migrations/env.py",
        "feedback_nlp/migrations/versions/0001_initial.py",
        # /docs and /redoc render offline from these (and their licences travel with them)
        "feedback_nlp/service/static/swagger-ui/swagger-ui-bundle.js",
        "feedback_nlp/service/static/swagger-ui/swagger-ui.css",
        "feedback_nlp/service/static/swagger-ui/LICENSE",
        "feedback_nlp/service/static/redoc/redoc.standalone.js",
        "feedback_nlp/service/static/redoc/LICENSE",
    ):
        assert path in names
    (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    assert "feedback-nlp = feedback_nlp.cli:main" in wheel.read(entry_points).decode()


def _run_in_repo_root(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120
    )


@pytest.mark.parametrize(
    "command",
    [("-m", "training.train", "--help"), ("-m", "feedback_nlp", "train", "--help")],
    ids=["checkout", "installed"],
)
def test_the_training_job_runs_as_the_readme_says(command):
    assert "--roadmap" in _run_in_repo_root(*command).stdout


def test_the_service_entry_point_is_the_packaged_app():
    result = _run_in_repo_root(
        "-c",
        "import service.main, feedback_nlp.service.main as packaged; "
        "assert service.main.app is packaged.app; print(type(packaged.app).__name__)",
    )
    assert result.stdout.strip() == "FastAPI"
