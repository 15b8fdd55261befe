"""The Dockerfile, compose.yaml and Makefile say only true things about the repository.

Docker cannot run here (no daemon), so the files are parsed: every path they copy or name exists, every
command they run is one the CLI accepts, every setting they set is a known one, and the torch pin matches
pyproject.toml. ``make help`` and ``make clean`` run for real, in a scratch copy of the Makefile.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from feedback_nlp.cli import build_parser
from feedback_nlp.settings import check_env_names

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(
        r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    )
    return [tuple(line.split(None, 1)) for line in joined.splitlines() if line.strip()]  # type: ignore[misc]


def _cli_accepts(argv: list[str]) -> None:
    assert argv[0] == "feedback-nlp", argv
    build_parser().parse_args(argv[1:])  # SystemExit (a test failure) on an unknown option


def test_dockerfile_copies_what_exists_and_runs_a_real_command():
    instructions = _dockerfile()
    for name, arguments in instructions:
        if name == "COPY":
            *sources, _ = arguments.split()
            assert all((REPO / source).exists() for source in sources), arguments
    (cmd,) = [arguments for name, arguments in instructions if name == "CMD"]
    _cli_accepts(yaml.safe_load(cmd))  # the JSON (exec) form
    environment = " ".join(arguments for name, arguments in instructions if name == "ENV")
    assert "HF_HUB_OFFLINE=1" in environment
    check_env_names(re.findall(r"(FEEDBACK_NLP_\w+)=", environment), "Dockerfile ENV")


def test_dockerfile_installs_the_pinned_cpu_torch_the_onnx_runtime_and_the_postgres_extra():
    runs = " ".join(arguments for name, arguments in _dockerfile() if name == "RUN")
    (pin,) = [d for d in PYPROJECT["project"]["dependencies"] if d.startswith("torch==")]
    assert f'"{pin}" --index-url https://download.pytorch.org/whl/cpu' in runs
    assert 'pip install ".[postgres]"' in runs
    # the default encoder backend (onnx) must load in the image it is served from: its runtime is a dependency
    assert any(d.startswith("onnxruntime") for d in PYPROJECT["project"]["dependencies"])
    assert any(
        d.startswith("psycopg[binary]") for d in PYPROJECT["project"]["optional-dependencies"]["postgres"]
    )
    # CI installs the dev extra: it must bring the driver the PostgreSQL store test needs
    (own_extras,) = [
        d for d in PYPROJECT["project"]["optional-dependencies"]["dev"] if d.startswith("feedback-nlp[")
    ]
    assert "postgres" in own_extras.removeprefix("feedback-nlp[").removesuffix("]").split(",")


def test_compose_builds_from_the_repo_and_runs_real_commands():
    compose = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"api", "db", "train"} <= set(services)
    for name in ("api", "train"):
        assert services[name]["build"] == "." and (REPO / "Dockerfile").is_file()
    train = services["train"]["command"]
    _cli_accepts(train)
    for flag, value in zip(train, train[1:], strict=False):
        if flag in ("--feedback", "--roadmap", "--config"):
            assert (REPO / value).is_file(), value
    api = services["api"]["environment"]
    check_env_names(api, "compose.yaml environment")
    assert api["FEEDBACK_NLP_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@db:5432/" in api["FEEDBACK_NLP_DATABASE_URL"]
    assert services["api"]["depends_on"]["db"]["condition"] == "service_healthy"


@pytest.fixture
def scratch_make(tmp_path) -> Path:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy2(REPO / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    return tmp_path


def _make(folder: Path, *targets: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "FEEDBACK_NLP_SHARED_DATA"}
    return subprocess.run(
        ["make", "-s", *targets], cwd=folder, capture_output=True, text=True, timeout=60, env=env
    )


def test_make_help_prints_no_unexpanded_variable(scratch_make):
    run = _make(scratch_make, "help")
    assert run.returncode == 0 and "evaluate" in run.stdout and "clean" in run.stdout
    assert "$(" not in run.stdout and "$$" not in run.stdout


def test_make_evaluate_explains_where_the_data_belongs(scratch_make):
    stamp = scratch_make / ".venv" / ".installed"  # installed already: make must not install anything
    stamp.parent.mkdir()
    stamp.touch()
    for target in ("evaluate", "bench-quality"):
        run = _make(scratch_make, target, "EVAL_DATA=/nonexistent/shared-data")
        assert run.returncode != 0
        assert "/nonexistent/shared-data/banking77 does not exist" in run.stdout
        assert "beside the repository" in run.stdout and "Traceback" not in run.stdout + run.stderr


def test_make_clean_removes_what_the_demo_wrote(scratch_make):
    written = [
        "models/20261201T000000Z-abc/metadata.json",
        "models/LATEST",
        "models/.embedding-cache/cache.sqlite",
        "reports/report-2026-W47.html",
        "feedback.sqlite",
        ".venv/bin/python",
        ".pytest_cache/x",
        "benchmarks/.cache/x",
        "feedback_nlp/__pycache__/x.pyc",
    ]
    kept = ["models/README.md", "models/.gitignore", "feedback_nlp/cli.py", "examples/roadmap.yaml"]
    for name in written + kept:
        (scratch_make / name).parent.mkdir(parents=True, exist_ok=True)
        (scratch_make / name).write_text("x", encoding="utf-8")
    run = _make(scratch_make, "clean")
    assert run.returncode == 0, run.stderr
    assert [name for name in written if (scratch_make / name).exists()] == []
    assert all((scratch_make / name).exists() for name in kept)
    assert sorted(p.name for p in (scratch_make / "models").iterdir()) == [".gitignore", "README.md"]


def test_the_dockerfile_cmd_is_the_exec_form():
    # no shell between docker and the server: SIGTERM reaches uvicorn, which shuts down gracefully
    (cmd,) = [arguments for name, arguments in _dockerfile() if name == "CMD"]
    assert cmd.startswith("[") and isinstance(yaml.safe_load(cmd), list)
