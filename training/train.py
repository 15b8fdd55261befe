"""Entry point of the batch retraining job: ``python -m training.train --feedback ... --roadmap ...``.

Run from the repository root (this folder is not installed). The job itself is
:func:`feedback_nlp.pipeline.train`; this is the same command as ``feedback-nlp train`` and
``python -m feedback_nlp train`` (the form to use from an installed package), so schedulers (cron,
Airflow, Kubernetes jobs) can call any of them.
"""

import sys

from feedback_nlp.cli import build_command_parser, main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], parser=build_command_parser("train", "python -m training.train")))
