"""How feedback files are laid out: the CSV delimiter and which file column holds which schema column.

Files from other tools rarely use our column names or commas. Rather than quarantining every row for a
column that is only named differently, the header (a CSV's first row, the keys of a JSONL file's first
rows, a Parquet schema) is checked before any row is read: a missing required column stops the run with
the columns found, the ones expected and the likely mapping (``--column text=body``).

:class:`InputFormat` is a small frozen value, so it travels to Dask workers inside each partition.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from feedback_nlp.errors import ConfigError, InputError
from feedback_nlp.schemas import KNOWN_OPTIONAL_COLUMNS, REQUIRED_COLUMNS

DELIMITERS = (",", ";", "\t", "|")
HEADER_SAMPLE_BYTES = 64 * 1024  # more than any header; a header row longer than this is not a header
JSONL_SAMPLE_ROWS = 20  # a column is "found" when any of the first rows has it: rows may omit optional keys

# Names other tools give our columns; difflib catches the typos and spellings this misses.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("ticket_id", "feedback_id", "item_id", "record_id", "uid", "uuid", "key", "identifier", "number"),
    "text": (
        "body",
        "message",
        "comment",
        "comments",
        "content",
        "description",
        "feedback",
        "review",
        "note",
        "notes",
        "ticket_text",
        "summary",
    ),
    "source": ("type", "kind", "origin", "src", "feedback_type", "source_type"),
    "created_at": (
        "date",
        "created",
        "created_date",
        "creation_date",
        "timestamp",
        "time",
        "datetime",
        "submitted_at",
        "received_at",
        "ts",
    ),
    "account_id": ("account", "customer_id", "customer", "company_id"),
    "account_arr": ("arr", "revenue", "annual_revenue"),
}


@dataclass(frozen=True)
class InputFormat:
    """The layout of feedback files when it differs from the schema's.

    Attributes:
        delimiter: the CSV field separator; None detects it from the header line among ``, ; TAB |``.
        columns: ``(schema column, file column)`` pairs, e.g. ``(("text", "body"),)``; a mapping is
            accepted and stored as sorted pairs. The mapped column replaces a file column of the same name;
            a file without the mapped column but with the schema's own name is read as it is, so one
            mapping serves a run over files from several tools.
    """

    delimiter: str | None = None
    columns: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.delimiter is not None and (len(self.delimiter) != 1 or self.delimiter in '"\r\n'):
            raise ConfigError(
                f"delimiter {self.delimiter!r} must be one character other than a quote or a newline "
                "(for a tab, pass a real tab: --delimiter $'\\t' or --delimiter tab)"
            )
        pairs = self.columns.items() if isinstance(self.columns, Mapping) else self.columns
        pairs = tuple(sorted((str(target), str(source)) for target, source in pairs))
        known = REQUIRED_COLUMNS + KNOWN_OPTIONAL_COLUMNS
        for target, source in pairs:
            if target not in known:
                raise ConfigError(
                    f"column mapping {target}={source}: {target!r} is not a feedback column; map to one of "
                    f"{', '.join(known)}"
                )
            if not source:
                raise ConfigError(f"column mapping {target}=: name the file's column after the '='")
        targets = [target for target, _ in pairs]
        if len(set(targets)) < len(targets):
            raise ConfigError(f"column mappings name {', '.join(sorted(targets))}: each column only once")
        object.__setattr__(self, "columns", pairs)

    @classmethod
    def from_options(cls, delimiter: str | None = None, columns: Sequence[str] = ()) -> InputFormat:
        """From command-line values: ``--delimiter ';'`` (or ``tab``) and ``--column text=body`` ones."""
        pairs = []
        for spec in columns:
            target, sep, source = spec.partition("=")
            if not sep:
                raise ConfigError(
                    f"--column {spec!r}: write SCHEMA_COLUMN=FILE_COLUMN, for example --column text=body"
                )
            pairs.append((target.strip(), source.strip()))
        if delimiter is not None and delimiter.lower() in ("tab", "\\t"):
            delimiter = "\t"
        return cls(delimiter=delimiter, columns=tuple(pairs))

    @property
    def mapping(self) -> dict[str, str]:
        """Schema column -> file column."""
        return dict(self.columns)

    def to_dict(self) -> dict[str, Any]:
        return {"delimiter": self.delimiter, "columns": self.mapping}

    def rename(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` with the file's columns under their schema names; other columns as they are."""
        if not self.columns:
            return row
        sources = {source for _, source in self.columns}
        renamed = {key: value for key, value in row.items() if key not in sources}
        for target, source in self.columns:
            if source in row:
                renamed[target] = row[source]
        return renamed

    def apply(
        self, rows: Iterable[tuple[int, dict[str, Any] | None, str | None]]
    ) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
        """Rename the columns of readable rows; rows with a problem are quarantined as read."""
        if not self.columns:
            yield from rows
            return
        for line, row, problem in rows:
            yield line, (self.rename(row) if row is not None and problem is None else row), problem

    def for_file(self, path: Path | str) -> InputFormat:
        """This format with the delimiter settled for ``path``; checks its header first.

        Raises:
            InputError: a required column is missing; the message lists the columns found, the ones
                expected and the likely ``--column`` mapping.
        """
        path = Path(path)
        kind = file_kind(path)
        delimiter = self.delimiter
        if kind == "csv":
            sample = _csv_sample(path)
            delimiter = delimiter or detect_delimiter(sample)
            found = _csv_header(sample, delimiter)
        elif kind == "jsonl":
            found = _jsonl_keys(path)
        else:
            found = _parquet_columns(path)
        if found is not None:  # None: an empty file, nothing to check (no row will be accepted either)
            self.check_columns(path, found, delimiter if kind == "csv" else None)
        return replace(self, delimiter=delimiter)

    def check_columns(self, path: Path, found: Sequence[str], delimiter: str | None = None) -> None:
        """Raise :class:`InputError` when a required column is neither in ``found`` nor mapped from it."""
        mapping = self.mapping
        # one mapping serves several files: one that already has the column under its own name is fine
        unknown_sources = [f"{t}={s}" for t, s in self.columns if s not in found and t not in found]
        available = (set(found) - set(mapping.values())) | {t for t, s in self.columns if s in found}
        missing = [column for column in REQUIRED_COLUMNS if column not in available]
        if not missing and not unknown_sources:
            return
        raise InputError(self._columns_message(path, found, delimiter, missing, unknown_sources))

    def _columns_message(
        self,
        path: Path,
        found: Sequence[str],
        delimiter: str | None,
        missing: list[str],
        unknown_sources: list[str],
    ) -> str:
        """What is missing, what the file has, and the likely ``--column`` / ``--delimiter`` to rerun with."""
        mapping = self.mapping
        problems = []
        if missing:
            problems.append(f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        if unknown_sources:
            problems.append(f"--column {', '.join(unknown_sources)} names a column the file does not have")
        lines = [
            f"{path}: {'; '.join(problems)}.",
            f"  found columns: {', '.join(found) if found else '(none)'}",
            f"  expected: {', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(KNOWN_OPTIONAL_COLUMNS)})",
        ]
        known = REQUIRED_COLUMNS + KNOWN_OPTIONAL_COLUMNS
        unused = [name for name in found if name not in known and name not in mapping.values()]
        guesses = suggest_mapping(missing, unused)
        if guesses:
            flags = " ".join(f"--column {target}={source}" for target, source in guesses.items())
            looks = ", ".join(f"{source!r} looks like {target!r}" for target, source in guesses.items())
            lines.append(f"  {looks}: rerun with {flags}")
        if delimiter is not None and len(found) == 1:
            others = [d for d in DELIMITERS if d != delimiter and d in found[0]]
            if others:
                hint = f"pass --delimiter {_shell_delimiter(others[0])}"
                lines.append(f"  the header is one column: is the file separated by {others[0]!r}? {hint}")
        return "\n".join(lines)


def file_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}[suffix]


