"""Every per-item cost of the product against the raw encoder, in one run on the same texts (``make
bench-pipeline``; issue 20).

The encoder is the physical limit: everything around it should cost little. On the same texts (short tickets
from the bundled sample, long tickets made of 30 of them, the sample's call notes) this measures

* the raw encoder as a user would run it: ``SentenceTransformer(...).encode(texts, batch_size=64)`` and one
  text at a time (p50 / p99);
* preparation alone (``TextPreparer.prepare``: splitting, redaction, lemmas);
* the library, ``FeedbackModel.score`` in batches of 64;
* ``feedback-nlp ingest`` (the command, in this process, into a fresh SQLite store), start-up cancelled out:
  the same command on a small file is subtracted;
* the training job's per-unit pass (pass 1: read, validate, prepare, embed, with cold caches);
* the service (``feedback-nlp serve``: real uvicorn on loopback, a throw-away SQLite store): batches of 64,
  single items at concurrency 1 and 8;
* one 20 KB text against one 1 KB text (``model.score``);

each as a ratio to the raw encoder on the same texts (items per second; for latencies, encoder time over
ours). Then all of it again while a CPU-bound neighbour runs: ``--neighbours`` processes of numpy matrix
products, each with as many BLAS threads as there are cores and a bounded lifetime, started and stopped by
this benchmark. Prints one Markdown table with the load average before each half.

    python benchmarks/bench_pipeline.py --models-dir models [--short 512] [--neighbours 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import dataclasses
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from bench_long_text import long_text  # noqa: E402
from bench_service import drive, free_port, item, percentile, start_server, wait_ready  # noqa: E402

BATCH = 64
KINDS = ("short", "long", "call")
SOURCES = {"short": "ticket", "long": "ticket", "call": "call_note"}
# A bounded busy loop: the neighbour stops by itself if this benchmark dies before stopping it.
NEIGHBOUR_CODE = """
import time, numpy as np
a = np.random.default_rng(0).random((384, 384))
end = time.monotonic() + {seconds}
while time.monotonic() < end:
    a = np.tanh(a @ a)
