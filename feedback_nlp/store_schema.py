"""Tables of the feedback store (SQLite by default, any SQLAlchemy URL such as PostgreSQL).

The schema is created and changed only by the Alembic migrations in ``feedback_nlp/migrations``; these
table objects are what the code queries. Item fields the report filters on (time, source, account, ARR)
are copied onto each unit so that weekly queries need no join.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from feedback_nlp.schemas import FIELD_MAX_CHARS

metadata = MetaData()

feedback_items = Table(
    "feedback_items",
    metadata,
    Column("id", String(FIELD_MAX_CHARS["id"]), primary_key=True),
    Column("source", String(FIELD_MAX_CHARS["source"]), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("account_id", String(FIELD_MAX_CHARS["account_id"]), nullable=True),
    Column("account_arr", Float, nullable=True),
    Column("segment", String(FIELD_MAX_CHARS["segment"]), nullable=True),
    Column("channel", String(FIELD_MAX_CHARS["channel"]), nullable=True),
    Column("metadata_json", JSON, nullable=True),
    Column("text_redacted", Text, nullable=False),
    Column("n_units", Integer, nullable=False),
    # the primary unit's answer (the most confident unit)
    Column("theme_id", Integer, nullable=True),
    Column("area_id", Integer, nullable=True),  # the theme's area (feedback_nlp/areas.py); migration 0003
    Column("route", String(20), nullable=False),
    Column("model_version", String(100), nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=False),
    Index("ix_feedback_items_created_at", "created_at"),
    Index("ix_feedback_items_account_id", "account_id"),
)

feedback_units = Table(
    "feedback_units",
    metadata,
    Column(
        "item_id",
        String(FIELD_MAX_CHARS["id"]),
        ForeignKey("feedback_items.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("unit_index", Integer, primary_key=True),
    Column("start_char", Integer, nullable=False),
    Column("end_char", Integer, nullable=False),
    Column("text_redacted", Text, nullable=False),
    Column("theme_id", Integer, nullable=True),
    Column("theme_name", String(300), nullable=True),
    Column("area_id", Integer, nullable=True),  # the theme's area (feedback_nlp/areas.py); migration 0003
    Column("area_name", String(300), nullable=True),
    Column("confidence", Float, nullable=False),
    Column("roadmap_item_id", String(100), nullable=True),
    Column("roadmap_item_title", String(300), nullable=True),
    Column("owner", String(200), nullable=False),
    Column("route", String(20), nullable=False),
    Column("model_version", String(100), nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=False),
    # copied from the item for weekly queries without a join
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("source", String(FIELD_MAX_CHARS["source"]), nullable=False),
    Column("account_id", String(FIELD_MAX_CHARS["account_id"]), nullable=True),
    Column("account_arr", Float, nullable=True),
    Index("ix_feedback_units_created_at", "created_at"),
    Index("ix_feedback_units_theme_id", "theme_id"),
    Index("ix_feedback_units_area_id", "area_id"),
    Index("ix_feedback_units_roadmap_item_id", "roadmap_item_id"),
)

# Alignment signals (feedback_nlp.alignment): sentences that state a commitment or ask for something as if it
# were missing, found when feedback is stored. Only facts about the text are kept; whether one is a promise
# or enablement gap is decided when read, against the serving model's roadmap. Replaced with the item's units.
alignment_signals = Table(
    "alignment_signals",
    metadata,
    Column(
        "item_id",
        String(FIELD_MAX_CHARS["id"]),
        ForeignKey("feedback_items.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("unit_index", Integer, primary_key=True),
    Column("kind", String(20), primary_key=True),  # "commitment" or "missing"
    Column("cue", String(50), nullable=False),
    Column("sentence", Text, nullable=False),  # redacted, like the unit
    Column("date_text", String(100), nullable=True),
    Column("stated_start", Date, nullable=True),
    Column("stated_end", Date, nullable=True),
    Column("renewal", Boolean, nullable=False),
    Column("theme_id", Integer, nullable=True),
    Column("theme_name", String(300), nullable=True),
    Column("roadmap_item_id", String(100), nullable=True),
    Column("confidence", Float, nullable=True),
    Column("rules_version", String(20), nullable=False),
    Column("model_version", String(100), nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    # copied from the item for queries without a join
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("source", String(FIELD_MAX_CHARS["source"]), nullable=False),
    Column("channel", String(FIELD_MAX_CHARS["channel"]), nullable=True),
    Column("account_id", String(FIELD_MAX_CHARS["account_id"]), nullable=True),
    Column("account_arr", Float, nullable=True),
    Index("ix_alignment_signals_created_at", "created_at"),
    Index("ix_alignment_signals_kind", "kind"),
)
