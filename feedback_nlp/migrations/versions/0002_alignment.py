"""Alignment signals: commitments and missing-phrased requests found in stored feedback.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Written out in full (not imported from ``store_schema``), like 0001. Adds one table; the tables of 0001 are
not changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alignment_signals",
        sa.Column(
            "item_id",
            sa.String(200),
            sa.ForeignKey("feedback_items.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("unit_index", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("cue", sa.String(50), nullable=False),
        sa.Column("sentence", sa.Text, nullable=False),
        sa.Column("date_text", sa.String(100), nullable=True),
        sa.Column("stated_start", sa.Date, nullable=True),
        sa.Column("stated_end", sa.Date, nullable=True),
        sa.Column("renewal", sa.Boolean, nullable=False),
        sa.Column("theme_id", sa.Integer, nullable=True),
        sa.Column("theme_name", sa.String(300), nullable=True),
        sa.Column("roadmap_item_id", sa.String(100), nullable=True),
        sa.Column("confidence", sa.Float, nullable=True),
        sa.Column("rules_version", sa.String(20), nullable=False),
        sa.Column("model_version", sa.String(100), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("channel", sa.String(100), nullable=True),
        sa.Column("account_id", sa.String(200), nullable=True),
        sa.Column("account_arr", sa.Float, nullable=True),
    )
    op.create_index("ix_alignment_signals_created_at", "alignment_signals", ["created_at"])
    op.create_index("ix_alignment_signals_kind", "alignment_signals", ["kind"])


def downgrade() -> None:
    op.drop_table("alignment_signals")
