"""Deployable entry point of the scoring service (not installed; the code is :mod:`feedback_nlp.service`)."""
