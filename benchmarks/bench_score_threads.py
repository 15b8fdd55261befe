"""How the service's scoring threads should share the cores: one batch at a time on every core, or one batch
per core side by side (issue 20; ``feedback_nlp/service/batcher.py``).

``FeedbackModel.score`` on short tickets of the bundled sample, in calls of ``--call-sizes`` items, from
``threads`` Python threads at once, each encoder call (ONNX Runtime's session, torch) on ``encoder threads``
threads. Every layout runs in a fresh process, since ONNX Runtime sizes its pool when the model loads; the
layouts alternate for ``--rounds`` rounds, because the box's load moves the figures more than most changes do.
A call of 64 is scored as the service scores a request of 64: by one thread on both cores, or cut in two
halves, one per thread.

Usage: python benchmarks/bench_score_threads.py --model models/<version> [--items 640] [--rounds 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "feedback"
REPO_ROOT = Path(__file__).resolve().parents[1]


def measure(model_path: str, scoring_threads: int, encoder_threads: int, call_size: int, items: int) -> dict:
    """In this process: items/s and CPU ms per item of ``items`` short tickets scored in calls of
    ``call_size`` (cut among the threads when it is 64 or more), from ``scoring_threads`` threads at once."""
    from feedback_nlp import threads

    threads.apply(encoder_threads)
    from feedback_nlp.model import FeedbackModel

    model = FeedbackModel.load(model_path)
    with open(EXAMPLES / "tickets.csv", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    tickets = [texts[i % len(texts)] for i in range(items)]
    size = call_size if call_size < 64 else -(-call_size // scoring_threads)  # a request of 64, cut
    calls = [tickets[start : start + size] for start in range(0, items, size)]
    model.score(tickets[:16])  # the session, spaCy's lazy parts
    pending = iter(calls)
    lock = threading.Lock()

    def work() -> None:
        threads.apply(encoder_threads)  # torch's pool is sized per thread
        while True:
            with lock:
                call = next(pending, None)
            if call is None:
                return
            model.score(call)

    workers = [threading.Thread(target=work) for _ in range(scoring_threads)]
    started, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"rate": items / wall, "cpu_ms": 1000 * cpu / items}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a model version folder")
    parser.add_argument("--items", type=int, default=640)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--call-sizes", type=int, nargs="+", default=[1, 4, 64])
    parser.add_argument(
        "--layouts",
        nargs="+",
        metavar="THREADSxENCODER",
        help="scoring threads x encoder threads each, e.g. 1x1 1x2 (default: one call on every core, one "
        "call per core)",
    )
    parser.add_argument("--child", nargs=4, type=int, help=argparse.SUPPRESS)  # threads, encoder, size, items
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child:
        print(json.dumps(measure(args.model, *args.child)))
        return
    cores = len(os.sched_getaffinity(0))
    layouts = [(1, cores), (cores, 1)]  # one call at a time on every core; one call per core
    if args.layouts:
        try:
            layouts = [(int(a), int(b)) for a, b in (layout.lower().split("x") for layout in args.layouts)]
        except ValueError:
            parser.error("--layouts: each as THREADSxENCODER, e.g. 2x1")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    results: dict[tuple[int, int, int], list[dict]] = {}
    loads = []
    for _ in range(args.rounds):
        for size in args.call_sizes:
            for scoring, encoder in layouts:
                loads.append(os.getloadavg()[0])
                child = [str(scoring), str(encoder), str(size), str(args.items)]
                output = subprocess.run(
                    [sys.executable, __file__, "--model", args.model, "--child", *child],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                results.setdefault((size, scoring, encoder), []).append(json.loads(output.splitlines()[-1]))
    commit = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"Commit {commit}; {Path(args.model).name}; {cores} usable cores; {args.items} short tickets a run; "
        f"{args.rounds} rounds; load {min(loads):.1f} to {max(loads):.1f}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print("| call size | threads x encoder threads | items/s, by round | CPU ms per item, by round |")
    print("|---:|---|---|---|")
    for (size, scoring, encoder), runs in results.items():
        rates = " / ".join(f"{run['rate']:.0f}" for run in runs)
        cpus = " / ".join(f"{run['cpu_ms']:.1f}" for run in runs)
        print(f"| {size} | {scoring} x {encoder} | {rates} | {cpus} |")


if __name__ == "__main__":
    main()
