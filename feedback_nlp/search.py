"""Search stored units by meaning: their encoder vectors, kept in the store, ranked by cosine to a query.

One small interface, :class:`SemanticIndex`, two implementations, chosen by :func:`open_index`:

- :class:`PgVectorIndex` on PostgreSQL with the ``vector`` extension (migration 0008): the units' vectors in
  a ``halfvec(384)`` column with an HNSW index, queried in SQL with the filters in the same statement
  (pgvector's iterative index scan keeps reading the graph until ``k`` rows pass them).
- :class:`InMemoryIndex` everywhere else (SQLite, PostgreSQL without pgvector): the embedded units' vectors
  and the columns the filters use, held in numpy arrays built from the store and brought up to date before
  each search; exact. ``sqlite-vec`` installs from PyPI but cannot load here: this Python's ``sqlite3`` is
  built without loadable extensions (no ``enable_load_extension``).

Filters are applied before ranking (a boolean mask, or the SQL ``WHERE``), so a filter never returns fewer
than ``k`` hits while more match: over-fetching and filtering afterwards would.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
from sqlalchemy import Engine, column, func, select, table, text
from sqlalchemy.sql.expression import TableClause

from feedback_nlp.store_schema import corrections, curation_actions, feedback_units

logger = logging.getLogger(__name__)

# the curation kind that re-routes stored units (feedback_nlp.curation.SPLIT_THEME; not imported: that
# module imports the store's)
SPLIT = "split_theme"
# Stored as float16: half of float32's bytes, and the same ranking (benchmarks/README.md, bench-search).
STORED_DTYPE = np.float16
# How often a search may ask the store whether anything changed: the check counts the units (30 ms at a
# million on SQLite), so a burst of searches shares one; a write is searchable within this many seconds.
CHECK_EVERY_SECONDS = 1.0
# How far back a refresh re-reads rows: longer than any one store write takes to commit.
WRITE_WINDOW = timedelta(minutes=5)
# The pgvector column of migration 0008 and its fixed width (the served encoder's; HNSW needs one width).
VECTOR_COLUMN = "embedding_vector"
VECTOR_DIMENSIONS = 384
# HNSW candidates kept per query (pgvector's default is 40): recall@10 against exact search for 40..200 is
# in benchmarks/README.md (bench-search); a request for more than this many hits raises it to the request.
EF_SEARCH = 100
# A filter keeping at most this many units is ranked exactly (all its rows, through the filter's own index)
# instead of walking the HNSW graph: pgvector's iterative scan gives up after hnsw.max_scan_tuples (20,000 by
# default) visited, so a filter this selective can exhaust it and miss most of the true top k (measured in
# benchmarks/README.md: a theme filter at 1M units), while ranking 20,000 halfvecs exactly takes milliseconds.
EXACT_UP_TO = 20_000
# How long the pgvector index reuses its counts of searchable and vector-less units: counting a million
# rows takes about a second on PostgreSQL, so it is not done per query (the counts are informational).
COUNT_EVERY_SECONDS = 60.0


def encode_vector(vector: Any) -> bytes | None:
    """A unit vector as the store keeps it (float16 bytes), or None when there is none."""
    if vector is None:
        return None
    return np.asarray(vector, dtype=STORED_DTYPE).tobytes()


def decode_vectors(blobs: Sequence[bytes]) -> np.ndarray:
    """Stored vectors as float32 rows (ranking in float32: numpy has no fast float16 product)."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=STORED_DTYPE).reshape(len(blobs), -1).astype(np.float32)


@dataclass(frozen=True)
class SearchFilters:
    """What a search is restricted to; None is no restriction. ``until`` is exclusive."""

    theme_ids: tuple[int, ...] | None = None
    source: str | None = None
    account_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class SearchHit:
    item_id: str
    unit_index: int
    score: float  # cosine similarity to the query


@dataclass(frozen=True)
class SearchResult:
    hits: tuple[SearchHit, ...]
    searched: int  # units with an embedding
    without_embedding: int  # units stored before migration 0007 (re-ingest fills them)


class SemanticIndex(Protocol):
    def search(self, query_vector: np.ndarray, k: int, filters: SearchFilters) -> SearchResult: ...