"""


@dataclass(frozen=True)
class Corpus:
    """The texts every measurement uses, by kind."""

    texts: dict[str, list[str]]

    def records(self, kind: str) -> list[Any]:
        from feedback_nlp.schemas import FeedbackRecord

        created = datetime(2026, 11, 2, tzinfo=UTC)
        return [
            FeedbackRecord(id=f"{kind}-{i}", text=text, source=SOURCES[kind], created_at=created)
            for i, text in enumerate(self.texts[kind])
        ]

    def write_csv(self, kind: str, path: Path, limit: int | None = None) -> Path:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text", "source", "created_at"])
            for index, text in enumerate(self.texts[kind][:limit]):
                writer.writerow([f"{kind}-{index}", text, SOURCES[kind], "2026-11-02T10:00:00Z"])
        return path


def build_corpus(n_short: int, n_long: int, n_call: int) -> Corpus:
    """Short tickets and call notes from the bundled sample (repeated in order when more are asked for); long
    tickets of 30 consecutive short ones (about 2 KB, several units each)."""
    with open(REPO_ROOT / "examples/feedback/tickets.csv", encoding="utf-8") as handle:
        tickets = [row["text"] for row in csv.DictReader(handle)]
    with open(REPO_ROOT / "examples/feedback/call_notes.jsonl", encoding="utf-8") as handle:
        calls = [json.loads(line)["text"] for line in handle if line.strip()]
    longs = [" ".join(tickets[(i * 30 + j) % len(tickets)] for j in range(30)) for i in range(n_long)]
    return Corpus(
        {
            "short": [tickets[i % len(tickets)] for i in range(n_short)],
            "long": longs,
            "call": [calls[i % len(calls)] for i in range(n_call)],
        }
    )


@dataclass
class Results:
    """Figures of one half (idle or with the neighbour): name -> value."""

    load: str = ""
    values: dict[str, float] = field(default_factory=dict)


def rate(count: int, work: Callable[[], Any], repeat: int = 1) -> float:
    """Items per second of ``work()`` over ``count`` items, the best of ``repeat`` runs."""
    return rate_and_cpu(count, work, repeat)[0]


def rate_and_cpu(count: int, work: Callable[[], Any], repeat: int = 1) -> tuple[float, float]:
    """Items per second of ``work()`` over ``count`` items (the best of ``repeat`` runs) and this process's
    CPU seconds per item (all threads, the mean of the runs): steadier under load."""
    best = float("inf")
    cpu = time.process_time()
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return count / best, (time.process_time() - cpu) / (repeat * count)


def chunks(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def measure_encoder(corpus: Corpus, encoder_dir: Path, out: Results, singles: int) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(encoder_dir), device="cpu", local_files_only=True)
    model.encode(corpus.texts["short"][:BATCH], batch_size=BATCH)  # warm up
    for kind in KINDS:
        texts = corpus.texts[kind]
        cpu = time.process_time()
        out.values[f"encoder.{kind}"] = rate(
            len(texts), lambda texts=texts: model.encode(texts, batch_size=BATCH), repeat=2
        )
        out.values[f"encoder.{kind}_cpu"] = (time.process_time() - cpu) / (2 * len(texts))
    latencies = []
    cpu = time.process_time()
    for text in corpus.texts["short"][:singles]:
        started = time.perf_counter()
        model.encode(text)
        latencies.append(time.perf_counter() - started)
    out.values["encoder.single_cpu"] = (time.process_time() - cpu) / len(latencies)
    out.values["encoder.single_p50"] = statistics.median(latencies)
    out.values["encoder.single_p99"] = percentile(latencies, 99)


def measure_library(corpus: Corpus, model: Any, out: Results) -> None:
    preparer = model.preparer
    for kind in KINDS:
        records = corpus.records(kind)
        out.values[f"prepare.{kind}"], out.values[f"prepare.{kind}_cpu"] = rate_and_cpu(
            len(records), lambda records=records: [preparer.prepare(c) for c in chunks(records)]
        )
        out.values[f"library.{kind}"], out.values[f"library.{kind}_cpu"] = rate_and_cpu(
            len(records), lambda records=records: [model.score(c) for c in chunks(records)]
        )
    one_kb, twenty_kb = (
        dataclasses.replace(corpus.records("short")[0], text=long_text(n)) for n in (1_000, 20_000)
    )
    out.values["long_text.1kb"] = 1 / rate(1, lambda: model.score([one_kb]), repeat=3)
    out.values["long_text.20kb"] = 1 / rate(1, lambda: model.score([twenty_kb]), repeat=2)


def measure_ingest(corpus: Corpus, models_dir: Path, workdir: Path, out: Results) -> None:
    """``feedback-nlp ingest`` in this process; a 16-item run of the same command cancels the start-up."""
    from feedback_nlp.cli import main as cli

    def ingest(path: Path) -> tuple[float, float]:
        database = workdir / f"ingest-{secrets.token_hex(4)}.sqlite"
        started, cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(sys.stderr):
            code = cli(
                [
                    "ingest",
                    "--models-dir",
                    str(models_dir),
                    "--database-url",
                    f"sqlite:///{database}",
                    str(path),
                ]
            )
        if code != 0:
            raise SystemExit(f"feedback-nlp ingest {path} failed with {code}")
        return time.perf_counter() - started, time.process_time() - cpu

    for kind in KINDS:
        full = corpus.write_csv(kind, workdir / f"{kind}.csv")
        small_count = max(1, min(16, len(corpus.texts[kind]) // 4))
        small = corpus.write_csv(kind, workdir / f"{kind}-small.csv", limit=small_count)
        start_up, start_up_cpu = min(ingest(small) for _ in range(2))
        items = len(corpus.texts[kind]) - small_count
        wall, cpu = ingest(full)
        out.values[f"ingest.{kind}"] = items / max(1e-6, wall - start_up)
        out.values[f"ingest.{kind}_cpu"] = max(0.0, cpu - start_up_cpu) / items


def measure_train_pass(corpus: Corpus, workdir: Path, out: Results) -> None:
    """Pass 1 of the training job (read, validate, prepare, embed) with cold caches, one partition.

    Start-up cancelled out, as for ingest and the raw encoder (loaded and warmed before it is timed): pass 1
    runs once, untimed, on a few short tickets, so that this process has loaded the job's spaCy pipeline and
    encoder (:func:`feedback_nlp.stages.resources`: once per worker process, then reused by every partition).
    Before that, loading them (about 0.6 s idle) was timed in the first kind's row.
    """
    from feedback_nlp.config import TrainingConfig
    from feedback_nlp.partitions import plan_partitions
    from feedback_nlp.stages import JobSpec, prepare_partition

    config = TrainingConfig.from_yaml(REPO_ROOT / "training/config.yaml")

    def pass_one(path: Path) -> Callable[[], Any]:
        run_dir = workdir / f"train-{path.stem}-{secrets.token_hex(4)}"
        (run_dir / "cache").mkdir(parents=True)  # a fresh work folder and cold caches for every run
        job = JobSpec(work_dir=str(run_dir), cache_dir=str(run_dir / "cache"), config=config)
        partitions = plan_partitions([path], partition_bytes=1 << 30)
        return lambda: [prepare_partition(p, job) for p in partitions]

    pass_one(corpus.write_csv("short", workdir / "train-warm-up.csv", limit=16))()
    for kind in KINDS:
        path = corpus.write_csv(kind, workdir / f"train-{kind}.csv")
        out.values[f"train.{kind}"], out.values[f"train.{kind}_cpu"] = rate_and_cpu(
            len(corpus.texts[kind]), pass_one(path)
        )


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` (all its threads) so far, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def gathered_requests(base: str, key: str) -> tuple[float, float]:
    """The service's encoder calls of gathered requests so far, and the requests they answered (/metrics)."""
    import httpx

    text = httpx.get(f"{base}/metrics", headers={"X-API-Key": key}, timeout=30).text
    values = dict.fromkeys(("count", "sum"), 0.0)
    for line in text.splitlines():
        for name in values:
            if line.startswith(f"feedback_nlp_score_batch_requests_{name} "):
                values[name] = float(line.split()[1])
    return values["count"], values["sum"]


