"""Cost of one long text: CPU seconds to prepare (spaCy splitting, redaction, lemmas) and to score it.

Preparation must grow linearly with the text (issue 17: a 20 KB text used to take about 10 s of CPU, because
the whole document was walked again for every unit and every name span). The text is made of feedback
sentences with names, phone numbers and e-mails in each, so it has many units and many spans to redact.

Usage: python benchmarks/bench_long_text.py [--models-dir models] [--chars 5000 20000 80000]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=None, help="also score with models/LATEST")
    parser.add_argument("--chars", type=int, nargs="+", default=[5_000, 20_000, 80_000])
    args = parser.parse_args()
    preparer = TextPreparer()
    preparer.prepare([record(100, "ticket")])  # load spaCy outside the timing
    print("| source | characters | units | prepare, CPU s | score, CPU s |")
    print("|---|---|---|---|---|")
    model = None
    if args.models_dir is not None:
        from feedback_nlp.model import FeedbackModel

        latest = (args.models_dir / "LATEST").read_text(encoding="utf-8").strip()
        model = FeedbackModel.load(args.models_dir / latest)
        model.score([record(100, "ticket")])
    for source in ("ticket", "call_note"):
        for chars in args.chars:
            item = [record(chars, source)]
            seconds, prepared = cpu_seconds(functools.partial(preparer.prepare, item))
            scored = ""
            if model is not None and chars <= 20_000:  # the service's default text limit
                scored = f"{cpu_seconds(functools.partial(model.score, item))[0]:.2f}"
            print(f"| {source} | {chars:,} | {len(prepared)} | {seconds:.2f} | {scored} |")


if __name__ == "__main__":
    main()
