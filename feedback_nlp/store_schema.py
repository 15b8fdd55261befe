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
    LargeBinary,
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
    # the unit's encoder vector as float16 bytes (feedback_nlp.search); NULL before migration 0007
    Column("embedding", LargeBinary, nullable=True),
    Index("ix_feedback_units_created_at", "created_at"),
    Index("ix_feedback_units_theme_id", "theme_id"),
    Index("ix_feedback_units_area_id", "area_id"),
    Index("ix_feedback_units_roadmap_item_id", "roadmap_item_id"),
    Index("ix_feedback_units_scored_at", "scored_at"),
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

# Deliveries from support desks' webhooks (feedback_nlp.service.routers.webhooks): one row per desk event key
# (the desk's ticket or conversation part id), so that a retry or a replay stores nothing twice and gets the
# first answer back. ``body_sha256`` tells a retry (same text) from an edit (re-scored, replacing the item).
webhook_receipts = Table(
    "webhook_receipts",
    metadata,
    Column("desk", String(20), primary_key=True),
    Column("event_key", String(FIELD_MAX_CHARS["id"]), primary_key=True),
    Column("item_id", String(FIELD_MAX_CHARS["id"]), nullable=False),
    Column("text_sha256", String(64), nullable=False),
    Column("result_json", JSON, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# Messages to owners (feedback_nlp.notify.outbox): written in the same place as what caused them, delivered
# by the sender with retries. ``destination`` names an owner's channel in notifications.yaml, never the
# Slack URL or SMTP password (secrets stay out of the database).
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),  # "digest" or "alert"
    Column("owner", String(200), nullable=False),
    Column("channel", String(20), nullable=False),  # "slack" or "email"
    Column("payload", Text, nullable=False),  # Slack JSON, or the whole e-mail (RFC 5322)
    Column("state", String(20), nullable=False),  # pending, sending, sent, dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
)

# Curation decisions (feedback_nlp.curation), in the order made; a withdrawn one keeps its row (revoked_at)
# so that who decided what, and when, stays on record.
curation_actions = Table(
    "curation_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(30), nullable=False),
    Column("themes", JSON, nullable=False),
    Column("name", String(300), nullable=True),
    Column("area", String(100), nullable=True),
    Column("roadmap_item", String(100), nullable=True),
    Column("owner", String(200), nullable=True),
    Column("reason", Text, nullable=True),
    Column("groups", JSON, nullable=True),
    Column("actor", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoked_by", String(100), nullable=True),
)

# Corrections of single routes (feedback_nlp.corrections): kept as labels for the next retrain. The unit's
# redacted text is copied so that the label survives the item being re-scored or its units replaced.
corrections = Table(
    "corrections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(FIELD_MAX_CHARS["id"]), nullable=False),
    Column("unit_index", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("theme_id", Integer, nullable=True),
    Column("previous_theme_id", Integer, nullable=True),
    Column("text_redacted", Text, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_corrections_item_id", "item_id"),
)
