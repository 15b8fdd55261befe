"""Initial feedback store: feedback_items and feedback_units.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written out in full (not imported from ``store_schema``) so that this migration keeps creating the same
tables when ``store_schema`` changes later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feedback_items",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=True),
        sa.Column("account_arr", sa.Float, nullable=True),
        sa.Column("segment", sa.String(100), nullable=True),
        sa.Column("channel", sa.String(100), nullable=True),
        sa.Column("metadata_json", sa.JSON, nullable=True),
        sa.Column("text_redacted", sa.Text, nullable=False),
        sa.Column("n_units", sa.Integer, nullable=False),
        sa.Column("theme_id", sa.Integer, nullable=True),
        sa.Column("route", sa.String(20), nullable=False),
        sa.Column("model_version", sa.String(100), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_feedback_items_created_at", "feedback_items", ["created_at"])
    op.create_index("ix_feedback_items_account_id", "feedback_items", ["account_id"])

    op.create_table(
        "feedback_units",
        sa.Column(
            "item_id",
            sa.String(200),
            sa.ForeignKey("feedback_items.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("unit_index", sa.Integer, primary_key=True),
        sa.Column("start_char", sa.Integer, nullable=False),
        sa.Column("end_char", sa.Integer, nullable=False),
        sa.Column("text_redacted", sa.Text, nullable=False),
        sa.Column("theme_id", sa.Integer, nullable=True),
        sa.Column("theme_name", sa.String(300), nullable=True),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("roadmap_item_id", sa.String(100), nullable=True),
        sa.Column("roadmap_item_title", sa.String(300), nullable=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("route", sa.String(20), nullable=False),
        sa.Column("model_version", sa.String(100), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=True),
        sa.Column("account_arr", sa.Float, nullable=True),
    )
    op.create_index("ix_feedback_units_created_at", "feedback_units", ["created_at"])
    op.create_index("ix_feedback_units_theme_id", "feedback_units", ["theme_id"])
    op.create_index("ix_feedback_units_roadmap_item_id", "feedback_units", ["roadmap_item_id"])


def downgrade() -> None:
    op.drop_table("feedback_units")
    op.drop_table("feedback_items")
