"""Scale benchmark: the retraining job on a Dask LocalCluster, 1 worker against 2, at growing input sizes.

Builds inputs of N tickets (one unit each) by resampling the bundled tickets and, when present, the
Banking77 training texts in ``../shared/data``, each with a seeded opener, closer, reference number and
one word dropped or swapped, so every text is distinct and neither cache can shortcut the work. The file is
written as it is built (streamed), so building a million rows takes little memory.

For each size and worker count it trains from cold caches with ``--engine dask`` and reports units per
second per stage, peak memory of the driver (this process) and of each worker process (sampled every
0.2 s), and the speed-up from 1 to 2 workers.

    python benchmarks/bench_scale.py [--units 100000 1000000] [--workers 1 2] [--workdir /tmp/bench-scale]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import threading
import time
from pathlib import Path

import psutil

from feedback_nlp.config import TrainingConfig
from feedback_nlp.engine import DaskEngine
from feedback_nlp.pipeline import train

ROOT = Path(__file__).resolve().parents[1]
BANKING77 = ROOT.parent / "shared" / "data" / "banking77" / "train.csv"
OPENERS = [
    "",
    "Hi, ",
    "Hello team, ",
    "Quick question: ",
    "Urgent: ",
    "Hey, ",
    "Good morning, ",
    "Sorry to bother, ",
]
CLOSERS = [
    "",
    " Thanks.",
    " Thank you!",
    " Please advise.",
    " Any update?",
    " Cheers.",
    " Regards.",
    " ASAP please.",
]


def _perturb(text: str, rng: random.Random, serial: int) -> str:
    words = text.split()
    if len(words) > 4:
        i = rng.randrange(len(words) - 1)
        if rng.random() < 0.5:
            del words[i]
        else:
            words[i], words[i + 1] = words[i + 1], words[i]
    return f"{rng.choice(OPENERS)}{' '.join(words)}{rng.choice(CLOSERS)} (ref {serial})"


def build(units: int, path: Path, seed: int = 11) -> Path:
    with open(ROOT / "examples/feedback/tickets.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    texts = [row["text"] for row in rows]
    sources = ["bundled sample"]
    if BANKING77.is_file():
        with open(BANKING77, encoding="utf-8") as handle:
            texts += [row["text"] for row in csv.DictReader(handle)]
        sources.append(str(BANKING77))
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "source", "created_at", "account_id"])
        for serial in range(units):
            day = 1 + serial % 28
            writer.writerow(
                [
                    f"S-{serial:08d}",
                    _perturb(rng.choice(texts), rng, serial),
                    "ticket",
                    f"2026-10-{day:02d}",
                    f"ACC-{rng.randint(1, 5000):05d}",
                ]
            )
    print(f"built {units:,} tickets from {len(texts):,} texts ({', '.join(sources)}) in {path}")
    return path


class PeakMemory:
    """Samples the RSS of this process and of each child process (the LocalCluster's workers)."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.driver = 0
        self.workers: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                self.driver = max(self.driver, me.memory_info().rss)
                for child in me.children(recursive=True):
                    try:
                        if "worker" in " ".join(child.cmdline()) or child.name().startswith("python"):
                            self.workers[child.pid] = max(
                                self.workers.get(child.pid, 0), child.memory_info().rss
                            )
                    except psutil.Error:
                        continue
            except psutil.Error:
                pass
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_once(
    data: Path, roadmap: Path, workdir: Path, n_workers: int, sample_units: int | None = None
) -> dict:
    models = workdir / f"models-{n_workers}w"
    shutil.rmtree(models, ignore_errors=True)
    config = TrainingConfig.from_yaml(ROOT / "training/config.yaml")
    config.cache_dir = str(models / ".cache")  # cold caches for every run
    config.partition_bytes = 256 << 10  # about 2,500 tickets: enough partitions to keep every worker busy
    if sample_units:
        config.sample_units = sample_units
    with DaskEngine(n_workers=n_workers) as engine, PeakMemory() as memory:
        started = time.perf_counter()
        result = train([data], roadmap, models, config, engine=engine)
        wall = time.perf_counter() - started
    summary = result.summary
    seconds = summary["seconds"]
    units = summary["units"]
    worker_peaks = sorted(memory.workers.values(), reverse=True)[:n_workers]
    shutil.rmtree(models, ignore_errors=True)
    return {
        "units": units,
        "workers": n_workers,
        "partitions": summary["partitions"],
        "wall": wall,
        "pass1_wall": seconds["read_prepare_embed"],
        # per-stage throughput of the cluster: units over the busiest worker's seconds in that stage
        "prepare_units_per_s": units / max(seconds["prepare_busiest_worker"], 1e-9),
        "embed_units_per_s": units / max(seconds["embed_busiest_worker"], 1e-9),
        "pass1_units_per_s": units / seconds["read_prepare_embed"],
        "discover_s": seconds["discover"],
        "label_and_map_s": seconds["label_and_map"],
        "route_s": seconds["route"],
        "driver_peak_mb": memory.driver / 2**20,
        "worker_peak_mb": [round(p / 2**20) for p in worker_peaks],
        "themes": summary["themes"],
        "sample_units": summary["discovery_sample_units"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-scale"))
    parser.add_argument(
        "--sample-units",
        type=int,
        default=None,
        help="discovery sample size (default: the config's, 100,000)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    rows = []
    for units in args.units:
        data = build(units, args.workdir / f"tickets-{units}.csv")
        for n_workers in args.workers:
            row = run_once(data, ROOT / "examples/roadmap.yaml", args.workdir, n_workers, args.sample_units)
            rows.append(row)
            print(json.dumps(row), flush=True)
        data.unlink()
    print()
    print(
        f"{'units':>9} {'workers':>7} {'wall s':>7} {'pass1 u/s':>9} {'prepare u/s':>11} {'embed u/s':>9} "
        f"{'driver MB':>9} {'worker MB':>12} {'themes':>6}"
    )
    for row in rows:
        print(
            f"{row['units']:>9,} {row['workers']:>7} {row['wall']:>7.0f} {row['pass1_units_per_s']:>9.0f} "
            f"{row['prepare_units_per_s']:>11.0f} {row['embed_units_per_s']:>9.0f} "
            f"{row['driver_peak_mb']:>9.0f} "
            f"{'/'.join(map(str, row['worker_peak_mb'])):>12} {row['themes']:>6}"
        )
    by_size: dict[int, dict[int, dict]] = {}
    for row in rows:
        by_size.setdefault(row["units"], {})[row["workers"]] = row
    for units, runs in by_size.items():
        if 1 in runs and 2 in runs:
            print(
                f"{units:,} units, 1 -> 2 workers: "
                f"embedding x{runs[2]['embed_units_per_s'] / runs[1]['embed_units_per_s']:.2f}, "
                f"prepare x{runs[2]['prepare_units_per_s'] / runs[1]['prepare_units_per_s']:.2f}, "
                f"read+prepare+embed wall x{runs[2]['pass1_units_per_s'] / runs[1]['pass1_units_per_s']:.2f}"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
