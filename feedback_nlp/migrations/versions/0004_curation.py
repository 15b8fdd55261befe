"""Curation actions: renames, merges, pins, ignores (and area decisions) kept by the service.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Written out in full (not imported from ``store_schema``), like 0001 and 0002. Adds one table.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
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


def downgrade() -> None:
    op.drop_table("curation_actions")
