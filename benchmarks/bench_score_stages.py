"""Where ``FeedbackModel.score`` spends its CPU, by call size: preparation, ONNX Runtime's run, and the rest.

The rest is the library's own scoring path around the encoder (issue 20): the encoder call's tokenization,
passes and normalisation, the router, the roadmap evidence, the nearest examples and the results. Short
tickets of the bundled sample, scored in calls of 1, 2, 4, 8 and 64 as the service makes them; CPU ms per item
of all the process's threads (``time.process_time``), the best of ``--rounds``. Run it on two trees in turn
(``PYTHONPATH=<tree>``) for an A/B: the box's load moves the figures more than most changes do.

Usage: python benchmarks/bench_score_stages.py --model models/<version> [--rounds 1]
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "feedback"
SIZES = ((1, 200), (2, 200), (4, 240), (8, 320), (64, 640))  # call size, items scored


def _timed(spent: dict[str, float], key: str, call: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return call(*args, **kwargs)
        finally:
            spent[key] += time.process_time() - started

    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a model version folder (ONNX encoder)")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from feedback_nlp.model import FeedbackModel

    model = FeedbackModel.load(args.model)
    with open(EXAMPLES / "tickets.csv", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    spent = {"prepare": 0.0, "ort": 0.0}
    assert model.preparer is not None
    model.preparer.prepare = _timed(spent, "prepare", model.preparer.prepare)  # type: ignore[method-assign]
    model.score(texts[:8])  # loads the session
    session = getattr(model.embedder, "_session", None)
    if session is None:
        raise SystemExit(f"{args.model}: not an ONNX encoder; this benchmark times ONNX Runtime's run")
    session.run = _timed(spent, "ort", session.run)
    for text in texts[:40]:
        model.score([text])
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("| call size | total | preparation | ONNX Runtime run | the rest |")
    print("|---:|---:|---:|---:|---:|")
    for size, items in SIZES:
        best: dict[str, float] | None = None
        for _ in range(args.rounds):
            spent.update(prepare=0.0, ort=0.0)
            started = time.process_time()
            for start in range(0, items, size):
                model.score(texts[100 + start : 100 + start + size])
            per_item = {key: value / items * 1000 for key, value in spent.items()}
            per_item["total"] = (time.process_time() - started) / items * 1000
            per_item["rest"] = per_item["total"] - per_item["prepare"] - per_item["ort"]
            best = per_item if best is None or per_item["total"] < best["total"] else best
        assert best is not None
        cells = [best[key] for key in ("total", "prepare", "ort", "rest")]
        print(f"| {size} | " + " | ".join(f"{value:.2f}" for value in cells) + " |")
    print(f"load average {os.getloadavg()[0]:.2f}; CPU ms per item, all threads")


if __name__ == "__main__":
    main()
