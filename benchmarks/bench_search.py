"""Search by meaning: latency of a query against N stored units, the index's memory, and float16's ranking.

For each size (default 100,000 and 1,000,000 units) a real SQLite store (migrated to head) is filled with
synthetic units: unit-normalised random float vectors of the encoder's 384 dimensions, stored as float16
like real ones, spread over 200 themes, 3 sources, 5,000 accounts and a year of dates. The default index
(:class:`feedback_nlp.search.InMemoryIndex`) is loaded from it once (timed, with the process's memory before
and after), then queried with random unit vectors: no filter, a theme filter, and a source plus a 30-day
window. The index's "anything new?" check against the store (at most once a second) is timed on its own.
Exact search costs the
same whatever the vectors, so random ones measure it fairly; they say nothing about quality.

With ``--postgres-url`` (or FEEDBACK_NLP_BENCH_POSTGRES_URL) the PostgreSQL path is measured too, on a
database whose ``vector`` extension exists (a superuser's ``CREATE EXTENSION vector``): the store is
migrated to head (0008 adds the ``halfvec`` column), emptied, filled with COPY (binary), the HNSW index built
(timed), and :class:`feedback_nlp.search.PgVectorIndex` queried for the same cases at several ``ef_search``
values, with recall@10 against the exact top 10 (numpy over the same float16 vectors and filters). These
vectors are clustered (each unit its theme's centre plus noise, cosine about 0.7 to it, as sentence
embeddings of one topic are): HNSW's recall depends on the vectors, and uniform random ones in 384
dimensions have no near neighbours to find. Queries are drawn the same way from random themes.

The ranking check encodes texts of a labelled set with the real encoder and compares each query's top 10
from the float16 vectors the store keeps with the float32 top 10.

    python benchmarks/bench_search.py [--units 100000 1000000] [--queries 200] [--workdir /tmp/bench-search]
        [--postgres-url postgresql+psycopg://...] [--skip-sqlite]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from feedback_nlp.search import STORED_DTYPE, InMemoryIndex, PgVectorIndex, SearchFilters, top_k
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
    row: dict = {"units": units, "fill_s": round(fill_s, 1), "load_s": round(load_s, 1)}
    row["index_mib"] = round(after - before, 0)
    for name, filters in CASES.items():
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


THEMES = 200
START = datetime(2026, 1, 1, tzinfo=UTC)
SOURCES = ("ticket", "call_note", "review")
CASES = {
    "no filter": SearchFilters(),
    "theme filter": SearchFilters(theme_ids=(7,)),
    "source + 30 days": SearchFilters(
        source="call_note", since=datetime(2026, 6, 1, tzinfo=UTC), until=datetime(2026, 7, 1, tzinfo=UTC)
    ),
}


def clustered_vectors(rng: np.random.Generator, centres: np.ndarray, themes: np.ndarray) -> np.ndarray:
    """Each row its theme's centre plus isotropic noise of the same norm (cosine about 0.7 to the centre)."""
    noise = unit_vectors(rng, len(themes))
    vectors = centres[themes] + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@dataclass(frozen=True)
class Synthetic:
    """What the PostgreSQL store holds, kept here for the exact answers."""

    vectors: np.ndarray  # float16, as stored
    themes: np.ndarray
    sources: np.ndarray
    days: np.ndarray

    def mask(self, filters: SearchFilters) -> np.ndarray | None:
        if filters.theme_ids is not None:
            return np.isin(self.themes, filters.theme_ids)
        if filters.source:
            assert filters.since and filters.until
            lo, hi = ((d - START).days for d in (filters.since, filters.until))
            return (self.sources == SOURCES.index(filters.source)) & (self.days >= lo) & (self.days < hi)
        return None


def synthetic(units: int, rng: np.random.Generator, centres: np.ndarray) -> Synthetic:
    """The units' themes, days, sources and vectors (the same ``rng`` state gives the same units)."""
    themes, days = rng.integers(0, THEMES, units), rng.integers(0, 365, units)
    vectors = np.empty((units, DIM), dtype=STORED_DTYPE)
    for offset in range(0, units, 50_000):
        block = slice(offset, min(offset + 50_000, units))
        vectors[block] = clustered_vectors(rng, centres, themes[block]).astype(STORED_DTYPE)
    return Synthetic(vectors, themes, np.arange(units) % 3, days)


