"""The batch retraining job's entry point and configs; not installed (the job is feedback_nlp.pipeline)."""