def _epoch(value: datetime | None) -> float:
    if value is None:
        return 0.0
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True)
class _Rows:
    """The indexed units as parallel arrays (one row per embedded unit)."""

    item_ids: np.ndarray  # object
    unit_indexes: np.ndarray  # int32
    vectors: np.ndarray  # float32, unit length
    theme_ids: np.ndarray  # int64, -1 for none
    sources: np.ndarray  # object
    accounts: np.ndarray  # object (None for none)
    created: np.ndarray  # float64, seconds since the epoch

    @classmethod
    def of(cls, rows: Sequence[Any], dim: int) -> _Rows:
        return cls(
            item_ids=np.array([r.item_id for r in rows], dtype=object),
            unit_indexes=np.array([r.unit_index for r in rows], dtype=np.int32),
            vectors=decode_vectors([r.embedding for r in rows]) if rows else np.zeros((0, dim), np.float32),
            theme_ids=np.array([-1 if r.theme_id is None else r.theme_id for r in rows], dtype=np.int64),
            sources=np.array([r.source for r in rows], dtype=object),
            accounts=np.array([r.account_id for r in rows], dtype=object),
            created=np.array([_epoch(r.created_at) for r in rows], dtype=np.float64),
        )

    def without_items(self, item_ids: set[str]) -> _Rows:
        keep = ~np.isin(self.item_ids, list(item_ids)) if item_ids else np.ones(len(self.item_ids), bool)
        return _Rows(*(getattr(self, name)[keep] for name in _ROW_FIELDS))

    def plus(self, other: _Rows) -> _Rows:
        if not len(self.item_ids):
            return other
        return _Rows(*(np.concatenate([getattr(self, n), getattr(other, n)]) for n in _ROW_FIELDS))

    def mask(self, filters: SearchFilters) -> np.ndarray | None:
        """Rows passing ``filters``; None when nothing is filtered."""
        tests = []
        if filters.theme_ids is not None:
            tests.append(np.isin(self.theme_ids, list(filters.theme_ids)))
        if filters.source:
            tests.append(self.sources == filters.source)
        if filters.account_id:
            tests.append(self.accounts == filters.account_id)
        if filters.since is not None:
            tests.append(self.created >= _epoch(filters.since))
        if filters.until is not None:
            tests.append(self.created < _epoch(filters.until))
        return np.logical_and.reduce(tests) if tests else None


_ROW_FIELDS = ("item_ids", "unit_indexes", "vectors", "theme_ids", "sources", "accounts", "created")
_COLUMNS = ("item_id", "unit_index", "embedding", "theme_id", "source", "account_id", "created_at")


def top_k(vectors: np.ndarray, query: np.ndarray, k: int, rows: np.ndarray | None) -> list[tuple[int, float]]:
    """The ``k`` rows (of ``rows``, else all) most similar to ``query``, best first: (row, cosine)."""
    candidates = np.flatnonzero(rows) if rows is not None else None
    matrix = vectors if candidates is None else vectors[candidates]
    if not len(matrix) or k <= 0:
        return []
    scores = matrix @ query.astype(np.float32)
    k = min(k, len(scores))
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    positions = best if candidates is None else candidates[best]
    return [(int(p), float(scores[b])) for p, b in zip(positions, best)]


