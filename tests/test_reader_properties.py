"""Property tests of the file readers: whatever the bytes, no exception escapes but a deliberate InputError
naming the file, and every row read is either accepted or quarantined (nothing is lost or invented)."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedback_nlp.errors import InputError
from feedback_nlp.ingest import Quarantine, _reader_for, iter_feedback
from feedback_nlp.partitions import plan_partitions
from feedback_nlp.store import check_record_fits

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
HEADER = ["id", "text", "source", "created_at", "account_arr"]
BOMS = [b"", b"\xef\xbb\xbf"]


def _read(path: Path):
    """(records, quarantine, rows the reader yielded), or None when the file stopped with an InputError."""
    quarantine = Quarantine()
    try:
        records = list(iter_feedback([path], quarantine))
    except InputError as exc:
        assert str(path) in str(exc)  # a deliberate stop names the file
        return None
    rows = list(_reader_for(path)(path))
    return records, quarantine, rows


def _check_accounting(path: Path, result) -> None:
    records, quarantine, rows = result
    # every row the reader yields is accepted or quarantined, once
    assert len(records) + len(quarantine) == len(rows)
    lines = [line for line, _, _ in rows]
    assert lines == sorted(set(lines))  # one row per line number, in file order
    if path.suffix != ".parquet":  # lines of the file (Parquet: rows, checked by the caller)
        physical = path.read_bytes().count(b"\n") + 1
        assert all(1 <= line <= physical for line in lines)
    for record in records:
        check_record_fits(record)  # what is accepted is within the contract the store and API enforce
        json.dumps(record.metadata)
    quarantine.write_jsonl(path.with_suffix(".quarantine"))  # bad rows can always be written down


@PROPERTY
@given(data=st.binary(max_size=600), suffix=st.sampled_from([".csv", ".jsonl"]), bom=st.sampled_from(BOMS))
def test_random_bytes_never_raise_and_every_row_is_counted(data, suffix, bom):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"f{suffix}"
        path.write_bytes(bom + (b"id,text,source,created_at\n" if suffix == ".csv" else b"") + data)
        result = _read(path)
        if result is not None:
            _check_accounting(path, result)


TEXT = st.text(
    alphabet=st.sampled_from(list('ab ,"\n\r\t;\x00é\u2028') + ["\ud800", "🙂"]), min_size=0, max_size=30
)


@st.composite
def csv_files(draw):
    """A CSV file of valid rows and broken lines: (text, valid ids, broken lines, outcome ambiguous)."""
    kinds = draw(st.lists(st.sampled_from(["valid", "unterminated", "width", "date"]), max_size=25))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # so that it quotes a field holding either character
    terminators = draw(
        st.lists(st.sampled_from(["\n", "\r\n"]), min_size=len(kinds) + 1, max_size=len(kinds) + 1)
    )
    out.write(",".join(HEADER) + terminators[0])
    valid, broken, quotes_in_valid = [], 0, False
    for n, (kind, end) in enumerate(zip(kinds, terminators[1:])):
        if kind == "valid":
            text = draw(TEXT.filter(lambda t: t.strip() and "\x00" not in t and "\ud800" not in t))
            writer.writerow([f"V-{n}", text, "ticket", "2026-09-01", draw(st.sampled_from(["", "12.5"]))])
            out.seek(out.tell() - 2)  # the writer's "\r\n": use this row's own line ending
            out.truncate()
            out.write(end)
            valid.append(f"V-{n}")
            quotes_in_valid = quotes_in_valid or '"' in text
        elif kind == "unterminated":
            out.write(f'B-{n},"a quote that never closes,ticket,2026-09-01,{end}')
            broken += 1
        elif kind == "width":
            out.write(f"B-{n},too few fields{end}")
            broken += 1
        else:
            out.write(f"B-{n},a date far away,ticket,0001-01-01T00:00:00+01:00,{end}")
            broken += 1
    unterminated = "unterminated" in kinds
    return out.getvalue(), valid, broken, unterminated and quotes_in_valid


@PROPERTY
@given(
    file=csv_files(),
    bom=st.sampled_from(BOMS),
    encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]),
    partition_bytes=st.integers(1, 400),
)
def test_generated_csv_keeps_every_valid_row_and_quarantines_each_broken_line_once(
    file, bom, encoding, partition_bytes
):
    text, valid, broken, ambiguous = file
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.csv"
        path.write_bytes(bom + text.encode(encoding, "replace" if encoding == "latin-1" else "strict"))
        result = _read(path)
        if encoding == "utf-16":
            assert result is None  # stopped: "save it as UTF-8"
            return
        assert result is not None
        _check_accounting(path, result)
        records, quarantine, rows = result
        # partitions of any size read exactly what the whole file gives: the engines see the same rows
        assert [row for part in plan_partitions([path], partition_bytes) for row in part.rows()] == rows
        if encoding == "utf-8" and not ambiguous:
            # a quote opened on a broken line could pair with a quote in a later valid row's text; without
            # such quotes the outcome is exact
            assert [r.id for r in records] == valid
            assert len(quarantine) == broken


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def jsonl_lines(draw):
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["row", "row", "value", "garbage", "blank"]))
        if kind == "row":
            row = {
                field: draw(
                    st.one_of(JSON_VALUES, st.just("2026-09-01"), st.just("T-1"), st.just("some text"))
                )
                for field in HEADER
                if draw(st.booleans()) or field in ("id", "text")
            }
            row.update(draw(st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=2)))
            lines.append(json.dumps(row))
        elif kind == "value":
            lines.append(json.dumps(draw(JSON_VALUES)))
        elif kind == "garbage":
            lines.append(draw(st.text(max_size=20)).replace("\n", " ").replace("\r", " "))
        else:
            lines.append("   ")
    return lines


@PROPERTY
@given(lines=jsonl_lines(), ending=st.sampled_from(["\n", "\r\n"]), bom=st.sampled_from(BOMS))
def test_jsonl_of_random_types_never_raises_and_every_line_is_counted(lines, ending, bom):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.jsonl"
        path.write_bytes(bom + ending.join(lines).encode("utf-8", "surrogatepass") + ending.encode())
        result = _read(path)
        if result is None:
            # refused before any row is read: only when no sampled object row holds every required column
            from feedback_nlp.input_format import InputFormat

            with pytest.raises(InputError, match="missing required column"):
                InputFormat().for_file(path)
            return
        _check_accounting(path, result)
        records, quarantine, _ = result
        # blank as JSON sees it: ASCII whitespace only
        non_blank = sum(1 for line in lines if line.encode("utf-8", "surrogatepass").strip())
        assert len(records) + len(quarantine) == non_blank


def _arrow_columns():
    import pyarrow as pa

    seconds = st.integers(min_value=-(2**52), max_value=2**52)  # Parquet keeps seconds as milliseconds
    return st.sampled_from(
        [
            (pa.string(), st.text(max_size=8) | st.just("2026-09-01") | st.just("T-1")),
            (pa.int64(), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
            (pa.float64(), st.floats()),
            (pa.bool_(), st.booleans()),
            (pa.timestamp("s"), seconds),
            (pa.timestamp("ms", tz="+01:00"), seconds),
            (pa.date32(), st.integers(min_value=-(2**31), max_value=2**31 - 1)),
            (pa.decimal128(38, 2), st.decimals(min_value=-(10**30), max_value=10**30, places=2)),
            (pa.binary(), st.binary(max_size=8)),
            (
                pa.list_(pa.int64()),
                st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=3),
            ),
            (pa.duration("s"), st.integers(min_value=-(2**40), max_value=2**40)),
        ]
    )


@PROPERTY
@given(
    data=st.data(),
    n_rows=st.integers(0, 6),
    names=st.lists(st.sampled_from(HEADER + ["extra"]), min_size=1, max_size=6, unique=True),
)
def test_parquet_of_random_types_never_raises_and_every_row_is_counted(data, n_rows, names):
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays = {}
    # every required column is there (a file without one stops before any row: tests/test_input_format.py)
    for name in dict.fromkeys(HEADER + names):
        arrow_type, values = data.draw(_arrow_columns())
        raw = data.draw(st.lists(st.none() | values, min_size=n_rows, max_size=n_rows))
        if arrow_type in (pa.timestamp("s"), pa.timestamp("ms", tz="+01:00"), pa.date32(), pa.duration("s")):
            storage = pa.int64() if arrow_type != pa.date32() else pa.int32()
            arrays[name] = pa.array(raw, type=storage).cast(arrow_type)
        else:
            arrays[name] = pa.array(raw, type=arrow_type)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.parquet"
        pq.write_table(pa.table(arrays), path, row_group_size=data.draw(st.integers(1, 4)))
        result = _read(path)
        assert result is not None
        _check_accounting(path, result)
        assert [line for line, _, _ in result[2]] == list(range(1, n_rows + 1))


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
def test_a_bom_and_crlf_read_like_plain_utf8(tmp_path, line_end):
    rows = [b"id,text,source,created_at", b"T-1,hello,ticket,2026-09-01"]
    path = tmp_path / "f.csv"
    path.write_bytes(b"\xef\xbb\xbf" + line_end.join(rows) + line_end)
    records, quarantine, _ = _read(path)
    assert [r.id for r in records] == ["T-1"] and len(quarantine) == 0
