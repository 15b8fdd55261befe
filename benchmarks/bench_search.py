"""Search by meaning: latency of a query against N stored units, the index's memory, and float16's ranking.

For each size (default 100,000 and 1,000,000 units) a real SQLite store (migrated to head) is filled with
synthetic units: unit-normalised random float vectors of the encoder's 384 dimensions, stored as float16
like real ones, spread over 200 themes, 3 sources, 5,000 accounts and a year of dates. The default index
(:class:`feedback_nlp.search.InMemoryIndex`) is loaded from it once (timed, with the process's memory before
and after), then queried with random unit vectors: no filter, a theme filter, and a source plus a 30-day
window. The index's "anything new?" check against the store (at most once a second) is timed on its own.
Exact search costs the
same whatever the vectors, so random ones measure it fairly; they say nothing about quality.

The ranking check encodes texts of a labelled set with the real encoder and compares each query's top 10
from the float16 vectors the store keeps with the float32 top 10.

    python benchmarks/bench_search.py [--units 100000 1000000] [--queries 200] [--workdir /tmp/bench-search]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from feedback_nlp.search import STORED_DTYPE, InMemoryIndex, SearchFilters, top_k
from feedback_nlp.store import open_store

ROOT = Path(__file__).resolve().parents[1]
DIM = 384
DEFAULT_RANKING_SET = ROOT.parent / "shared" / "data" / "banking77" / "test.csv"


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def fill_store(path: Path, units: int, rng: np.random.Generator) -> None:
    """One unit per item, written with sqlite3's executemany (the store's own writer is not what is timed)."""
    open_store(f"sqlite:///{path}").close()  # the schema, through the migrations
    start = datetime(2026, 1, 1, tzinfo=UTC)
    scored = datetime.now(UTC).isoformat(sep=" ")
    connection = sqlite3.connect(path)
    for offset in range(0, units, 50_000):
        n = min(50_000, units - offset)
        vectors = unit_vectors(rng, n).astype(STORED_DTYPE)
        themes, accounts = rng.integers(0, 200, n), rng.integers(0, 5000, n)
        days = rng.integers(0, 365, n)
        items, unit_rows = [], []
        for i in range(n):
            key = f"item-{offset + i}"
            created = (start + timedelta(days=int(days[i]))).isoformat(sep=" ")
            source = ("ticket", "call_note", "review")[i % 3]
            account = f"acct-{accounts[i]}"
            items.append((key, source, created, account, "text", 1, int(themes[i]), "owner", "bench", scored))
            unit_rows.append(
                (key, 0, 0, 4, "text", int(themes[i]), 0.9, "o", "owner", "bench", scored, created, source,
                 account, vectors[i].tobytes())
            )  # fmt: skip
        connection.executemany(
            "INSERT INTO feedback_items (id, source, created_at, account_id, text_redacted, n_units,"
            " theme_id, route, model_version, scored_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            items,
        )
        connection.executemany(
            "INSERT INTO feedback_units (item_id, unit_index, start_char, end_char, text_redacted, theme_id,"
            " confidence, owner, route, model_version, scored_at, created_at, source, account_id, embedding)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            unit_rows,
        )
        connection.commit()
    connection.close()


def percentiles(seconds: list[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(np.array(seconds) * 1000, [50, 95])
    return float(p50), float(p95)


def bench_size(units: int, queries: int, workdir: Path, rng: np.random.Generator) -> dict:
    path = workdir / f"store-{units}.sqlite"
    path.unlink(missing_ok=True)
    started = time.perf_counter()
    fill_store(path, units, rng)
    fill_s = time.perf_counter() - started
    store = open_store(f"sqlite:///{path}")
    index = InMemoryIndex(store)
    before = rss_mib()
    started = time.perf_counter()
    index.refresh()
    load_s = time.perf_counter() - started
    after = rss_mib()
    cases = {
        "no filter": SearchFilters(),
        "theme filter": SearchFilters(theme_ids=(7,)),
        "source + 30 days": SearchFilters(
            source="call_note", since=datetime(2026, 6, 1, tzinfo=UTC), until=datetime(2026, 7, 1, tzinfo=UTC)
        ),
    }
    row: dict = {"units": units, "fill_s": round(fill_s, 1), "load_s": round(load_s, 1)}
    row["index_mib"] = round(after - before, 0)
    for name, filters in cases.items():
        times = []
        for query in unit_vectors(rng, queries):
            started = time.perf_counter()
            index.search(query, 20, filters)
            times.append(time.perf_counter() - started)
        row[name] = percentiles(times)
    started = time.perf_counter()
    for _ in range(20):
        index.refresh()
    row["freshness_check_ms"] = round((time.perf_counter() - started) / 20 * 1000, 1)
    store.close()
    path.unlink(missing_ok=True)
    return row


def ranking_check(texts_csv: Path, queries: int = 200) -> dict | None:
    """Top 10 from float16 vectors against float32, on real encoder vectors of a labelled set's texts."""
    if not texts_csv.is_file():
        return None
    from feedback_nlp.embedding import SentenceTransformerEmbedder

    with open(texts_csv, newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    vectors = SentenceTransformerEmbedder().embed(texts)
    half = vectors.astype(STORED_DTYPE).astype(np.float32)
    same_order = same_set = 0
    for q in range(min(queries, len(texts))):
        exact = [r for r, _ in top_k(vectors, vectors[q], 10, None)]
        stored = [r for r, _ in top_k(half, vectors[q], 10, None)]
        same_order += exact == stored
        same_set += set(exact) == set(stored)
    n = min(queries, len(texts))
    return {"texts": len(texts), "queries": n, "same_top10_order": same_order, "same_top10_set": same_set}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-search"))
    parser.add_argument("--ranking-texts", type=Path, default=DEFAULT_RANKING_SET)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "search.json")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    rows = []
    print("| units | p50 / p95 ms, no filter | theme filter | source + 30 days | index load s | index MiB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for units in args.units:
        row = bench_size(units, args.queries, args.workdir, rng)
        rows.append(row)
        cells = [
            f"{row[c][0]:.0f} / {row[c][1]:.0f}" for c in ("no filter", "theme filter", "source + 30 days")
        ]
        print(f"| {units:,} | {' | '.join(cells)} | {row['load_s']} | {row['index_mib']:.0f} |", flush=True)
        print(f"  (store filled in {row['fill_s']} s; freshness check {row['freshness_check_ms']} ms)")
    ranking = ranking_check(args.ranking_texts)
    if ranking:
        print(
            f"float16 vs float32 on {ranking['queries']} queries over {ranking['texts']} real vectors: "
            f"same top-10 order {ranking['same_top10_order']}, same top-10 set {ranking['same_top10_set']}"
        )
    else:
        print(f"ranking check skipped: {args.ranking_texts} not found")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"sizes": rows, "ranking": ranking}, indent=2) + "\n")
    shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
