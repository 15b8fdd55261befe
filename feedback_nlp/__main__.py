"""``python -m feedback_nlp COMMAND ...``: the ``feedback-nlp`` console script without the script.

Schedulers that run the retraining job from an installed package call ``python -m feedback_nlp train ...``.
"""

import sys

from feedback_nlp.cli import build_parser, main

sys.exit(main(parser=build_parser("python -m feedback_nlp")))
