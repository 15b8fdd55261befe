"""Request and response bodies of the API (separate classes).

A feedback item keeps unknown fields as metadata, as the file readers keep unknown columns (support tools
send fields of their own); the batch wrapper refuses them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError
from typing_extensions import TypeAliasType

from feedback_nlp.contract import (
    ACCOUNT_ARR_MAX,
    CREATED_AT_MAX,
    CREATED_AT_MIN,
    JSON_INT_MAX,
    account_arr_problem,
    created_at_problem,
    json_problem,
    text_problem,
)
from feedback_nlp.schemas import FIELD_MAX_CHARS

# Document what the validators enforce (text_problem and the blank checks): no NUL anywhere, and a required
# field must have something besides spaces. Only in the schema: pydantic's own pattern error would replace
# the validators' messages. (Unpaired surrogates, also refused, cannot be said in a pattern.)
NO_NUL: dict[str, Any] = {"pattern": r"^[^\u0000]*$"}
NOT_BLANK: dict[str, Any] = {"pattern": r"^[^\u0000]*[^\s\u0000][^\u0000]*$"}

# The years of CREATED_AT_MIN up to CREATED_AT_MAX (1970 to 2099) as the start of an ISO 8601 date: a JSON
# Schema cannot bound a date-time, a pattern can say the years; the exact bounds are in the description.
CREATED_AT_PATTERN = r"^(19[7-9][0-9]|20[0-9]{2})-[0-9]{2}-[0-9]{2}"
_CREATED_AT_START = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")

# What metadata may hold, as a schema (json_problem is the check, with its messages): JSON values whose
# strings have no NUL and whose numbers fit 64-bit integers (a JSON Schema cannot tell 1e20 from the integer
# 100000000000000000000, so floats are held to the same bound).
_MetadataText = Annotated[str, WithJsonSchema({"type": "string", "pattern": NO_NUL["pattern"]})]
# exclusive 2**63: exact as a float (the OpenAPI document holds bounds as floats, 2**63 - 1 is not one)
_NUMBER_BOUNDS = {"exclusiveMinimum": -(JSON_INT_MAX + 1), "exclusiveMaximum": JSON_INT_MAX + 1}
_MetadataInt = Annotated[int, WithJsonSchema({"type": "integer", **_NUMBER_BOUNDS})]
_MetadataFloat = Annotated[float, WithJsonSchema({"type": "number", **_NUMBER_BOUNDS})]


class _OnlyPatternKeys:
    """In the JSON Schema, a metadata object's keys must match its key pattern (no NUL)."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["additionalProperties"] = False  # beside patternProperties: other keys are not allowed
        return schema


if TYPE_CHECKING:  # for mypy, metadata is any JSON object (the library's functions take dict[str, Any])
    MetadataValue = Any
else:
    MetadataValue = TypeAliasType(
        "MetadataValue",
        "_MetadataText | bool | _MetadataInt | _MetadataFloat | None | list[MetadataValue] "
        "| Annotated[dict[_MetadataText, MetadataValue], _OnlyPatternKeys()]",
    )


def _float_problem(value: Any) -> str | None:
    """A float in metadata beyond the 64-bit integer range (json_problem bounds the integers)."""
    if isinstance(value, float) and abs(value) > JSON_INT_MAX:
        return f"contains a number beyond the 64-bit range (at most {JSON_INT_MAX} in size)"
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return next((problem for item in items if (problem := _float_problem(item))), None)


