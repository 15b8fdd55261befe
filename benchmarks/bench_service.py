"""The scoring service against the raw encoder (``make bench-service``): the service part of
``bench_pipeline.py``, which measures the raw encoder as a user runs it (``SentenceTransformer.encode``)
in the same run on the same texts; and the HTTP helpers that benchmark uses (start the real server, drive
it).

    python benchmarks/bench_service.py --models-dir models [--singles 200] [--batches 8]
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEXTS = REPO_ROOT / "examples" / "feedback" / "tickets.csv"
BATCH = 64


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(workdir: Path, key: str, settings: dict[str, str] | None = None) -> dict[str, str]:
    """A benchmark server's environment: offline, one API key, a throw-away SQLite store in ``workdir``, no
    model reloads, plus ``settings``; the caller's own ``FEEDBACK_NLP_`` variables are not passed on."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("FEEDBACK_NLP_")}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "FEEDBACK_NLP_API_KEYS": key,
            "FEEDBACK_NLP_DATABASE_URL": f"sqlite:///{workdir}/bench.sqlite",
            "FEEDBACK_NLP_RELOAD_POLL_SECONDS": "0",
            **(settings or {}),
        }
    )
    return env


def start_server(
    models_dir: Path, workdir: Path, key: str, port: int, settings: dict[str, str] | None = None
) -> subprocess.Popen:
    """``feedback-nlp serve`` on loopback with a throw-away SQLite store; ``settings``: more environment
    (``FEEDBACK_NLP_...``) for an A/B run; the caller's own ``FEEDBACK_NLP_`` variables are not passed on."""
    env = server_env(workdir, key, settings)
    # the server writes to its own copy of the file descriptor; ours can close at once
    with open(workdir / "server.log", "w", encoding="utf-8") as log:
        return subprocess.Popen(
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
                str(models_dir.resolve()),
            ],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_ready(base: str, process: subprocess.Popen, log_path: Path, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            response = httpx.get(f"{base}/readyz", timeout=2)
            if response.status_code == 200:
                return response.json()
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"server not ready after {timeout:.0f} s:\n{log_path.read_text()}")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def drive(base: str, key: str, bodies: list[dict], concurrency: int) -> tuple[list[float], float]:
    """Send every body once with ``concurrency`` requests in flight; returns latencies (s) and wall time."""
    latencies: list[float] = []
    queue = list(reversed(bodies))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"X-API-Key": key}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120, limits=limits) as client:

        async def worker() -> None:
            while queue:
                body = queue.pop()
                started = time.perf_counter()
                response = await client.post("/v1/score", json=body)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise SystemExit(f"POST /v1/score answered {response.status_code}: {response.text[:500]}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - started


def item(prefix: str, index: int, text: str) -> dict:
    return {"id": f"{prefix}-{index}", "text": text, "source": "ticket"}


def main(argv: list[str] | None = None) -> int:
    """The service rows of ``bench_pipeline.py``: same texts, the raw encoder measured in the same run."""
    from bench_pipeline import main as pipeline

    return pipeline(["--parts", "service", "--neighbours", "0", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
