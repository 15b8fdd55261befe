"""Benchmark the scoring service against the raw encoder (``make bench-service``).

Starts the real server (``feedback-nlp serve``: uvicorn on loopback) in a subprocess over a model folder,
waits for /readyz, then sends a fixed number of requests and stops:

* single-item requests at concurrency 1 and 8: p50 / p99 latency;
* batches of 64 items: throughput in items per second;

and finally, in this process with the server stopped, the same texts through ``model.score`` (the library
without HTTP) and through the model's encoder alone. Prints a Markdown table to paste into
``benchmarks/README.md``. The server writes to a throw-away SQLite store in a temporary folder.

    python benchmarks/bench_service.py --models-dir models [--texts examples/feedback/tickets.csv]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEXTS = REPO_ROOT / "examples" / "feedback" / "tickets.csv"
BATCH = 64


def load_texts(path: Path, limit: int) -> list[str]:
    """Up to ``limit`` texts from a feedback file (the bundled sample's tickets by default)."""
    from feedback_nlp.ingest import Quarantine, iter_feedback

    if not path.is_file():
        raise SystemExit(f"--texts {path}: no such file; pass a feedback file (CSV, JSONL or Parquet)")
    texts: list[str] = []
    for record in iter_feedback([path], Quarantine()):
        texts.append(record.text)
        if len(texts) >= limit:
            break
    if not texts:
        raise SystemExit(f"--texts {path}: no valid feedback rows; pass a feedback file with texts")
    # repeat to the size needed; the order is fixed so runs compare
    return [texts[i % len(texts)] for i in range(limit)]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(models_dir: Path, workdir: Path, key: str, port: int) -> subprocess.Popen:
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
        }
    )
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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument(
        "--texts", type=Path, default=DEFAULT_TEXTS, help="feedback file whose texts are sent"
    )
    parser.add_argument(
        "--single-requests", type=int, default=200, help="single-item requests per concurrency"
    )
    parser.add_argument("--batch-requests", type=int, default=20, help=f"requests of {BATCH} items")
    args = parser.parse_args(argv)

    from feedback_nlp.artifact import resolve_model_dir
    from feedback_nlp.model import FeedbackModel

    model_dir = resolve_model_dir(args.models_dir)  # fails early, with the reason, when there is no model
    texts = load_texts(args.texts, max(args.single_requests, args.batch_requests * BATCH))
    key = secrets.token_urlsafe(24)
    rows: list[tuple[str, str]] = []

    with tempfile.TemporaryDirectory(prefix="bench-service-") as workdir_name:
        workdir = Path(workdir_name)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = start_server(args.models_dir, workdir, key, port)
        try:
            ready = wait_ready(base, process, workdir / "server.log")
            print(f"server ready: model {ready['model_version']} on {base}", file=sys.stderr)
            # warm up (spaCy, first-request costs) outside the measurements
            asyncio.run(drive(base, key, [item("warm", i, texts[i]) for i in range(10)], 1))
            warm_batch = {"items": [item("warmb", i, text) for i, text in enumerate(texts[:BATCH])]}
            asyncio.run(drive(base, key, [warm_batch], 1))

            for concurrency in (1, 8):
                bodies = [item(f"c{concurrency}", i, texts[i]) for i in range(args.single_requests)]
                latencies, wall = asyncio.run(drive(base, key, bodies, concurrency))
                rows.append(
                    (
                        f"single item, concurrency {concurrency}: p50 / p99 latency",
                        f"{statistics.median(latencies) * 1000:.1f} ms / "
                        f"{percentile(latencies, 99) * 1000:.1f} ms ({len(bodies) / wall:.0f} req/s)",
                    )
                )

            batches = [
                {"items": [item(f"b{b}", i, texts[b * BATCH + i]) for i in range(BATCH)]}
                for b in range(args.batch_requests)
            ]
            latencies, wall = asyncio.run(drive(base, key, batches, 1))
            service_rate = args.batch_requests * BATCH / wall
            per_batch_ms = statistics.median(latencies) * 1000
            rows.append(
                (
                    f"service, batches of {BATCH} (HTTP + scoring + store)",
                    f"{service_rate:.0f} items/s (p50 {per_batch_ms:.0f} ms per batch)",
                )
            )
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()

    # the server is stopped: the library and the encoder get the machine to themselves
    model = FeedbackModel.load(model_dir)
    batch_texts = [[texts[b * BATCH + i] for i in range(BATCH)] for b in range(args.batch_requests)]
    model.score_texts(batch_texts[0])  # warm up
    started = time.perf_counter()
    for chunk in batch_texts:
        model.score_texts(chunk)
    library_rate = args.batch_requests * BATCH / (time.perf_counter() - started)
    rows.append(
        (f"library model.score, batches of {BATCH} (no HTTP, no store)", f"{library_rate:.0f} items/s")
    )

    model.embedder.embed(batch_texts[0])
    started = time.perf_counter()
    for chunk in batch_texts:
        model.embedder.embed(chunk)
    encoder_rate = args.batch_requests * BATCH / (time.perf_counter() - started)
    rows.append((f"raw encoder, batches of {BATCH}", f"{encoder_rate:.0f} items/s"))
    rows.append(("service throughput / raw encoder", f"{service_rate / encoder_rate:.0%}"))

    encoder = model.metadata_.get("encoder", {}).get("name", "?")
    print(
        f"\nModel {model.version_} (encoder {encoder}); {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}; "
        f"{args.single_requests} single requests per row, {args.batch_requests} batches of {BATCH}.\n"
    )
    width = max(len(name) for name, _ in rows)
    print(f"| {'measurement'.ljust(width)} | result |")
    print(f"| {'-' * width} | ------ |")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