class FeedbackItemIn(BaseModel):
    """One feedback item to score, in the feedback schema of the training data.

    The input contract of the training files (:mod:`feedback_nlp.contract`): fields longer than the store's
    columns (``FIELD_MAX_CHARS``), text with NUL or unpaired surrogates, dates and numbers out of bounds are
    rejected here, as 422. Any other field is kept as metadata (see :meth:`all_metadata`), under the same
    rules as ``metadata``.
    """

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            # what the metadata checks enforce on the names of extra fields
            "propertyNames": NO_NUL,
            "examples": [
                {
                    "id": "T-1001",
                    "text": "The CSV export times out for big accounts",
                    "source": "ticket",
                    "account_id": "acme",
                    "account_arr": 120000,
                }
            ],
        },
    )

    id: str = Field(
        min_length=1,
        max_length=FIELD_MAX_CHARS["id"],
        description="Unique id; the same id again updates",
        json_schema_extra=NOT_BLANK,
    )
    text: str = Field(
        min_length=1, description="The feedback text (a ticket or a call note)", json_schema_extra=NOT_BLANK
    )
    source: str = Field(
        min_length=1,
        max_length=FIELD_MAX_CHARS["source"],
        description="'ticket', 'call_note', or another word",
        json_schema_extra=NOT_BLANK,
    )
    created_at: datetime | None = Field(
        default=None,
        description=f"ISO 8601; naive times are UTC; default now; from {CREATED_AT_MIN.isoformat()} "
        f"up to, not including, {CREATED_AT_MAX.isoformat()}",
        json_schema_extra={"pattern": CREATED_AT_PATTERN},
    )
    account_id: str | None = Field(
        default=None, max_length=FIELD_MAX_CHARS["account_id"], json_schema_extra=NO_NUL
    )
    account_arr: float | None = Field(
        default=None,
        ge=0,
        le=ACCOUNT_ARR_MAX,
        allow_inf_nan=False,
        description=f"Account ARR, a number from 0 to {ACCOUNT_ARR_MAX:g} (not a boolean)",
    )
    segment: str | None = Field(default=None, max_length=FIELD_MAX_CHARS["segment"], json_schema_extra=NO_NUL)
    channel: str | None = Field(default=None, max_length=FIELD_MAX_CHARS["channel"], json_schema_extra=NO_NUL)
    metadata: Annotated[dict[_MetadataText, MetadataValue], _OnlyPatternKeys()] = Field(
        default_factory=dict,
        description="Any other JSON fields; personal data in their strings is redacted before storing. "
        "Fields sent beside the schema's are kept here too (a key in both: this object's value wins)",
    )
    __pydantic_extra__: dict[str, MetadataValue]  # unknown fields, validated as metadata values

    def all_metadata(self) -> dict[str, Any]:
        """``metadata`` with the unknown fields sent beside it (``metadata``'s own keys win)."""
        return {**(self.model_extra or {}), **self.metadata}

    @field_validator("id", "source")
    @classmethod
    def _required_str(cls, value: str) -> str:
        stripped = value.strip()
        if not stripped:
            raise ValueError("must not be blank")
        problem = text_problem(stripped)
        if problem:
            raise ValueError(problem)
        return stripped

    @field_validator("account_id", "segment", "channel")
    @classmethod
    def _optional_str(cls, value: str | None) -> str | None:
        # blank is absent, as in the training files (an empty cell); the schema allows "" too
        if value is None or not value.strip():
            return None
        stripped = value.strip()
        problem = text_problem(stripped)
        if problem:
            raise ValueError(problem)
        return stripped

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank; there is nothing to score")
        problem = text_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("created_at", mode="before")
    @classmethod
    def _created_at_is_iso_text(cls, value: Any) -> Any:
        # pydantic would read 0 or "0" as a Unix time; the schema (and the README) promise ISO 8601 text
        if value is not None and not (isinstance(value, str) and _CREATED_AT_START.match(value)):
            raise ValueError('must be an ISO 8601 date and time as text, e.g. "2026-03-01T09:30:00Z"')
        return value

    @field_validator("created_at")
    @classmethod
    def _created_at(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        # compared as given: converting a time near year 1 or 9999 to UTC overflows
        problem = created_at_problem(value if value.tzinfo is not None else value.replace(tzinfo=UTC))
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("account_arr", mode="before")
    @classmethod
    def _arr_not_boolean(cls, value: Any) -> Any:
        # pydantic would read true as 1.0; the contract refuses booleans, as the file readers do
        if isinstance(value, bool):
            raise ValueError(account_arr_problem(value))
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        problem = json_problem(value) or _float_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _extra_fields(self) -> FeedbackItemIn:
        for key, value in (self.model_extra or {}).items():
            problem = json_problem({key: value}) or _float_problem(value)
            if problem:
                raise PydanticCustomError(
                    "invalid_metadata", "{field}: {problem}", {"field": key, "problem": problem}
                )
        return self


class FeedbackBatchIn(BaseModel):
    """Several items scored in one request (up to the configured limit, 256 by default)."""

    model_config = ConfigDict(extra="forbid")

    items: list[FeedbackItemIn] = Field(min_length=1)


def _request_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        # an item may carry a field of its own named "items" (kept as metadata); a batch has no text
        return "batch" if "items" in value and "text" not in value else "item"
    if isinstance(value, (FeedbackBatchIn, FeedbackItemIn)):
        return "batch" if isinstance(value, FeedbackBatchIn) else "item"
    return None


ScoreRequest = Annotated[
    Annotated[FeedbackItemIn, Tag("item")] | Annotated[FeedbackBatchIn, Tag("batch")],
    Discriminator(
        _request_kind,
        custom_error_type="invalid_body",
        custom_error_message="send JSON (Content-Type: application/json): one feedback item "
        'or {"items": [...]}',
    ),
]
# Tags appear in validation error locations; the error handler drops them so fields read "items.0.text".
REQUEST_TAGS = frozenset(
    {"item", "batch"}
    # the kinds of the curation and correction bodies (discriminated unions): "themes", not "pin_theme.themes"
    | {
        "rename_theme",
        "rename_area",
        "merge_themes",
        "split_theme",
        "move_theme",
        "pin_theme",
        "ignore_theme",
    }
    | {"not_mine", "theme"}
)


class RoadmapRef(BaseModel):
    id: str
    title: str


class NearestExample(BaseModel):
    model_config = ConfigDict(extra="allow")

    text: str
    similarity: float
    theme_id: int | None = None


class RunnerUp(BaseModel):
    model_config = ConfigDict(extra="allow")

    theme_id: int | None
    theme_name: str | None
    probability: float


class RoadmapEvidenceExplanation(BaseModel):
    """The roadmap item the unit itself speaks to most, whether or not that decided its route."""

    model_config = ConfigDict(extra="allow")

    item_id: str
    score: float = Field(
        description="Cosine to the item plus the weighted word match of its title and keywords"
    )
    threshold: float = Field(description="From this score the unit goes to the item's owner")
    routed: bool = Field(description="Whether this item decided the route")
    words: list[str] = Field(default_factory=list, description="The item's words (stemmed) found in the unit")


class Explanation(BaseModel):
    """Why a unit got its theme and route."""

    model_config = ConfigDict(extra="allow")

    reason: str | None = None
    keywords: list[str] = Field(default_factory=list, description="The theme's keywords found in the text")
    nearest_examples: list[NearestExample] = Field(
        default_factory=list, description="The nearest training examples (redacted) with similarity"
    )
    runner_up: RunnerUp | None = Field(default=None, description="The second most likely theme")
    roadmap_evidence: RoadmapEvidenceExplanation | None = Field(
        default=None, description="The unit's own best roadmap item (models trained with unit-level evidence)"
    )


class UnitResult(BaseModel):
    """One unit of an item (a whole ticket, or one request of a call note); offsets index the sent text."""

    unit_index: int
    start: int
    end: int
    text: str = Field(description="The unit's text, redacted")
    theme_id: int | None
    theme_name: str | None
    area_id: int | None = Field(description="The theme's area (a group of related themes); follows the theme")
    area_name: str | None
    confidence: float
    roadmap_item: RoadmapRef | None
    owner: str
    route: Literal["owner", "triage"]
    explanation: Explanation


class ScoreResult(BaseModel):
    """The answer for one item; top-level fields are those of its most confident unit, ``primary_unit``.

    Each unit's explanation is sent once, in ``units`` (the primary one is ``units[primary_unit]``).
    """

    id: str
    source: str
    theme_id: int | None
    theme_name: str | None
    area_id: int | None = Field(description="The theme's area (a group of related themes); follows the theme")
    area_name: str | None
    confidence: float
    roadmap_item: RoadmapRef | None
    owner: str
    route: Literal["owner", "triage"]
    model_version: str
    primary_unit: int = Field(description="The unit_index of the unit the top-level fields come from")
    units: list[UnitResult]


class BatchScoreResponse(BaseModel):
    model_version: str
    results: list[ScoreResult]


class VolumeOut(BaseModel):
    days: int
    since: datetime
    units: int = Field(description="Units with this theme in the store, created since `since`")


class ThemeSummary(BaseModel):
    id: int
    name: str = Field(description="The curated name when a curator renamed it (GET /v1/curation)")
    area_id: int | None = Field(description="The area this theme belongs to (a group of related themes)")
    area_name: str | None
    keywords: list[str]
    size: int = Field(description="Training units, those of the themes merged into it included")
    roadmap_item: RoadmapRef | None
    roadmap_score: float | None = None
    owner: str
    recent_volume: VolumeOut
    merged_from: list[int] = Field(default_factory=list, description="Themes a curator merged into this one")
    ignored: str | None = Field(default=None, description="Why a curator ignored it (absent: not ignored)")


class ThemeDetail(ThemeSummary):
    examples: list[str]


class FoundUnitOut(BaseModel):
    item_id: str = Field(description="The feedback item's id")
    unit_index: int = Field(description="The unit within the item (a call note may hold several)")
    text: str = Field(description="The unit's text, redacted as stored")
    theme_id: int | None = Field(description="The curated theme (a merged theme answers with its absorber)")
    theme_name: str | None
    area_id: int | None
    area_name: str | None
    source: str
    account_id: str | None
    created_at: datetime
    score: float | None = Field(description="Cosine similarity to the query (by meaning); null by words")


class SearchResponse(BaseModel):
    mode: str = Field(description="meaning or words")
    units: list[FoundUnitOut] = Field(description="By meaning: most similar first; by words: newest first")
    searched: int = Field(description="Stored units the search could see (by meaning: those with a vector)")
    without_embedding: int = Field(
        description="Units stored before vectors were kept: found by words only until re-ingested"
    )


class ThemesResponse(BaseModel):
    model_version: str
    themes: list[ThemeSummary]


# Text a curator types: not blank, no NUL (the store's columns cannot hold one)
_CuratedText = Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[^\x00]*[^\s\x00][^\x00]*$")]


def _not_a_bool(value: Any) -> Any:
    """JSON false is not 0: an id or index refuses booleans (pydantic's lax int takes them; 12.0 stays
    accepted, as JSON Schema's "integer" does)."""
    if isinstance(value, bool):
        raise ValueError("a whole number, not true or false")
    return value


# the constraints before the validator: after it, they would not reach the JSON Schema
_ThemeId = Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(_not_a_bool)]
_UnitIndex = Annotated[
    int,
    Field(ge=0, le=100_000, description="The unit of the item (0: the first)"),
    BeforeValidator(_not_a_bool),
]
# an area id as curation actions carry it (a string, as in the taxonomy file): digits only, so that every
# schema-valid one is accepted by feedback_nlp.curation's check
_AreaIdText = Annotated[str, Field(min_length=1, max_length=10, pattern=r"^[0-9]+$")]
_OneTheme = Annotated[list[_ThemeId], Field(min_length=1, max_length=1, description="The theme")]
_Keyword = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]*[^\s\x00][^\x00]*$")]


