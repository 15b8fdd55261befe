"""The weekly theme report: what customers asked for, what is rising, what the roadmap covers and misses.

:func:`compute_report` reads the feedback store into one JSON-ready dict; :func:`render_html`,
:func:`render_markdown` and :func:`write_report` turn that same dict into the files people read, so the
figures in all three agree. :func:`load_model_info` reads what the report needs from a model folder
without loading the encoder.
"""

from feedback_nlp.report.accounts import find_accounts_file, read_account_names
from feedback_nlp.report.compute import (
    Week,
    benjamini_hochberg,
    compute_report,
    last_complete_week,
    latest_week_with_data,
    parse_week,
    rate_change_test,
)
from feedback_nlp.report.model_info import (
    ModelInfo,
    find_previous_themes,
    load_model_info,
)
from feedback_nlp.report.render_html import render_html
from feedback_nlp.report.render_markdown import render_markdown
from feedback_nlp.report.write import report_paths, write_report

__all__ = [
    "ModelInfo",
    "Week",
    "benjamini_hochberg",
    "compute_report",
    "find_accounts_file",
    "find_previous_themes",
    "last_complete_week",
    "latest_week_with_data",
    "load_model_info",
    "parse_week",
    "rate_change_test",
    "read_account_names",
    "render_html",
    "render_markdown",
    "report_paths",
    "write_report",
]
