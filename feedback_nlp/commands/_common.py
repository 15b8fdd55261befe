"""Options shared by several subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="folder of model versions (default: FEEDBACK_NLP_MODELS_DIR or models/)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="one model version folder (default: the one named in <models-dir>/LATEST)",
    )


def models_dir_from(args: argparse.Namespace) -> Path:
    if getattr(args, "models_dir", None) is not None:
        return args.models_dir
    from feedback_nlp.settings import get_settings

    return get_settings().models_dir


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="where the per-partition work runs: this process (default) or Dask workers",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="with --engine dask: a running scheduler (tcp://host:8786); default: start a "
        "LocalCluster with one single-threaded worker per core",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="with --engine dask and no --scheduler: LocalCluster size (default: cores)",
    )


def engine_from(args: argparse.Namespace):
    from feedback_nlp.engine import make_engine

    return make_engine(args.engine, args.scheduler, args.workers)