class _CurationBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000, pattern=r"^[^\x00]*$", description="Why")


class RenameThemeIn(_CurationBase):
    kind: Literal["rename_theme"]
    themes: _OneTheme
    name: _CuratedText


class RenameAreaIn(_CurationBase):
    kind: Literal["rename_area"]
    area: _AreaIdText = Field(description="The area id")
    name: _CuratedText


class MergeThemesIn(_CurationBase):
    kind: Literal["merge_themes"]
    themes: list[_ThemeId] = Field(
        min_length=2,
        max_length=50,
        json_schema_extra={"uniqueItems": True},
        description="The first absorbs the others",
    )
    name: _CuratedText | None = None


class MoveThemeIn(_CurationBase):
    kind: Literal["move_theme"]
    themes: _OneTheme
    area: _AreaIdText = Field(description="The area id it moves to")


class PinThemeIn(_CurationBase):
    """A roadmap item, an owner, or both (at least one)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["roadmap_item"], "properties": {"roadmap_item": {"type": "string"}}},
                {"required": ["owner"], "properties": {"owner": {"type": "string"}}},
            ]
        },
    )
    kind: Literal["pin_theme"]
    themes: _OneTheme
    roadmap_item: _CuratedText | None = None
    owner: _CuratedText | None = None


class IgnoreThemeIn(_CurationBase):
    kind: Literal["ignore_theme"]
    themes: _OneTheme


CurationIn = Annotated[
    RenameThemeIn | RenameAreaIn | MergeThemesIn | MoveThemeIn | PinThemeIn | IgnoreThemeIn,
    Field(discriminator="kind"),
]


class SplitGroupOut(BaseModel):
    theme_id: int = Field(description="The new theme's stable id")
    name: str
    phrases: list[str]
    examples: list[str] = Field(description="Redacted quotes: what the next retrain seeds the theme with")


class SubGroupOut(BaseModel):
    index: int = Field(description="What a split names to pick this sub-group")
    size: int = Field(description="Stored units in it")
    phrases: list[str] = Field(description="Its top phrases (c-TF-IDF against the other sub-groups)")
    quotes: list[str] = Field(description="Redacted units nearest its centre")


class SplitProposalOut(BaseModel):
    theme_id: int
    proposal_id: str = Field(description="Send it back with the picks: a changed theme gives another")
    units: int = Field(description="Stored units with a vector that were clustered")
    max_groups: int
    groups: list[SubGroupOut] = Field(description="Biggest first")


class SplitPick(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0, le=5, description="A sub-group of the proposal")
    name: _CuratedText


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    proposal_id: str = Field(pattern=r"^[0-9a-f]{16}$", description="From GET /v1/themes/{theme_id}/split")
    max_groups: int = Field(default=4, ge=2, le=6, description="As in the proposal")
    groups: list[SplitPick] = Field(min_length=1, max_length=5, description="The sub-groups to split off")
    reason: str | None = Field(default=None, max_length=1000, pattern=r"^[^\x00]*$", description="Why")


class CurationOut(BaseModel):
    id: int
    kind: str
    themes: list[int]
    name: str | None
    area: str | None
    roadmap_item: str | None
    owner: str | None
    reason: str | None
    groups: list[SplitGroupOut] = Field(description="split_theme: the sub-groups made themes of their own")
    actor: str = Field(description="The key's role and fingerprint that made the decision")
    created_at: datetime
    description: str


class NotApplied(BaseModel):
    id: int | None
    decision: str
    why: str


class CurationResponse(BaseModel):
    actions: list[CurationOut]
    not_applied_by_training: list[NotApplied] = Field(
        description="Decisions kept but not applied by a retrain yet (areas, before models have them)"
    )


class NotMineIn(BaseModel):
    """The unit is not the owner's: it goes to triage."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["not_mine"]
    unit_index: _UnitIndex = 0


