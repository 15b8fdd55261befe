"""Encoder backends (issue 20, item 5): torch against ONNX Runtime fp32 and int8 on the same weights.

For each backend: the one-off export (ONNX only, into a fresh cache folder), cold start (a fresh process:
import, load, embed one text), batch throughput and single-text latency on real texts, and the cosine of each
text's vector to torch's (min and mean). Texts: a seeded sample of Banking77's test split and URR's app
reviews from ``../shared/data`` (or ``FEEDBACK_NLP_SHARED_DATA``), half each: short queries, longer reviews.

Thread pools follow ``FEEDBACK_NLP_THREADS`` (default: the usable cores) for every backend.

    python benchmarks/bench_encoder_backends.py [--texts 2000] [--singles 200] [--out PATH]

Routing and discovery quality with a backend: ``python benchmarks/bench_quality.py --encoder-backend onnx``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_data import REPO_ROOT, data_root, load_banking77, load_urr  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from feedback_nlp import threads  # noqa: E402
from feedback_nlp.embedding import DEFAULT_ENCODER, build_embedder  # noqa: E402
from feedback_nlp.onnx_encoder import ENCODER_BACKENDS  # noqa: E402

COLD_START_RUNS = 3
COLD_START = """
import time
started = time.perf_counter()
from pathlib import Path
from feedback_nlp.embedding import build_embedder
embedder = build_embedder({encoder!r}, backend={backend!r}, export_cache_dir=Path({cache!r}))
embedder.embed(["The CSV export times out when I download the monthly report."])
print(time.perf_counter() - started)
"""


def real_texts(n: int, seed: int = 42) -> list[str]:
    root = data_root()
    b77, missing_b77 = load_banking77(root)
    urr, missing_urr = load_urr(root)
    if b77 is None or urr is None:
        raise SystemExit(f"missing data: {[str(p) for p in missing_b77 + missing_urr]}")
    rng = np.random.default_rng(seed)
    queries = list(b77.test["text"].astype(str))
    reviews = list(urr.reviews["text"].astype(str))
    half = n // 2
    picked = [queries[i] for i in rng.choice(len(queries), min(half, len(queries)), replace=False)]
    picked += [reviews[i] for i in rng.choice(len(reviews), min(n - half, len(reviews)), replace=False)]
    return picked


def cold_start(backend: str, cache: Path) -> tuple[list[float], list[float]]:
    """Wall seconds to import, load and embed one text in a fresh process, and the CPU seconds (user + sys)
    of the whole process: on a box shared with other work the wall time is mostly waiting for a core."""
    code = COLD_START.format(encoder=DEFAULT_ENCODER, backend=backend, cache=str(cache))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    walls, cpus = [], []
    for _ in range(COLD_START_RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=REPO_ROOT
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        walls.append(float(out.stdout.strip().splitlines()[-1]))
        cpus.append(round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2))
    return walls, cpus


def measure(backend: str, texts: list[str], singles: int, cache: Path) -> tuple[dict[str, Any], np.ndarray]:
    row: dict[str, Any] = {"backend": backend}
    embedder = build_embedder(DEFAULT_ENCODER, backend=backend, batch_size=64, export_cache_dir=cache)
    tick = time.perf_counter()
    embedder.embed(texts[:2])  # torch: loads the model; ONNX: exports (first time) and loads the session
    row["load_or_export_seconds"] = round(time.perf_counter() - tick, 1)
    row["cold_start_seconds"], row["cold_start_cpu_seconds"] = cold_start(backend, cache)
    tick, cpu = time.perf_counter(), time.process_time()
    vectors = embedder.embed(texts)
    seconds, cpu_seconds = time.perf_counter() - tick, time.process_time() - cpu
    row["batch_texts_per_second"] = round(len(texts) / seconds, 1)
    row["batch_cpu_ms_per_text"] = round(cpu_seconds * 1000 / len(texts), 2)
    latencies = []
    cpu = time.process_time()
    for text in texts[:singles]:
        tick = time.perf_counter()
        embedder.embed([text])
        latencies.append((time.perf_counter() - tick) * 1000)
    row["single_cpu_ms_mean"] = round((time.process_time() - cpu) * 1000 / singles, 2)
    row["single_ms_p50"] = round(statistics.median(latencies), 2)
    row["single_ms_p95"] = round(float(np.percentile(latencies, 95)), 2)
    return row, vectors


def render(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| backend | export or load (s) | cold start s (CPU s), median of 3 | batch texts/s (CPU ms/text) "
        "| single p50 / p95 ms (CPU ms) | cosine to torch min | mean |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['load_or_export_seconds']} "
            f"| {statistics.median(r['cold_start_seconds']):.2f} "
            f"({statistics.median(r['cold_start_cpu_seconds']):.2f}) "
            f"| {r['batch_texts_per_second']} ({r['batch_cpu_ms_per_text']}) "
            f"| {r['single_ms_p50']} / {r['single_ms_p95']} ({r['single_cpu_ms_mean']}) "
            f"| {r['cosine_min']:.5f} | {r['cosine_mean']:.5f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--backends", nargs="+", choices=ENCODER_BACKENDS, default=list(ENCODER_BACKENDS))
    parser.add_argument(
        "--torch-last", action="store_true", help="measure torch after the ONNX backends (order effects)"
    )
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "encoder_backends.json"
    )
    args = parser.parse_args(argv)
    count = threads.apply()
    texts = real_texts(args.texts)
    load_before = [round(v, 2) for v in os.getloadavg()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-encoder-exports-") as cache:
        order = [b for b in ENCODER_BACKENDS if b in args.backends or b == "torch"]
        if args.torch_last:
            order = order[1:] + order[:1]
        measured = {}
        for backend in order:
            print(f"{backend} ...", flush=True)
            measured[backend] = measure(backend, texts, args.singles, Path(cache))
        reference = measured["torch"][1]
        for backend in [b for b in ENCODER_BACKENDS if b in measured]:
            row, vectors = measured[backend]
            cosine = np.sum(vectors * reference, axis=1)  # unit rows: the dot product is the cosine
            row["cosine_min"], row["cosine_mean"] = float(cosine.min()), float(cosine.mean())
            rows.append(row)
    table = render(rows)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT
    )
    results = {
        "git_commit": commit.stdout.strip() or None,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "threads": count,
        "texts": len(texts),
        "load_average": {"start": load_before, "end": [round(v, 2) for v in os.getloadavg()]},
        "rows": rows,
        "table": table,
    }
    print()
    print(table)
    print(f"threads {count}; load average {load_before} -> {results['load_average']['end']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
