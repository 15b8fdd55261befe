"""The batch retraining job: ``python -m training.train`` (same as ``feedback-nlp train``) and its configs."""
