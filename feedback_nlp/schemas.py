"""Plain data records passed between the stages, the model and its callers (service, store, report)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

SOURCE_TICKET = "ticket"
SOURCE_CALL_NOTE = "call_note"
ROUTE_OWNER = "owner"
ROUTE_TRIAGE = "triage"

# The most characters a record's short fields may hold: the store's column sizes (store_schema), checked
# before storing (store.check_record_fits) and by the service's request schema. Migrations keep their own
# literal sizes: they record the schema as it was when they were written.
FIELD_MAX_CHARS = {"id": 200, "source": 50, "account_id": 200, "segment": 100, "channel": 100}

# The columns of a feedback file or row (see feedback_nlp.ingest.validate_row); any other column is metadata.
REQUIRED_COLUMNS = ("id", "text", "source", "created_at")
KNOWN_OPTIONAL_COLUMNS = ("account_id", "account_arr", "segment", "channel")


@dataclass(frozen=True)
class FeedbackRecord:
    """One accepted feedback row (a ticket, a call note, or another source).

    ``text`` is the original text as received; redaction happens when it is split into units.
    """

    id: str
    text: str
    source: str
    created_at: datetime  # timezone-aware, UTC
    account_id: str | None = None
    account_arr: float | None = None
    segment: str | None = None
    channel: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    origin_file: str | None = None
    origin_line: int | None = None


@dataclass(frozen=True)
class FeedbackUnit:
    """One request inside a feedback item: the whole ticket, or one topic of a call note.

    ``start``/``end`` are character offsets into the item's original text; ``text`` is redacted.
    """

    item_id: str
    index: int
    start: int
    end: int
    text: str


@dataclass
class UnitScore:
    """What the model says about one unit."""

    unit_index: int
    start: int
    end: int
    text: str  # redacted
    theme_id: int | None
    theme_name: str | None
    confidence: float
    roadmap_item: dict[str, str] | None  # {"id": ..., "title": ...}
    owner: str
    route: str  # ROUTE_OWNER or ROUTE_TRIAGE
    explanation: dict[str, Any]
    area_id: int | None = None  # the theme's area (feedback_nlp/areas.py)
    area_name: str | None = None
    # the unit's encoder vector (unit length), kept so the store can index it for search by meaning
    # (feedback_nlp/search.py); never part of the API's answer
    vector: Any = field(default=None, repr=False, compare=False)

    def to_dict(self, *, copy_values: bool = True) -> dict[str, Any]:
        """The unit's fields but its vector; ``copy_values=False`` shares the explanation and roadmap item
        with this unit (for a caller that copies them anyway, as :func:`plain_json` does)."""
        if not copy_values:
            return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "vector"}
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.name != "vector"}


def plain_json(value: Any) -> Any:
    """Plain JSON types (numpy scalars from the model become Python numbers), as the API sends them."""
    if isinstance(value, dict):
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(item) for item in value]
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (str, bytes)):
        return value.item()
    return value


@dataclass
class ItemScore:
    """What the model says about one feedback item; the top-level fields are its primary unit's.

    The primary unit is the unit with the highest confidence (a ticket usually has one unit).
    """

    id: str
    source: str
    model_version: str
    units: list[UnitScore]

    @property
    def primary(self) -> UnitScore:
        return max(self.units, key=lambda u: u.confidence)

    def to_dict(self, *, copy_values: bool = True) -> dict[str, Any]:
        """The API's answer: the primary unit's fields on top, each unit's explanation once, in ``units``.

        ``copy_values=False``: the units' explanations and roadmap items are shared with this score, not
        copied (``plain_json(score.to_dict(copy_values=False))`` copies them once, not twice).
        """
        primary = self.primary
        return {
            "id": self.id,
            "source": self.source,
            "theme_id": primary.theme_id,
            "theme_name": primary.theme_name,
            "area_id": primary.area_id,
            "area_name": primary.area_name,
            "confidence": primary.confidence,
            "roadmap_item": primary.roadmap_item,
            "owner": primary.owner,
            "route": primary.route,
            "model_version": self.model_version,
            "primary_unit": primary.unit_index,
            "units": [u.to_dict(copy_values=copy_values) for u in self.units],
        }
