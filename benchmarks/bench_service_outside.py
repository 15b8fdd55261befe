"""The service's CPU per item outside ``model.score`` (issue 20): HTTP, validation, middleware, the batcher's
hand-offs, the store write (on the scoring thread) and the answer.

The real server (uvicorn on loopback, as ``feedback-nlp serve`` runs it, a throw-away SQLite store) serves a
model whose ``score`` returns results the real model computed at start for the same texts (with each request's
id), so that the server's CPU time is everything but scoring. Driven as ``bench_pipeline.py --parts service``
drives the service: requests of 64, then single items at concurrency 1 and 8. Prints the server's CPU ms per
item (all its threads, from ``/proc``), p50 and requests per encoder call. Run it before and after a change,
interleaved, with the load average beside each figure: the encoder's own cost, which swamps these figures
on a busy machine, is not in them.

    python benchmarks/bench_service_outside.py --models-dir models [--singles 160] [--batches 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from bench_pipeline import BATCH, build_corpus, gathered_requests, process_cpu_seconds  # noqa: E402
from bench_service import drive, free_port, item, server_env, wait_ready  # noqa: E402

SHORT_TEXTS = 128  # the texts the results are stored for; every request sends one of them


class StoredResults:
    """A served model that answers from results computed by the real model at start (same texts)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.version_ = model.version_
        records = build_corpus(SHORT_TEXTS, 0, 0).records("short")
        self.results = {
            record.text: score for record, score in zip(records, model.score(records), strict=True)
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def score(self, records: Any, max_units_per_item: int | None = None) -> list[Any]:
        return [dataclasses.replace(self.results[r.text], id=r.id, source=r.source) for r in records]


def serve(port: int) -> None:
    """The app as ``feedback-nlp serve`` runs it (settings from the environment), with stored results."""
    import uvicorn

    from feedback_nlp.service.access_log import log_config
    from feedback_nlp.service.main import create_app
    from feedback_nlp.service.model_holder import default_loader
    from feedback_nlp.settings import get_settings

    settings = get_settings()
    app = create_app(settings, model_loader=lambda path: StoredResults(default_loader(path)))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_config=log_config(settings.log_level, settings.log_format),
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


def start(models_dir: Path, workdir: Path, key: str, port: int) -> subprocess.Popen:
    env = server_env(workdir, key, {"FEEDBACK_NLP_MODELS_DIR": str(models_dir.resolve())})
    with open(workdir / "server.log", "w", encoding="utf-8") as log:
        return subprocess.Popen(
            [sys.executable, __file__, "--serve", str(port)], cwd=workdir, env=env, stdout=log, stderr=log
        )


def measure(models_dir: Path, singles: int, batches: int) -> dict[str, float]:
    texts = build_corpus(SHORT_TEXTS, 0, 0).texts["short"]
    key = secrets.token_urlsafe(24)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-outside-") as name:
        workdir, port = Path(name), free_port()
        base = f"http://127.0.0.1:{port}"
        server = start(models_dir, workdir, key, port)
        try:
            wait_ready(base, server, workdir / "server.log")
            asyncio.run(drive(base, key, [item("warm", i, texts[i]) for i in range(16)], 1))
            bodies = [
                {"items": [item(f"b{b}", i, texts[(b * BATCH + i) % len(texts)]) for i in range(BATCH)]}
                for b in range(batches)
            ]
            cpu = process_cpu_seconds(server.pid)
            asyncio.run(drive(base, key, bodies, 1))
            figures["batches of 64: CPU ms per item"] = (
                (process_cpu_seconds(server.pid) - cpu) / batches / BATCH
            )
            for concurrency in (1, 8):
                bodies = [item(f"c{concurrency}", i, texts[i % len(texts)]) for i in range(singles)]
                cpu, gathered = process_cpu_seconds(server.pid), gathered_requests(base, key)
                latencies, _ = asyncio.run(drive(base, key, bodies, concurrency))
                figures[f"concurrency {concurrency}: CPU ms per item"] = (
                    process_cpu_seconds(server.pid) - cpu
                ) / singles
                figures[f"concurrency {concurrency}: p50 ms"] = statistics.median(latencies)
                calls, requests = (a - b for a, b in zip(gathered_requests(base, key), gathered, strict=True))
                figures[f"concurrency {concurrency}: requests per encoder call"] = (
                    requests / calls if calls else 0
                )
        finally:
            server.terminate()
            server.wait(20)
    return {name: value * 1000 if "ms" in name else value for name, value in figures.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--singles", type=int, default=160, help="single-item requests per concurrency")
    parser.add_argument("--batches", type=int, default=4, help=f"requests of {BATCH} items")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the server process itself
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    for round_number in range(1, args.rounds + 1):
        load = "/".join(f"{value:.1f}" for value in os.getloadavg())
        figures = measure(args.models_dir, args.singles, args.batches)
        shown = ", ".join(f"{name} {value:.2f}" for name, value in figures.items())
        print(f"round {round_number} (load {load}): {shown}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
