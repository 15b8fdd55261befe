"""Corrections of single routes ("not mine", "belongs to theme X"), kept as labels for the next retrain.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Written out in full (not imported from ``store_schema``), like the others. Adds one table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("unit_index", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("theme_id", sa.Integer, nullable=True),
        sa.Column("previous_theme_id", sa.Integer, nullable=True),
        sa.Column("text_redacted", sa.Text, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_corrections_item_id", "corrections", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_corrections_item_id", "corrections")
    op.drop_table("corrections")
