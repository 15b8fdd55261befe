"""Partitioned reading gives exactly what reading whole files gives; statistics add up across partitions."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from feedback_nlp.bm25 import BM25Corpus
from feedback_nlp.ctfidf import ClassTermCounts, class_tfidf_keywords
from feedback_nlp.ingest import Quarantine, _reader_for, iter_feedback
from feedback_nlp.partitions import find_duplicates, id_hash, plan_partitions
from feedback_nlp.roadmap import RoadmapItem, scale_per_item, theme_item_lexical


def _awkward_csv(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        handle.write("\ufeff")  # a byte order mark, as Excel writes
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "source", "created_at"])
        for n in range(60):
            text = f'ticket {n} says "hello"\nover two lines' if n % 7 == 0 else f"plain ticket number {n}"
            writer.writerow([f"C-{n}", text, "ticket", "2026-11-02"])
            if n == 20:
                handle.write("C-bad,too,many,fields,here\n")
            if n == 30:
                writer.writerow(["C-5", "a duplicate id", "ticket", "2026-11-02"])
    return path


def _jsonl(path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(40):
            handle.write(
                json.dumps(
                    {
                        "id": f"J-{n}",
                        "text": f"note {n} about exports",
                        "source": "call_note",
                        "created_at": "2026-11-03",
                    }
                )
                + "\n"
            )
            if n == 10:
                handle.write("{not json\n\n")
    return path


@pytest.mark.parametrize("partition_bytes", [1, 97, 400, 10**9])
def test_partitions_read_the_same_rows_lines_and_problems_as_whole_files(tmp_path, partition_bytes):
    import pandas as pd

    files = [_awkward_csv(tmp_path / "a.csv"), _jsonl(tmp_path / "b.jsonl")]
    frame = pd.DataFrame(
        {
            "id": [f"P-{n}" for n in range(50)],
            "text": [f"parquet row {n}" for n in range(50)],
            "source": "ticket",
            "created_at": "2026-11-04",
        }
    )
    frame.to_parquet(tmp_path / "c.parquet", row_group_size=7)
    files.append(tmp_path / "c.parquet")
    partitions = plan_partitions(files, partition_bytes)
    got = [row for partition in partitions for row in partition.rows()]
    expected = [row for path in files for row in _reader_for(path)(path)]
    assert got == expected
    assert [p.index for p in partitions] == list(range(len(partitions)))
    if partition_bytes == 1:
        assert len(partitions) > 100  # one row per partition: every boundary was exercised
    if partition_bytes == 10**9:
        assert len(partitions) == 3


def test_a_quoted_field_with_newlines_is_never_cut(tmp_path):
    path = _awkward_csv(tmp_path / "a.csv")
    for partition in plan_partitions([path], 1):
        rows = list(partition.rows())
        assert all(problem is None or "fields" in problem for _, _, problem in rows)
    multi = [row for p in plan_partitions([path], 1) for _, row, _ in p.rows() if row and "\n" in row["text"]]
    assert len(multi) == 9  # n = 0, 7, ..., 56


def test_duplicates_found_across_partitions_keep_the_first_row():
    hashes = [
        np.array([id_hash(i) for i in ids], dtype=np.uint64)
        for ids in (["a", "b"], ["c", "a"], [], ["b", "d", "d"])
    ]
    result = find_duplicates(hashes)
    assert [r.tolist() for r in result] == [[], [1], [], [0, 2]]


def test_class_term_counts_added_across_partitions_give_the_whole_corpus_keywords():
    docs = [
        ["card", "arrive", "late"],
        ["card", "arrive"],
        ["refund", "charge"],
        ["refund", "duplicate", "charge"],
        ["card", "late", "delivery"],
        ["export", "csv"],
        ["export", "csv", "timeout"],
        ["app", "crash"],
    ]
    labels = np.array([0, 0, 1, 1, 0, 2, 2, -1])
    expected = class_tfidf_keywords(docs, labels, 3, n_keywords=4)
    whole = ClassTermCounts.count(docs, labels).keywords(3, None, 4)
    parts = ClassTermCounts()
    for start in range(0, len(docs), 3):
        parts.add(ClassTermCounts.count(docs[start : start + 3], labels[start : start + 3]))
    assert whole == expected
    assert parts.keywords(3, None, 4) == expected
    # classes summed into themes: 0 and 1 merged into theme 0
    merged_labels = np.array([{0: 0, 1: 0, 2: 1}.get(int(label), -1) for label in labels])
    assert parts.keywords(2, {0: 0, 1: 0, 2: 1}, 6) == class_tfidf_keywords(
        docs, merged_labels, 2, n_keywords=6
    )


def test_bm25_counted_per_partition_matches_the_whole_corpus_lexical_score():
    texts = [
        "the csv export times out",
        "export to csv fails",
        "card declined abroad",
        "my card got declined",
        "please add dark mode",
        "refund still missing",
        "export is slow and times out",
    ]
    labels = np.array([0, 0, 1, 1, -1, 2, 0])
    items = [
        RoadmapItem(
            id="RM-1",
            title="Faster CSV export",
            description="",
            owner="a",
            status="planned",
            keywords=["export", "csv"],
        ),
        RoadmapItem(
            id="RM-2",
            title="Fewer card declines",
            description="",
            owner="b",
            status="planned",
            keywords=["declined"],
        ),
    ]
    expected = theme_item_lexical(texts, labels, 3, items)
    corpus = BM25Corpus.for_queries([item.lexical_text() for item in items])
    assigned = [t for t, label in zip(texts, labels) if label >= 0]
    for start in range(0, len(assigned), 2):
        corpus.add(BM25Corpus(corpus.query_terms).count(assigned[start : start + 2]))
    scores = corpus.scores(assigned)
    sums = np.zeros((3, 2))
    np.add.at(sums, labels[labels >= 0], scores)
    got = scale_per_item(sums, np.bincount(labels[labels >= 0], minlength=3))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert got[0, 0] == pytest.approx(1.0) and got[1, 1] == pytest.approx(1.0)


def test_iter_feedback_still_quarantines_duplicates_with_their_line(tmp_path):
    path = _awkward_csv(tmp_path / "a.csv")
    quarantine = Quarantine()
    records = list(iter_feedback([path], quarantine))
    assert len(records) == 60
    duplicate = [row for row in quarantine.rows if "duplicate" in row.reason]
    assert len(duplicate) == 1 and "text=a duplicate id" in duplicate[0].preview
    assert quarantine.counts == {"duplicate_id": 1, "malformed_row": 1}
