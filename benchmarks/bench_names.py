"""Name quality (issue 16, item 8): do theme names say what the themes are about?

On every labelled set in ``../shared/data`` the library discovers themes with the default training
configuration (the same themes for all three namers), and each theme is named three ways:

* **phrase**: :func:`feedback_nlp.naming.name_groups` (what the training job names themes with now);
* **keyword pair**: the previous names, ``"kw1 / kw2"`` from the c-TF-IDF keywords
  (:func:`feedback_nlp.labeling.theme_name`);
* **BERTopic default**: the top four c-TF-IDF words joined by ``_`` (computed with the project's c-TF-IDF).

A theme's name *hits* when the gold label whose name is nearest to it (both embedded with the encoder;
Banking77's ``card_arrival`` becomes "card arrival") is the theme's majority gold label. The weak-word rate is
the share of names holding a word of :data:`feedback_nlp.naming.WEAK_WORDS`. The candidate ceiling is the
phrase namer's hit rate had it picked, with the answer known, the best of each theme's shortlisted candidates:
whether the candidates or their scoring limit the names. Each theme's record in the results lists the
shortlisted candidates that would hit.

Data sets: Banking77 (its 3,080 test texts), URR app reviews (first label), IS-22 (the reviews judged
relevant to a feature, labelled by that feature). Results go to ``benchmarks/results/names.json``.

    python benchmarks/bench_names.py [--out PATH]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_quality import git_commit, print_and_write  # noqa: E402
from quality_data import CACHE_DIR, REPO_ROOT, data_root, load_banking77, load_is22, load_urr  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from feedback_nlp.config import TrainingConfig  # noqa: E402
from feedback_nlp.ctfidf import class_tfidf_keywords  # noqa: E402
from feedback_nlp.embedding import CachedEmbedder, build_embedder  # noqa: E402
from feedback_nlp.labeling import theme_name  # noqa: E402
from feedback_nlp.naming import is_weak, name_groups, shortlisted_phrases  # noqa: E402
from feedback_nlp.prepare import TextPreparer  # noqa: E402
from feedback_nlp.schemas import FeedbackRecord  # noqa: E402
from feedback_nlp.themes import ThemeDiscoverer  # noqa: E402

NAMERS = ("phrase", "keyword_pair", "bertopic_default")
GOALS = {"banking77_phrase_hit_rate": 0.75, "phrase_over_keyword_pair": 0.20, "weak_word_rate": 0.0}
_SPLIT = re.compile(r"[\s/_()]+")


def labelled_sets(root: Path) -> tuple[dict[str, tuple[list[str], list[str]]], list[str]]:
    """Name -> (texts, gold labels); and the sets skipped because their files are missing."""
    sets: dict[str, tuple[list[str], list[str]]] = {}
    skipped = []
    b77, missing = load_banking77(root)
    if b77 is not None:
        sets["banking77"] = (b77.test["text"].astype(str).tolist(), b77.test["category"].astype(str).tolist())
    else:
        skipped.append(f"banking77 (missing {missing})")
    urr, missing = load_urr(root)
    if urr is not None:
        sets["urr"] = (urr.reviews["text"].tolist(), urr.reviews["first_label"].astype(str).tolist())
    else:
        skipped.append(f"urr (missing {missing})")
    is22, missing = load_is22(root)
    if is22 is not None:
        relevant = is22.judgements[is22.judgements["relevant"] == 1].drop_duplicates(["app", "review_id"])
        joined = relevant.merge(is22.reviews, on=["app", "review_id"])
        sets["is22"] = (joined["text"].tolist(), joined["feature"].astype(str).tolist())
    else:
        skipped.append(f"is22 (missing {missing})")
    return sets, skipped


def label_name(label: str) -> str:
    """A gold label in words: ``card_arrival`` -> "card arrival", ``APP USABILITY`` -> "app usability"."""
    return " ".join(_SPLIT.split(label.replace("_", " "))).strip().lower()


def lemmas_of(texts: list[str], preparer: TextPreparer) -> list[list[str]]:
    """The keyword lemmas of each text, as the training job counts them."""
    now = datetime.now(UTC)
    records = [FeedbackRecord(str(n), text, "ticket", now) for n, text in enumerate(texts)]
    return [[lemma for unit in units for lemma in unit.lemmas] for units in preparer.prepare(records)]


def bertopic_label(keywords: list[str]) -> str:
    """BERTopic's default topic label: its top four c-TF-IDF words joined by ``_``."""
    words = list(dict.fromkeys(w for k in keywords for w in k.split()))
    return "_".join(words[:4])


def hit_rate(names: list[str], majority: list[str], gold_names: list[str], embed) -> float:
    gold_vectors = embed([label_name(g) for g in gold_names])
    name_vectors = embed([" ".join(_SPLIT.split(n)).lower() for n in names])
    nearest = (name_vectors @ gold_vectors.T).argmax(axis=1)
    return float(np.mean([gold_names[i] == m for i, m in zip(nearest, majority)])) if names else 0.0


def hitting_candidates(
    shortlists: list[list[str]], majority: list[str], gold_names: list[str], embed
) -> list[list[str]]:
    """Each theme's shortlisted candidates that would hit, in shortlist order (most used first): their share
    of themes with any is the candidate ceiling, what no scoring of these candidates can beat."""
    flat = [(t, phrase) for t, phrases in enumerate(shortlists) for phrase in phrases]
    hits: list[list[str]] = [[] for _ in shortlists]
    if not flat:
        return hits
    gold_vectors = embed([label_name(g) for g in gold_names])
    name_vectors = embed([" ".join(_SPLIT.split(p)).lower() for _, p in flat])
    nearest = (name_vectors @ gold_vectors.T).argmax(axis=1)
    for (t, phrase), i in zip(flat, nearest):
        if gold_names[i] == majority[t]:
            hits[t].append(phrase)
    return hits


