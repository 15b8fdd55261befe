"""``feedback-nlp evaluate``: theme discovery and routing quality against gold labels, as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from feedback_nlp.commands._common import add_json_option, models_dir_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="measure discovery and routing on a labelled data set")
    parser.add_argument("--train", type=Path, required=True, help="labelled CSV the router is trained on")
    parser.add_argument(
        "--test", type=Path, required=True, help="labelled CSV discovery and routing are scored on"
    )
    parser.add_argument("--text-col", default="text")
    parser.add_argument("--label-col", default="label")
    parser.add_argument("--config", type=Path, default=None, help="training config YAML")
    parser.add_argument("--models-dir", type=Path, default=None, help="its .embedding-cache is reused")
    add_json_option(parser, "the figures as JSON (the default and only output)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from feedback_nlp.config import TrainingConfig
    from feedback_nlp.embedding import CachedEmbedder, build_embedder
    from feedback_nlp.errors import InputError
    from feedback_nlp.evaluate import evaluate

    config = TrainingConfig.from_yaml(args.config) if args.config else TrainingConfig()
    frames = {}
    for name, path in (("train", args.train), ("test", args.test)):
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        frame = pd.read_csv(path)
        for column in (args.text_col, args.label_col):
            if column not in frame.columns:
                raise InputError(f"{path}: no column {column!r}; columns are {', '.join(frame.columns)}")
        frames[name] = frame.dropna(subset=[args.text_col, args.label_col])
    embedder = CachedEmbedder(
        build_embedder(
            config.encoder, config.encoder_sha256, config.embedding_batch_size, config.encoder_backend
        ),
        Path(config.cache_dir) if config.cache_dir else models_dir_from(args) / ".embedding-cache",
    )
    result = evaluate(
        frames["train"][args.text_col].astype(str).tolist(),
        frames["train"][args.label_col].astype(str).tolist(),
        frames["test"][args.text_col].astype(str).tolist(),
        frames["test"][args.label_col].astype(str).tolist(),
        embedder,
        config,
    )
    result["encoder"] = config.encoder
    print(json.dumps(result, indent=2))
    return 0
