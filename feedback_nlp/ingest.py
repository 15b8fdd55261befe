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
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from feedback_nlp.contract import (
    JSON_MAX_DEPTH,
    account_arr_problem,
    created_at_problem,
    json_problem,
    text_problem,
)
from feedback_nlp.errors import InputError, ValidationError
from feedback_nlp.input_format import InputFormat
from feedback_nlp.redact import redact_metadata
from feedback_nlp.schemas import FIELD_MAX_CHARS, KNOWN_OPTIONAL_COLUMNS, REQUIRED_COLUMNS, FeedbackRecord

logger = logging.getLogger(__name__)

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
    # Bytes that are not UTF-8 arrive as lone surrogates (errors="surrogateescape"); only the CSV reader
    # decodes that way, so only it calls this (a JSON "\\udc80" escape is text, judged by the contract).
    return isinstance(value, str) and any("\udc80" <= ch <= "\udcff" for ch in value)


def _parse_aware(value: Any) -> datetime:
    """An ISO 8601 date or datetime as given, naive taken as UTC, not yet converted. Raises ValueError."""
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
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_datetime(value: Any) -> datetime:
    """Parse an ISO 8601 date or datetime within the contract's range; naive values are UTC.

    Raises:
        ValueError: not a date, or outside ``contract.CREATED_AT_MIN`` .. ``CREATED_AT_MAX``.
    """
    parsed = _parse_aware(value)
    problem = created_at_problem(parsed)
    if problem:
        raise ValueError(problem)
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

    The contract (bounds in :mod:`feedback_nlp.contract`) is the one the service's request schema and the
    store enforce. Fields are checked in the order of the columns (id, text, source, created_at,
    account_arr, then the short optional fields and metadata), so a row with several problems is
    quarantined for the first. Columns outside the contract become the record's metadata with personal
    data redacted from every string, except the ``raw_metadata_columns``.

    Raises:
        ValidationError: naming the field and what is wrong with it.
    """
    _check_fields_present(row, default_created_at)
    return FeedbackRecord(
        id=_required_str(row, "id", "missing; every row needs a unique id"),
        text=_text(row.get("text"), max_text_chars),
        source=_required_str(row, "source", "missing; use 'ticket', 'call_note' or another word"),
        created_at=_created_at(row.get("created_at"), default_created_at),
        account_arr=_arr(row.get("account_arr")),
        account_id=_short_str(row, "account_id"),
        segment=_short_str(row, "segment"),
        channel=_short_str(row, "channel"),
        metadata=redact_metadata(_checked_metadata(row), raw_metadata_columns),
        origin_file=origin_file,
        origin_line=origin_line,
    )


def _check_fields_present(row: dict[str, Any], default_created_at: datetime | None) -> None:
    # A field absent from the row (not just empty) means the header or delimiter is wrong, not the row.
    required = [f for f in REQUIRED_COLUMNS if f != "created_at" or default_created_at is None]
    missing = [field for field in required if field not in row]
    if missing:
        found = ", ".join(repr(str(key))[:60] for key in list(row)[:8]) or "none"
        raise ValidationError(
            missing[0],
            f"{_NO_FIELD} (missing: {', '.join(missing)}; found: {found}); "
            "check the header and the delimiter",
        )


_NO_FIELD = "no such field in the row"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    names: dict[type, str] = {bytes: "bytes", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _required_str(row: dict[str, Any], field: str, missing: str) -> str:
    """A short text field the row must have (``missing`` says why when it has none)."""
    value = _short_str(row, field, missing)
    assert value is not None  # _short_str raises with ``missing`` when the field is absent
    return value


def _short_str(row: dict[str, Any], field: str, missing: str | None = None) -> str | None:
    """A short text field (an id, a source, ...): a string or a whole number, within its column size."""
    value = row.get(field)
    if _is_blank(value):
        if missing is not None:
            raise ValidationError(field, missing)
        return None
    # ids are often numbers in spreadsheets; anything else (a boolean, a list) is a broken export
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValidationError(field, f"is {_kind(value)}, not text")
    cleaned = _clean_str(value)
    assert cleaned is not None
    problem = text_problem(cleaned)
    if problem:
        raise ValidationError(field, problem)
    limit = FIELD_MAX_CHARS[field]
    if len(cleaned) > limit:
        raise ValidationError(field, f"{len(cleaned)} characters, over the limit of {limit}")
    return cleaned


def _text(value: Any, max_chars: int) -> str:
    if _is_blank(value):
        raise ValidationError("text", "empty; there is nothing to analyse")
    if not isinstance(value, str):
        raise ValidationError("text", f"is {_kind(value)}, not text")
    problem = text_problem(value)
    if problem:
        raise ValidationError("text", problem)
    if len(value) > max_chars:
        raise ValidationError("text", f"{len(value)} characters, over the limit of {max_chars}")
    return value


def _created_at(value: Any, default: datetime | None) -> datetime:
    if _is_blank(value):
        if default is None:
            raise ValidationError("created_at", "missing; give an ISO 8601 date or datetime")
        return default
    try:
        parsed = _parse_aware(value)
    except (ValueError, TypeError):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:60] + "..."
        raise ValidationError("created_at", f"{shown} is not an ISO 8601 date or datetime") from None
    problem = created_at_problem(parsed)
    if problem:
        raise ValidationError("created_at", problem)
    return parsed.astimezone(UTC)


def _arr(value: Any) -> float | None:
    """Account ARR: optional, else a number within the contract's bounds (a numeric string in a CSV)."""
    if _is_blank(value):
        return None
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValidationError("account_arr", f"{value[:60]!r} is not a number") from None
    elif isinstance(value, Decimal):
        number = float(value)  # a Parquet decimal column; out of float range becomes inf, refused below
    problem = account_arr_problem(number)
    if problem:
        raise ValidationError("account_arr", problem)
    return float(number)


