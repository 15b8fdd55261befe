"""Curation actions (renames, merges, pins, ignores, area decisions) and route corrections.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Written out in full (not imported from ``store_schema``), like 0001 and 0002. Adds two tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "curation_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("themes", sa.JSON, nullable=False),
        sa.Column("name", sa.String(300), nullable=True),
        sa.Column("area", sa.String(100), nullable=True),
        sa.Column("roadmap_item", sa.String(100), nullable=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("groups", sa.JSON, nullable=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(100), nullable=True),
    )
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
    op.drop_table("curation_actions")
