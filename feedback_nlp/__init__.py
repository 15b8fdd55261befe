"""feedback-nlp: customer feedback in, product themes, roadmap links and routing out.

The public object is :class:`FeedbackModel` (``fit``, ``score``, ``save``, ``load``)::

    from feedback_nlp import FeedbackModel

The batch job behind ``feedback-nlp train`` is :func:`feedback_nlp.pipeline.train`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["FeedbackModel", "TrainingConfig", "__version__"]

if TYPE_CHECKING:
    from feedback_nlp.config import TrainingConfig
    from feedback_nlp.model import FeedbackModel


def __getattr__(name: str) -> Any:
    # Imported on first use: the CLI and the service import submodules without paying for the model's
    # dependencies until they need them.
    if name == "FeedbackModel":
        from feedback_nlp.model import FeedbackModel

        return FeedbackModel
    if name == "TrainingConfig":
        from feedback_nlp.config import TrainingConfig

        return TrainingConfig
    raise AttributeError(f"module 'feedback_nlp' has no attribute {name!r}")
