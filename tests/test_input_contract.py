"""One input contract for files (ingest, train) and the API: bad rows are quarantined with their true
reason and the run goes on; files that are not their format stop with a message naming the file."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from tiny_data import tiny_config, write_tiny_dataset

from feedback_nlp import ingest
from feedback_nlp.contract import ACCOUNT_ARR_MAX, CREATED_AT_MAX, CREATED_AT_MIN
from feedback_nlp.errors import InputError, ValidationError
from feedback_nlp.ingest import Quarantine, iter_feedback, validate_row
from feedback_nlp.partitions import plan_partitions
from feedback_nlp.schemas import FeedbackRecord
from feedback_nlp.store import check_record_fits

GOOD = {"id": "G-1", "text": "The CSV export times out", "source": "ticket", "created_at": "2026-09-01"}


def read_all(paths, **kwargs):
    quarantine = Quarantine()
    records = list(iter_feedback(paths, quarantine, **kwargs))
    return records, quarantine


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# The rows of issue 17, each with the reason it must be quarantined for (json.dumps writes "\ud800" as an
# escape, so the file itself is valid UTF-8: the surrogate is in the text, not in the bytes).
HOSTILE_ROWS = [
    pytest.param({"created_at": "0001-01-01T00:00:00+01:00"}, "created_at_out_of_range", id="year-1"),
    pytest.param({"created_at": "9999-12-31T23:59:59-00:01"}, "created_at_out_of_range", id="year-9999"),
    pytest.param({"created_at": "1969-12-31T23:59:59Z"}, "created_at_out_of_range", id="before-1970"),
    pytest.param({"created_at": "2100-01-01"}, "created_at_out_of_range", id="from-2100"),
    pytest.param({"text": "lone \ud800 surrogate"}, "invalid_text", id="surrogate-text"),
    pytest.param({"text": "nul \x00 inside"}, "invalid_text", id="nul-text"),
    pytest.param({"text": "\x00"}, "invalid_text", id="only-nul"),
    pytest.param({"text": 42}, "invalid_text", id="text-a-number"),
    pytest.param({"id": "x" * 300}, "id_too_long", id="id-300-chars"),
    pytest.param({"id": True}, "invalid_id", id="id-a-boolean"),
    pytest.param({"id": "a\ud800"}, "invalid_id", id="surrogate-id"),
    pytest.param({"source": "s" * 51}, "source_too_long", id="source-too-long"),
    pytest.param({"account_arr": True}, "bad_account_arr", id="arr-true"),
    pytest.param({"account_arr": 1.7e308}, "account_arr_too_large", id="arr-1.7e308"),
    pytest.param({"account_arr": 10**30}, "account_arr_too_large", id="arr-huge-int"),
    pytest.param({"account_arr": "1e400"}, "bad_account_arr", id="arr-inf-string"),
    pytest.param({"account_arr": [1]}, "bad_account_arr", id="arr-a-list"),
    pytest.param({"extra": 2**70}, "bad_metadata", id="metadata-int-beyond-64-bits"),
    pytest.param({"extra": {"k": "\ud800"}}, "invalid_metadata", id="metadata-surrogate"),
]


@pytest.mark.parametrize(("change", "reason"), HOSTILE_ROWS)
def test_a_hostile_row_is_quarantined_with_its_true_reason_and_the_run_goes_on(tmp_path, change, reason):
    path = write_jsonl(tmp_path / "f.jsonl", [{**GOOD, **change, "id": change.get("id", "H-1")}, GOOD])
    records, quarantine = read_all([path])
    assert [r.id for r in records] == ["G-1"]
    assert dict(quarantine.counts) == {reason: 1}
    assert quarantine.rows[0].line == 1
    quarantine.write_jsonl(tmp_path / "q.jsonl")  # a bad row can always be written down


def test_dates_inside_the_bounds_are_kept_in_utc():
    early = validate_row({**GOOD, "created_at": "1970-01-01T01:00:00+01:00"})
    late = validate_row({**GOOD, "created_at": "2099-12-31T23:59:59Z"})
    assert early.created_at == CREATED_AT_MIN
    assert late.created_at == datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("created_at", "account_arr", "field"),
    [
        (datetime(1969, 12, 31, tzinfo=UTC), None, "created_at"),
        (CREATED_AT_MAX, None, "created_at"),
        (datetime(2026, 9, 1, tzinfo=UTC), ACCOUNT_ARR_MAX * 2, "account_arr"),
    ],
)
def test_the_store_refuses_what_the_contract_refuses(created_at, account_arr, field):
    record = FeedbackRecord("R-1", "text", "ticket", created_at, account_arr=account_arr)
    with pytest.raises(ValidationError) as caught:
        check_record_fits(record)
    assert caught.value.field == field


def test_a_semicolon_file_is_read_with_its_delimiter_and_a_short_row_is_malformed_not_missing_an_id(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text(
        "id;text;source;created_at\nT-1;hello;ticket;2026-09-01\nT-2;no date;ticket\n", encoding="utf-8"
    )
    records, quarantine = read_all([path])
    assert [r.id for r in records] == ["T-1"]
    assert dict(quarantine.counts) == {"malformed_row": 1}


def test_csv_bytes_that_are_not_utf8_stay_undecodable_and_a_json_escape_is_invalid_text(tmp_path):
    csv_path = tmp_path / "f.csv"
    csv_path.write_bytes(b"id,text,source,created_at\nT-1,caf\xe9,ticket,2026-09-01\n")
    jsonl_path = write_jsonl(tmp_path / "f.jsonl", [{**GOOD, "text": "caf\udce9"}])
    _, csv_quarantine = read_all([csv_path])
    _, jsonl_quarantine = read_all([jsonl_path])
    assert dict(csv_quarantine.counts) == {"undecodable_bytes": 1}
    assert dict(jsonl_quarantine.counts) == {"invalid_text": 1}


# -- files that are not what their name says ------------------------------------------------------------


def _gzip_named_csv(path: Path) -> str:
    path.write_bytes(gzip.compress(b"id,text,source,created_at\nT-1,hello,ticket,2026-09-01\n"))
    return "gzip archive"


def _text_named_parquet(path: Path) -> str:
    path.write_text("id,text,source,created_at\n", encoding="utf-8")
    return "not a Parquet file: it looks like text"


def _truncated_parquet(path: Path) -> str:
    import pandas as pd

    pd.DataFrame([GOOD]).to_parquet(path)
    path.write_bytes(path.read_bytes()[:-20])  # the footer is gone
    return "cannot be read as Parquet"


def _cr_in_header(path: Path) -> str:
    path.write_bytes(b"id,text\r,source,created_at\nT-1,hello,ticket,2026-09-01\n")
    return "carriage return (CR)"


def _cr_only_line_ends(path: Path) -> str:
    path.write_bytes(b"id,text,source,created_at\rT-1,hello,ticket,2026-09-01\r")
    return "LF or CRLF"


def _utf16_csv(path: Path) -> str:
    path.write_text("id,text,source,created_at\nT-1,hello,ticket,2026-09-01\n", encoding="utf-16")
    return "save it as UTF-8"


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("f.csv", _gzip_named_csv),
        ("f.parquet", _text_named_parquet),
        ("f.parquet", _truncated_parquet),
        ("f.csv", _cr_in_header),
        ("f.csv", _cr_only_line_ends),
        ("f.csv", _utf16_csv),
    ],
)
def test_a_file_that_cannot_be_read_stops_naming_the_file_and_what_it_looks_like(tmp_path, name, write):
    path = tmp_path / name
    expected = write(path)
    for read in (lambda: read_all([path]), lambda: plan_partitions([path], 10)):
        with pytest.raises(InputError) as caught:
            read()
        assert str(path) in str(caught.value) and expected in str(caught.value)


def test_a_cr_inside_a_data_row_quarantines_that_row_alone(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(
        b"id,text,source,created_at\n"
        b"T-1,a stray\r carriage return,ticket,2026-09-01\n"
        b"T-2,fine,ticket,2026-09-01\n"
    )
    records, quarantine = read_all([path])
    assert [r.id for r in records] == ["T-2"]
    assert dict(quarantine.counts) == {"malformed_row": 1} and "carriage return" in quarantine.rows[0].reason


# -- unterminated quotes ----------------------------------------------------------------------------------


def _rows_after_a_broken_quote(path: Path, closing_row: bool) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        handle.write("id,text,source,created_at\n")
        handle.write('T-0,"a quote that never closes,ticket,2026-09-01\n')
        writer = csv.writer(handle, lineterminator="\n")
        for n in range(1, 36):
            writer.writerow([f"T-{n}", f"valid row {n}", "ticket", "2026-09-01"])
        if closing_row:  # a later quoted field, whose quote the broken one would pair with
            writer.writerow(["T-36", 'He said "hi", then\nleft', "ticket", "2026-09-01"])
    return path


@pytest.mark.parametrize("closing_row", [False, True], ids=["quote-runs-to-eof", "quote-pairs-later"])
def test_an_unterminated_quote_costs_its_own_line_only(tmp_path, closing_row):
    path = _rows_after_a_broken_quote(tmp_path / "f.csv", closing_row)
    records, quarantine = read_all([path])
    assert [r.id for r in records] == [f"T-{n}" for n in range(1, 37 if closing_row else 36)]
    assert dict(quarantine.counts) == {"unterminated_quote": 1}
    assert quarantine.rows[0].line == 2
    if closing_row:
        assert records[-1].text == 'He said "hi", then\nleft' and records[-1].origin_line == 39


@pytest.mark.parametrize("partition_bytes", [1, 50, 300, 10**9])
def test_partitions_cut_a_file_with_broken_quotes_as_the_whole_file_reads_it(tmp_path, partition_bytes):
    path = _rows_after_a_broken_quote(tmp_path / "f.csv", closing_row=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('T-37,"multi\nline, fine",ticket,2026-09-01\nT-38,"open at the end,ticket,2026-09-01\n')
    whole = list(ingest._iter_csv(path))
    assert [row for part in plan_partitions([path], partition_bytes) for row in part.rows()] == whole
    assert [problem.split(":")[0] for _, _, problem in whole if problem] == ["unterminated_quote"] * 2


def test_a_quoted_field_over_the_byte_bound_is_an_unterminated_quote(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "MAX_QUOTED_ROW_BYTES", 200)
    path = tmp_path / "f.csv"
    long_text = "\n".join(f"line {n} of a long note" for n in range(20))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "text", "source", "created_at"])
        writer.writerow(["T-1", long_text, "ticket", "2026-09-01"])
        writer.writerow(["T-2", "short", "ticket", "2026-09-01"])
    records, quarantine = read_all([path])
    assert quarantine.counts["unterminated_quote"] == 1 and "T-2" in [r.id for r in records]
    monkeypatch.setattr(ingest, "MAX_QUOTED_ROW_BYTES", 4 << 20)
    records, quarantine = read_all([path])
    assert [r.text for r in records][0] == long_text and len(quarantine) == 0


# -- Parquet values Python cannot hold -------------------------------------------------------------------


def test_a_parquet_value_python_cannot_hold_quarantines_its_row_only(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    far = 400_000 * 365 * 86400  # seconds: about the year 402,000
    table = pa.table(
        {
            "id": ["P-1", "P-2"],
            "text": ["fine", "from the far future"],
            "source": ["ticket", "ticket"],
            "created_at": pa.array([1_788_000_000, far], type=pa.timestamp("s")),
            "price": pa.array([Decimal("1.50"), Decimal("2.50")], type=pa.decimal128(5, 2)),
        }
    )
    pq.write_table(table, tmp_path / "f.parquet")
    records, quarantine = read_all([tmp_path / "f.parquet"])
    assert [r.id for r in records] == ["P-1"] and records[0].metadata == {"price": 1.5}
    assert dict(quarantine.counts) == {"unreadable_value": 1} and quarantine.rows[0].line == 2


# -- train and ingest: the same contract ------------------------------------------------------------------


def _hostile_jsonl(path: Path) -> Path:
    return write_jsonl(
        path,
        [
            {**GOOD, "id": "H-1", "text": "lone \ud800 surrogate in a note"},
            {**GOOD, "id": "H-2", "created_at": "0001-01-01T00:00:00+01:00"},
            {**GOOD, "id": "H-3", "created_at": "9999-12-31T23:59:59-00:01"},
            {**GOOD, "id": "H-4", "account_arr": 1.7e308},
            {**GOOD, "id": "H-5", "account_arr": True},
        ],
    )


EXPECTED_HOSTILE = {
    "invalid_text": 1,
    "created_at_out_of_range": 2,
    "account_arr_too_large": 1,
    "bad_account_arr": 1,
}


def test_train_quarantines_what_ingest_quarantines(tmp_path):
    from feedback_nlp.pipeline import train

    feedback, roadmap = write_tiny_dataset(tmp_path / "data")
    hostile = _hostile_jsonl(tmp_path / "data" / "hostile.jsonl")
    result = train(feedback + [hostile], roadmap, tmp_path / "models", tiny_config())
    assert result.summary["quarantine_reasons"] == EXPECTED_HOSTILE
    _, quarantine = read_all([hostile])
    assert dict(quarantine.counts) == EXPECTED_HOSTILE


# -- the API: the same bounds, answered 422 ---------------------------------------------------------------


KEY_JSON = {"X-API-Key": "k", "content-type": "application/json"}


@pytest.fixture(scope="module")
def api(tmp_path_factory, tiny_model_dir):
    from fastapi.testclient import TestClient

    from feedback_nlp.service.main import create_app
    from feedback_nlp.settings import Settings

    tmp = tmp_path_factory.mktemp("api")
    settings = Settings(
        models_dir=tiny_model_dir.parent,
        database_url=f"sqlite:///{tmp}/store.sqlite",
        api_keys="k",
        reload_poll_seconds=0,
        _env_file=None,
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"created_at": "0001-01-01T00:00:00+01:00"}, "created_at"),
        ({"created_at": "9999-12-31T23:59:59-00:01"}, "created_at"),
        ({"created_at": "2100-01-01T00:00:00"}, "created_at"),
        ({"account_arr": True}, "account_arr"),
        ({"account_arr": 1.7e308}, "account_arr"),
        ({"metadata": {"n": 2**70}}, "metadata"),
        ({"id": "x" * 300}, "id"),
        ({"text": "lone \ud800"}, "text"),
    ],
)
def test_the_api_answers_422_in_the_documented_shape_never_500(api, change, field):
    body = json.dumps({**GOOD, **change})  # ASCII escapes: a lone surrogate travels as \ud800
    response = api.post("/v1/score", content=body, headers=KEY_JSON)
    assert response.status_code == 422, response.text
    details = response.json()["errors"]
    assert [detail["field"] for detail in details] == [field]
    assert all(set(detail) == {"field", "message"} for detail in details)


def test_the_api_accepts_the_bounds_themselves(api):
    body = {**GOOD, "created_at": "1970-01-01T00:00:00Z", "account_arr": ACCOUNT_ARR_MAX}
    response = api.post("/v1/score", content=json.dumps(body), headers=KEY_JSON)
    assert response.status_code == 200, response.text
