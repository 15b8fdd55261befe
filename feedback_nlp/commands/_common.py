"""Options shared by several subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="folder of model versions (default: FEEDBACK_NLP_MODELS_DIR or models/)")
    parser.add_argument("--model", type=Path, default=None,
                        help="one model version folder (default: the one named in <models-dir>/LATEST)")


def models_dir_from(args: argparse.Namespace) -> Path:
    if getattr(args, "models_dir", None) is not None:
        return args.models_dir
    from feedback_nlp.settings import get_settings

    return get_settings().models_dir
