"""Reading feedback files: every quarantine reason, every format, nothing lost."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from feedback_nlp.errors import InputError, ValidationError
from feedback_nlp.ingest import Quarantine, iter_feedback, validate_row

HEADER = ["id", "text", "source", "created_at", "account_id", "account_arr", "segment", "channel", "priority"]
GOOD = [
    "T-1",
    "The CSV export times out",
    "ticket",
    "2026-09-01T10:00:00Z",
    "ACC-1",
    "1200",
    "smb",
    "email",
    "high",
]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def read_all(paths, **kwargs):
    quarantine = Quarantine()
    records = list(iter_feedback(paths, quarantine, **kwargs))
    return records, quarantine


def test_good_row_keeps_known_fields_and_extra_columns_as_metadata(tmp_path):
    records, quarantine = read_all([write_csv(tmp_path / "f.csv", [GOOD])])
    assert len(quarantine) == 0
    (record,) = records
    assert record.id == "T-1" and record.source == "ticket" and record.account_arr == 1200.0
    assert record.created_at.isoformat() == "2026-09-01T10:00:00+00:00"
    assert record.metadata == {"priority": "high"}
    assert (record.origin_file, record.origin_line) == (str(tmp_path / "f.csv"), 2)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("id", "", "missing_id"),
        ("text", "   ", "empty_text"),
        ("created_at", "31/02/2026", "bad_created_at"),
        ("created_at", "", "bad_created_at"),
        ("account_arr", "-5", "negative_arr"),
        ("account_arr", "lots", "bad_account_arr"),
        ("source", "", "missing_source"),
        ("text", "x" * 101, "text_too_long"),
    ],
)
def test_each_bad_value_is_quarantined_with_its_reason(tmp_path, column, value, reason):
    bad = list(GOOD)
    bad[HEADER.index(column)] = value
    bad[0] = bad[0] and "T-2"
    path = write_csv(tmp_path / "f.csv", [GOOD, bad])
    records, quarantine = read_all([path], max_text_chars=100)
    assert [r.id for r in records] == ["T-1"]
    assert dict(quarantine.counts) == {reason: 1}
    (row,) = quarantine.rows
    assert row.file == str(path) and row.line == 3 and row.field == column


def test_duplicate_id_across_files_keeps_the_first(tmp_path):
    first = write_csv(tmp_path / "a.csv", [GOOD])
    second = write_csv(tmp_path / "b.csv", [GOOD])
    records, quarantine = read_all([first, second])
    assert len(records) == 1 and records[0].origin_file == str(first)
    assert dict(quarantine.counts) == {"duplicate_id": 1}
    assert quarantine.rows[0].file == str(second)


def test_undecodable_bytes_quarantine_the_row_not_the_file(tmp_path):
    path = tmp_path / "f.csv"
    write_csv(path, [GOOD])
    with open(path, "ab") as handle:
        handle.write(b"T-9,broken \xff\xfe text,ticket,2026-09-01,ACC-1,10,smb,email,low\r\n")
        handle.write(b"T-10,fine text after it,ticket,2026-09-02,ACC-1,10,smb,email,low\r\n")
    records, quarantine = read_all([path])
    assert [r.id for r in records] == ["T-1", "T-10"]
    assert dict(quarantine.counts) == {"undecodable_bytes": 1}
    out = tmp_path / "q.jsonl"
    quarantine.write_jsonl(out)
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["line"] == 3 and "\\xff" in written["preview"] and "row" not in written


def test_jsonl_and_parquet_are_read_by_extension(tmp_path):
    import pandas as pd

    jsonl = tmp_path / "notes.jsonl"
    jsonl.write_text(
        json.dumps(
            {
                "id": "N-1",
                "text": "Asked for SSO",
                "source": "call_note",
                "created_at": "2026-09-03",
                "topics": ["sso"],
            }
        )
        + "\n"
        + "{not json\n"
        + json.dumps([1, 2])
        + "\n",
        encoding="utf-8",
    )
    parquet = tmp_path / "more.parquet"
    pd.DataFrame(
        [
            {
                "id": "P-1",
                "text": "Card declined",
                "source": "ticket",
                "created_at": "2026-09-04T12:00:00+02:00",
                "account_arr": 5.0,
            }
        ]
    ).to_parquet(parquet)
    records, quarantine = read_all([jsonl, parquet])
    assert [r.id for r in records] == ["N-1", "P-1"]
    assert records[0].metadata == {"topics": ["sso"]}
    assert records[1].created_at.isoformat() == "2026-09-04T10:00:00+00:00"
    assert quarantine.counts["malformed_row"] == 2
    assert [row.line for row in quarantine.rows] == [2, 3]


def test_read_equals_accepted_plus_quarantined_on_the_legacy_sample():
    from tests.conftest import EXAMPLES

    path = EXAMPLES / "feedback" / "legacy_export.csv"
    if not path.exists():
        pytest.skip("sample not present")
    with open(path, "rb") as handle:
        import csv as _csv
        import io

        rows = sum(1 for _ in _csv.reader(io.TextIOWrapper(handle, errors="replace", newline=""))) - 1
    records, quarantine = read_all([path])
    assert len(records) + len(quarantine) == rows
    assert {
        "missing_id",
        "empty_text",
        "bad_created_at",
        "negative_arr",
        "text_too_long",
        "undecodable_bytes",
    } <= set(quarantine.counts)


def test_unknown_extension_and_missing_file_fail_fast(tmp_path):
    (tmp_path / "f.xlsx").write_text("x")
    with pytest.raises(InputError, match="unsupported extension"):
        read_all([tmp_path / "f.xlsx"])
    with pytest.raises(InputError, match="no such file"):
        read_all([tmp_path / "missing.csv"])


def test_validate_row_names_the_field():
    with pytest.raises(ValidationError) as caught:
        validate_row({"id": "x", "text": "hi", "source": "ticket", "created_at": "yesterday"})
    assert caught.value.field == "created_at" and "ISO 8601" in str(caught.value)
