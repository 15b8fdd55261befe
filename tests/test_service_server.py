"""The real server process: ``feedback-nlp serve`` under uvicorn on a loopback port, called over HTTP."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from feedback_nlp.store import open_store

REPO_ROOT = Path(__file__).resolve().parents[1]
KEY = "server-test-key"
ADMIN_KEY = "server-test-admin-key"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FEEDBACK_NLP_")}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            "HF_HUB_OFFLINE": "1",
            "FEEDBACK_NLP_API_KEYS": KEY,
            "FEEDBACK_NLP_ADMIN_KEYS": ADMIN_KEY,
            "FEEDBACK_NLP_DATABASE_URL": f"sqlite:///{tmp_path}/server.sqlite",
            "FEEDBACK_NLP_MAX_BODY_BYTES": "50000",
        }
    )
    env.update(overrides)
    return env


@contextlib.contextmanager
def running_server(
    tmp_path: Path, tiny_model_dir: Path, **env: str
) -> Iterator[tuple[str, subprocess.Popen]]:
    """``feedback-nlp serve`` on a free loopback port over a copy of the tiny model, until the block ends."""
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    shutil.copytree(tiny_model_dir, models_dir / tiny_model_dir.name)
    (models_dir / "LATEST").write_text(tiny_model_dir.name + "\n", encoding="utf-8")
    port = free_port()
    with open(tmp_path / "server.log", "w+", encoding="utf-8") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "feedback_nlp.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--models-dir",
                str(models_dir),
            ],
            cwd=tmp_path,
            env=server_env(tmp_path, **env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"server exited with {process.returncode}:\n{log.read()}")
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"server not ready after 90 s:\n{log.read()}")
                time.sleep(0.2)
            yield base, process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def server(tmp_path, tiny_model_dir):
    with running_server(tmp_path, tiny_model_dir) as (base, process):
        yield base, process, tmp_path


@pytest.mark.slow
def test_real_server_scores_over_http_and_stores(server):
    base, process, tmp_path = server
    with httpx.Client(base_url=base, timeout=30) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        unauthenticated = client.post("/v1/score", json={"id": "HTTP-1", "text": "x", "source": "ticket"})
        assert unauthenticated.status_code == 401

        response = client.post(
            "/v1/score",
            headers={"X-API-Key": KEY},
            json={"id": "HTTP-1", "text": "The CSV export times out on the full ledger", "source": "ticket"},
        )
        assert response.status_code == 200
        result = response.json()
        assert result["id"] == "HTTP-1" and result["route"] in ("owner", "triage")

        too_big = {"items": [{"id": f"BIG-{i}", "text": "x" * 5000, "source": "ticket"} for i in range(20)]}
        assert client.post("/v1/score", headers={"X-API-Key": KEY}, json=too_big).status_code == 413
        assert client.post("/v1/admin/reload", headers={"X-API-Key": KEY}).status_code == 403
        assert client.post("/v1/admin/reload", headers={"X-API-Key": ADMIN_KEY}).status_code == 200
        metrics = client.get("/metrics", headers={"X-API-Key": KEY}).text
        assert 'route="/v1/score",status="200"' in metrics and 'route="/v1/score",status="413"' in metrics

    store = open_store(f"sqlite:///{tmp_path}/server.sqlite")
    try:
        stored = store.get_item("HTTP-1")
        assert stored is not None and stored["theme_id"] == result["theme_id"]
        assert store.count_items() == 1  # nothing from the rejected requests
    finally:
        store.close()

    process.send_signal(signal.SIGINT)
    assert process.wait(15) == 0


def test_serve_refuses_to_start_without_keys(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "feedback_nlp.cli", "serve", "--models-dir", str(tmp_path), "--port", "9"],
        cwd=tmp_path,
        env=server_env(tmp_path, FEEDBACK_NLP_API_KEYS="", FEEDBACK_NLP_ADMIN_KEYS=""),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert "no API keys" in completed.stderr and "--insecure-dev" in completed.stderr


@pytest.mark.parametrize("module", ["feedback_nlp.service.main", "service.main"])
def test_the_uvicorn_entry_points_set_the_thread_environment_before_torch_loads(module):
    """``uvicorn feedback_nlp.service.main:app`` imports the app without the command line's set-up; OpenMP
    reads its environment once, when torch loads, so a policy set later left idle threads spinning."""
    code = (
        "import os, sys\n"
        "class Watch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch':\n"
        "            print('torch', os.environ.get('OMP_WAIT_POLICY'), os.environ.get('OMP_NUM_THREADS'))\n"
        "sys.meta_path.insert(0, Watch())\n"
        f"import {module}\n"
        "assert 'torch' in sys.modules\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FEEDBACK_NLP_", "OMP_"))}
    env.update({"FEEDBACK_NLP_THREADS": "1", "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"})
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:3] == ["torch", "PASSIVE", "1"]
