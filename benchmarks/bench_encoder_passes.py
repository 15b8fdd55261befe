"""How the encoder's forward passes are formed, against its throughput (issue 20; ``length_batches``).

On the bundled sample's short tickets, call notes and 1 KB units, each in calls of 64 texts as the service,
``FeedbackModel.score`` and ``ingest`` make them: passes of 64 texts padded to the longest (what
sentence-transformers does within a call), and passes formed by token length under budgets of 512, 1,024
and 2,048 padded positions; beside them sentence-transformers' own call on the whole list (``batch_size=64``,
sorted by length across the list: the raw encoder of ``bench_pipeline.py``). Rounds are interleaved and the
best of each kept, so that a shared machine's load moves every variant alike. Prints one Markdown table.

    python benchmarks/bench_encoder_passes.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CALL = 64
BUDGETS = (512, 1024, 2048)


def corpus() -> dict[str, list[str]]:
    with open(REPO_ROOT / "examples/feedback/tickets.csv", encoding="utf-8") as handle:
        tickets = [row["text"] for row in csv.DictReader(handle)]
    with open(REPO_ROOT / "examples/feedback/call_notes.jsonl", encoding="utf-8") as handle:
        calls = [json.loads(line)["text"] for line in handle if line.strip()]
    return {
        "short tickets": [tickets[i % len(tickets)] for i in range(256)],
        "call notes": [calls[i % len(calls)] for i in range(64)],
        "1 KB units": [
            " ".join(tickets[(i * 7 + j) % len(tickets)] for j in range(8))[:1000] for i in range(64)
        ],
    }


def variants(embedder) -> dict[str, Callable[[list[str]], object]]:
    model = embedder.model

    def in_calls(embed: Callable[[list[str]], object]) -> Callable[[list[str]], object]:
        return lambda texts: [embed(texts[s : s + CALL]) for s in range(0, len(texts), CALL)]

    def budget(tokens: int) -> Callable[[list[str]], object]:
        def embed(texts: list[str]) -> object:
            embedder.token_budget = tokens
            return embedder.embed(texts)

        return embed

    found: dict[str, Callable[[list[str]], object]] = {
        "calls of 64, passes of 64": in_calls(lambda t: model.encode(t, batch_size=CALL)),
    }
    for tokens in BUDGETS:
        found[f"calls of 64, budget {tokens}"] = in_calls(budget(tokens))
    found["whole list, sentence-transformers"] = lambda texts: model.encode(texts, batch_size=CALL)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from feedback_nlp import threads

    threads.apply()
    from feedback_nlp.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    texts_by_kind = corpus()
    ways = variants(embedder)
    embedder.embed(texts_by_kind["short tickets"][:CALL])  # warm up
    best: dict[tuple[str, str], float] = {}
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for kind, texts in texts_by_kind.items():
            for name, run in ways.items():
                started = time.perf_counter()
                run(texts)
                elapsed = time.perf_counter() - started
                best[kind, name] = min(best.get((kind, name), float("inf")), elapsed)
    load_after = os.getloadavg()
    baseline = "whole list, sentence-transformers"
    print(
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; best of {args.rounds} rounds\n"
    )
    print("| passes | " + " | ".join(texts_by_kind) + " |")
    print("|---|" + "---|" * len(texts_by_kind))
    for name in ways:
        cells = []
        for kind, texts in texts_by_kind.items():
            rate = len(texts) / best[kind, name]
            cells.append(f"{rate:.0f}/s ({best[kind, baseline] / best[kind, name]:.2f}x)")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    sys.exit(main())
