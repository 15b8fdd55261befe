"""Files laid out differently (other column names, another delimiter) are mapped or refused up front."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import pytest

from feedback_nlp.errors import ConfigError, InputError
from feedback_nlp.feedback_io import records_from
from feedback_nlp.ingest import Quarantine, check_inputs, iter_feedback
from feedback_nlp.input_format import InputFormat, detect_delimiter, suggest_mapping
from feedback_nlp.partitions import plan_partitions

ROWS = [
    ["F-1", "The CSV export times out; again, today", "ticket", "2026-09-08"],
    ["F-2", "We need SSO with Okta", "ticket", "2026-09-09T10:00:00Z"],
    ["F-3", "Card declined | at the hotel", "call_note", "2026-09-10"],
]


def _write_csv(path: Path, header: list[str], delimiter: str = ",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(ROWS)
    return path


def _write(path: Path, header: list[str]) -> Path:
    """The three rows under ``header`` as CSV, JSONL or Parquet (by the suffix)."""
    if path.suffix == ".csv":
        return _write_csv(path, header)
    rows = [dict(zip(header, row)) for row in ROWS]
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _read(paths, input_format=None):
    quarantine = Quarantine()
    records = list(iter_feedback(paths, quarantine, input_format=input_format))
    return [(r.id, r.text, r.source, r.created_at.date().isoformat()) for r in records], quarantine


EXPECTED = [(r[0], r[1], r[2], r[3][:10]) for r in ROWS]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_missing_columns_stop_before_any_row_with_found_expected_and_mapping(tmp_path, suffix):
    path = _write(tmp_path / f"export{suffix}", ["id", "body", "source", "date"])
    with pytest.raises(InputError) as caught:
        check_inputs([path])
    message = str(caught.value)
    assert "missing required columns text, created_at" in message
    assert "found columns: id, body, source, date" in message
    assert "expected: id, text, source, created_at" in message
    assert "'body' looks like 'text'" in message
    assert "--column text=body --column created_at=date" in message
    # iter_feedback and the partition planner (both engines) refuse it the same way, before reading a row
    quarantine = Quarantine()
    with pytest.raises(InputError, match="missing required columns"):
        list(iter_feedback([path], quarantine))
    assert len(quarantine) == 0
    with pytest.raises(InputError, match="missing required columns"):
        plan_partitions([path])


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_column_mapping_reads_renamed_columns(tmp_path, suffix):
    path = _write(tmp_path / f"export{suffix}", ["id", "body", "source", "date"])
    mapping = InputFormat.from_options(columns=["text=body", "created_at=date"])
    records, quarantine = _read([path], mapping)
    assert records == EXPECTED
    assert len(quarantine) == 0


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_is_detected_from_the_header(tmp_path, delimiter):
    # the texts hold commas, semicolons and pipes: only the header decides
    path = _write_csv(tmp_path / "export.csv", ["id", "text", "source", "created_at"], delimiter)
    records, quarantine = _read([path])
    assert records == EXPECTED
    assert len(quarantine) == 0


def test_a_wrong_delimiter_says_which_one_to_pass(tmp_path):
    path = _write_csv(tmp_path / "export.csv", ["id", "text", "source", "created_at"], ";")
    with pytest.raises(InputError) as caught:
        check_inputs([path], InputFormat(delimiter=","))
    assert "pass --delimiter ';'" in str(caught.value)


def test_partitions_carry_delimiter_and_mapping_to_every_engine(tmp_path):
    path = _write_csv(tmp_path / "export.csv", ["id", "body", "source", "date"], ";")
    mapping = InputFormat.from_options(columns=["text=body", "created_at=date"])
    partitions = plan_partitions([path], partition_bytes=1, input_format=mapping)
    assert len(partitions) == len(ROWS)
    # a Dask worker gets the partition pickled: the format travels with it
    partitions = [pickle.loads(pickle.dumps(p)) for p in partitions]
    assert {p.input_format.delimiter for p in partitions} == {";"}
    rows = [row for p in partitions for _, row, problem in p.rows() if problem is None]
    whole, _ = _read([path], mapping)
    assert [(r["id"], r["text"], r["source"], r["created_at"][:10]) for r in rows] == whole == EXPECTED


@pytest.mark.parametrize(
    ("missing", "found", "expected"),
    [
        (["text"], ["Text"], {"text": "Text"}),
        (["text"], ["message"], {"text": "message"}),
        (["created_at"], ["creted_at"], {"created_at": "creted_at"}),
        (["created_at", "id"], ["timestamp", "ticket_id"], {"created_at": "timestamp", "id": "ticket_id"}),
        (["text"], ["priority"], {}),
    ],
)
def test_suggest_mapping(missing, found, expected):
    assert suggest_mapping(missing, found) == expected


def test_detect_delimiter_defaults_to_comma():
    assert detect_delimiter("text\nhello; world\n") == ","
    assert detect_delimiter("id;text;source\n1;a,b;c\n") == ";"


@pytest.mark.parametrize(
    ("delimiter", "columns", "match"),
    [
        (";;", [], "one character"),
        (None, ["body"], "SCHEMA_COLUMN=FILE_COLUMN"),
        (None, ["txt=body"], "not a feedback column"),
        (None, ["text=body", "text=message"], "only once"),
    ],
)
def test_bad_options_are_refused(delimiter, columns, match):
    with pytest.raises(ConfigError, match=match):
        InputFormat.from_options(delimiter, columns)


def test_a_mapped_column_the_file_lacks_is_named(tmp_path):
    path = _write_csv(tmp_path / "export.csv", ["id", "body", "source", "created_at"])
    with pytest.raises(InputError, match="--column text=message names a column the file does not have"):
        check_inputs([path], InputFormat.from_options(columns=["text=message"]))


def test_from_options_takes_tab_by_name():
    assert InputFormat.from_options("tab").delimiter == "\t"


def test_records_from_takes_a_column_mapping():
    records = records_from(
        [{"ticket_id": "A-1", "body": "the export times out", "date": "2026-09-08"}],
        columns={"id": "ticket_id", "text": "body", "created_at": "date"},
    )
    assert (records[0].id, records[0].text, records[0].created_at.day) == ("A-1", "the export times out", 8)


# -- the commands ---------------------------------------------------------------------------------------


def _cli(argv, capsys):
    from feedback_nlp.cli import main

    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_ingest_refuses_missing_columns_before_opening_the_store(tmp_path, tiny_model_dir, capsys):
    path = _write_csv(tmp_path / "export.csv", ["id", "body", "source", "date"], ";")
    store = tmp_path / "store.sqlite"
    base = ["ingest", "--models-dir", tiny_model_dir.parent, "--database-url", f"sqlite:///{store}"]
    code, _, err = _cli([*base, path], capsys)
    assert code == 2
    assert "--column text=body --column created_at=date" in err
    assert not store.exists()

    code, out, _ = _cli([*base, "--column", "text=body", "--column", "created_at=date", path], capsys)
    assert code == 0
    assert "read 3, accepted 3, quarantined 0, stored 3" in out


def test_ingest_fails_when_nothing_is_accepted(tmp_path, tiny_model_dir, capsys):
    path = tmp_path / "empty_texts.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": f"E-{n}", "text": " ", "source": "ticket", "created_at": "2026-09-08"}) + "\n"
            for n in range(4)
        ),
        encoding="utf-8",
    )
    argv = [
        "ingest",
        "--models-dir",
        tiny_model_dir.parent,
        "--database-url",
        f"sqlite:///{tmp_path}/s.sqlite",
    ]
    code, out, err = _cli([*argv, path], capsys)
    assert code == 2
    assert "read 4, accepted 0, quarantined 4" in out  # the summary is still printed
    assert "no row was accepted: all 4 quarantined, most as empty_text (4)" in err
    assert f"{path}:1" in err and "nothing was stored" in err


def test_score_input_maps_columns_and_fails_when_nothing_is_accepted(tmp_path, tiny_model_dir, capsys):
    path = _write_csv(tmp_path / "export.csv", ["id", "body", "source", "date"])
    base = ["score", "--models-dir", tiny_model_dir.parent, "--input", path]
    code, out, err = _cli(base, capsys)
    assert (code, out) == (2, "")
    assert "'body' looks like 'text'" in err

    code, out, _ = _cli([*base, "--column", "text=body", "--column", "created_at=date"], capsys)
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["F-1", "F-2", "F-3"]

    bad = tmp_path / "bad.csv"
    bad.write_text("id,text,source,created_at\nB-1,hello,ticket,yesterday\n", encoding="utf-8")
    code, out, err = _cli(["score", "--models-dir", tiny_model_dir.parent, "--input", bad], capsys)
    assert (code, out) == (2, "")
    assert "no row was accepted" in err and "bad_created_at" in err and "nothing was scored" in err


def test_train_refuses_missing_columns_before_any_work(tmp_path, capsys):
    from tiny_data import write_tiny_dataset

    _, roadmap = write_tiny_dataset(tmp_path / "data")
    path = _write_csv(tmp_path / "export.csv", ["id", "body", "source", "date"])
    models = tmp_path / "models"
    code, _, err = _cli(["train", "--feedback", path, "--roadmap", roadmap, "--models-dir", models], capsys)
    assert code == 2
    assert "--column text=body --column created_at=date" in err
    assert not models.exists()


def test_train_says_why_rows_were_rejected(tmp_path):
    from tiny_data import tiny_config, write_tiny_dataset

    from feedback_nlp.errors import TrainingError
    from feedback_nlp.pipeline import train

    _, roadmap = write_tiny_dataset(tmp_path / "data")
    path = tmp_path / "dates.csv"
    path.write_text(
        "id,text,source,created_at\n"
        + "".join(f"D-{n},the export times out,ticket,last week\n" for n in range(5)),
        encoding="utf-8",
    )
    with pytest.raises(TrainingError, match=r"5 rows rejected, most for created_at: 'last week' is not"):
        train([path], roadmap, tmp_path / "models", tiny_config())


def test_train_command_reads_a_renamed_semicolon_file(tmp_path, capsys):
    from tiny_data import write_tiny_dataset

    (tickets, notes), roadmap = write_tiny_dataset(tmp_path / "data")
    rows = list(csv.reader(tickets.open(encoding="utf-8")))
    rows[0] = ["id", "body", "source", "date", *rows[0][4:]]
    renamed = tmp_path / "renamed.csv"
    with open(renamed, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=";").writerows(rows)
    config = tmp_path / "config.yaml"
    config.write_text(
        "encoder: hashing\nmin_themes: 3\nmax_themes: 12\nmin_theme_size: 5\nmin_similarity: 0.05\n"
        "roadmap_threshold: 0.15\ndefault_owner: triage@ledgerly.example\n",
        encoding="utf-8",
    )
    argv = ["train", "--feedback", renamed, "--feedback", notes, "--roadmap", roadmap, "--config", config]
    argv += [
        "--models-dir",
        tmp_path / "models",
        "--column",
        "text=body",
        "--column",
        "created_at=date",
        "--json",
    ]
    code, out, _ = _cli(argv, capsys)
    assert code == 0
    summary = json.loads(out)
    assert summary["rows_read"] == summary["rows_accepted"] == len(rows) - 1 + 12
    metadata = json.loads((tmp_path / "models" / summary["version"] / "metadata.json").read_text("utf-8"))
    assert metadata["input_format"] == {"delimiter": None, "columns": {"created_at": "date", "text": "body"}}