def fill_postgres(store, data: Synthetic) -> None:
    """Empty the store, then COPY the units in, one per item (binary; pgvector's psycopg types)."""
    from pgvector import HalfVector
    from pgvector.psycopg import register_vector

    units, themes, days, sources, vectors = (
        len(data.vectors),
        data.themes,
        data.days,
        data.sources,
        data.vectors,
    )
    scored = datetime.now(UTC)
    raw = store.engine.raw_connection()
    try:
        connection = raw.driver_connection
        register_vector(connection)
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE feedback_items CASCADE")
            cursor.execute("DROP INDEX IF EXISTS ix_feedback_units_embedding_hnsw")
            item_copy = (
                "COPY feedback_items (id, source, created_at, account_id, text_redacted, n_units, theme_id,"
                " route, model_version, scored_at) FROM STDIN"
            )
            unit_copy = (
                "COPY feedback_units (item_id, unit_index, start_char, end_char, text_redacted, theme_id,"
                " confidence, owner, route, model_version, scored_at, created_at, source, account_id,"
                " embedding, embedding_vector) FROM STDIN WITH (FORMAT BINARY)"
            )
            for offset in range(0, units, 50_000):
                block = slice(offset, min(offset + 50_000, units))
                rows = []
                for i in range(block.start, block.stop):
                    created = START + timedelta(days=int(days[i]))
                    rows.append(
                        (f"item-{i}", SOURCES[sources[i]], created, f"acct-{i % 5000}", int(themes[i]))
                    )
                with cursor.copy(item_copy) as copy:
                    for key, source, created, account, theme in rows:
                        copy.write_row(
                            (key, source, created, account, "text", 1, theme, "owner", "bench", scored)
                        )
                with cursor.copy(unit_copy) as copy:
                    copy.set_types(
                        [
                            "text",
                            "int4",
                            "int4",
                            "int4",
                            "text",
                            "int4",
                            "float8",
                            "text",
                            "text",
                            "text",
                            "timestamptz",
                            "timestamptz",
                            "text",
                            "text",
                            "bytea",
                            "halfvec",
                        ]
                    )
                    for (key, source, created, account, theme), i in zip(
                        rows, range(block.start, block.stop)
                    ):
                        copy.write_row(
                            (
                                key,
                                0,
                                0,
                                4,
                                "text",
                                theme,
                                0.9,
                                "o",
                                "owner",
                                "bench",
                                scored,
                                created,
                                source,
                                account,
                                vectors[i].tobytes(),
                                HalfVector(vectors[i]),
                            )
                        )
            connection.commit()
    finally:
        raw.close()


def build_hnsw(store) -> float:
    started = time.perf_counter()
    with store.engine.begin() as connection:
        # the graph of a million 384-dimension halfvecs is about 1.3 GB: built in memory it is several
        # times faster than spilling to disk (pgvector's README)
        connection.exec_driver_sql("SET maintenance_work_mem = '3GB'")
        connection.exec_driver_sql(
            "CREATE INDEX ix_feedback_units_embedding_hnsw ON feedback_units "
            "USING hnsw (embedding_vector halfvec_cosine_ops)"
        )
        connection.exec_driver_sql("ANALYZE feedback_units")
    return time.perf_counter() - started


def exact_top10(data: Synthetic, queries: np.ndarray, filters: SearchFilters) -> list[set[int]]:
    """The exact top 10 rows of each query over the float16 vectors (in float32, a block at a time)."""
    mask = data.mask(filters)
    best: list[list[tuple[float, int]]] = [[] for _ in queries]
    for offset in range(0, len(data.vectors), 100_000):
        block = data.vectors[offset : offset + 100_000].astype(np.float32)
        allowed = None if mask is None else mask[offset : offset + 100_000]
        for q, query in enumerate(queries):
            found = top_k(block, query, 10, allowed)
            best[q] = sorted(best[q] + [(-s, offset + r) for r, s in found])[:10]
    return [{row for _, row in rows} for rows in best]


def already_filled(store, units: int) -> bool:
    with store.engine.connect() as connection:
        count = connection.exec_driver_sql("SELECT count(*) FROM feedback_units").scalar_one()
        index = connection.exec_driver_sql(
            "SELECT 1 FROM pg_indexes WHERE indexname = 'ix_feedback_units_embedding_hnsw'"
        ).scalar()
    return count == units and bool(index)


