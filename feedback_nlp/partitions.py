"""Split feedback files into partitions that can be read independently, on any machine.

A partition is a byte range of a CSV or JSONL file that starts and ends on a row boundary, or a run of row
groups of a Parquet file. Planning streams each file once (O(1) memory: only the boundaries are kept), so a
file of any size is never loaded whole into the driver; reading a partition gives exactly the rows, line
numbers and quarantine reasons that reading the whole file would give for those rows, so the local and the
Dask engine see the same data. Duplicate ids need every earlier row and are settled afterwards
(:func:`find_duplicates`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from feedback_nlp.ingest import (
    _CsvRecords,
    _iter_csv,
    _iter_jsonl,
    _iter_parquet,
    check_inputs,
)
from feedback_nlp.input_format import InputFormat

# (start, end, first line or row, CSV header): where a partition starts and ends in its file
Span = tuple[int, int | None, int, tuple[str, ...] | None]
DEFAULT_PARTITION_BYTES = 8 << 20  # about 40,000 tickets: minutes of spaCy + encoder work per task


@dataclass(frozen=True)
class Partition:
    """Where one partition's rows are.

    ``start``/``end`` are byte offsets (CSV, JSONL) or row groups (Parquet).
    """

    index: int  # position in the whole input: partitions are read back in this order
    file_index: int
    path: str
    kind: str  # "csv", "jsonl" or "parquet"
    start: int
    end: int | None
    first_line: int  # line (row for Parquet) number of the first line in the range
    header: tuple[str, ...] | None = None  # CSV partitions after the first: the file's header
    location: str | None = None  # absolute path, for workers started in another directory
    input_format: InputFormat | None = None  # the file's delimiter and column names (settled per file)

    def rows(self) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
        """``(line, row, problem)`` for each row, as :mod:`feedback_nlp.ingest` reads whole files."""
        path = Path(self.location or self.path)
        input_format = self.input_format or InputFormat()
        if self.kind == "csv":
            rows = _iter_csv(
                path,
                self.start,
                self.end,
                self.first_line,
                list(self.header) if self.header is not None else None,
                delimiter=input_format.delimiter or ",",
            )
        elif self.kind == "jsonl":
            rows = _iter_jsonl(path, self.start, self.end, self.first_line)
        else:
            rows = _iter_parquet(path, self.start, self.end, self.first_line)
        return input_format.apply(rows)


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}[suffix]


def plan_partitions(
    paths: Sequence[Path | str],
    partition_bytes: int = DEFAULT_PARTITION_BYTES,
    input_format: InputFormat | None = None,
) -> list[Partition]:
    """Partitions of about ``partition_bytes`` each, in input order (files in the order given).

    Raises:
        InputError: before any partition is planned, when a file is missing or lacks a required column
            (``input_format`` maps the file's columns and names the delimiter; detected when None).
    """
    if partition_bytes < 1:
        raise ValueError("partition_bytes must be positive")
    input_format = input_format or InputFormat()
    planned: list[Partition] = []
    for file_index, path in enumerate(check_inputs(paths, input_format)):
        kind = _kind(path)
        file_format = input_format.for_file(path)
        if kind == "csv":
            spans = _csv_spans(path, partition_bytes, file_format.delimiter or ",")
        elif kind == "jsonl":
            spans = _line_spans(path, partition_bytes)
        else:
            spans = _parquet_spans(path, partition_bytes)
        for start, end, first_line, header in spans:
            planned.append(
                Partition(
                    len(planned),
                    file_index,
                    str(path),
                    kind,
                    start,
                    end,
                    first_line,
                    header,
                    str(path.resolve()),
                    file_format,
                )
            )
    return planned


def _line_spans(path: Path, partition_bytes: int) -> list[Span]:
    spans: list[Span] = []
    start, first_line, position, line = 0, 1, 0, 0
    with open(path, "rb") as handle:
        for raw_line in handle:
            position += len(raw_line)
            line += 1
            if position - start >= partition_bytes:
                spans.append((start, position, first_line, None))
                start, first_line = position, line + 1
    if position > start or not spans:
        spans.append((start, None, first_line, None))
    return spans


def _csv_spans(path: Path, partition_bytes: int, delimiter: str = ",") -> list[Span]:
    """Row boundaries found by the reader itself (:class:`feedback_nlp.ingest._CsvRecords`), so a quoted
    field with newlines is never cut and a row with an unterminated quote ends where the reader ends it."""
    with open(path, "rb") as handle:
        records = _CsvRecords(handle, path, delimiter=delimiter)
        if records.header is None:
            return [(0, None, 1, None)]
        header = tuple(records.header)
        spans: list[Span] = []
        start, first_line, first_header, position = 0, 1, None, 0
        for record in records:
            position = record.end
            if position - start >= partition_bytes:
                spans.append((start, position, first_line, first_header))
                start, first_line, first_header = position, record.last_line + 1, header
    if position > start or not spans:
        spans.append((start, None, first_line, first_header))
    return spans


def _parquet_spans(path: Path, partition_bytes: int) -> list[Span]:
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(path).metadata
    spans: list[Span] = []
    start, first_row, rows, size = 0, 1, 0, 0
    for group in range(metadata.num_row_groups):
        size += metadata.row_group(group).total_byte_size
        rows += metadata.row_group(group).num_rows
        if size >= partition_bytes:
            spans.append((start, group + 1, first_row, None))
            start, first_row, size = group + 1, rows + 1, 0
    if start < metadata.num_row_groups or not spans:
        spans.append((start, None, first_row, None))
    return spans


def id_hash(item_id: str) -> int:
    """64 bits of the id's sha1: enough to find duplicate ids among billions without keeping the strings."""
    return int.from_bytes(hashlib.sha1(item_id.encode("utf-8", "surrogatepass")).digest()[:8], "little")


def find_duplicates(id_hashes_per_partition: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Positions, per partition, of records whose id already appeared earlier in the input.

    The first row with an id is kept, as :func:`feedback_nlp.ingest.iter_feedback` does when it reads the
    files in order. Only 8 bytes per record are held.
    """
    sizes = [len(h) for h in id_hashes_per_partition]
    if not sum(sizes):
        return [np.zeros(0, dtype=np.int64) for _ in sizes]
    hashes = np.concatenate([np.asarray(h, dtype=np.uint64) for h in id_hashes_per_partition])
    _, first = np.unique(hashes, return_index=True)
    duplicate = np.ones(len(hashes), dtype=bool)
    duplicate[first] = False  # np.unique returns the first occurrence of each value
    result, offset = [], 0
    for size in sizes:
        result.append(np.flatnonzero(duplicate[offset : offset + size]))
        offset += size
    return result
