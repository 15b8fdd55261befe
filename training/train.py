"""Entry point of the batch retraining job: ``python -m training.train --feedback ... --roadmap ...``.

The job itself lives in :func:`feedback_nlp.pipeline.train`; this is the same command as
``feedback-nlp train`` so schedulers (cron, Airflow, Kubernetes jobs) can call either.
"""

import sys

from feedback_nlp.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
