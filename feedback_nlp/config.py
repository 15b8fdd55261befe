"""Training configuration: one dataclass, validated on creation, written beside every model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from feedback_nlp.embedding import DEFAULT_ENCODER
from feedback_nlp.errors import ConfigError
from feedback_nlp.onnx_encoder import ENCODER_BACKENDS


@dataclass
class TrainingConfig:
    """Every knob of the batch job; ``training/config.yaml`` holds the defaults used by ``make demo``."""

    # encoder: the default package name, "hashing" (tests), or any sentence-transformers model directory
    encoder: str = DEFAULT_ENCODER
    encoder_sha256: str | None = None
    # what runs the encoder: torch, or ONNX Runtime with fp32 (onnx) or int8 (onnx-int8) weights exported
    # from the same verified weights (feedback_nlp/onnx_encoder.py). fp32 ONNX is the default: the same
    # vectors as torch (cosine 1.00000 on 2,000 real texts), and on an idle 2-core box 2.0x torch's batch
    # throughput, 3.3x on single texts (benchmarks/README.md, "Encoder backends"); the price is a one-time
    # export per machine into the encoder cache folder (about 1 s idle)
    encoder_backend: str = "onnx"
    embedding_batch_size: int = 64
    cache_dir: str | None = None  # default: <models_dir>/.embedding-cache
    # routing
    default_owner: str = "triage"
    confidence_threshold: float = 0.5
    router_C: float = 10.0
    # the router also reads word and character n-grams of the text beside the embedding (see routing.py)
    router_text_features: bool = True
    # most groups of themes the router hides in turn to learn its in-scope score (routing.py; fewer with
    # fewer than 16 themes, so that each group hides at least two; 0: the percentile score instead, and a
    # router that trains in about half the time)
    router_rehearsal_groups: int = 8
    # most units the router trains on: past it, a seeded sample that keeps every unit of the smaller themes
    # and trims the largest to a common size, so its training time grows with the themes, not the volume
    router_max_units: int = 30_000
    # temperature scaling of the router's margins, fitted on a hold-out (routing.py); null: a temperature of 1
    calibration: str | None = "temperature"
    # input limits
    max_text_chars: int = 20_000
    max_unit_chars: int = 1000
    redaction_keep_terms: list[str] = field(default_factory=list)  # product names never redacted as people
    # extra input columns whose values are kept as written; every other extra column is redacted like the
    # text, since metadata travels with the records (FEEDBACK_NLP_RAW_METADATA_COLUMNS for ingest and API)
    raw_metadata_columns: list[str] = field(default_factory=list)
    # theme discovery
    min_themes: int = 5
    # most themes; null (the default): as many as the data's dense regions, bounded only by the data itself
    # (at least min_theme_size units per theme). A number is a cap a person chose, logged when it binds.
    max_themes: int | None = None
    min_theme_size: int = 8
    min_similarity: float = 0.3
    max_fit_units: int = 8000
    # scale: themes are found on a seeded sample of at most this many units, and every other unit is then
    # assigned to its nearest theme; inputs are read and worked on in partitions of about this many bytes
    sample_units: int = 100_000
    partition_bytes: int = 8 << 20
    # labels and roadmap mapping
    n_keywords: int = 10
    n_examples: int = 3
    roadmap_threshold: float = 0.45
    # a theme links to an item only when it is this much closer (cosine) to it than the item's median theme
    # (a broad item near every theme links none of them), and a theme this close under roadmap_threshold
    # follows a sibling linked to its best item (feedback_nlp/roadmap.py). 0.1 was tried too: on the pooled
    # benchmark set its wider sibling window added 8 links, all wrong; 0.05 keeps Banking77's gain
    # (benchmarks/README.md, "grain, areas and roadmap links")
    roadmap_margin: float = 0.05
    # a link holds only for a theme whose cosine to the item is at most this many "typical distances between
    # neighbouring themes" (their lower quartile) below the item's closest theme (feedback_nlp/roadmap.py
    # within_reach): a bound in the model's own units, whatever the encoder's cosine scale. 0.7 keeps the
    # demo's "Wrong exchange rate" beside "Exchange rate" (0.66 units behind it) and the hashing embedder's
    # split export request of the tiny test model (0.53); Banking77's gold roadmap: link precision 0.46 ->
    # 0.73, recall 0.77 -> 0.64 (benchmarks/README.md has the curve). None: off
    roadmap_reach: float | None = 0.7
    # explanations: training units kept per theme for "nearest examples"
    neighbors_per_theme: int = 200
    random_state: int = 42
    # curation and promotion (see feedback_nlp/taxonomy.py and the promotion gate in pipeline.py)
    taxonomy: str | None = None  # path to taxonomy.yaml
    seed_absorb_similarity: float = 0.75  # a cluster this close to a seed theme dissolves into it
    gate_metric_tolerance: float = 0.05  # quality may fall by at most this much against the serving model
    gate_max_churn: float = 0.35  # share of previous units whose theme changed
    # incremental retraining (feedback_nlp/steps/incremental.py): a retrain keeps the serving model's theme
    # borders and refits only the router's classifier when the data did not move; false: always a full one
    incremental: bool = True
    # most share of units new since themes were last discovered: past it a retrain rediscovers them. A fifth,
    # so that a theme the new units would form on their own (at least min_theme_size of them) is not held
    # off for long by the kept borders; the misfit bound below catches a new topic sooner
    incremental_max_new_share: float = 0.2
    # most share of new units less similar to their nearest theme than 95% of the old units are to theirs
    # (new units like the old: about 5%); past it the data moved and themes are rediscovered
    incremental_max_misfit_share: float = 0.15
    # share of held-out in-scope units allowed to go to triage as "unlike the training data" (0: off)
    in_scope_quantile: float = 0.05
    # ranking a roadmap item's evidence: weight of the BM25 word match of title and keywords beside the cosine
    roadmap_lexical_weight: float = 0.3
    # a unit whose own evidence score for a roadmap item (cosine + weighted BM25, feedback_nlp/evidence.py)
    # reaches this goes to that item's owner, whatever its theme's link; None: units follow their theme only
    roadmap_evidence_threshold: float | None = 0.65

    def __post_init__(self) -> None:
        if self.encoder_backend not in ENCODER_BACKENDS:
            raise ConfigError(
                f"encoder_backend {self.encoder_backend!r} is not one of {', '.join(ENCODER_BACKENDS)}"
            )
        if not 0.0 <= self.confidence_threshold <= 1.0:
            raise ConfigError(f"confidence_threshold {self.confidence_threshold} must be between 0 and 1")
        self._check_roadmap()
        if self.min_themes < 2 or (self.max_themes is not None and self.max_themes < self.min_themes):
            raise ConfigError(f"need 2 <= min_themes ({self.min_themes}) <= max_themes ({self.max_themes})")
        if self.min_theme_size < 2:
            raise ConfigError("min_theme_size must be at least 2")
        if not self.default_owner.strip():
            raise ConfigError("default_owner is empty; name the triage queue (an email or @team)")
        if self.calibration not in (None, "temperature"):
            raise ConfigError(
                f"calibration {self.calibration!r} is not temperature or null (null: the router's margins "
                "as they are); sigmoid and isotonic are no longer offered"
            )
        if not 0.0 <= self.in_scope_quantile < 1.0:
            raise ConfigError(f"in_scope_quantile {self.in_scope_quantile} must be in [0, 1)")
        if self.router_rehearsal_groups < 0:
            raise ConfigError(
                f"router_rehearsal_groups {self.router_rehearsal_groups} must be 0 (off) or more"
            )
        if not 0.0 <= self.gate_max_churn <= 1.0:
            raise ConfigError(f"gate_max_churn {self.gate_max_churn} must be between 0 and 1")
        for name in ("incremental_max_new_share", "incremental_max_misfit_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} {getattr(self, name)} must be between 0 and 1")
        for name in (
            "embedding_batch_size",
            "max_text_chars",
            "max_unit_chars",
            "n_keywords",
            "n_examples",
            "max_fit_units",
            "neighbors_per_theme",
            "sample_units",
            "partition_bytes",
            "router_max_units",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer")

    def _check_roadmap(self) -> None:
        if not -1.0 <= self.roadmap_threshold <= 1.0:
            raise ConfigError(f"roadmap_threshold {self.roadmap_threshold} must be between -1 and 1")
        if self.roadmap_evidence_threshold is not None and not -1.0 <= self.roadmap_evidence_threshold <= 2.0:
            raise ConfigError(
                f"roadmap_evidence_threshold {self.roadmap_evidence_threshold} must be between -1 "
                "and 2 (cosine plus a lexical part of at most roadmap_lexical_weight), or null"
            )
        if self.roadmap_reach is not None and self.roadmap_reach < 0:
            raise ConfigError(f"roadmap_reach {self.roadmap_reach} must be 0 or more, or null (off)")
        if self.roadmap_lexical_weight < 0:
            raise ConfigError(f"roadmap_lexical_weight {self.roadmap_lexical_weight} must be 0 or more")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown config keys: {', '.join(unknown)}; known keys: {', '.join(sorted(known))}"
            )
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: Path | str) -> TrainingConfig:
        path = Path(path)
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of config keys")
        try:
            return cls.from_dict(values)
        except TypeError as exc:
            raise ConfigError(f"{path}: {exc}") from None


# What each key does, for docs/CONFIGURATION.md (generated; a test checks every key has a line).
CONFIG_DOCS: dict[str, str] = {
    "encoder": "the sentence encoder: the installed default, a sentence-transformers model folder, or "
    "`hashing` (tests)",
    "encoder_sha256": "the encoder's expected weights checksum; other weights are refused (the default "
    "encoder's is built in)",
    "encoder_backend": "what runs the encoder: `torch`, or ONNX Runtime with the same weights exported once "
    "(`onnx`, the default, fp32: the same vectors, faster; `onnx-int8`: quantized, vectors about 0.99 cosine "
    "to torch's), exported once per machine into the encoder cache folder",
    "embedding_batch_size": "texts per encoder batch",
    "cache_dir": "the embedding and preparation caches; unset: `<models-dir>/.embedding-cache`",
    "default_owner": "the triage queue: where units go that no owner's item claims (an email or `@team`)",
    "confidence_threshold": "below this routing confidence a unit goes to triage",
    "router_C": "the router's linear SVM regularisation (larger: fits the training units more closely)",
    "router_text_features": "the router also reads word and character n-grams beside the embedding",
    "router_rehearsal_groups": "groups of themes hidden in turn to learn the in-scope score (0: off, about "
    "half the training time)",
    "router_max_units": "most units the router trains on; past it the largest themes are trimmed",
    "calibration": "`temperature` scales the router's margins on a hold-out; null: a temperature of 1",
    "max_text_chars": "longer texts are quarantined (`text_too_long`)",
    "max_unit_chars": "a ticket longer than this is split into units at sentence boundaries",
    "redaction_keep_terms": "words never redacted as person names (product names)",
    "raw_metadata_columns": "extra input columns kept as written; every other extra column is redacted like "
    "the text",
    "min_themes": "fewest themes discovery may choose",
    "max_themes": "most themes discovery may choose",
    "min_theme_size": "fewest units in a theme; smaller clusters are dissolved",
    "min_similarity": "a unit less similar than this to every theme centroid stays unassigned",
    "max_fit_units": "units the clustering itself is fitted on (a seeded sample; the rest are assigned)",
    "sample_units": "most units themes are discovered on (a seeded sample; every unit is then assigned)",
    "partition_bytes": "inputs are read and worked on in partitions of about this many bytes",
    "n_keywords": "keywords kept per theme (class-based TF-IDF)",
    "n_examples": "representative quotes kept per theme",
    "roadmap_threshold": "a theme maps to its most similar roadmap item only from this cosine",
    "roadmap_margin": "a theme links to an item only when it clears the item's median theme by this much "
    "(a broad item does not swallow every theme); a near miss links when an area sibling links to the item",
    "roadmap_reach": "a link holds only for a theme at most this many typical neighbouring-theme distances "
    "(their lower quartile) behind the item's closest theme; null: off",
    "neighbors_per_theme": "training units kept per theme for the nearest examples of explanations",
    "random_state": "the seed of every sample and fit: the same data and config give the same model",
    "taxonomy": "path of the curation file (rename, merge, pin, ignore, seeds); see "
    "`training/taxonomy.example.yaml`",
    "seed_absorb_similarity": "a cluster this close to a seed theme dissolves into it",
    "gate_metric_tolerance": "the promotion gate: how much router quality may fall against the serving model",
    "gate_max_churn": "the promotion gate: most share of previous units whose theme changed",
    "incremental": "a retrain keeps the serving model's theme borders and refits only the router's "
    "classifier when the data did not move (false, or `train --full`: always rediscover and remeasure)",
    "incremental_max_new_share": "most share of units new since themes were last discovered for an "
    "incremental retrain",
    "incremental_max_misfit_share": "most share of new units fitting their nearest theme worse than 95% of "
    "the old units fit theirs, for an incremental retrain",
    "in_scope_quantile": "share of held-out in-scope units allowed to go to triage as unlike the training "
    "data (0: off)",
    "roadmap_lexical_weight": "weight of the BM25 word match of an item's title and keywords beside the "
    "cosine",
    "roadmap_evidence_threshold": "a unit whose own evidence score for an item reaches this goes to the "
    "item's owner; null: units follow their theme only",
}
