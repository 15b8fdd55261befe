"""Unit embeddings: each stored unit keeps its encoder vector, for search by meaning (feedback_nlp/search.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Written out in full, like the others. The vector is float16 bytes (768 bytes for 384 dimensions, half of
float32; the ranking it gives is the float32 one, benchmarks/README.md). Nullable: units stored before this
migration have none until their feedback is ingested again; search reports how many.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feedback_units") as batch:
        batch.add_column(sa.Column("embedding", sa.LargeBinary, nullable=True))
        # the search index's "anything new?" check (feedback_nlp/search.py) is then one index lookup
        batch.create_index("ix_feedback_units_scored_at", ["scored_at"])


def downgrade() -> None:
    with op.batch_alter_table("feedback_units") as batch:
        batch.drop_index("ix_feedback_units_scored_at")
        batch.drop_column("embedding")
