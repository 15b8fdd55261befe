"""A pgvector column and HNSW index for search by meaning, on PostgreSQL where the ``vector`` extension is.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

Conditional: it changes nothing on SQLite or any other database, nor on a PostgreSQL server without pgvector
(or whose ``vector`` extension the migrating role may not create); it then logs what to do and search keeps
the exact in-memory index (feedback_nlp/search.py). Where it applies, ``feedback_units`` gains
``embedding_vector halfvec(384)`` (float16, like the bytes of 0007), filled from those bytes, with an HNSW
index for cosine distance. Vectors of another width (another encoder) stay only in ``embedding``.

Enabling it later, once pgvector is installed: as a superuser ``CREATE EXTENSION vector;`` in the database,
then ``alembic downgrade 0007`` and ``alembic upgrade head`` (README.md, "Search by meaning").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("feedback_nlp.migrations")

# The served encoder's width (sentence-transformers/all-MiniLM-L6-v2); an HNSW index needs a fixed one.
DIMENSIONS = 384
# Rows converted per round trip when filling the column from the 0007 bytes.
_BATCH = 5_000


def _vector_type_ready(connection: sa.Connection) -> str | None:
    """None when the ``halfvec`` type can be used here; else why not (for the log)."""
    available = connection.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).scalar()
    if not available:
        return "the PostgreSQL server has no pgvector (install the package postgresql-<version>-pgvector)"
    installed = connection.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).scalar()
    if not installed:
        savepoint = connection.begin_nested()
        try:
            connection.execute(sa.text("CREATE EXTENSION vector"))
            savepoint.commit()
        except sa.exc.DBAPIError as exc:
            savepoint.rollback()
            return (
                f"this role may not create the vector extension ({exc.orig}); as a superuser run "
                "CREATE EXTENSION vector; in this database"
            )
    if connection.execute(sa.text("SELECT to_regtype('halfvec')")).scalar() is None:
        return "the vector extension is installed in a schema that is not on this connection's search_path"
    return None


def _fill_from_bytes(connection: sa.Connection) -> int:
    """Copy the stored float16 bytes into the new column; returns how many units got a vector."""
    filled = 0
    select_rows = sa.text(
        "SELECT item_id, unit_index, embedding FROM feedback_units WHERE embedding IS NOT NULL "
        "AND length(embedding) = :width AND (item_id, unit_index) > (:item_id, :unit_index) "
        "ORDER BY item_id, unit_index LIMIT :batch"
    )
    update = sa.text(
        "UPDATE feedback_units SET embedding_vector = CAST(:vector AS halfvec) "
        "WHERE item_id = :item_id AND unit_index = :unit_index"
    )
    after: tuple[str, int] = ("", -1)
    while True:
        rows = connection.execute(
            select_rows,
            {"width": DIMENSIONS * 2, "item_id": after[0], "unit_index": after[1], "batch": _BATCH},
        ).all()
        if not rows:
            return filled
        params = [
            {
                "vector": "[" + ",".join(map(str, np.frombuffer(r.embedding, np.float16).tolist())) + "]",
                "item_id": r.item_id,
                "unit_index": r.unit_index,
            }
            for r in rows
        ]
        connection.execute(update, params)
        filled += len(rows)
        after = (rows[-1].item_id, rows[-1].unit_index)


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    reason = _vector_type_ready(connection)
    if reason:
        logger.warning("search by meaning keeps the in-memory index: %s (migration 0008)", reason)
        return
    op.execute(f"ALTER TABLE feedback_units ADD COLUMN embedding_vector halfvec({DIMENSIONS})")
    filled = _fill_from_bytes(connection)
    op.execute(
        "CREATE INDEX ix_feedback_units_embedding_hnsw ON feedback_units "
        "USING hnsw (embedding_vector halfvec_cosine_ops)"
    )
    logger.info("pgvector index for search by meaning built over %d stored units", filled)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_feedback_units_embedding_hnsw")
    op.execute("ALTER TABLE feedback_units DROP COLUMN IF EXISTS embedding_vector")
