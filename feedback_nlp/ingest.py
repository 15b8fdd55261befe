"""Read feedback files (CSV, JSONL, Parquet), validate each row, and quarantine what cannot be used.

Rows are streamed one at a time so that inputs of any size can be read; nothing is dropped silently:
every rejected row is kept in a :class:`Quarantine` with its file, line and reason.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import sys
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from feedback_nlp.errors import InputError, ValidationError
from feedback_nlp.redact import redact_metadata
from feedback_nlp.schemas import FeedbackRecord

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("id", "text", "source", "created_at")
KNOWN_OPTIONAL_COLUMNS = ("account_id", "account_arr", "segment", "channel")
SUPPORTED_EXTENSIONS = (".csv", ".jsonl", ".ndjson", ".parquet")
DEFAULT_MAX_TEXT_CHARS = 20_000

# A CSV field can legitimately hold a long text; the size limit is enforced per row with a clear reason.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _has_undecodable(value: Any) -> bool:
    # Bytes that are not UTF-8 arrive as lone surrogates (errors="surrogateescape").
    return isinstance(value, str) and any("\udc80" <= ch <= "\udcff" for ch in value)


def parse_datetime(value: Any) -> datetime:
    """Parse an ISO 8601 date or datetime; naive values are taken as UTC. Raises ValueError."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("empty")
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = datetime.fromisoformat(text)
    else:
        raise ValueError(f"not a date: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _clean_str(value: Any) -> str | None:
    if _is_blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def validate_row(
    row: dict[str, Any],
    *,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    origin_file: str | None = None,
    origin_line: int | None = None,
    default_created_at: datetime | None = None,
    raw_metadata_columns: Collection[str] = (),
) -> FeedbackRecord:
    """Check one feedback row against the input contract and return it as a record.

    Fields are checked in the order of the columns (id, text, source, created_at, account_arr), so a row
    with several problems is quarantined for the first. Columns outside the contract become the record's
    metadata with personal data redacted from every string, except the ``raw_metadata_columns``.

    Raises:
        ValidationError: naming the field and what is wrong with it.
    """
    _check_utf8(row)
    return FeedbackRecord(
        id=_required_str(row, "id", "missing; every row needs a unique id"),
        text=_text(row.get("text"), max_text_chars),
        source=_required_str(row, "source", "missing; use 'ticket', 'call_note' or another word"),
        created_at=_created_at(row.get("created_at"), default_created_at),
        account_id=_clean_str(row.get("account_id")),
        account_arr=_arr(row.get("account_arr")),
        segment=_clean_str(row.get("segment")),
        channel=_clean_str(row.get("channel")),
        metadata=redact_metadata(_jsonable(_metadata(row)), raw_metadata_columns),
        origin_file=origin_file,
        origin_line=origin_line,
    )


def _check_utf8(row: dict[str, Any]) -> None:
    for key, value in row.items():
        if _has_undecodable(value) or _has_undecodable(key):
            raise ValidationError(str(key), "contains bytes that are not valid UTF-8")


def _required_str(row: dict[str, Any], field: str, missing: str) -> str:
    value = _clean_str(row.get(field))
    if value is None:
        raise ValidationError(field, missing)
    return value


def _text(value: Any, max_chars: int) -> str:
    if _is_blank(value) or not isinstance(value, str):
        raise ValidationError("text", "empty; there is nothing to analyse")
    if len(value) > max_chars:
        raise ValidationError("text", f"{len(value)} characters, over the limit of {max_chars}")
    return value


def _created_at(value: Any, default: datetime | None) -> datetime:
    if _is_blank(value):
        if default is None:
            raise ValidationError("created_at", "missing; give an ISO 8601 date or datetime")
        return default
    try:
        return parse_datetime(value)
    except (ValueError, TypeError):
        raise ValidationError("created_at", f"{value!r} is not an ISO 8601 date or datetime") from None


def _arr(value: Any) -> float | None:
    """Account ARR: optional, else a finite number >= 0."""
    if _is_blank(value):
        return None
    try:
        arr = float(value)
    except (TypeError, ValueError):
        raise ValidationError("account_arr", f"{value!r} is not a number") from None
    if math.isnan(arr) or math.isinf(arr):
        raise ValidationError("account_arr", f"{value!r} is not a finite number")
    if arr < 0:
        raise ValidationError("account_arr", f"{arr:g} is negative; ARR must be >= 0")
    return arr


def _metadata(row: dict[str, Any]) -> dict[str, Any]:
    """Every non-empty column outside the contract, kept as the item's metadata."""
    return {
        key: value
        for key, value in row.items()
        if key not in REQUIRED_COLUMNS and key not in KNOWN_OPTIONAL_COLUMNS and not _is_blank(value)
    }


def _jsonable(value: Any) -> Any:
    """Metadata must survive JSON (the store, the artifact); turn dates and numpy scalars into plain types."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value


@dataclass
class QuarantinedRow:
    file: str | None
    line: int | None
    reason: str
    field: str | None
    row: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "reason": self.reason,
            "field": self.field,
            "row": self.row,
        }


class Quarantine:
    """Rejected rows with their origin and reason; counted by reason for the run summary."""

    def __init__(self) -> None:
        self.rows: list[QuarantinedRow] = []
        self.counts: Counter[str] = Counter()

    def add(
        self,
        row: dict[str, Any],
        reason: str,
        field: str | None,
        origin_file: str | None,
        origin_line: int | None,
    ) -> None:
        safe_row = {str(k): _printable(v) for k, v in row.items()}
        self.rows.append(QuarantinedRow(origin_file, origin_line, reason, field, safe_row))
        self.counts[_reason_code(field, reason)] += 1
        logger.debug("quarantined %s line %s: %s", origin_file, origin_line, reason)

    def extend(self, rows: Iterable[QuarantinedRow]) -> None:
        """Take rows quarantined elsewhere (another partition, another worker), counting them by reason."""
        for row in rows:
            self.rows.append(row)
            self.counts[_reason_code(row.field, row.reason)] += 1

    def __len__(self) -> int:
        return len(self.rows)

    def write_jsonl(self, path: Path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            for quarantined in self.rows:
                handle.write(json.dumps(quarantined.to_dict(), ensure_ascii=False, default=str) + "\n")


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        # keep undecodable bytes visible as \x escapes rather than failing to write the quarantine file
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return value if len(value) <= 2000 else value[:2000] + f"... [{len(value)} chars]"
    return _jsonable(value)


def _reason_code(field: str | None, reason: str) -> str:
    if field is None:
        return reason.split(":")[0]
    if "not valid UTF-8" in reason:
        return "undecodable_bytes"
    if field == "id" and "duplicate" in reason:
        return "duplicate_id"
    return {
        "id": "missing_id",
        "text": "text_too_long" if "over the limit" in reason else "empty_text",
        "source": "missing_source",
        "created_at": "bad_created_at",
        "account_arr": "negative_arr" if "negative" in reason else "bad_account_arr",
    }.get(field, f"bad_{field}")


def _byte_lines(handle, start: int, end: int | None) -> Iterator[bytes]:
    """Physical lines (ending in ``\\n``) of a binary file from byte ``start`` up to byte ``end``."""
    handle.seek(start)
    position = start
    for raw_line in handle:
        if end is not None and position >= end:
            return
        position += len(raw_line)
        yield raw_line


def _csv_text_lines(handle, start: int, end: int | None) -> Iterator[str]:
    for raw_line in _byte_lines(handle, start, end):
        if start == 0 and raw_line.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
            raw_line = raw_line[3:]
        start = -1
        yield raw_line.decode("utf-8", "surrogateescape")


def _iter_csv(
    path: Path, start: int = 0, end: int | None = None, first_line: int = 1, header: list[str] | None = None
) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Rows of a CSV file, or of the byte range ``[start, end)`` of one (a partition: see partitions.py).

    The csv module is fed one physical line at a time, so a quoted field may span lines and the line
    number reported is the last physical line of the row, counted from ``first_line``.
    """
    with open(path, "rb") as raw:
        reader = csv.reader(_csv_text_lines(raw, start, end))
        offset = first_line - 1
        if header is None:
            try:
                header = next(reader)
            except StopIteration:
                return
            header = [name.strip() for name in header]
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield offset + reader.line_num, None, f"malformed_row: {exc}"
                continue
            if not values:
                continue
            line = offset + reader.line_num
            if len(values) != len(header):
                if any(_has_undecodable(v) for v in values):
                    yield line, dict(zip(header, values)), "undecodable_bytes: the row is not valid UTF-8"
                    continue
                yield (
                    line,
                    dict(zip(header, values)),
                    (f"malformed_row: {len(values)} fields, the header has {len(header)}"),
                )
                continue
            yield line, dict(zip(header, values)), None


def _iter_jsonl(
    path: Path, start: int = 0, end: int | None = None, first_line: int = 1
) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    with open(path, "rb") as handle:
        for line_number, raw_line in enumerate(_byte_lines(handle, start, end), start=first_line):
            if not raw_line.strip():
                continue
            try:
                decoded = raw_line.decode("utf-8")
            except UnicodeDecodeError:
                yield (
                    line_number,
                    {"raw": raw_line.decode("utf-8", "backslashreplace")[:2000]},
                    ("undecodable_bytes: the line is not valid UTF-8"),
                )
                continue
            try:
                parsed = json.loads(decoded)
            except json.JSONDecodeError as exc:
                yield line_number, {"raw": decoded[:2000]}, f"malformed_row: invalid JSON ({exc.msg})"
                continue
            if not isinstance(parsed, dict):
                yield line_number, {"raw": decoded[:2000]}, "malformed_row: a line must be a JSON object"
                continue
            yield line_number, parsed, None


def _iter_parquet(
    path: Path, start: int = 0, end: int | None = None, first_line: int = 1
) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Rows of a Parquet file, or of its row groups ``[start, end)``, numbered from ``first_line``."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    groups = list(range(start, parquet.num_row_groups if end is None else end))
    row_number = first_line - 1
    if not groups:
        return
    for batch in parquet.iter_batches(batch_size=10_000, row_groups=groups):
        for row in batch.to_pylist():
            row_number += 1
            yield row_number, row, None


def _reader_for(path: Path):
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _iter_csv
    if suffix in (".jsonl", ".ndjson"):
        return _iter_jsonl
    if suffix == ".parquet":
        return _iter_parquet
    raise InputError(
        f"{path}: unsupported extension {suffix!r}; use one of {', '.join(SUPPORTED_EXTENSIONS)}"
    )


def check_inputs(paths: Iterable[Path | str]) -> list[Path]:
    """Fail fast, before any work, on missing files or unknown formats."""
    checked = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        _reader_for(path)
        checked.append(path)
    if not checked:
        raise InputError("no feedback files given")
    return checked


def iter_validated(
    rows: Iterable[tuple[int, dict[str, Any] | None, str | None]],
    origin_file: str,
    quarantine: Quarantine,
    *,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    raw_metadata_columns: Collection[str] = (),
) -> Iterator[tuple[FeedbackRecord, dict[str, Any]]]:
    """Validate raw rows one by one: bad ones go to ``quarantine``, good ones come out with their raw row.

    Duplicate ids are not checked here: that needs every earlier row (see :func:`iter_feedback` and the
    partitioned reader in :mod:`feedback_nlp.partitions`).
    """
    for line, row, problem in rows:
        if problem is not None:
            quarantine.add(row or {}, problem, None, origin_file, line)
            continue
        assert row is not None
        try:
            record = validate_row(
                row,
                max_text_chars=max_text_chars,
                origin_file=origin_file,
                origin_line=line,
                raw_metadata_columns=raw_metadata_columns,
            )
        except ValidationError as exc:
            quarantine.add(row, str(exc), exc.field, origin_file, line)
            continue
        yield record, row


def duplicate_reason(item_id: str) -> str:
    return f"id: duplicate id {item_id!r}; the first row with it was kept"


def iter_feedback(
    paths: Iterable[Path | str],
    quarantine: Quarantine,
    *,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
    raw_metadata_columns: Collection[str] = (),
) -> Iterator[FeedbackRecord]:
    """Stream valid records from the files in order; bad rows go to ``quarantine``.

    Duplicate ids (within or across files) keep the first row and quarantine the later ones. The set of
    seen ids is the only state kept across rows.
    """
    seen_ids: set[str] = set()
    for path in check_inputs(paths):
        reader = _reader_for(path)
        rows = iter_validated(
            reader(path),
            str(path),
            quarantine,
            max_text_chars=max_text_chars,
            raw_metadata_columns=raw_metadata_columns,
        )
        for record, row in rows:
            if record.id in seen_ids:
                quarantine.add(row, duplicate_reason(record.id), "id", str(path), record.origin_line)
                continue
            seen_ids.add(record.id)
            yield record