def _checked_metadata(row: dict[str, Any]) -> dict[str, Any]:
    # checked before conversion too: the depth bound keeps the recursive conversion safe
    problem = json_problem(_metadata(row))
    if problem:
        raise ValidationError("metadata", problem)
    metadata = _jsonable(_metadata(row))
    problem = json_problem(metadata)
    if problem:
        raise ValidationError("metadata", problem)
    return metadata


def _metadata(row: dict[str, Any]) -> dict[str, Any]:
    """Every non-empty column outside the contract, kept as the item's metadata."""
    return {
        key: value
        for key, value in row.items()
        if key not in REQUIRED_COLUMNS and key not in KNOWN_OPTIONAL_COLUMNS and not _is_blank(value)
    }


def _jsonable(value: Any) -> Any:
    """Metadata must survive JSON (the store, the artifact): only JSON types come out.

    Parquet columns bring dates, times, durations, decimals and bytes; numpy brings its scalars.
    """
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return _jsonable(value.item())
    return str(value)


# Enough of a bad row to recognise it beside its file and line, not enough to carry much personal data.
PREVIEW_CHARS = 120
# The row text redacted before cutting the preview: a number or address cut in half would slip past the
# patterns.
_PREVIEW_SOURCE_CHARS = 2000
_REASON_CHARS = 300


@dataclass
class QuarantinedRow:
    """A rejected row as it is kept: where it was, why, and a short redacted preview, never the row itself
    (quarantine files are read by people triaging input, and bad rows carry personal data like good ones).
    """

    file: str | None
    line: int | None
    reason: str
    field: str | None
    preview: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "reason": self.reason,
            "field": self.field,
            "preview": self.preview,
        }


def redacted_preview(row: dict[str, Any]) -> str:
    """One line naming the row's non-empty fields, redacted with the pattern rules of
    :func:`feedback_nlp.prepare.redact_patterns` (e-mails, URLs, card and phone numbers; no spaCy, so no
    names) and cut to :data:`PREVIEW_CHARS`."""
    from feedback_nlp.prepare import redact_patterns

    parts = [f"{key}={_printable(value)}" for key, value in row.items() if not _is_blank(value)]
    text = " | ".join(parts)[:_PREVIEW_SOURCE_CHARS]
    preview = " ".join(redact_patterns(text).split())  # one line: newlines in a field stay out of the file
    return preview if len(preview) <= PREVIEW_CHARS else preview[: PREVIEW_CHARS - 3] + "..."


