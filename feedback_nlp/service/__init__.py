"""The scoring and routing service: a thin FastAPI app over :class:`feedback_nlp.model.FeedbackModel`.

Build it with :func:`feedback_nlp.service.main.create_app`; ``feedback-nlp serve`` runs it with uvicorn.
"""

from feedback_nlp import threads

# Before any module of the service loads torch (the redaction's spaCy import pulls it in through thinc):
# OpenMP reads OMP_WAIT_POLICY and OMP_NUM_THREADS once, when torch loads. ``feedback-nlp serve`` sets them
# first thing, but ``uvicorn feedback_nlp.service.main:app`` starts here, and without this its idle OpenMP
# threads spun instead of sleeping.
threads.apply()
