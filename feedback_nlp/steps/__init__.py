"""The training job's steps, one module each, in the order :func:`feedback_nlp.pipeline.train` runs them.

``inputs`` (check and fingerprint the inputs) -> ``prepare`` (read, validate, split & redact, embed: pass 1
over the partitions) -> ``discover`` (themes on a bounded sample, seeds) -> ``count`` (every unit's theme,
counts for names and centroids: pass 2) -> ``identify`` (stable IDs, curation, names) -> ``describe``
(examples, neighbours, lexical evidence, alignment signals, assignments: pass 3) -> ``link`` (roadmap
items and owners) -> ``router`` (train the router) -> ``promote`` (the promotion gate); the model folder is
written by :mod:`feedback_nlp.artifact`.

Each step takes and returns frozen dataclasses; the algorithms themselves live in the library modules
(``themes``, ``labeling``, ``roadmap``, ``routing``, ``registry``, ``taxonomy``, ...). The per-partition
work runs on an engine (:mod:`feedback_nlp.engine`) through :mod:`feedback_nlp.stages`.
"""
