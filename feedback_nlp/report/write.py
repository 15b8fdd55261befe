"""Write the three report files side by side, each replaced atomically so a reader never sees half a file."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from feedback_nlp.report.render_html import render_html
from feedback_nlp.report.render_markdown import render_markdown

logger = logging.getLogger(__name__)


def report_paths(out_dir: Path, week: str) -> dict[str, Path]:
    """``{"html": out/report-2026-W47.html, "md": ..., "json": ...}``."""
    stem = Path(out_dir) / f"report-{week}"
    return {
        "html": stem.with_suffix(".html"),
        "md": stem.with_suffix(".md"),
        "json": stem.with_suffix(".json"),
    }


def _write_atomic(path: Path, text: str) -> None:
    # Not mkstemp: its 0600 mode would keep a report meant for sharing unreadable to the team.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Render ``report`` to HTML, Markdown and JSON in ``out_dir`` (created if needed); returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = report_paths(out_dir, report["week"])
    # allow_nan=False: a NaN would make the JSON unreadable by strict parsers; fail loudly instead.
    _write_atomic(paths["json"], json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    _write_atomic(paths["md"], render_markdown(report))
    _write_atomic(paths["html"], render_html(report))
    logger.info("wrote report %s to %s", report["week"], out_dir)
    return paths