def measure_service(
    corpus: Corpus,
    base: str,
    key: str,
    out: Results,
    singles: int,
    batches: int,
    server_pid: int,
    concurrent: int | None = None,
) -> None:
    """Throughput and latency as the client sees them, and the server process's CPU time per item: under
    load the two sides of a wall-clock ratio get different shares of the cores, CPU time does not."""
    texts = corpus.texts["short"]
    warm = [item("warm", i, texts[i % len(texts)]) for i in range(8)]
    asyncio.run(drive(base, key, warm, 1))
    bodies = [
        {"items": [item(f"b{b}", i, texts[(b * BATCH + i) % len(texts)]) for i in range(BATCH)]}
        for b in range(batches)
    ]
    cpu = process_cpu_seconds(server_pid)
    _, wall = asyncio.run(drive(base, key, bodies, 1))
    out.values["service.batch"] = batches * BATCH / wall
    out.values["service.batch_cpu"] = (process_cpu_seconds(server_pid) - cpu) / (batches * BATCH)
    # 8 clients run on for ``concurrent`` requests: their rate is a steady state's, not their start's (all
    # 8 sent at once to an idle service) nor their end's (the last clients alone): 160 requests (a second)
    # read 0.64x to 0.77x the raw encoder where 1,280 read 0.71x to 0.73x (benchmarks/README.md)
    for concurrency, count in ((1, singles), (8, concurrent or singles)):
        bodies = [
            item(f"c{concurrency}-{secrets.token_hex(3)}", i, texts[i % len(texts)]) for i in range(count)
        ]
        cpu, gathered = process_cpu_seconds(server_pid), gathered_requests(base, key)
        client_cpu = time.process_time()
        latencies, wall = asyncio.run(drive(base, key, bodies, concurrency))
        out.values[f"service.c{concurrency}_cpu"] = (process_cpu_seconds(server_pid) - cpu) / count
        # the clients run on the same cores as the server: what they take is not the server's to use
        out.values[f"service.c{concurrency}_client_cpu"] = (time.process_time() - client_cpu) / count
        calls, requests = (after - before for after, before in zip(gathered_requests(base, key), gathered))
        if calls:
            out.values[f"service.c{concurrency}_per_call"] = requests / calls
        out.values[f"service.c{concurrency}_rate"] = count / wall
        out.values[f"service.c{concurrency}_p50"] = statistics.median(latencies)
        out.values[f"service.c{concurrency}_p99"] = percentile(latencies, 99)


