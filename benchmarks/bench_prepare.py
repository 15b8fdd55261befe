"""Preparation's fast path against the whole spaCy pipeline: CPU seconds, NER runs and what differs.

The fast path (``TextPreparer(fast_path=True)``, the default) runs the NER only on texts where a name can be
(``prepare.may_name_a_person``) and the parser only on texts split at sentences (call notes, long texts) or
holding a proper noun (``prepare.has_proper_noun``); the slow path runs every component on every text. On the
same texts, in the same process and with the same loaded pipeline, this prints per set: texts, the shares the
parser and the NER ran on, CPU
seconds of each path (all threads, best of ``--repeat``), and how many texts got other units, redactions or
keyword lemmas, with the first few of them, so that each difference can be read (a false redaction undone, or
a name missed).

Sets: the bundled sample (tickets, call notes, the legacy export, read as ``train`` reads them), the planted
personal data of ``bench_privacy.py`` (seeds 7, 11, 23), and, when ``../shared/data`` (or
``FEEDBACK_NLP_SHARED_DATA``) holds them, Banking77's test split, the URR reviews and 3,000 IS-22 reviews.

With ``--alignment``, also the alignment detector on each set's units (as the store write sees them), its
precise pre-filter against parsing every hinted unit: the units each parses, CPU seconds, and whether the
signals are the same.

Usage: python benchmarks/bench_prepare.py [--limit N] [--repeat N] [--show N] [--alignment]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))


def _shared_data() -> Path:
    return Path(os.environ.get("FEEDBACK_NLP_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _records(texts: list[str], source: str = "ticket") -> list[Any]:
    from feedback_nlp.schemas import FeedbackRecord

    created = datetime(2026, 11, 2, tzinfo=UTC)
    return [FeedbackRecord(f"{source}-{i}", text, source, created) for i, text in enumerate(texts)]


def _column(path: Path, column: str, limit: int | None) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [row[column] for row in csv.DictReader(handle)][:limit]


def joined(records: list[Any], size: int) -> list[Any]:
    """Long tickets: every ``size`` consecutive texts joined into one (about 2 KB for 10 planted texts), each
    keeping the first one's id prefixed ``joined:`` and the ids it holds (``parts``) for the leak count."""
    from feedback_nlp.schemas import FeedbackRecord

    created = datetime(2026, 11, 2, tzinfo=UTC)
    out = []
    for start in range(0, len(records) - size + 1, size):
        group = records[start : start + size]
        text = " ".join(record.text.replace("\n- ", " ") for record in group)
        out.append(FeedbackRecord(f"joined:{group[0].id}", text, "ticket", created))
        JOINED_PARTS[out[-1].id] = [record.id for record in group]
    return out


JOINED_PARTS: dict[str, list[str]] = {}


def planted_leaks(records: list[Any], units: list[list[Any]], plants: list[Any]) -> int:
    """Planted values (``bench_privacy``'s, not the extra columns') with a fragment left in their long
    ticket's units: what a change in the NER's reading costs in recall."""
    from bench_privacy import _norm, fragments

    holder = {part: record.id for record in records for part in JOINED_PARTS.get(record.id, [record.id])}
    written = {record.id: _norm(" ".join(u.unit.text for u in got)) for record, got in zip(records, units)}
    return sum(
        any(piece in written[holder[plant.record_id]] for piece in fragments(plant))
        for plant in plants
        if plant.record_id in holder and not plant.kind.startswith("meta_")
    )


def load_sets(limit: int | None, join: int = 0) -> dict[str, list[Any]]:
    """The sets by name; labelled sets that are not there are left out and named. With ``join``, also each
    set's texts joined ``join`` at a time into long tickets (the NER then reads only the sentences of a long
    text that may name someone: ``prepare.recognise_in_windows``)."""
    from bench_privacy import generate

    from feedback_nlp.ingest import Quarantine, iter_feedback
    from feedback_nlp.schemas import FeedbackRecord

    feedback = [REPO_ROOT / "examples/feedback" / name for name in ("tickets.csv", "call_notes.jsonl")]
    feedback.append(REPO_ROOT / "examples/feedback/legacy_export.csv")
    sets: dict[str, list[Any]] = {"sample": list(iter_feedback(feedback, Quarantine()))[:limit]}
    planted = [row for seed in (7, 11, 23) for row in generate(420, seed).rows][:limit]
    created = datetime(2026, 11, 2, tzinfo=UTC)
    sets["planted personal data"] = [
        FeedbackRecord(row["id"], row["text"], row["source"], created) for row in planted
    ]
    data = _shared_data()
    labelled = {
        "banking77 test": (data / "banking77/test.csv", "text", limit),
        "urr reviews": (data / "urr-app-reviews/golden_set.csv", "text", limit),
        "is22 reviews": (data / "is22-app-review-features/reviews.csv", "text", min(limit or 3000, 3000)),
    }
    for name, (path, column, cap) in labelled.items():
        if path.exists():
            sets[name] = _records(_column(path, column, cap))
        else:
            print(f"(no {path}: {name} left out)", file=sys.stderr)
    if join > 1:
        sets.update({f"{name}, {join} joined": joined(records, join) for name, records in list(sets.items())})
    return sets