def _redacted_reason(reason: str) -> str:
    """Reasons quote the bad value (a date, an amount, an id): redacted and bounded like the preview."""
    from feedback_nlp.prepare import redact_patterns

    reason = redact_patterns(str(_printable(reason))[:_PREVIEW_SOURCE_CHARS])
    return reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 3] + "..."


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
        """Keep where the row was and why, with a redacted preview: the raw row is dropped here, so it
        never reaches a quarantine file, another worker or the model folder."""
        preview = redacted_preview({str(k): v for k, v in row.items()})
        self.rows.append(QuarantinedRow(origin_file, origin_line, _redacted_reason(reason), field, preview))
        code = _reason_code(field, reason)
        self.counts[code] += 1
        logger.debug("quarantined %s line %s: %s", origin_file, origin_line, code)

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


def _printable(value: Any, depth: int = 0) -> Any:
    """A quarantined value as something the quarantine file can always hold (bad rows are the norm here)."""
    if isinstance(value, str):
        # keep undecodable bytes visible as \x escapes, lone surrogates as \u escapes, rather than failing
        # to write the quarantine file
        try:
            value = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value if len(value) <= 2000 else value[:2000] + f"... [{len(value)} chars]"
    if depth > JSON_MAX_DEPTH:
        return "[nested too deep]"
    if isinstance(value, dict):
        return {_printable(str(k)): _printable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_printable(v, depth + 1) for v in value]
    value = _jsonable(value)
    return _printable(value) if isinstance(value, str) else value


# (phrase in the message, reason code): the first phrase found names the reason; {field} is the field
_REASON_PHRASES = (
    (_NO_FIELD, "missing_field"),
    ("not valid UTF-8", "undecodable_bytes"),
    ("duplicate id", "duplicate_id"),
    ("NUL character", "invalid_{field}"),
    ("not valid Unicode", "invalid_{field}"),
    (", not text", "invalid_{field}"),
    ("date accepted", "{field}_out_of_range"),
    ("negative", "negative_arr"),
    ("characters, over the limit", "{field}_too_long"),
    ("over the limit", "{field}_too_large"),
)


