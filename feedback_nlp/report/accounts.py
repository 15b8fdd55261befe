"""Account names for the report: ``account_id`` -> ``name`` from a CSV such as ``examples/accounts.csv``.

The store keeps account ids only; people recognise names. The file is optional: the report shows ids when
there is none. Found by ``--accounts`` or, failing that, beside the roadmap or feedback the model was
trained on.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

from feedback_nlp.errors import ConfigError

logger = logging.getLogger(__name__)

ACCOUNTS_FILE = "accounts.csv"


def read_account_names(path: Path) -> dict[str, str]:
    """``{account_id: name}`` from a CSV with ``account_id`` and ``name`` columns; rows with no name skipped.

    Raises:
        ConfigError: when the file cannot be read or lacks either column.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            if "account_id" not in columns or "name" not in columns:
                raise ConfigError(
                    f"{path}: an accounts file needs the columns account_id and name; found "
                    f"{', '.join(columns) or 'none'}"
                )
            return {
                row["account_id"].strip(): row["name"].strip()
                for row in reader
                if (row.get("account_id") or "").strip() and (row.get("name") or "").strip()
            }
    except OSError as exc:
        raise ConfigError(
            f"cannot read accounts file {path}: {exc.strerror or exc}; check --accounts"
        ) from None


def find_accounts_file(metadata: dict[str, Any]) -> Path | None:
    """``accounts.csv`` beside the roadmap or a feedback file the model was trained on, if one exists."""
    places = [(metadata.get("roadmap") or {}).get("path")]
    places += [entry.get("path") for entry in metadata.get("inputs") or [] if isinstance(entry, dict)]
    for place in places:
        if not place:
            continue
        folder = Path(place).parent
        for candidate in (folder / ACCOUNTS_FILE, folder.parent / ACCOUNTS_FILE):
            if candidate.is_file():
                logger.info("account names from %s", candidate)
                return candidate
    return None