class InMemoryIndex:
    """Exact cosine search over the store's embedded units, held in memory (float32: 1.5 KB a unit for
    384 dimensions, 1.5 GB for a million; measured in benchmarks/README.md).

    Kept up to date by the store's own order: a write replaces an item's units with rows of a newer
    ``scored_at``, so the rows newer than the last seen replace their items' rows here; a correction
    re-routes a unit in place, so a new correction rebuilds the index. Both checks are indexed lookups.
    """

    def __init__(self, store: Any, check_every: float = CHECK_EVERY_SECONDS):
        self.store = store
        self.check_every = check_every
        self._lock = threading.Lock()
        self._rows: _Rows | None = None
        # newest scored_at, unit count, newest correction id, newest split (id, withdrawal)
        self._seen: tuple[Any, ...] = ()
        self._without_embedding = 0
        self._checked_at = float("-inf")

    def _state(self, connection: Any) -> tuple[Any, ...]:
        u, splits = feedback_units.c, curation_actions.c
        return (
            connection.execute(select(func.max(u.scored_at))).scalar(),
            connection.execute(select(func.count()).select_from(feedback_units)).scalar_one(),
            connection.execute(select(func.max(corrections.c.id))).scalar(),
            # a split re-routes units in place too (feedback_nlp.split); so may withdrawing one
            connection.execute(
                select(func.max(splits.id), func.max(splits.revoked_at)).where(splits.kind == SPLIT)
            ).one(),
        )

    def refresh(self) -> None:
        """Bring the arrays up to date with the store."""
        u = feedback_units.c
        with self._lock, self.store.engine.connect() as connection:
            state = self._state(connection)
            if self._rows is not None and state == self._seen:
                return
            rebuild = self._rows is None or state[2:] != self._seen[2:] or self._seen[0] is None
            query = select(*(getattr(u, c) for c in _COLUMNS))
            if not rebuild:
                # a writer's scored_at is taken before its transaction commits: look back over a window
                # longer than any write so that a batch committed late is not skipped
                query = query.where(u.scored_at > self._seen[0] - WRITE_WINDOW)
            rows = connection.execute(query).all()
            missing = connection.execute(
                select(func.count()).select_from(feedback_units).where(u.embedding.is_(None))
            ).scalar_one()
        embedded = [r for r in rows if r.embedding is not None]
        fresh = _Rows.of(embedded, 0)
        if rebuild or self._rows is None:
            self._rows = fresh
        else:
            self._rows = self._rows.without_items({r.item_id for r in rows}).plus(fresh)
        self._seen = state
        self._without_embedding = int(missing)

    def search(self, query_vector: np.ndarray, k: int, filters: SearchFilters) -> SearchResult:
        if time.monotonic() - self._checked_at >= self.check_every:
            self.refresh()
            self._checked_at = time.monotonic()
        rows = self._rows
        assert rows is not None  # set by refresh()
        query = np.asarray(query_vector, dtype=np.float32)
        if len(rows.item_ids) and rows.vectors.shape[1] != query.shape[0]:
            # stored by a model with another encoder: not comparable, so reported as lacking a vector
            logger.warning(
                "stored unit vectors have %d dimensions, the query %d: re-ingest the feedback with the "
                "served model to search it by meaning",
                rows.vectors.shape[1],
                query.shape[0],
            )
            return SearchResult((), 0, self._without_embedding + len(rows.item_ids))
        found = top_k(rows.vectors, query, k, rows.mask(filters))
        hits = tuple(
            SearchHit(str(rows.item_ids[p]), int(rows.unit_indexes[p]), round(s, 4)) for p, s in found
        )
        return SearchResult(hits, len(rows.item_ids), self._without_embedding)


# -- pgvector on PostgreSQL ------------------------------------------------------------------------------


def has_vector_column(engine: Engine) -> bool:
    """True when ``engine``'s store has migration 0008's pgvector column (PostgreSQL with pgvector)."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as connection:
        found = connection.execute(
            text(
                "SELECT 1 FROM information_schema.columns WHERE table_name = 'feedback_units' "
                "AND column_name = :name AND table_schema = ANY (current_schemas(false))"
            ),
            {"name": VECTOR_COLUMN},
        ).scalar()
    return bool(found)


@functools.cache
def units_with_vector_column() -> TableClause:
    """``feedback_units`` with the pgvector column, for the stores that have it (the shared table definition
    stays without it: SQLite and PostgreSQL without pgvector have no such type)."""
    from pgvector.sqlalchemy import HALFVEC

    return table(
        feedback_units.name,
        *(column(c.name, c.type) for c in feedback_units.c),
        column(VECTOR_COLUMN, HALFVEC(VECTOR_DIMENSIONS)),
    )


def with_vector_column(unit_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store rows plus the pgvector value: the float16 vector when it has the column's width, else None."""
    width = VECTOR_DIMENSIONS * np.dtype(STORED_DTYPE).itemsize
    return [
        {
            **row,
            VECTOR_COLUMN: np.frombuffer(row["embedding"], STORED_DTYPE)
            if row["embedding"] is not None and len(row["embedding"]) == width
            else None,
        }
        for row in unit_rows
    ]