def cpu_seconds(work: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.process_time()
        result = work()
        best = min(best, time.process_time() - started)
    return best, result


def _shown(units: list[Any]) -> str:
    return " / ".join(u.unit.text for u in units)[:160].replace("\n", " ")


def _difference(slow: list[Any], fast: list[Any]) -> str:
    """What differs: the units when they do, else the keyword lemmas only one path gave."""
    if [u.unit for u in slow] != [u.unit for u in fast]:
        return f"whole pipeline `{_shown(slow)}`; fast path `{_shown(fast)}`"
    slow_lemmas = Counter(lemma for u in slow for lemma in u.lemmas)
    fast_lemmas = Counter(lemma for u in fast for lemma in u.lemmas)
    only_slow = sorted((slow_lemmas - fast_lemmas).elements())
    only_fast = sorted((fast_lemmas - slow_lemmas).elements())
    return f"same units; keyword lemmas only in the whole pipeline {only_slow}, only in the fast {only_fast}"


def alignment_row(name: str, records: list[Any], prepared: list[Any], nlp: Any, repeat: int) -> str:
    """One row of the alignment table: the detector with and without its precise pre-filter on the units."""
    from feedback_nlp.alignment import AlignmentDetector, UnitInput

    units = [
        UnitInput(record.id, p.unit.index, p.unit.text, record.source, record.created_at)
        for record, record_units in zip(records, prepared)
        for p in record_units
    ]
    every = AlignmentDetector(nlp=nlp, precise_prefilter=False)
    precise = AlignmentDetector(nlp=nlp)
    # counted first, which also builds each detector's matchers outside the timing
    hinted, parsed = sum(every.worth_parsing(units)), sum(precise.worth_parsing(units))
    every_seconds, every_signals = cpu_seconds(lambda: every.detect(units), repeat)
    precise_seconds, precise_signals = cpu_seconds(lambda: precise.detect(units), repeat)
    return (
        f"| {name} | {len(units):,} | {hinted:,} | {parsed:,} | {every_seconds:.2f} | {precise_seconds:.2f} "
        f"| {len(precise_signals)} | {'yes' if precise_signals == every_signals else 'NO'} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="texts per set (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each path; the best is kept")
    parser.add_argument("--show", type=int, default=4, help="differing texts to print per set")
    parser.add_argument(
        "--join", type=int, default=10, help="also each set's texts joined N at a time (0: no)"
    )
    parser.add_argument("--alignment", action="store_true", help="also the alignment pre-filter's table")
    args = parser.parse_args(argv)

    from feedback_nlp.prepare import TextPreparer, has_proper_noun, may_name_a_person

    fast = TextPreparer()
    slow = TextPreparer(nlp=fast._get_nlp(), fast_path=False)
    warm = _records(["warm up the pipeline, Maria"])
    fast.prepare(warm), slow.prepare(warm)
    nlp = fast._get_nlp()
    rows, shown = [], []
    from bench_privacy import generate

    plants = [plant for seed in (7, 11, 23) for plant in generate(420, seed).plants]
    leaks, alignment = [], []
    for name, records in load_sets(args.limit, args.join).items():
        slow_seconds, slow_units = cpu_seconds(lambda records=records: slow.prepare(records), args.repeat)
        fast_seconds, fast_units = cpu_seconds(lambda records=records: fast.prepare(records), args.repeat)
        with nlp.select_pipes(enable=["tok2vec", "tagger"]):
            tagged = list(nlp.pipe(r.text for r in records))
        ner_share = sum(map(may_name_a_person, tagged)) / len(records)
        sentences = [fast.needs_sentences(r.text, r.source) for r in records]
        parser_share = sum(a or has_proper_noun(doc) for a, doc in zip(sentences, tagged)) / len(records)
        differing = [
            (record, a, b)
            for record, a, b in zip(records, slow_units, fast_units)
            if [(u.unit, u.lemmas) for u in a] != [(u.unit, u.lemmas) for u in b]
        ]
        rows.append(
            f"| {name} | {len(records):,} | {parser_share:.0%} | {ner_share:.0%} | {slow_seconds:.2f} "
            f"| {fast_seconds:.2f} "
            f"| {fast_seconds / slow_seconds:.2f} | {len(differing)} |"
        )
        if name.startswith("planted"):
            left = [planted_leaks(records, got, plants) for got in (slow_units, fast_units)]
            leaks.append(
                f"- {name}: planted values left in the units: whole pipeline {left[0]}, fast {left[1]}"
            )
        for record, a, b in differing[: args.show]:
            shown.append(f"- {name} {record.id}: {_difference(a, b)}")
        if args.alignment:
            alignment.append(alignment_row(name, records, fast_units, nlp, args.repeat))
    print(
        "| set | texts | parser ran on | NER ran on | whole pipeline, CPU s | fast path, CPU s | ratio "
        "| texts differing |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    if leaks:
        print("\nPlanted personal data (seeds 7, 11, 23):\n" + "\n".join(leaks))
    if shown:
        print("\nDiffering texts (units joined by ' / '):\n" + "\n".join(shown))
    if alignment:
        print(
            "\n| set | units | hinted: parsed before | parsed with the precise pre-filter | CPU s before "
            "| CPU s now | signals | the same |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        print("\n".join(alignment))
    return 0


if __name__ == "__main__":
    sys.exit(main())
