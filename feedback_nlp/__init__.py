"""feedback-nlp: customer feedback in, product themes, roadmap links and routing out.

The public entry points are :class:`feedback_nlp.model.FeedbackModel` (a trained, loadable model that
scores new feedback) and :func:`feedback_nlp.pipeline.train` (the batch job that builds one).
"""

__version__ = "0.1.0"