def _reason_code(field: str | None, reason: str) -> str:
    if field is None:
        return reason.split(":")[0]
    for phrase, code in _REASON_PHRASES:
        if phrase in reason:
            return code.format(field=field)
    return {
        "id": "missing_id",
        "text": "empty_text",
        "source": "missing_source",
        "created_at": "bad_created_at",
        "account_arr": "bad_account_arr",
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


# A quoted field that spans lines is held until its quote closes; a quote that never closes (or closes
# where no valid row ends) would swallow the rows after it. A multi-line row must therefore be a strict,
# well-formed CSV row with the header's number of fields, within this many bytes; otherwise only its first
# line is quarantined ("unterminated_quote") and reading resumes at the next line. Fixed, not from the data:
# far above any row the contract accepts at the default text limit (20,000 characters, 80 KB at most), and
# it bounds how much is read twice after an unterminated quote.
MAX_QUOTED_ROW_BYTES = 4 << 20


@dataclass(frozen=True)
class _Line:
    start: int  # byte offsets in the file
    end: int
    number: int  # counted from 1 at the reader's start offset
    text: str


@dataclass(frozen=True)
class _CsvRecord:
    start: int  # byte offset of its first line
    end: int  # byte offset after its last line
    first_line: int
    last_line: int
    values: list[str] | None
    problem: str | None


class _LineSource:
    """Decoded physical lines from a byte offset, with their offsets; lines can be put back."""

    def __init__(self, handle, start: int):
        handle.seek(start)
        self._handle = handle
        self._position = start
        self._number = 0
        self._pending: list[_Line] = []

    def next(self) -> _Line | None:
        if self._pending:
            return self._pending.pop()
        raw = self._handle.readline()
        if not raw:
            return None
        start = self._position
        self._position += len(raw)
        self._number += 1
        if start == 0 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
            raw = raw[3:]
        return _Line(start, self._position, self._number, raw.decode("utf-8", "surrogateescape"))

    def put_back(self, lines: list[_Line]) -> None:
        self._pending.extend(reversed(lines))


class _CsvRecords:
    """The rows of a CSV file from a byte offset that starts a row: the header first, unless given.

    Each record is one row (or one blank line) with its byte span, so the partition planner and the reader
    cut and read a file the same way. Reads past any partition end: a row is the same wherever it is read.
    """

    def __init__(
        self, handle, path: Path, start: int = 0, header: list[str] | None = None, delimiter: str = ","
    ):
        self._source = _LineSource(handle, start)
        self._delimiter = delimiter
        self.header = header if header is not None else self._read_header(path)

    def _read_header(self, path: Path) -> list[str] | None:
        for record in self._records(None):
            if record.values == []:
                continue  # blank lines before the header
            if record.problem is not None or record.values is None:
                problem = (
                    (record.problem or "")
                    .removeprefix("malformed_row: ")
                    .removeprefix("unterminated_quote: ")
                )
                raise InputError(
                    f"{path}: line {record.last_line}: the header cannot be read as CSV: {problem}; "
                    "fix the header line (lines that end in CR alone: save the file with LF or CRLF ends)"
                )
            if any(_has_undecodable(name) for name in record.values):
                raise InputError(f"{path}: the header is not valid UTF-8; save the file as UTF-8")
            return [name.strip() for name in record.values]
        return None

    def __iter__(self) -> Iterator[_CsvRecord]:
        if self.header is None:
            return iter(())
        return self._records(len(self.header))

    def _records(self, n_fields: int | None) -> Iterator[_CsvRecord]:
        while True:
            taken: list[_Line] = []
            # set when the csv module asks for a line after the last one: a quote is still open
            past_end: list[bool] = []
            values: list[str] | None = None
            problem = None
            try:
                values = next(csv.reader(self._feed(taken, past_end), delimiter=self._delimiter))
            except StopIteration:
                return
            except _QuotedRowTooLong:
                problem = f"a quoted field runs over {MAX_QUOTED_ROW_BYTES} bytes"
            except csv.Error as exc:
                problem = f"malformed_row: {_csv_error(exc)}"
            well_formed = _well_formed(taken, n_fields, self._delimiter)
            if past_end or (len(taken) > 1 and (problem or not well_formed)):
                first = taken[0]
                self._source.put_back(taken[1:])
                yield _CsvRecord(
                    first.start,
                    first.end,
                    first.number,
                    first.number,
                    None,
                    "unterminated_quote: a quote opened on this line does not close where a row ends "
                    "(the next lines are read as rows of their own)",
                )
                continue
            first, last = taken[0], taken[-1]
            yield _CsvRecord(first.start, last.end, first.number, last.number, values, problem)

    def _feed(self, taken: list[_Line], past_end: list[bool]) -> Iterator[str]:
        """Lines for the csv module, kept in ``taken``; a multi-line row over the byte bound stops it."""
        size = 0
        while True:
            line = self._source.next()
            if line is None:
                past_end.append(True)
                return
            taken.append(line)
            size += line.end - line.start
            if len(taken) > 1 and size > MAX_QUOTED_ROW_BYTES:
                raise _QuotedRowTooLong
            yield line.text


def _csv_error(exc: csv.Error) -> str:
    if "new-line character" in str(exc):  # the csv module's hint (newline='') is about its own callers
        return "a carriage return (CR) inside an unquoted field"
    return str(exc)


class _QuotedRowTooLong(Exception):
    pass


def _well_formed(lines: list[_Line], n_fields: int | None, delimiter: str = ",") -> bool:
    """A multi-line row parses strictly (a closing quote is followed by a delimiter) to the right width."""
    if len(lines) < 2:
        return True  # only multi-line rows are in doubt
    try:
        values = next(csv.reader((line.text for line in lines), strict=True, delimiter=delimiter))
    except (csv.Error, StopIteration):
        return False
    return n_fields is None or len(values) == n_fields


def _iter_csv(
    path: Path,
    start: int = 0,
    end: int | None = None,
    first_line: int = 1,
    header: list[str] | None = None,
    delimiter: str = ",",
) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Rows of a CSV file, or those of the rows starting in the byte range ``[start, end)`` (a partition).

    The line number reported is the last physical line of the row, counted from ``first_line``; a row with
    an unterminated quote is its first line alone.

    Raises:
        InputError: the header cannot be read (see :class:`_CsvRecords`).
    """
    with open(path, "rb") as raw:
        records = _CsvRecords(raw, path, start, header, delimiter)
        offset = first_line - 1
        header = records.header
        for record in records:
            if end is not None and record.start >= end:
                return
            assert header is not None
            line = offset + record.last_line
            if record.values is None:
                yield line, None, record.problem
                continue
            values = record.values
            if not values:
                continue
            row = dict(zip(header, values))
            if record.problem is not None:
                yield line, row, record.problem
            elif any(_has_undecodable(v) for v in values):
                yield line, row, "undecodable_bytes: the row is not valid UTF-8"
            elif len(values) != len(header):
                yield line, row, f"malformed_row: {len(values)} fields, the header has {len(header)}"
            else:
                yield line, row, None


def _iter_jsonl(
    path: Path, start: int = 0, end: int | None = None, first_line: int = 1
) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    with open(path, "rb") as handle:
        for line_number, raw_line in enumerate(_byte_lines(handle, start, end), start=first_line):
            if line_number == 1 and start == 0 and raw_line.startswith(b"\xef\xbb\xbf"):
                raw_line = raw_line[3:]  # a UTF-8 byte order mark, as some editors write
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
            except (ValueError, RecursionError) as exc:  # an integer of over 4300 digits, deep nesting
                yield line_number, {"raw": decoded[:2000]}, f"malformed_row: JSON Python cannot read ({exc})"
                continue
            if not isinstance(parsed, dict):
                yield line_number, {"raw": decoded[:2000]}, "malformed_row: a line must be a JSON object"
                continue
            yield line_number, parsed, None


def _iter_parquet(
    path: Path, start: int = 0, end: int | None = None, first_line: int = 1
) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Rows of a Parquet file, or of its row groups ``[start, end)``, numbered from ``first_line``.

    Raises:
        InputError: the file is not Parquet or its data cannot be decoded (a corrupt page).
    """
    import pyarrow as pa

    parquet = _open_parquet(path)
    groups = list(range(start, parquet.num_row_groups if end is None else end))
    row_number = first_line - 1
    if not groups:
        return
    batches = parquet.iter_batches(batch_size=10_000, row_groups=groups)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            raise InputError(
                f"{path}: the Parquet data after row {row_number} cannot be decoded ({exc}); "
                "the file is damaged: write it again"
            ) from None
        for row, problem in _batch_rows(batch):
            row_number += 1
            yield row_number, row, problem


def _batch_rows(batch) -> list[tuple[dict[str, Any], str | None]]:
    """A record batch as rows; a value Python cannot hold (a date in year 10000) makes its row a problem."""
    columns: dict[str, list[Any]] = {}
    problems: dict[int, str] = {}
    for name, column in zip(batch.schema.names, batch.columns):
        try:
            columns[str(name)] = column.to_pylist()
        except Exception:  # any conversion error: find the rows it comes from, value by value
            values = []
            for index in range(len(column)):
                try:
                    values.append(column[index].as_py())
                except Exception as exc:  # the row is quarantined with the error
                    values.append(None)
                    problems.setdefault(
                        index,
                        f"unreadable_value: column {str(name)!r} holds a value Python cannot read ({exc})",
                    )
            columns[str(name)] = values
    names = list(columns)
    return [
        ({name: columns[name][index] for name in names}, problems.get(index))
        for index in range(batch.num_rows)
    ]


def _open_parquet(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot be read as Parquet ({exc}); {_looks_like(path)}") from None


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


# What a file's first bytes say it is, for a clear stop when a file is not what its name says.
_SIGNATURES = (
    (b"\x1f\x8b", "a gzip archive; decompress it first (gunzip)"),
    (b"PK\x03\x04", "a ZIP archive or an Excel workbook; extract it, or export the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel (.xls) workbook; export the sheet as CSV"),
    (b"PAR1", "a Parquet file; name it .parquet"),
    (b"BZh", "a bzip2 archive; decompress it first"),
    (b"\xfd7zXZ\x00", "an xz archive; decompress it first"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive; decompress it first"),
    (b"%PDF-", "a PDF document"),
    (b"\xff\xfe", "UTF-16 or UTF-32 text (it starts with that byte order mark); save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text (it starts with that byte order mark); save it as UTF-8"),
)


def _looks_like(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(64)
    if not head:
        return "the file is empty"
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return f"it looks like {what}"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at 64 bytes
            return f"it starts with binary data ({head[:8].hex(' ')})"
    return "it looks like text"


def _check_content(path: Path) -> None:
    """Stop, naming the file, when its bytes are plainly not the format its extension says."""
    if path.suffix.lower() == ".parquet":
        with open(path, "rb") as handle:
            head = handle.read(4)
        if head != b"PAR1":
            raise InputError(f"{path}: not a Parquet file: {_looks_like(path)}")
        _open_parquet(path)  # reads the footer: a truncated or damaged file stops here, before any work
        return
    looks = _looks_like(path)
    if any(looks == f"it looks like {what}" for _, what in _SIGNATURES):
        kind = "CSV" if path.suffix.lower() == ".csv" else "JSON lines"
        raise InputError(f"{path}: not a {kind} text file: {looks}")


def check_inputs(paths: Iterable[Path | str], input_format: InputFormat | None = None) -> list[Path]:
    """Fail fast, before any work, on missing files, unknown formats, files that are not their format and
    missing required columns.

    Raises:
        InputError: naming the file and what it looks like (a gzip archive named .csv, text named .parquet);
            for missing columns, the columns found and the likely ``--column``.
    """
    checked = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        _reader_for(path)
        _check_content(path)
        checked.append(path)
    if not checked:
        raise InputError("no feedback files given")
    for path in checked:  # after every file is known to exist: a typo in the last path is reported first
        (input_format or InputFormat()).for_file(path)
    return checked


def read_file_rows(
    path: Path, input_format: InputFormat
) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """``(line, row, problem)`` for each row of a whole file, its columns renamed by ``input_format``.

    ``input_format`` is the one settled for this file (:meth:`InputFormat.for_file`: delimiter known).
    """
    reader = _reader_for(path)
    rows = reader(path, delimiter=input_format.delimiter or ",") if reader is _iter_csv else reader(path)
    return input_format.apply(rows)


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
    input_format: InputFormat | None = None,
    raw_metadata_columns: Collection[str] = (),
) -> Iterator[FeedbackRecord]:
    """Stream valid records from the files in order; bad rows go to ``quarantine``.

    Duplicate ids (within or across files) keep the first row and quarantine the later ones. The set of
    seen ids is the only state kept across rows. ``input_format`` names the delimiter and the columns
    of files laid out differently (default: detected delimiter, the schema's column names).

    Raises:
        InputError: before any row is read, when a file lacks a required column.
    """
    input_format = input_format or InputFormat()
    checked = check_inputs(paths, input_format)
    yield from first_of_each_id(
        ((path, read_file_rows(path, input_format.for_file(path))) for path in checked),
        quarantine,
        max_text_chars=max_text_chars,
        raw_metadata_columns=raw_metadata_columns,
    )


def first_of_each_id(
    rows_by_file: Iterable[tuple[Path, Iterable[tuple[int, dict[str, Any] | None, str | None]]]],
    quarantine: Quarantine,
    *,
    max_text_chars: int,
    raw_metadata_columns: Collection[str] = (),
) -> Iterator[FeedbackRecord]:
    """Valid records of each file's rows, in order; bad rows and repeated ids (within or across files; the
    first row is kept) go to ``quarantine``. The seen ids are the only state kept across rows."""
    seen_ids: set[str] = set()
    for path, raw_rows in rows_by_file:
        rows = iter_validated(
            raw_rows,
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