class PgVectorIndex:
    """Approximate cosine search in PostgreSQL: migration 0008's HNSW index over the units' ``halfvec``
    column, with the filters in the same statement. A query of another width than the column's (a model
    with another encoder) is answered by the exact in-memory index over the stored bytes instead."""

    def __init__(self, store: Any, ef_search: int = EF_SEARCH, count_every: float = COUNT_EVERY_SECONDS):
        self.store = store
        self.ef_search = ef_search
        self.count_every = count_every
        self.other_widths = InMemoryIndex(store)  # loads nothing until asked
        self._counts = (0, 0)  # units with a vector, units without
        self._counted_at = float("-inf")

    def _where(self, filters: SearchFilters) -> list[Any]:
        u = units_with_vector_column().c
        conditions = [getattr(u, VECTOR_COLUMN).is_not(None)]
        if filters.theme_ids is not None:
            conditions.append(u.theme_id.in_(filters.theme_ids))
        if filters.source:
            conditions.append(u.source == filters.source)
        if filters.account_id:
            conditions.append(u.account_id == filters.account_id)
        if filters.since is not None:
            conditions.append(u.created_at >= filters.since)
        if filters.until is not None:
            conditions.append(u.created_at < filters.until)
        return conditions

    def _refresh_counts(self, connection: Any) -> None:
        if time.monotonic() - self._counted_at < self.count_every:
            return
        vector = getattr(units_with_vector_column().c, VECTOR_COLUMN)
        with_vector, total = connection.execute(
            select(func.count(vector), func.count()).select_from(units_with_vector_column())
        ).one()
        self._counts = (int(with_vector), int(total) - int(with_vector))
        self._counted_at = time.monotonic()

    def _exact(self, connection: Any, conditions: list[Any], query: np.ndarray, k: int) -> Any | None:
        """The exact ranking of a filter's rows when it keeps at most :data:`EXACT_UP_TO`, else None."""
        if len(conditions) == 1:  # no filter: the graph
            return None
        u = units_with_vector_column().c
        if _estimated_rows(connection, select(u.item_id).where(*conditions)) > EXACT_UP_TO:
            return None
        # materialised: the planner cannot push the ORDER BY into the HNSW index
        rows = select(u.item_id, u.unit_index, getattr(u, VECTOR_COLUMN)).where(*conditions)
        candidates = rows.cte("candidates").prefix_with("MATERIALIZED")
        distance = getattr(candidates.c, VECTOR_COLUMN).cosine_distance(query)
        return (
            select(candidates.c.item_id, candidates.c.unit_index, distance.label("distance"))
            .order_by(distance)
            .limit(k)
        )

    def _approximate(self, connection: Any, conditions: list[Any], query: np.ndarray, k: int) -> Any:
        # both settings last until this transaction ends; relaxed order lets the scan go past ef_search
        # candidates when filters reject many, so hits come back nearly sorted: sorted by the caller
        connection.execute(
            text("SELECT set_config('hnsw.ef_search', :ef, true), "
                 "set_config('hnsw.iterative_scan', 'relaxed_order', true)"),
            {"ef": str(max(self.ef_search, k))},
        )  # fmt: skip
        u = units_with_vector_column().c
        distance = getattr(u, VECTOR_COLUMN).cosine_distance(query)
        return (
            select(u.item_id, u.unit_index, distance.label("distance"))
            .where(*conditions)
            .order_by(distance)
            .limit(k)
        )

    def search(self, query_vector: np.ndarray, k: int, filters: SearchFilters) -> SearchResult:
        query = np.asarray(query_vector, dtype=np.float32)
        if query.shape[0] != VECTOR_DIMENSIONS:
            return self.other_widths.search(query, k, filters)
        conditions = self._where(filters)
        with self.store.engine.begin() as connection:
            statement = self._exact(connection, conditions, query, k)
            if statement is None:
                statement = self._approximate(connection, conditions, query, k)
            rows = connection.execute(statement).all()
            self._refresh_counts(connection)
        rows = sorted(rows, key=lambda r: r.distance)
        hits = tuple(SearchHit(r.item_id, int(r.unit_index), round(1.0 - float(r.distance), 4)) for r in rows)
        return SearchResult(hits, *self._counts)


def _estimated_rows(connection: Any, statement: Any) -> float:
    """PostgreSQL's planner estimate of the rows ``statement`` returns (EXPLAIN, nothing run): counting them
    would read every matching row, 0.8 s for a 30-day window at a million units (benchmarks/README.md)."""
    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}", compiled.params).scalar_one()
    return float(plan[0]["Plan"]["Plan Rows"])