@contextlib.contextmanager
def neighbours(count: int, threads: int, seconds: float) -> Iterator[None]:
    """``count`` CPU-bound processes, each with ``threads`` BLAS threads, until the block ends."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    env.pop("OMP_WAIT_POLICY", None)
    code = NEIGHBOUR_CODE.format(seconds=seconds)
    processes = [subprocess.Popen([sys.executable, "-c", code], env=env) for _ in range(count)]
    try:
        time.sleep(2)  # let them reach full speed
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


PARTS = ("library", "ingest", "train", "service")


def run_half(
    args: argparse.Namespace,
    corpus: Corpus,
    model: Any,
    base: str,
    key: str,
    workdir: Path,
    server_pid: int | None = None,
) -> Results:
    """The raw encoder, then each part asked for, under the current load."""
    out = Results(load=load_average())
    print(f"load average (1 / 5 / 15 min) {out.load}", file=sys.stderr)
    measure_encoder(corpus, model.embedder.model_dir, out, args.singles)
    if "library" in args.parts:
        measure_library(corpus, model, out)
    if "ingest" in args.parts:
        measure_ingest(corpus, args.models_dir, workdir, out)
    if "train" in args.parts:
        measure_train_pass(corpus, workdir, out)
    if "service" in args.parts and server_pid is not None:
        measure_service(corpus, base, key, out, args.singles, args.batches, server_pid, args.concurrent)
    return out


def table(halves: dict[str, Results]) -> list[str]:
    """One Markdown table: each measurement, idle and with the neighbour, as a figure and a ratio."""

    def rate_row(name: str, key: str, kind: str, goal: str = "") -> list[str] | None:
        if any(key not in result.values for result in halves.values()):
            return None
        cells = []
        for result in halves.values():
            value, encoder = result.values[key], result.values[f"encoder.{kind}"]
            cells += [f"{value:.0f} items/s", f"{value / encoder:.2f}x"]
        return [name, *cells, goal]

    def latency_row(name: str, key: str, goal: str = "") -> list[str] | None:
        if any(key not in result.values for result in halves.values()):
            return None
        cells = []
        for result in halves.values():
            value, encoder = result.values[key], result.values["encoder.single_p50"]
            cells += [f"{value * 1000:.1f} ms", f"{value / encoder:.2f}x"]
        return [name, *cells, goal]

    def cpu_row(name: str, key: str) -> list[str] | None:
        # no ratio: the raw encoder runs with OpenMP's default wait policy, as a user runs it, and its idle
        # threads spin, which inflates its CPU time (the more so under load); ours sleep (threads.py)
        if any(key not in result.values for result in halves.values()):
            return None
        cells = []
        for result in halves.values():
            cells += [f"{result.values[key] * 1000:.1f} ms CPU", ""]
        return [name, *cells, ""]

    def kinds_cpu_row(name: str, part: str) -> list[str] | None:
        keys = [f"{part}.{kind}_cpu" for kind in KINDS]
        if any(key not in result.values for result in halves.values() for key in keys):
            return None
        cells = []
        for result in halves.values():
            cells += [" / ".join(f"{result.values[key] * 1000:.1f}" for key in keys) + " ms CPU", ""]
        return [name, *cells, ""]

    rows: list[list[str] | None] = []
    for kind in KINDS:
        rows.append(rate_row(f"raw encoder, batches of {BATCH}, {kind}", f"encoder.{kind}", kind))
    rows.append(latency_row("raw encoder, one short text: p50", "encoder.single_p50"))
    rows.append(latency_row("raw encoder, one short text: p99", "encoder.single_p99"))
    for kind in KINDS:
        rows.append(rate_row(f"preparation alone, {kind}", f"prepare.{kind}", kind))
    for kind in KINDS:
        rows.append(rate_row(f"library model.score, batches of {BATCH}, {kind}", f"library.{kind}", kind))
    for kind in KINDS:
        rows.append(
            rate_row(
                f"feedback-nlp ingest, {kind}", f"ingest.{kind}", kind, ">= 0.75x" if kind == "short" else ""
            )
        )
    for kind in KINDS:
        rows.append(
            rate_row(
                f"train pass 1 (read, prepare, embed), {kind}",
                f"train.{kind}",
                kind,
                ">= 0.75x" if kind == "short" else "",
            )
        )
    rows.append(rate_row(f"service, batches of {BATCH}, short", "service.batch", "short", ">= 0.85x"))
    rows.append(rate_row("service, single items, concurrency 1", "service.c1_rate", "short"))
    rows.append(rate_row("service, single items, concurrency 8", "service.c8_rate", "short", ">= 0.7x"))
    rows.append(latency_row("service, single item, concurrency 1: p50", "service.c1_p50", "<= 2x"))
    rows.append(latency_row("service, single item, concurrency 1: p99", "service.c1_p99", "<= 4x"))
    rows.append(latency_row("service, single item, concurrency 8: p50", "service.c8_p50"))
    # CPU time of all the process's threads per item: under load, steadier than the wall-clock ratios
    rows.append(cpu_row("raw encoder, one short text: CPU", "encoder.single_cpu"))
    rows.append(cpu_row(f"raw encoder, batches of {BATCH}, short: CPU per item", "encoder.short_cpu"))
    rows.append(cpu_row(f"service, batches of {BATCH}: server CPU per item", "service.batch_cpu"))
    rows.append(cpu_row("service, concurrency 1: server CPU per item", "service.c1_cpu"))
    rows.append(cpu_row("service, concurrency 8: server CPU per item", "service.c8_cpu"))
    rows.append(cpu_row("service, concurrency 8: the clients' CPU per item", "service.c8_client_cpu"))
    for part, name in (
        ("prepare", "preparation alone"),
        ("library", "library model.score"),
        ("ingest", "feedback-nlp ingest"),
        ("train", "train pass 1"),
    ):
        rows.append(kinds_cpu_row(f"{name}: CPU per item, short / long / call", part))
    if all("service.c8_per_call" in result.values for result in halves.values()):
        per_call = [[f"{result.values['service.c8_per_call']:.1f}", ""] for result in halves.values()]
        rows.append(["service, concurrency 8: requests per encoder call", *sum(per_call, []), ""])
    if all("long_text.1kb" in result.values for result in halves.values()):
        long_cells = []
        for result in halves.values():
            small, large = result.values["long_text.1kb"], result.values["long_text.20kb"]
            long_cells += [f"{large:.2f} s / {small:.3f} s", f"{large / small:.1f}x"]
        rows.append(["model.score, one 20 KB text / one 1 KB text", *long_cells, "<= 20x"])
    header = ["measurement"]
    for name, result in halves.items():
        header += [f"{name} (load {result.load})", "ratio"]
    header.append("goal")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows if row is not None]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--short", type=int, default=512, help="short tickets")
    parser.add_argument("--long", type=int, default=32, help="long tickets (about 2 KB each)")
    parser.add_argument("--calls", type=int, default=120, help="call notes")
    parser.add_argument("--singles", type=int, default=200, help="single-item requests of one client")
    parser.add_argument(
        "--concurrent", type=int, default=1000, help="single-item requests of 8 concurrent clients"
    )
    parser.add_argument("--batches", type=int, default=8, help=f"service requests of {BATCH} items")
    parser.add_argument("--neighbours", type=int, default=2, help="CPU-bound neighbour processes (0: none)")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="what to measure besides the raw encoder",
    )
    parser.add_argument(
        "--server-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a FEEDBACK_NLP_ setting for the server only, for A/B runs (repeatable)",
    )
    args = parser.parse_args(argv)
    # the default 600 requests a minute per key would refuse the larger runs' single items (--singles above
    # about 280 at both concurrencies); the limit's check still runs on every request, as in production
    server_settings = {"FEEDBACK_NLP_RATE_LIMIT": "100000/minute"}
    server_settings.update(setting.split("=", 1) for setting in args.server_setting)
    # stopped with SIGTERM, the server and the neighbours are stopped too (the finally blocks run)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from feedback_nlp.artifact import resolve_model_dir
    from feedback_nlp.errors import ModelLoadError
    from feedback_nlp.model import FeedbackModel

    try:
        model_dir = resolve_model_dir(args.models_dir)
    except ModelLoadError as exc:  # the service below needs the folder holding LATEST, not a version folder
        parser.error(f"--models-dir: {exc}; pass the models folder that holds LATEST")
    model = FeedbackModel.load(model_dir)
    model.score_texts(["warm up spaCy and the encoder"])
    corpus = build_corpus(args.short, args.long, args.calls)
    key = secrets.token_urlsafe(24)
    halves: dict[str, Results] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as workdir_name:
        workdir = Path(workdir_name)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = (
            start_server(args.models_dir, workdir, key, port, server_settings)
            if "service" in args.parts
            else None
        )
        try:
            if server is not None:
                wait_ready(base, server, workdir / "server.log")
            server_pid = server.pid if server is not None else None
            halves["idle"] = run_half(args, corpus, model, base, key, workdir, server_pid)
            # printed as soon as it is known, so that a long run that is stopped still leaves a table
            print("\n".join(table(halves)), file=sys.stderr, flush=True)
            if args.neighbours:
                cores = len(os.sched_getaffinity(0))
                with neighbours(args.neighbours, cores, seconds=1800):
                    halves[f"{args.neighbours} neighbours"] = run_half(
                        args, corpus, model, base, key, workdir, server_pid
                    )
        finally:
            if server is not None:
                server.terminate()
                try:
                    server.wait(20)
                except subprocess.TimeoutExpired:
                    server.kill()
    commit = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    print(
        f"\nCommit {commit or '?'}; model {model.version_}; {platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} usable cores; Python {platform.python_version()}; "
        f"{args.short} short / {args.long} long tickets / {args.calls} call notes; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        + "".join(f"; server {name}={value}" for name, value in server_settings.items())
        + ".\n"
    )
    print("\n".join(table(halves)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
