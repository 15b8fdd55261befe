"""Cost of one long text: CPU seconds to prepare (spaCy splitting, redaction, lemmas) and to score it.

Preparation must grow linearly with the text (issue 17: a 20 KB text used to take about 10 s of CPU, because
the whole document was walked again for every unit and every name span). The text is made of feedback
sentences with names, phone numbers and e-mails in each, so it has many units and many spans to redact.

Usage: python benchmarks/bench_long_text.py [--models-dir models] [--chars 5000 20000 80000] [--repeat N]
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedback_nlp.prepare import TextPreparer
from feedback_nlp.schemas import FeedbackRecord

SENTENCES = (
    "Maria said the CSV export times out for big accounts and she needs it for the month-end close.",
    "They asked for SAML SSO through Okta before the renewal in January.",
    "Card payments are declined abroad and the fee on transfers is too high.",
    "Call Bob Smith on 07700 692791 about the invoice, his email is bob@example.com.",
    "The mobile app crashes when uploading receipts larger than 5 MB.",
)


def long_text(chars: int) -> str:
    """Feedback sentences repeated up to ``chars`` characters."""
    parts: list[str] = []
    length = 0
    while length < chars:
        parts.append(SENTENCES[len(parts) % len(SENTENCES)])
        length += len(parts[-1]) + 1
    return " ".join(parts)[:chars]


def record(chars: int, source: str) -> FeedbackRecord:
    return FeedbackRecord(id="long", text=long_text(chars), source=source, created_at=datetime.now(UTC))


def cpu_seconds(work: Callable[[], list[Any]]) -> tuple[float, list[Any]]:
    """CPU seconds of ``work()`` (all threads) and, for preparation, the units of its one text."""
    started = time.process_time()
    result = work()
    return time.process_time() - started, result[0] if isinstance(result[0], list) else result


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=None, help="also score with models/LATEST")
    parser.add_argument("--chars", type=int, nargs="+", default=[5_000, 20_000, 80_000])
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds, sizes interleaved in each; the table shows medians"
    )
    args = parser.parse_args()
    preparer = TextPreparer()
    preparer.prepare([record(100, "ticket")])  # load spaCy outside the timing
    model = None
    if args.models_dir is not None:
        from feedback_nlp.model import FeedbackModel

        latest = (args.models_dir / "LATEST").read_text(encoding="utf-8").strip()
        model = FeedbackModel.load(args.models_dir / latest)
        model.score([record(100, "ticket")])
    prepare_cpu: dict[tuple[str, int], list[float]] = {}
    score_cpu: dict[tuple[str, int], list[float]] = {}
    units: dict[tuple[str, int], int] = {}
    for _ in range(args.repeat):
        for source in ("ticket", "call_note"):
            for chars in args.chars:
                item = [record(chars, source)]
                seconds, prepared = cpu_seconds(functools.partial(preparer.prepare, item))
                prepare_cpu.setdefault((source, chars), []).append(seconds)
                units[(source, chars)] = len(prepared)
                if model is not None and chars <= 20_000:  # the service's default text limit
                    scored = cpu_seconds(functools.partial(model.score, item))[0]
                    score_cpu.setdefault((source, chars), []).append(scored)
    print("| source | characters | units | prepare, CPU s | score, CPU s |")
    print("|---|---|---|---|---|")
    for (source, chars), times in prepare_cpu.items():
        scored = f"{median(score_cpu[(source, chars)]):.2f}" if (source, chars) in score_cpu else ""
        print(f"| {source} | {chars:,} | {units[(source, chars)]} | {median(times):.2f} | {scored} |")
    scored_sizes = sorted({chars for source, chars in score_cpu if source == "ticket"})
    if len(scored_sizes) > 1:  # the goal: the largest text against the smallest, by CPU
        small, large = (median(score_cpu[("ticket", chars)]) for chars in (scored_sizes[0], scored_sizes[-1]))
        print(
            f"\nticket score, {scored_sizes[-1]:,} / {scored_sizes[0]:,} characters: "
            f"{large:.2f} / {small:.3f} CPU s = {large / small:.1f}x (medians of {args.repeat})"
        )


if __name__ == "__main__":
    main()