def suggest_mapping(missing: Sequence[str], candidates: Sequence[str]) -> dict[str, str]:
    """For each missing schema column, the file column that most likely holds it (known synonyms first,
    then a case-insensitive near-spelling); each file column is suggested once."""
    guesses: dict[str, str] = {}
    free = list(candidates)
    for target in missing:
        by_lower = {name.strip().lower(): name for name in free}
        choice = next(
            (by_lower[n] for n in (target, *SYNONYMS.get(target, ())) if n in by_lower),
            None,
        )
        if choice is None:
            close = difflib.get_close_matches(target, list(by_lower), n=1, cutoff=0.7)
            choice = by_lower[close[0]] if close else None
        if choice is not None:
            guesses[target] = choice
            free.remove(choice)
    return guesses


def detect_delimiter(sample: str) -> str:
    """The delimiter that splits the header line into the most fields (a comma when none splits it).

    The header alone decides: ``csv.Sniffer`` counts characters across lines, and free text (commas and
    semicolons in feedback, a sample cut mid-row) misleads it, while a header line holds only names.
    """
    first_line = next(iter(sample.splitlines()), "")
    best, best_fields = ",", 1
    for delimiter in DELIMITERS:
        fields = len(next(csv.reader([first_line], delimiter=delimiter), []))
        if fields > best_fields:
            best, best_fields = delimiter, fields
    return best


def _shell_delimiter(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else f"'{delimiter}'"


def _csv_sample(path: Path) -> str:
    with open(path, "rb") as handle:
        raw = handle.read(HEADER_SAMPLE_BYTES)
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark, as the reader drops it
        raw = raw[3:]
    return raw.decode("utf-8", "surrogateescape")


def _csv_header(sample: str, delimiter: str) -> list[str] | None:
    try:
        header = next(csv.reader(io.StringIO(sample), delimiter=delimiter), None)
    except csv.Error:
        return None  # a broken header row: its rows are quarantined as malformed, with the reason
    return [name.strip() for name in header] if header else None


def _jsonl_keys(path: Path) -> list[str] | None:
    """Keys of the first rows that are JSON objects, in first-seen order; None when there are none."""
    keys: dict[str, None] = {}
    seen = 0
    with open(path, "rb") as handle:
        for raw_line in handle:
            if seen >= JSONL_SAMPLE_ROWS:
                break
            try:
                parsed = json.loads(raw_line)
            except ValueError:  # a malformed line is quarantined by the reader with its reason
                continue
            if isinstance(parsed, dict):
                seen += 1
                keys.update(dict.fromkeys(str(key) for key in parsed))
    return list(keys) if seen else None


def _parquet_columns(path: Path) -> list[str] | None:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except Exception:  # noqa: BLE001 - an unreadable file fails in the reader with its own error
        return None