def bench_postgres(
    url: str, units: int, queries: int, rng: np.random.Generator, keep: bool, ef_values: list[int]
) -> list[dict]:
    """``keep``: leave the units in the database, and reuse them (no COPY, no build) when a run with the
    same seed and size left them."""
    store = open_store(url)
    if not store.vector_column:
        raise SystemExit(f"{store.url}: no pgvector column after migrating (see the migration 0008 warning)")
    centres = unit_vectors(rng, THEMES)
    started = time.perf_counter()
    data = synthetic(units, rng, centres)
    fill_s: float | None = None
    build_s: float | None = None
    if not (keep and already_filled(store, units)):
        fill_postgres(store, data)
        fill_s = round(time.perf_counter() - started, 1)
        build_s = round(build_hnsw(store), 1)
    query_vectors = clustered_vectors(rng, centres, rng.integers(0, THEMES, queries)).astype(np.float32)
    rows = []
    for ef_search in ef_values:
        index = PgVectorIndex(store, ef_search=ef_search)
        index.search(query_vectors[0], 10, SearchFilters())  # the counts, cached for a minute
        row: dict = {"units": units, "ef_search": ef_search, "fill_s": fill_s, "build_s": build_s}
        for name, filters in CASES.items():
            exact = exact_top10(data, query_vectors, filters)
            times, recalls = [], []
            for query, truth in zip(query_vectors, exact):
                began = time.perf_counter()
                hits = index.search(query, 10, filters).hits
                times.append(time.perf_counter() - began)
                got = {int(h.item_id.removeprefix("item-")) for h in hits}
                recalls.append(len(got & truth) / max(1, len(truth)))
            row[name] = (*percentiles(times), round(float(np.mean(recalls)), 3))
        rows.append(row)
        print_postgres_row(row)
    if not keep:
        with store.engine.begin() as connection:
            connection.exec_driver_sql("TRUNCATE feedback_items CASCADE")
    store.close()
    return rows


def print_postgres_row(row: dict) -> None:
    cells = [f"{row[c][0]:.0f} / {row[c][1]:.0f} / {row[c][2]:.2f}" for c in CASES]
    times = f"{row['fill_s']} | {row['build_s']}"
    print(f"| {row['units']:,} | {row['ef_search']} | {' | '.join(cells)} | {times} |", flush=True)


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
    parser.add_argument(
        "--postgres-url", default=os.environ.get("FEEDBACK_NLP_BENCH_POSTGRES_URL", ""),
        help="a PostgreSQL database with the vector extension; emptied and refilled per size",
    )  # fmt: skip
    parser.add_argument("--skip-sqlite", action="store_true", help="only the PostgreSQL path")
    parser.add_argument("--ef-search", type=int, nargs="+", default=[40, 100, 200], help="HNSW candidates")
    parser.add_argument(
        "--keep-postgres", action="store_true",
        help="keep the PostgreSQL units for the next run, and reuse those a run with the same sizes kept",
    )  # fmt: skip
    parser.add_argument("--skip-ranking", action="store_true", help="no float16 ranking check")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    rows: list[dict] = []
    postgres_rows: list[dict] = []
    if args.postgres_url:
        print("PostgreSQL + pgvector (HNSW): p50 / p95 ms / recall@10 of a top-10 query")
        print("| units | ef_search | no filter | theme filter | source + 30 days | COPY s | HNSW build s |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for units in args.units:
            postgres_rows += bench_postgres(
                args.postgres_url, units, args.queries, rng, args.keep_postgres, args.ef_search
            )
    if args.skip_sqlite:
        args.units = []
    if args.units:
        print(
            "| units | p50 / p95 ms, no filter | theme filter | source + 30 days | index load s | index MiB |"
        )
        print("|---:|---:|---:|---:|---:|---:|")
    for units in args.units:
        row = bench_size(units, args.queries, args.workdir, rng)
        rows.append(row)
        cells = [
            f"{row[c][0]:.0f} / {row[c][1]:.0f}" for c in ("no filter", "theme filter", "source + 30 days")
        ]
        print(f"| {units:,} | {' | '.join(cells)} | {row['load_s']} | {row['index_mib']:.0f} |", flush=True)
        print(f"  (store filled in {row['fill_s']} s; freshness check {row['freshness_check_ms']} ms)")
    ranking = None if args.skip_ranking else ranking_check(args.ranking_texts)
    if ranking:
        print(
            f"float16 vs float32 on {ranking['queries']} queries over {ranking['texts']} real vectors: "
            f"same top-10 order {ranking['same_top10_order']}, same top-10 set {ranking['same_top10_set']}"
        )
    elif not args.skip_ranking:
        print(f"ranking check skipped: {args.ranking_texts} not found")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"sizes": rows, "postgres": postgres_rows, "ranking": ranking}, indent=2) + "\n"
    )
    shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
