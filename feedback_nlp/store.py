"""The feedback store: every scored item and its units, in SQLite (default) or any SQLAlchemy database.

The tables are defined in :mod:`feedback_nlp.store_schema` and created only by the Alembic migrations in
``feedback_nlp/migrations``, which :func:`open_store` runs to head. Writing the same item id again replaces
the item and its units (an upsert in one transaction), so re-scoring or re-ingesting never duplicates.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, create_engine, delete, event, func, insert, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from feedback_nlp.contract import account_arr_problem, created_at_problem, json_problem, text_problem
from feedback_nlp.corrections import Correction
from feedback_nlp.curation import SPLIT_THEME, CurationAction
from feedback_nlp.errors import ConfigError, ValidationError
from feedback_nlp.schemas import FIELD_MAX_CHARS, FeedbackRecord, ItemScore
from feedback_nlp.search import (
    decode_vectors,
    encode_vector,
    has_vector_column,
    units_with_vector_column,
    with_vector_column,
)
from feedback_nlp.split import SplitGroup, StoredUnit
from feedback_nlp.store_schema import (
    alignment_signals,
    corrections,
    curation_actions,
    feedback_items,
    feedback_units,
)

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Units are deleted by item id in chunks so the statement stays under every database's parameter limit.
_ID_CHUNK = 500


def _utc(value: datetime) -> datetime:
    """A timezone-aware UTC datetime (naive values are taken as UTC, as ingest does)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _to_db_time(value: datetime) -> datetime:
    # SQLite keeps DateTime as text without an offset: always write (and compare) in UTC.
    return _utc(value)


def _from_db_time(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets the service read while ingest writes; NORMAL sync is safe with WAL (no corruption).
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


# How long a connection waits for another to finish converting a new file to WAL: the busy timeout's 30 s.
_WAL_WAIT_SECONDS = 30.0


def _use_wal(cursor: Any) -> None:
    """Put the file in WAL mode, waiting for the connections converting it at the same moment.

    The conversion needs the file to itself, and SQLite does not call the busy handler for it: processes
    opening a new store at once got "database is locked" at once. WAL is a property of the file, so after
    the first conversion this is one read; a conversion refused is retried, with a growing pause, until the
    file is in WAL mode (another connection's conversion counts) or ``_WAL_WAIT_SECONDS`` have passed.
    """
    import sqlite3

    deadline = time.monotonic() + _WAL_WAIT_SECONDS
    pause = 0.005
    while cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return  # converted, or a database that has no WAL (in memory): its own mode stays
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(2 * pause, 0.25)


def create_store_engine(url: str) -> Engine:
    """Create an engine for ``url``: SQLite (file or memory) or any other SQLAlchemy URL.

    SQLite files get their parent directory created, WAL mode and foreign keys on every connection. An
    in-memory SQLite database is shared by all threads of the process (one connection).

    Raises:
        ConfigError: the URL cannot be parsed or its driver is not installed.
    """
    try:
        url_obj = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"database URL {url!r} is not a SQLAlchemy URL ({exc}); "
            "use e.g. sqlite:////srv/feedback.sqlite or postgresql+psycopg://user:pw@host/db"
        ) from None
    try:
        if url_obj.get_backend_name() == "sqlite":
            database = url_obj.database or ""
            in_memory = database in ("", ":memory:") or url_obj.query.get("mode") == "memory"
            kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
            if in_memory:
                kwargs["poolclass"] = StaticPool
            else:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url_obj, **kwargs)
            event.listen(engine, "connect", _on_sqlite_connect)
        else:
            engine = create_engine(url_obj, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(
            f"cannot use database URL {url_obj.render_as_string(hide_password=True)}: {exc}; "
            "for PostgreSQL use postgresql+psycopg://... and install the driver: "
            "pip install 'feedback-nlp[postgres]'"
        ) from None
    return engine


def run_migrations(engine: Engine) -> None:
    """Bring the schema of ``engine``'s database to the newest migration (Alembic ``upgrade head``)."""
    alembic_logger = logging.getLogger("alembic")
    if alembic_logger.level == logging.NOTSET:
        # Alembic announces every plugin and step at INFO; keep its warnings, drop the chatter.
        alembic_logger.setLevel(logging.WARNING)
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        _lock_for_migration(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


# Any constant shared by every process migrating the same PostgreSQL database ("fnlp" in ASCII).
_PG_MIGRATION_LOCK = 0x666E6C70


def _lock_for_migration(connection: Connection) -> None:
    """Serialise migrations between processes opening the same database at once.

    Without it, several processes opening a brand-new store all see no ``alembic_version`` table and all
    create the tables; all but one fail with "table ... already exists". The lock is held until the
    migration's transaction ends; the processes that waited then find the schema at head and do nothing.
    """
    dialect = connection.dialect.name
    if dialect == "sqlite":
        # pysqlite begins transactions lazily (not before DDL): take the write lock now; the others wait
        # for it up to the busy timeout (30 s)
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif dialect == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})