def weak_rate(names: list[str]) -> float:
    return float(np.mean([any(is_weak(w) for w in _SPLIT.split(n) if w) for n in names])) if names else 0.0


def bench_set(texts: list[str], gold: list[str], embed, preparer: TextPreparer, config) -> dict[str, Any]:
    X = embed(texts)
    discoverer = ThemeDiscoverer.from_config(config).fit(X)
    labels = discoverer.labels_
    n_themes = int(discoverer.n_themes_)
    lemmas = lemmas_of(texts, preparer)
    keywords = class_tfidf_keywords(lemmas, labels, n_themes, config.n_keywords)
    group_texts = [[t for t, lab in zip(texts, labels) if lab == g] for g in range(n_themes)]
    tick = time.perf_counter()
    phrases = name_groups(
        group_texts, discoverer.centroids_, embed, preparer._get_nlp(), keywords,
        random_state=config.random_state,
    )  # fmt: skip
    naming_seconds = time.perf_counter() - tick
    names = {
        "phrase": [p.name for p in phrases],
        "keyword_pair": [theme_name(k) for k in keywords],
        "bertopic_default": [bertopic_label(k) for k in keywords],
    }
    majority = [
        Counter(g for g, lab in zip(gold, labels) if lab == t).most_common(1)[0][0] for t in range(n_themes)
    ]
    gold_names = sorted(set(gold))
    result: dict[str, Any] = {
        "units": len(texts),
        "gold_labels": len(gold_names),
        "themes": n_themes,
        "naming_seconds": round(naming_seconds, 1),
        "distinct_phrase_names": len({n.lower() for n in names["phrase"]}),
    }
    for namer, given in names.items():
        result[namer] = {
            "hit_rate": round(hit_rate(given, majority, gold_names, embed), 3),
            "weak_word_rate": round(weak_rate(given), 3),
        }
    shortlists = shortlisted_phrases(group_texts, preparer._get_nlp(), config.random_state)
    hitting = hitting_candidates(shortlists, majority, gold_names, embed)
    result["phrase"]["candidate_ceiling"] = round(sum(1 for h in hitting if h) / max(n_themes, 1), 3)
    result["examples"] = [
        {
            "majority": m,
            **{namer: names[namer][t] for namer in NAMERS},
            "shortlisted": len(shortlists[t]),
            "hitting_candidates": hitting[t],
        }
        for t, m in enumerate(majority)
    ]
    return result


def render_table(results: dict[str, Any]) -> str:
    header = "| set | units | labels | themes | namer | hit rate | weak-word rate | candidate ceiling |"
    lines = [header, "|---|---:|---:|---:|---|---:|---:|---:|"]
    for name, r in results["sets"].items():
        for namer in NAMERS:
            ceiling = r[namer].get("candidate_ceiling")
            lines.append(
                f"| {name} | {r['units']} | {r['gold_labels']} | {r['themes']} | {namer.replace('_', ' ')} "
                f"| {r[namer]['hit_rate']:.3f} | {r[namer]['weak_word_rate']:.3f} "
                f"| {'' if ceiling is None else f'{ceiling:.3f}'} |"
            )
    b77 = results["sets"].get("banking77")
    if b77:
        gain = b77["phrase"]["hit_rate"] - b77["keyword_pair"]["hit_rate"]
        met = "met" if b77["phrase"]["hit_rate"] >= GOALS["banking77_phrase_hit_rate"] else "NOT met"
        gained = "met" if gain >= GOALS["phrase_over_keyword_pair"] else "NOT met"
        lines.append("")
        lines.append(
            f"goals: Banking77 phrase hit rate {b77['phrase']['hit_rate']:.3f} >= 0.75 [{met}]; "
            f"{gain * 100:+.1f} points over keyword pairs (>= +20) [{gained}]; "
            "weak words in phrase names: "
            + ", ".join(f"{n} {r['phrase']['weak_word_rate']:.3f}" for n, r in results["sets"].items())
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "names.json")
    parser.add_argument("--config", type=Path, default=None, help="training config YAML (default: built-in)")
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--only", nargs="+", default=None, help="data sets to run (banking77 urr is22)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    config = TrainingConfig.from_yaml(args.config) if args.config else TrainingConfig()
    root = data_root()
    sets, skipped = labelled_sets(root)
    for line in skipped:
        print(f"SKIPPING {line}", flush=True)
    embedder = CachedEmbedder(
        build_embedder(config.encoder, config.encoder_sha256, config.embedding_batch_size), args.cache_dir
    )
    preparer = TextPreparer()
    results: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "git_commit": git_commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "encoder": {"name": config.encoder, "sha256": embedder.fingerprint},
        "data_root": str(root),
        "skipped": skipped,
        "goals": GOALS,
        "sets": {},
    }
    started = time.perf_counter()
    for name, (texts, gold) in sets.items():
        if args.only and name not in args.only:
            continue
        print(f"names: {name} ...", flush=True)
        results["sets"][name] = bench_set(texts, gold, embedder.embed, preparer, config)
    results["seconds_total"] = round(time.perf_counter() - started, 1)
    print_and_write(results, render_table(results), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