def open_index(store: Any) -> SemanticIndex:
    """The store's search index: pgvector's where the store has its column, else the in-memory one."""
    if getattr(store, "vector_column", False):
        return PgVectorIndex(store)
    return InMemoryIndex(store)


# -- searching the store -------------------------------------------------------------------------------

MEANING = "meaning"
WORDS = "words"


@dataclass(frozen=True)
class SearchRequest:
    """A search of stored feedback: by meaning (the default) or by words, with filters. ``until`` is
    exclusive; ``area_id`` and ``theme_id`` are the curated ones (a merged theme's units count under the
    theme that absorbed it, a moved theme's under its new area)."""

    text: str = ""
    mode: str = MEANING
    area_id: int | None = None
    theme_id: int | None = None
    source: str | None = None
    account_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50


@dataclass(frozen=True)
class FoundUnit:
    item_id: str
    unit_index: int
    text: str  # redacted, as stored
    theme_id: int | None  # curated (a merged theme answers with the theme that absorbed it)
    theme_name: str | None
    area_id: int | None
    area_name: str | None
    source: str
    account_id: str | None
    created_at: datetime
    score: float | None  # cosine similarity to the query; None when searching by words


@dataclass(frozen=True)
class SearchAnswer:
    mode: str
    units: tuple[FoundUnit, ...]
    searched: int  # units the search could see (by meaning: those with an embedding)
    without_embedding: int  # stored before embeddings were kept: found only by words until re-ingested


def theme_filter(
    request: SearchRequest, view: Any, themes: Sequence[dict[str, Any]]
) -> tuple[int, ...] | None:
    """The stored theme ids a theme and/or area filter allows (None: any), merged members included."""
    wanted: set[int] | None = None
    if request.theme_id is not None:
        wanted = {view.canonical(request.theme_id)}
    if request.area_id is not None:
        in_area = {int(t["id"]) for t in themes if t.get("area_id") == request.area_id}
        wanted = in_area if wanted is None else wanted & in_area
    if wanted is None:
        return None
    members = set(wanted) | {t for t in view.merged_into if view.canonical(t) in wanted}
    return tuple(sorted(members))


def search_feedback(
    request: SearchRequest,
    *,
    store: Any,
    index: SemanticIndex,
    model: Any,
    view: Any,
    themes: Sequence[dict[str, Any]],
) -> SearchAnswer:
    """Stored units matching ``request``: by meaning, the most similar to the (redacted, encoded) text;
    by words, the newest holding every word. Themes and areas are named as curated now."""
    theme_ids = theme_filter(request, view, themes)
    if request.mode == MEANING and request.text.strip():
        filters = SearchFilters(theme_ids, request.source, request.account_id, request.since, request.until)
        result = index.search(model.embed_query(request.text), request.limit, filters)
        scores = {(hit.item_id, hit.unit_index): hit.score for hit in result.hits}
        rows = store.units_by_keys(list(scores))
        searched, missing = result.searched, result.without_embedding
    else:
        rows = store.find_units(
            words=request.text, theme_ids=theme_ids, source=request.source, account_id=request.account_id,
            since=request.since, until=request.until, limit=request.limit,
        )  # fmt: skip
        scores, searched, missing = {}, store.count_units(), 0
    by_id = {int(t["id"]): t for t in themes}
    units = []
    for row in rows:
        stored = row["theme_id"]
        theme = by_id.get(view.canonical(stored)) if stored is not None else None
        units.append(
            FoundUnit(
                item_id=row["item_id"],
                unit_index=int(row["unit_index"]),
                text=row["text_redacted"],
                theme_id=int(theme["id"]) if theme else stored,
                theme_name=str(theme.get("name")) if theme else row["theme_name"],
                area_id=theme.get("area_id") if theme else row["area_id"],
                area_name=theme.get("area_name") if theme else row["area_name"],
                source=row["source"],
                account_id=row["account_id"],
                created_at=row["created_at"],
                score=scores.get((row["item_id"], int(row["unit_index"]))),
            )
        )
    return SearchAnswer(request.mode, tuple(units), searched, missing)