def open_store(url: str) -> FeedbackStore:
    """Open the store at ``url`` and migrate its schema to head.

    Raises:
        ConfigError: the URL is invalid, or the database cannot be reached or migrated.
    """
    engine = create_store_engine(url)
    try:
        run_migrations(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise ConfigError(
            f"cannot open the feedback store at {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}; "
            "check FEEDBACK_NLP_DATABASE_URL and that the database is running"
        ) from None
    logger.info("feedback store ready at %s", engine.url.render_as_string(hide_password=True))
    return FeedbackStore(engine)


def quarantine_if_unstorable(record: FeedbackRecord, quarantine: Any) -> bool:
    """True (and the record quarantined with the reason) when the store cannot keep ``record`` as is."""
    try:
        check_record_fits(record)
    except ValidationError as exc:
        quarantine.add(
            {"id": record.id, "source": record.source},
            str(exc),
            exc.field,
            record.origin_file,
            record.origin_line,
        )
        return True
    return False


def check_record_fits(record: FeedbackRecord) -> None:
    """Check that a record can be stored as is: the input contract (:mod:`feedback_nlp.contract`).

    Raises:
        ValidationError: a field is longer than its column, or holds characters no database keeps (NUL,
            unpaired surrogates), or ``created_at`` or ``account_arr`` is out of bounds.
    """
    # an input that does not fit its column is a validation error, never a database error
    for field, limit in FIELD_MAX_CHARS.items():
        value = getattr(record, field)
        if value is None:
            continue
        if len(value) > limit:
            raise ValidationError(field, f"{len(value)} characters, over the limit of {limit}")
    for field in ("id", "text", "source", "account_id", "segment", "channel"):
        value = getattr(record, field)
        if value is not None:
            problem = text_problem(value)
            if problem:
                raise ValidationError(field, problem)
    problem = created_at_problem(record.created_at)
    if problem:
        raise ValidationError("created_at", problem)
    if record.account_arr is not None:
        problem = account_arr_problem(record.account_arr)
        if problem:
            raise ValidationError("account_arr", problem)
    problem = json_problem(record.metadata)
    if problem:
        raise ValidationError("metadata", problem)


# the contract's checks under the names the store has always offered
unstorable_text_problem = text_problem
unstorable_json_problem = json_problem


def _item_row(record: FeedbackRecord, score: ItemScore, scored_at: datetime) -> dict[str, Any]:
    primary = score.primary
    return {
        "id": record.id,
        "source": record.source,
        "created_at": _to_db_time(record.created_at),
        "account_id": record.account_id,
        "account_arr": record.account_arr,
        "segment": record.segment,
        "channel": record.channel,
        "metadata_json": record.metadata or None,
        # the units are the redacted text; the raw text is never stored
        "text_redacted": "\n".join(unit.text for unit in score.units),
        "n_units": len(score.units),
        "theme_id": primary.theme_id,
        "area_id": primary.area_id,
        "route": primary.route,
        "model_version": score.model_version,
        "scored_at": scored_at,
    }


def _unit_rows(record: FeedbackRecord, score: ItemScore, scored_at: datetime) -> list[dict[str, Any]]:
    created_at = _to_db_time(record.created_at)
    rows = []
    for unit in score.units:
        roadmap_item = unit.roadmap_item or {}
        rows.append(
            {
                "item_id": record.id,
                "unit_index": unit.unit_index,
                "start_char": unit.start,
                "end_char": unit.end,
                "text_redacted": unit.text,
                "theme_id": unit.theme_id,
                "theme_name": unit.theme_name,
                "area_id": unit.area_id,
                "area_name": unit.area_name,
                "confidence": float(unit.confidence),
                "roadmap_item_id": roadmap_item.get("id"),
                "roadmap_item_title": roadmap_item.get("title"),
                "owner": unit.owner,
                "route": unit.route,
                "model_version": score.model_version,
                "scored_at": scored_at,
                "created_at": created_at,
                "source": record.source,
                "account_id": record.account_id,
                "account_arr": record.account_arr,
                "embedding": encode_vector(unit.vector),
            }
        )
    return rows


def _signal_rows(
    pairs: Sequence[tuple[FeedbackRecord, ItemScore]], detector: Any, detected_at: datetime
) -> list[dict[str, Any]]:
    """Alignment signals of the items' units as rows; never stops the items from being stored."""
    from feedback_nlp import alignment

    try:
        signals = detector.detect(alignment.units_from_scores(pairs))
    except Exception:  # a detector bug must not lose the feedback itself
        logger.exception(
            "alignment detection failed for %d items; they are stored without signals", len(pairs)
        )
        return []
    return [
        {
            "item_id": s.item_id,
            "unit_index": s.unit_index,
            "kind": s.kind,
            "cue": s.cue,
            "sentence": s.sentence,
            "date_text": (s.date_text or "")[:100] or None,
            "stated_start": s.stated_start,
            "stated_end": s.stated_end,
            "renewal": bool(s.renewal),
            "theme_id": s.theme_id,
            "theme_name": s.theme_name,
            "roadmap_item_id": s.roadmap_item_id,
            "confidence": s.confidence,
            "rules_version": s.rules_version,
            "model_version": s.model_version or "",
            "detected_at": detected_at,
            "created_at": _to_db_time(s.created_at),
            "source": s.source,
            "channel": s.channel,
            "account_id": s.account_id,
            "account_arr": s.account_arr,
        }
        for s in signals
    ]


def _move_units(connection: Connection, moves: Sequence[tuple[str, int, int, str | None]]) -> None:
    """Give stored units (item id, unit index) another theme (id, name) in place."""
    u = feedback_units.c
    statement = (
        update(feedback_units)
        .where(u.item_id == bindparam("key_item"), u.unit_index == bindparam("key_index"))
        .values(theme_id=bindparam("new_theme"), theme_name=bindparam("new_name"))
    )
    connection.execute(
        statement,
        [{"key_item": i, "key_index": n, "new_theme": t, "new_name": name} for i, n, t, name in moves],
    )


def _chunks(values: Sequence[str], size: int = _ID_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class _WriteStatements:
    """The statements of ``upsert_scored_batch``, built once per store: building SQLAlchemy's
    ``on_conflict_do_update`` (its ``excluded`` columns) and the ``IN`` clauses cost more CPU than executing
    them for a one-item request (benchmarks/README.md, issue 20)."""

    upsert_items: Any  # None: a database without ON CONFLICT (delete and insert instead)
    delete_units: Any
    delete_signals: Any
    insert_units: Any
    insert_signals: Any

    @classmethod
    def build(cls, dialect: str, vector_column: bool) -> _WriteStatements:
        ids: Any = bindparam("ids", expanding=True)
        return cls(
            upsert_items=_items_upsert(dialect),
            delete_units=delete(feedback_units).where(feedback_units.c.item_id.in_(ids)),
            delete_signals=delete(alignment_signals).where(alignment_signals.c.item_id.in_(ids)),
            insert_units=insert(units_with_vector_column() if vector_column else feedback_units),
            insert_signals=insert(alignment_signals),
        )


def _items_upsert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (id) DO UPDATE of every column, on SQLite and PostgreSQL (None elsewhere)."""
    if dialect not in ("sqlite", "postgresql"):
        return None
    from sqlalchemy.dialects import postgresql, sqlite

    # both dialects' INSERT has the same on_conflict_do_update
    dialect_insert: Any = sqlite.insert if dialect == "sqlite" else postgresql.insert
    statement = dialect_insert(feedback_items)
    return statement.on_conflict_do_update(
        index_elements=[feedback_items.c.id],
        set_={
            column.name: statement.excluded[column.name]
            for column in feedback_items.columns
            if column.name != "id"
        },
    )


def _replace_items(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Any other database: delete and insert inside the caller's transaction."""
    for chunk in _chunks([row["id"] for row in rows]):
        connection.execute(delete(feedback_units).where(feedback_units.c.item_id.in_(chunk)))
        connection.execute(delete(alignment_signals).where(alignment_signals.c.item_id.in_(chunk)))
        connection.execute(delete(feedback_items).where(feedback_items.c.id.in_(chunk)))
    connection.execute(insert(feedback_items), rows)


class FeedbackStore:
    """Reads and writes the feedback store through one SQLAlchemy engine (thread-safe)."""

    def __init__(self, engine: Engine, alignment_detector: Any = None):
        self.engine = engine
        # Finds alignment signals in stored units (feedback_nlp.alignment); None: the shared default detector,
        # False: none are detected.
        self.alignment_detector = alignment_detector
        # An in-memory SQLite database is one shared connection: its users must take turns.
        self._shared_connection_lock = threading.RLock() if isinstance(engine.pool, StaticPool) else None
        # PostgreSQL with pgvector (migration 0008): units also keep their vector in a pgvector column
        self.vector_column = has_vector_column(engine)
        self._statements: _WriteStatements | None = None

    @contextlib.contextmanager
    def _connect(self, *, write: bool = False) -> Iterator[Connection]:
        lock = self._shared_connection_lock or contextlib.nullcontext()
        with lock, self.engine.begin() if write else self.engine.connect() as connection:
            yield connection

    @property
    def url(self) -> str:
        """The database URL without its password (for logs and messages)."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self._connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError as exc:
            logger.warning("feedback store at %s unreachable: %s", self.url, exc)
            return False

    # -- writes ---------------------------------------------------------------------------------------

    def upsert_scored(self, record: FeedbackRecord, score: ItemScore) -> None:
        """Write one scored item; an existing item with the same id is replaced with its units."""
        self.upsert_scored_batch([(record, score)])

    def upsert_scored_batch(self, pairs: Sequence[tuple[FeedbackRecord, ItemScore]]) -> int:
        """Write scored items in one transaction; returns how many distinct items were written.

        The same id twice (in the store or in ``pairs``) keeps the last version: the item row is updated
        and its units are replaced. Items are written in id order so that concurrent writers on PostgreSQL
        take row locks in the same order and cannot deadlock.
        """
        latest: dict[str, tuple[FeedbackRecord, ItemScore]] = {}
        for record, score in pairs:
            if record.id != score.id:
                raise ValueError(f"record id {record.id!r} does not match its score's id {score.id!r}")
            latest[record.id] = (record, score)
        if not latest:
            return 0
        ids = sorted(latest)
        scored_at = datetime.now(UTC)
        item_rows = [_item_row(*latest[item_id], scored_at) for item_id in ids]
        unit_rows = [row for item_id in ids for row in _unit_rows(*latest[item_id], scored_at)]
        signal_rows = self._detect_signals([latest[item_id] for item_id in ids], scored_at)
        statements = self._write_statements()
        with self._connect(write=True) as connection:
            if statements.upsert_items is None:
                _replace_items(connection, item_rows)
            else:
                connection.execute(statements.upsert_items, item_rows)
            for chunk in _chunks(ids):
                connection.execute(statements.delete_units, {"ids": chunk})
                connection.execute(statements.delete_signals, {"ids": chunk})
            if unit_rows:
                rows = with_vector_column(unit_rows) if self.vector_column else unit_rows
                connection.execute(statements.insert_units, rows)
            if signal_rows:
                connection.execute(statements.insert_signals, signal_rows)
        logger.debug(
            "stored %d items, %d units, %d alignment signals",
            len(item_rows),
            len(unit_rows),
            len(signal_rows),
        )
        return len(item_rows)

    def _detect_signals(
        self, pairs: Sequence[tuple[FeedbackRecord, ItemScore]], detected_at: datetime
    ) -> list[dict[str, Any]]:
        if self.alignment_detector is False:
            return []
        if self.alignment_detector is None:
            from feedback_nlp.alignment import default_detector

            self.alignment_detector = default_detector()
        return _signal_rows(pairs, self.alignment_detector, detected_at)

    def _write_statements(self) -> _WriteStatements:
        if self._statements is None:
            self._statements = _WriteStatements.build(self.engine.dialect.name, self.vector_column)
        return self._statements

    # -- reads ----------------------------------------------------------------------------------------

    def count_items(self) -> int:
        """Number of items in the store."""
        with self._connect() as connection:
            return int(connection.execute(select(func.count()).select_from(feedback_items)).scalar_one())

    def count_units(self) -> int:
        """Number of units in the store."""
        with self._connect() as connection:
            return int(connection.execute(select(func.count()).select_from(feedback_units)).scalar_one())

    def get_item(self, item_id: str) -> dict[str, Any] | None:
        """One stored item with its units (``units`` sorted by index), or None."""
        with self._connect() as connection:
            item = (
                connection.execute(select(feedback_items).where(feedback_items.c.id == item_id))
                .mappings()
                .first()
            )
            if item is None:
                return None
            units = (
                connection.execute(
                    select(feedback_units)
                    .where(feedback_units.c.item_id == item_id)
                    .order_by(feedback_units.c.unit_index)
                )
                .mappings()
                .all()
            )
        result = dict(item)
        result["units"] = [dict(unit) for unit in units]
        for row in [result, *result["units"]]:
            for key in ("created_at", "scored_at"):
                row[key] = _from_db_time(row[key])
        return result

    def theme_volume(self, theme_id: int, since: datetime | None = None) -> int:
        """Number of units assigned to ``theme_id`` with feedback created at or after ``since``."""
        query = select(func.count()).select_from(feedback_units).where(feedback_units.c.theme_id == theme_id)
        if since is not None:
            query = query.where(feedback_units.c.created_at >= _to_db_time(since))
        with self._connect() as connection:
            return int(connection.execute(query).scalar_one())

    def theme_volumes(self, since: datetime | None = None) -> dict[int, int]:
        """Units per theme id (themed units only) created at or after ``since``."""
        query = (
            select(feedback_units.c.theme_id, func.count())
            .where(feedback_units.c.theme_id.is_not(None))
            .group_by(feedback_units.c.theme_id)
        )
        if since is not None:
            query = query.where(feedback_units.c.created_at >= _to_db_time(since))
        with self._connect() as connection:
            return {int(theme_id): int(count) for theme_id, count in connection.execute(query)}

    def theme_week_stats(self, since: datetime, until: datetime) -> dict[int, tuple[int, int, float]]:
        """Per theme id, for feedback created in ``[since, until)``: units, distinct accounts, and revenue at
        stake (each account's ARR once)."""
        u = feedback_units.c
        query = (
            select(u.theme_id, u.account_id, func.count(), func.max(u.account_arr))
            .where(
                u.theme_id.is_not(None), u.created_at >= _to_db_time(since), u.created_at < _to_db_time(until)
            )
            .group_by(u.theme_id, u.account_id)
        )
        stats: dict[int, tuple[int, int, float]] = {}
        with self._connect() as connection:
            for theme_id, account_id, count, arr in connection.execute(query):
                units, accounts, revenue = stats.get(int(theme_id), (0, 0, 0.0))
                known = account_id is not None
                stats[int(theme_id)] = (
                    units + int(count),
                    accounts + known,
                    revenue + float(arr or 0) * known,
                )
        return stats

    def find_units(
        self,
        *,
        words: str = "",
        theme_ids: Sequence[int] | None = None,
        source: str | None = None,
        account_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Stored units, newest first, whose (redacted) text holds every word of ``words`` (any case),
        filtered by theme, source, account and creation time."""
        u = feedback_units.c
        query = select(
            u.item_id, u.unit_index, u.text_redacted, u.theme_id, u.theme_name, u.area_id, u.area_name,
            u.source, u.account_id, u.created_at, u.confidence, u.route, u.owner,
        ).order_by(u.created_at.desc(), u.item_id, u.unit_index).limit(limit)  # fmt: skip
        for word in words.split():
            escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(func.lower(u.text_redacted).like(f"%{escaped}%", escape="\\"))
        conditions = [
            (theme_ids is not None, lambda: u.theme_id.in_(list(theme_ids or []))),
            (bool(source), lambda: u.source == source),
            (bool(account_id), lambda: u.account_id == account_id),
            (since is not None, lambda: u.created_at >= _to_db_time(since)),  # type: ignore[arg-type]
            (until is not None, lambda: u.created_at < _to_db_time(until)),  # type: ignore[arg-type]
        ]
        for wanted, condition in conditions:
            if wanted:
                query = query.where(condition())
        with self._connect() as connection:
            rows = [dict(row) for row in connection.execute(query).mappings()]
        for row in rows:
            row["created_at"] = _from_db_time(row["created_at"])
        return rows

    def units_by_keys(self, keys: Sequence[tuple[str, int]]) -> list[dict[str, Any]]:
        """The stored units with these (item id, unit index) keys, in the order given (missing ones left
        out)."""
        u = feedback_units.c
        wanted = {(item_id, int(index)) for item_id, index in keys}
        found: dict[tuple[str, int], dict[str, Any]] = {}
        with self._connect() as connection:
            for chunk in _chunks(sorted({item_id for item_id, _ in wanted})):
                query = select(
                    u.item_id, u.unit_index, u.text_redacted, u.theme_id, u.theme_name, u.area_id,
                    u.area_name, u.source, u.account_id, u.created_at,
                ).where(u.item_id.in_(chunk))  # fmt: skip
                for row in connection.execute(query).mappings():
                    key = (row["item_id"], int(row["unit_index"]))
                    if key in wanted:
                        found[key] = {**row, "created_at": _from_db_time(row["created_at"])}
        return [found[(item_id, int(index))] for item_id, index in keys if (item_id, int(index)) in found]

    def roadmap_evidence_counts(self, since: datetime | None = None) -> dict[str, int]:
        """Distinct feedback items with at least one unit linked to each roadmap item id.

        Only items created at or after ``since`` count when it is given.
        """
        query = (
            select(feedback_units.c.roadmap_item_id, func.count(func.distinct(feedback_units.c.item_id)))
            .where(feedback_units.c.roadmap_item_id.is_not(None))
            .group_by(feedback_units.c.roadmap_item_id)
        )
        if since is not None:
            query = query.where(feedback_units.c.created_at >= _to_db_time(since))
        with self._connect() as connection:
            return {str(item_id): int(count) for item_id, count in connection.execute(query)}

    def alignment_signals(
        self, since: datetime | None = None, until: datetime | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored alignment signals for feedback created in ``[since, until)``, oldest first.

        ``kind`` picks ``"commitment"`` or ``"missing"``; :func:`feedback_nlp.alignment.find_gaps` turns
        the rows into promise and enablement gaps against a roadmap.
        """
        columns = alignment_signals.c
        query = select(alignment_signals).order_by(
            columns.created_at, columns.item_id, columns.unit_index, columns.kind
        )
        if since is not None:
            query = query.where(columns.created_at >= _to_db_time(since))
        if until is not None:
            query = query.where(columns.created_at < _to_db_time(until))
        if kind is not None:
            query = query.where(columns.kind == kind)
        with self._connect() as connection:
            rows = [dict(row) for row in connection.execute(query).mappings()]
        for row in rows:
            for key in ("created_at", "detected_at"):
                row[key] = _from_db_time(row[key])
        return rows

    # -- curation ------------------------------------------------------------------------------------

    def add_curation(
        self, action: CurationAction, reroute: Mapping[tuple[str, int], int] | None = None
    ) -> CurationAction:
        """Keep one (checked) curation action; returns it with its id and time. ``reroute``: stored units
        (item id, unit index) a split moves to its new themes, in the same transaction."""
        action = action.check()
        created_at = action.created_at or datetime.now(UTC)
        row = {
            "kind": action.kind,
            "themes": list(action.themes),
            "name": action.name,
            "area": action.area,
            "roadmap_item": action.roadmap_item,
            "owner": action.owner,
            "reason": action.reason,
            "groups": [group.to_dict() for group in action.groups] or None,
            "actor": action.actor[:100],
            "created_at": _to_db_time(created_at),
        }
        with self._connect(write=True) as connection:
            result = connection.execute(insert(curation_actions).values(**row))
            key = result.inserted_primary_key
            assert key is not None  # an INSERT of one row always has it
            new_id = int(key[0])
            if reroute:
                names = {group.theme_id: group.name for group in action.groups}
                _move_units(connection, [(*k, t, names.get(t)) for k, t in reroute.items()])
        return replace(action, id=new_id, created_at=_utc(created_at))

    def curation(self, *, include_revoked: bool = False) -> list[CurationAction]:
        """The curation actions in the order they were made (withdrawn ones only when asked)."""
        query = select(curation_actions).order_by(curation_actions.c.id)
        if not include_revoked:
            query = query.where(curation_actions.c.revoked_at.is_(None))
        with self._connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            CurationAction(
                kind=row["kind"],
                themes=tuple(int(t) for t in row["themes"] or ()),
                name=row["name"],
                area=row["area"],
                roadmap_item=row["roadmap_item"],
                owner=row["owner"],
                reason=row["reason"],
                # a split's sub-groups; lists (keywords, before splits were applied) are not kept
                groups=tuple(SplitGroup.from_dict(g) for g in row["groups"] or () if isinstance(g, dict)),
                actor=row["actor"],
                created_at=_from_db_time(row["created_at"]),
                id=int(row["id"]),
            )
            for row in rows
        ]

    def revoke_curation(self, action_id: int, actor: str) -> bool:
        """Withdraw an action (kept on record); False when there is no such active action. Withdrawing a
        split moves its new themes' stored units back to the theme they were split off."""
        columns = curation_actions.c
        with self._connect(write=True) as connection:
            result = connection.execute(
                update(curation_actions)
                .where(columns.id == action_id, columns.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC), revoked_by=actor[:100])
            )
            row = connection.execute(
                select(columns.kind, columns.themes, columns.groups).where(columns.id == action_id)
            ).first()
            if result.rowcount and row is not None and row.kind == SPLIT_THEME and row.groups:
                new_ids = [int(g["theme_id"]) for g in row.groups if isinstance(g, dict)]
                parent = int(row.themes[0])
                connection.execute(
                    update(feedback_units)
                    .where(feedback_units.c.theme_id.in_(new_ids))
                    .values(theme_id=parent)
                )
        return bool(result.rowcount)

    def theme_units(self, theme_ids: Sequence[int]) -> list[StoredUnit]:
        """The stored units of these themes that have a vector (what a split clusters)."""
        u = feedback_units.c
        query = select(u.item_id, u.unit_index, u.text_redacted, u.embedding).where(
            u.theme_id.in_(list(theme_ids)), u.embedding.is_not(None)
        )
        with self._connect() as connection:
            rows = connection.execute(query).all()
        return [
            StoredUnit(r.item_id, int(r.unit_index), r.text_redacted, decode_vectors([r.embedding])[0])
            for r in rows
        ]

    # -- corrections ---------------------------------------------------------------------------------

    def add_correction(self, correction: Correction, rerouted: dict[str, Any]) -> Correction | None:
        """Keep a correction and re-route the unit at once (``rerouted``: the unit's new routing fields,
        from :func:`feedback_nlp.corrections.rerouted_unit`). None when there is no such stored unit."""
        correction = correction.check()
        units = feedback_units.c
        where = (units.item_id == correction.item_id, units.unit_index == correction.unit_index)
        created_at = correction.created_at or datetime.now(UTC)
        with self._connect(write=True) as connection:
            unit = connection.execute(select(units.theme_id, units.text_redacted).where(*where)).first()
            if unit is None:
                return None
            kept = replace(
                correction,
                previous_theme_id=unit.theme_id,
                text=unit.text_redacted,
                created_at=_utc(created_at),
            )
            result = connection.execute(
                insert(corrections).values(
                    item_id=kept.item_id,
                    unit_index=kept.unit_index,
                    kind=kept.kind,
                    theme_id=kept.theme_id,
                    previous_theme_id=kept.previous_theme_id,
                    text_redacted=kept.text,
                    actor=kept.actor[:100],
                    created_at=_to_db_time(created_at),
                )
            )
            connection.execute(update(feedback_units).where(*where).values(**rerouted))
            key = result.inserted_primary_key
        return replace(kept, id=int(key[0]) if key is not None else None)

    def corrections(self) -> list[Correction]:
        """Every correction, oldest first."""
        with self._connect() as connection:
            rows = connection.execute(select(corrections).order_by(corrections.c.id)).mappings().all()
        return [
            Correction(
                item_id=row["item_id"],
                unit_index=int(row["unit_index"]),
                kind=row["kind"],
                theme_id=row["theme_id"],
                previous_theme_id=row["previous_theme_id"],
                text=row["text_redacted"],
                actor=row["actor"],
                created_at=_from_db_time(row["created_at"]),
                id=int(row["id"]),
            )
            for row in rows
        ]
