"""Areas: each stored unit (and item) carries its theme's area beside the theme.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Written out in full (not imported from ``store_schema``), like 0001 and 0002. Adds nullable columns, so
rows stored before areas existed keep ``NULL`` (the report reads their area from the model's themes).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feedback_items") as batch:
        batch.add_column(sa.Column("area_id", sa.Integer, nullable=True))
    with op.batch_alter_table("feedback_units") as batch:
        batch.add_column(sa.Column("area_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("area_name", sa.String(300), nullable=True))
        batch.create_index("ix_feedback_units_area_id", ["area_id"])


def downgrade() -> None:
    with op.batch_alter_table("feedback_units") as batch:
        batch.drop_index("ix_feedback_units_area_id")
        batch.drop_column("area_name")
        batch.drop_column("area_id")
    with op.batch_alter_table("feedback_items") as batch:
        batch.drop_column("area_id")
