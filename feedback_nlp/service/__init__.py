"""The scoring and routing service: a thin FastAPI app over :class:`feedback_nlp.model.FeedbackModel`.

Build it with :func:`feedback_nlp.service.main.create_app`; ``feedback-nlp serve`` runs it with uvicorn.
"""