class MoveToThemeIn(BaseModel):
    """The unit belongs to ``theme_id``: it goes to that theme's roadmap item and owner."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["theme"]
    unit_index: _UnitIndex = 0
    theme_id: _ThemeId


CorrectionIn = Annotated[NotMineIn | MoveToThemeIn, Field(discriminator="kind")]


class CorrectionOut(BaseModel):
    id: int
    item_id: str
    unit_index: int
    kind: str
    theme_id: int | None
    previous_theme_id: int | None
    actor: str
    created_at: datetime


class FlaggedTheme(BaseModel):
    theme: int
    corrections: int


class CorrectionsResponse(BaseModel):
    corrections: list[CorrectionOut]
    flagged_for_review: list[FlaggedTheme] = Field(description="Themes many units were corrected away from")


class RoadmapItemOut(BaseModel):
    id: str
    title: str
    description: str | None = None
    owner: str | None = None
    status: str | None = None
    keywords: list[str] = Field(default_factory=list)
    target: str | None = None
    area: int | None = Field(
        default=None, description="The area this item covers as a whole, if it names one"
    )
    theme_ids: list[int] = Field(description="Themes of the current model linked to this item")
    evidence_count: int = Field(description="Feedback items in the store that are evidence for this item")


class RoadmapResponse(BaseModel):
    model_version: str
    since: datetime | None
    items: list[RoadmapItemOut]


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    """Only ``status`` without a key (for probes); the details name paths and errors, so they need one."""

    status: Literal["ready", "not ready"]
    model_version: str | None = Field(default=None, description="With a valid X-API-Key only")
    store: Literal["ok", "unreachable"] | None = Field(
        default=None, description="With a valid X-API-Key only"
    )
    problems: list[str] | None = Field(
        default=None, description="Why it is not ready; with a valid X-API-Key only"
    )


class ReloadResponse(BaseModel):
    status: Literal["reloaded", "unchanged"]
    model_version: str | None
    previous_version: str | None


class FieldError(BaseModel):
    field: str = Field(description="Where the bad value is: text, items.3.text, query.days, body")
    message: str


class Problem(BaseModel):
    """Every error answer (RFC 9457 problem details, ``application/problem+json``)."""

    type: str = Field(description='"about:blank": the status code says what kind of problem it is')
    title: str = Field(description="The status code's phrase, e.g. Unprocessable Content")
    status: int
    detail: str = Field(description="What was wrong and what to do")
    instance: str = Field(description="The request's path")
    errors: list[FieldError] | None = Field(
        default=None, description="With 422: each refused field and why (body, path and query alike)"
    )


# Earlier names of the error body, kept for routes that still use them: the same RFC 9457 shape.
ErrorResponse = Problem
ValidationErrorResponse = Problem


# The error answers of the API, documented on each route that can give them (schemathesis checks that every
# answer's status code and body are documented).
_ERROR_RESPONSES: dict[int, dict[str, Any]] = {
    400: {
        "model": Problem,
        "description": "Unreadable request: an invalid Content-Length header, or a body that cannot be read",
    },
    401: {"model": Problem, "description": "Missing or invalid X-API-Key"},
    403: {"model": Problem, "description": "Not an admin key"},
    404: {"model": Problem, "description": "No such resource"},
    413: {"model": Problem, "description": "Request body over the size limit"},
    422: {"model": Problem, "description": "Bad input; each error names its field"},
    429: {"model": Problem, "description": "Rate limit reached; retry after Retry-After seconds"},
    503: {"model": Problem, "description": "No model loaded, or the store is unreachable"},
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` for these error status codes (all :class:`Problem`, as problem+json)."""
    return {code: dict(_ERROR_RESPONSES[code]) for code in codes}
