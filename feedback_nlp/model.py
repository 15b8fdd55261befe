"""The public model: train it on feedback and a roadmap, score new feedback, save it and load it.

::

    from feedback_nlp import FeedbackModel

    model = FeedbackModel().fit(feedback_dataframe, "roadmap.yaml")
    model.score(["the CSV export times out"])[0].units[0].route
    model.save("models/mine")
    model = FeedbackModel.load("models/mine")

``fit`` runs the batch training job (:func:`feedback_nlp.pipeline.train`) on the records given; the model
folder it writes is owned by :mod:`feedback_nlp.artifact`. Fitted attributes end in ``_``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from feedback_nlp import artifact
from feedback_nlp.areas import AREA_ID, AREA_NAME
from feedback_nlp.config import TrainingConfig
from feedback_nlp.embedding import HASHING_ENCODER, Embedder, backend_of, build_embedder
from feedback_nlp.errors import EncoderError, ModelLoadError, WorkBudgetError
from feedback_nlp.evidence import RoadmapEvidence
from feedback_nlp.feedback_io import (
    PrecomputedEmbedder,
    records_from,
    write_feedback_jsonl,
    write_roadmap_yaml,
)
from feedback_nlp.onnx_encoder import ENCODER_BACKENDS, TORCH_BACKEND, interchangeable
from feedback_nlp.prepare import PreparedUnit, TextPreparer
from feedback_nlp.route_policy import EvidenceMatch, RouteThresholds, decide_route
from feedback_nlp.schemas import FeedbackRecord, ItemScore, UnitScore

logger = logging.getLogger(__name__)


class NotFittedError(ModelLoadError):
    """The model was used before ``fit`` or ``load``."""


def check_is_fitted(model: FeedbackModel) -> None:
    if getattr(model, "path_", None) is None:
        raise NotFittedError(
            "this FeedbackModel is not fitted yet; call fit(...) or FeedbackModel.load(path)"
        )


class Neighbors:
    """Training units kept for explanations: unit-length embeddings, their theme and redacted text."""

    def __init__(self, rows: artifact.NeighborRows):
        # float16 on disk (the artifact writes them back as float16, exactly): a product of float32 vectors
        # with float16 rows cast the whole matrix on every call (for 1,576 units more CPU than the product
        # itself); held as float32, cast once here
        self.embeddings = np.asarray(rows.embeddings, dtype=np.float32)
        self.theme_ids = rows.theme_ids
        self.texts = rows.texts

    def nearest(self, vector: np.ndarray, k: int = 3) -> list[dict[str, Any]]:
        return self.nearest_many(np.asarray(vector)[None, :], k)[0]

    def nearest_many(self, vectors: np.ndarray, k: int = 3) -> list[list[dict[str, Any]]]:
        """The ``k`` most similar training units of each row of ``vectors``, most similar first (ties: the
        earlier unit), with one matrix product for all the rows."""
        if len(self.texts) == 0:
            return [[] for _ in range(len(vectors))]
        similarities = np.asarray(vectors, dtype=np.float32) @ self.embeddings.T
        return [self._top(similarity, k) for similarity in similarities]

    def _top(self, similarity: np.ndarray, k: int) -> list[dict[str, Any]]:
        candidates = np.arange(len(similarity))
        if len(similarity) > k:
            # every unit as similar as the k-th best, so that ties go to the earlier unit as a full sort would
            kth_best = np.partition(similarity, len(similarity) - k)[len(similarity) - k]
            candidates = np.flatnonzero(similarity >= kth_best)
        top = candidates[np.argsort(-similarity[candidates], kind="stable")[:k]]
        return [
            {
                "text": self.texts[i],
                "similarity": round(float(similarity[i]), 4),
                "theme_id": int(self.theme_ids[i]),
            }
            for i in top
        ]


def trained_backend(metadata: dict[str, Any]) -> str:
    """The encoder backend a model's vectors came from (models from before backends: torch)."""
    return str(metadata["encoder"].get("backend", TORCH_BACKEND))


def _scoring_embedder(parts: artifact.LoadedParts, encoder_backend: str | None) -> Embedder:
    """The encoder the model names, run by ``encoder_backend`` (None: the one it was trained with)."""
    metadata = parts.metadata
    encoder = metadata["encoder"]
    backend = encoder_backend or trained_backend(metadata)
    if encoder["name"] != HASHING_ENCODER:
        _check_backend(parts, backend)  # before building it: an ONNX backend may have to export first
    try:
        expected = None if encoder["name"] == HASHING_ENCODER else encoder["sha256"]
        batch_size = metadata.get("config", {}).get("embedding_batch_size", 64)
        return build_embedder(encoder["name"], expected, batch_size, backend)
    except EncoderError as exc:
        raise ModelLoadError(f"{parts.path}: {exc}") from exc


def _check_backend(parts: artifact.LoadedParts, scoring: str) -> None:
    trained = trained_backend(parts.metadata)
    if scoring not in ENCODER_BACKENDS:
        raise ModelLoadError(
            f"{parts.path}: encoder backend {scoring!r} is not one of {', '.join(ENCODER_BACKENDS)}"
        )
    if not interchangeable(trained, scoring):
        raise ModelLoadError(
            f"{parts.path}: trained with encoder backend {trained}, whose vectors {scoring} does not "
            f"reproduce; score with {trained} (FEEDBACK_NLP_ENCODER_BACKEND={trained}, or unset it) or "
            f"retrain with encoder_backend: {scoring}"
        )


def _check_encoder(parts: artifact.LoadedParts, embedder: Embedder) -> None:
    """Refuse an encoder whose vectors are not the ones the model was trained on."""
    encoder = parts.metadata["encoder"]
    if embedder.fingerprint != encoder["sha256"]:
        raise ModelLoadError(
            f"{parts.path}: trained with encoder {encoder['name']} ({encoder['sha256'][:12]}), "
            f"but the encoder given is {embedder.fingerprint[:12]}"
        )
    if encoder["name"] != HASHING_ENCODER:
        _check_backend(parts, backend_of(embedder))


class FeedbackModel:
    """Themes, roadmap links and routing learnt from feedback; scores new feedback.

    Args:
        config: the training configuration (``fit`` only); defaults when None.
        embedder: an encoder to use instead of the configured one (tests inject the hashing embedder).
        preparer: a loaded spaCy preparer to share.
        engine: where ``fit`` runs its per-partition work (:mod:`feedback_nlp.engine`); this process when
            None.
    """

    def __init__(
        self,
        config: TrainingConfig | None = None,
        *,
        embedder: Embedder | None = None,
        preparer: TextPreparer | None = None,
        engine: Any = None,
    ):
        self.config = config
        self.embedder = embedder
        self.preparer = preparer
        self.engine = engine

    # -- training and persistence ------------------------------------------------------------------

    def fit(
        self,
        feedback: Any,
        roadmap: Any,
        embeddings: np.ndarray | None = None,
        *,
        models_dir: Path | str | None = None,
    ) -> FeedbackModel:
        """Train on ``feedback`` and ``roadmap``; returns self.

        Args:
            feedback: :class:`FeedbackRecord` objects, dicts or a pandas DataFrame in the feedback schema
                (``id``, ``text``, ``source``, ``created_at``; optional account columns; the rest is kept
                as metadata). Rows that break the schema are quarantined, as in ``feedback-nlp train``.
            roadmap: the roadmap YAML file, or a list of items (dicts or ``RoadmapItem``).
            embeddings: optional vectors of the records' texts from the configured encoder, one row per
                record (computed once, reused across fits); a unit whose text is not its record's whole
                text (a split call note, redacted text) is embedded by the encoder.
            models_dir: where the version folder goes (and ``LATEST``, so a later fit into the same folder
                keeps theme IDs); a temporary folder, removed with the object, when None.
        """
        from feedback_nlp.pipeline import train

        config = self.config or TrainingConfig()
        records = records_from(feedback)
        embedder = self.embedder
        if embeddings is not None:
            base = embedder or build_embedder(
                config.encoder, config.encoder_sha256, config.embedding_batch_size, config.encoder_backend
            )
            embedder = PrecomputedEmbedder(base, [r.text for r in records], np.asarray(embeddings))
        if models_dir is None:
            # removed when the model is (TemporaryDirectory cleans up when it is garbage-collected)
            self._scratch = tempfile.TemporaryDirectory(prefix="feedback-nlp-")
            models_dir = Path(self._scratch.name) / "models"
        # The raw text passes through a private temporary folder that is removed however the run ends.
        with tempfile.TemporaryDirectory(prefix="feedback-nlp-input-") as folder:
            feedback_path = write_feedback_jsonl(records, Path(folder) / "feedback.jsonl")
            roadmap_path = (
                roadmap
                if isinstance(roadmap, (str, Path))
                else write_roadmap_yaml(roadmap, Path(folder) / "roadmap.yaml")
            )
            result = train([feedback_path], roadmap_path, models_dir, config, embedder=embedder,
                           preparer=self.preparer, engine=self.engine)  # fmt: skip
        self.summary_ = result.summary
        base_embedder = embedder.base if isinstance(embedder, PrecomputedEmbedder) else embedder
        return self._adopt(artifact.load(result.path), base_embedder)

    def save(self, path: Path | str) -> Path:
        """Copy the fitted model folder to ``path`` (which must not exist yet); returns it."""
        check_is_fitted(self)
        target = Path(path)
        if target.exists():
            raise FileExistsError(f"{target} already exists; save into a new folder")
        shutil.copytree(self.path_, target)
        artifact.verify(target)
        return target

    @classmethod
    def load(
        cls,
        path: Path | str,
        embedder: Embedder | None = None,
        *,
        signing_key: str | None = None,
        encoder_backend: str | None = None,
    ) -> FeedbackModel:
        """Load and verify a model folder.

        Every file is checked against its sha256 in metadata.json and parsed from the bytes checked; the
        router is read with skops, which builds only the types it trusts; the encoder's weights are checked
        against the sha256 recorded at training time. With a signing key (``signing_key``, or
        ``FEEDBACK_NLP_MODEL_SIGNING_KEY`` when it is None) only folders signed with it load.

        Args:
            encoder_backend: what runs the encoder when scoring (``FEEDBACK_NLP_ENCODER_BACKEND``); None:
                the backend the model was trained with. ``torch`` and ``onnx`` may stand in for each other
                (the same vectors); ``onnx-int8`` only for itself.

        Raises:
            ModelLoadError: the folder is incomplete, unsigned or wrongly signed (with a key), in another
                format, a file was changed, or the encoder (or its backend) does not match.
        """
        parts = artifact.load(path, signing_key=signing_key)
        return cls(embedder=embedder)._adopt(parts, embedder, encoder_backend)

    def _adopt(
        self, parts: artifact.LoadedParts, embedder: Embedder | None, encoder_backend: str | None = None
    ) -> FeedbackModel:
        metadata = parts.metadata
        if embedder is None:
            embedder = _scoring_embedder(parts, encoder_backend)
        _check_encoder(parts, embedder)
        config = metadata.get("config", {})
        self.embedder = embedder
        if self.preparer is None:
            self.preparer = TextPreparer(
                max_unit_chars=config.get("max_unit_chars", 1000),
                keep_terms=config.get("redaction_keep_terms") or (),
            )
        self.path_ = parts.path
        self.metadata_ = metadata
        self.themes_ = parts.themes
        self.roadmap_ = parts.roadmap
        self.router_ = parts.router
        self.neighbors_ = Neighbors(parts.neighbors)
        self.evidence_ = RoadmapEvidence.from_dict(parts.evidence) if parts.evidence is not None else None
        self.default_owner: str = config.get("default_owner", "triage")
        # no in-scope threshold when the training job had too few units for a hold-out to choose one on
        in_scope = (metadata.get("routing") or {}).get("in_scope_threshold")
        self.thresholds = RouteThresholds(
            confidence=float(config.get("confidence_threshold", 0.5)),
            in_scope=float(in_scope) if in_scope is not None else None,
        )
        self._themes_by_id = {theme["id"]: theme for theme in parts.themes}
        self._roadmap_by_id = {str(item["id"]): item for item in parts.roadmap}
        # Finding the loaded BLAS libraries reads the process's memory map: about 4 ms, done once here rather
        # than on every call of score (by now the router and the encoder have loaded every library scoring
        # uses).
        self._threadpools = ThreadpoolController()
        return self

    @property
    def version_(self) -> str:
        check_is_fitted(self)
        return str(self.metadata_["version"])

    # -- scoring -----------------------------------------------------------------------------------

    def theme(self, theme_id: int) -> dict[str, Any] | None:
        return self._themes_by_id.get(theme_id)

    def embed_query(self, text: str) -> np.ndarray:
        """A search query's vector (unit length): redacted like any feedback, then this model's encoder."""
        check_is_fitted(self)
        assert self.preparer is not None and self.embedder is not None  # set by fit() and load()
        return np.asarray(self.embedder.embed([self.preparer.redact(text)])[0], dtype=np.float32)

    def score_texts(self, texts: Sequence[str], source: str = "ticket") -> list[ItemScore]:
        """Score bare texts (ids are their positions)."""
        return self.score(records_from(list(texts), default_source=source))

    def score(self, feedback: Any, *, max_units_per_item: int | None = None) -> list[ItemScore]:
        """Split each item into units, and give every unit its theme, roadmap item, owner and route.

        Args:
            feedback: texts, :class:`FeedbackRecord` objects, dicts or a pandas DataFrame in the feedback
                schema (``id`` and ``created_at`` may be left out: positions and now stand in).
            max_units_per_item: refuse an item split into more units than this, before any is embedded
                (the service's work budget); None for no limit.

        Raises:
            ValidationError: an item breaks the feedback schema (the message names the item and the field).
            WorkBudgetError: an item has more than ``max_units_per_item`` units.
        """
        check_is_fitted(self)
        records = records_from(feedback)
        if not records:
            return []
        # The matrix products here are small; OpenBLAS threads left spinning after them steal the cores
        # from the encoder's own threads. One BLAS thread took single-item scoring from 69 ms to about 20 ms
        # on 2 cores (benchmarks/README.md).
        with self._threadpools.limit(limits=1, user_api="blas"):
            return self._score(records, max_units_per_item)

    def score_batches(
        self, batches: Iterable[Sequence[FeedbackRecord]]
    ) -> Iterator[tuple[Sequence[FeedbackRecord], list[ItemScore]]]:
        """Score batch after batch (``ingest``), preparing the next batch while the current one is encoded.

        Preparation (spaCy) and the encoder (torch) each spend much of their time outside the GIL, so on
        two cores the two overlap; the results are those of :meth:`score` on each batch, in order.

        Yields:
            each batch with its scores.
        """
        check_is_fitted(self)
        assert self.preparer is not None  # set by fit() and load()
        preparer = self.preparer
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare") as pool:
            pending: tuple[Sequence[FeedbackRecord], Future[list[list[PreparedUnit]]]] | None = None
            for batch in batches:
                upcoming = (batch, pool.submit(preparer.prepare, batch))
                if pending is not None:
                    yield pending[0], self._score_prepared_batch(*pending)
                pending = upcoming
            if pending is not None:
                yield pending[0], self._score_prepared_batch(*pending)

    def _score_prepared_batch(
        self, records: Sequence[FeedbackRecord], prepared: Future[list[list[PreparedUnit]]]
    ) -> list[ItemScore]:
        units = prepared.result()
        if not records:
            return []
        with self._threadpools.limit(limits=1, user_api="blas"):
            return self._score(records, prepared=units)

    def _score(
        self,
        records: Sequence[FeedbackRecord],
        max_units_per_item: int | None = None,
        prepared: list[list[PreparedUnit]] | None = None,
    ) -> list[ItemScore]:
        assert self.preparer is not None and self.embedder is not None  # set by fit() and load()
        if prepared is None:
            prepared = self.preparer.prepare(records)
        for index, units in enumerate(prepared):
            if max_units_per_item is not None and len(units) > max_units_per_item:
                raise WorkBudgetError(
                    index,
                    "text",
                    f"item {records[index].id!r} splits into {len(units)} units, over the limit of "
                    f"{max_units_per_item}; send it as several items",
                )
        flat = [unit for units in prepared for unit in units]
        texts = [p.unit.text for p in flat]
        # float32 rows of unit length (as every embedder gives them; an injected one is held to it here), so
        # scikit-learn's input checks in the router would only cost time
        vectors = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        if self.thresholds.in_scope is not None:
            probabilities, in_scope = self.router_.predict_proba_and_in_scope(
                vectors, texts, check_input=False
            )
        else:  # the score would route nothing: not worth its neighbour search
            probabilities = self.router_.predict_proba(vectors, texts, check_input=False)
            in_scope = np.ones(len(flat), dtype=np.float32)
        if self.evidence_ is not None:
            evidence_columns, evidence_scores = self.evidence_.best(vectors, texts)
        else:
            evidence_columns, evidence_scores = np.full(len(flat), -1), np.zeros(len(flat), dtype=np.float32)
        classes = self.router_.classes_
        # per batch, not per unit: the best two themes and the nearest training units
        ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :2]
        nearest = self.neighbors_.nearest_many(vectors, k=3)
        results: list[ItemScore] = []
        position = 0
        for record, units in zip(records, prepared):
            unit_scores = []
            for prepared_unit in units:
                unit_scores.append(
                    self._score_unit(
                        prepared_unit,
                        vectors[position],
                        probabilities[position],
                        classes,
                        ranked[position],
                        nearest[position],
                        float(in_scope[position]),
                        int(evidence_columns[position]),
                        float(evidence_scores[position]),
                    )
                )
                position += 1
            results.append(
                ItemScore(id=record.id, source=record.source, model_version=self.version_, units=unit_scores)
            )
        return results

    def _score_unit(
        self,
        prepared_unit,
        vector: np.ndarray,
        probabilities: np.ndarray,
        classes: np.ndarray,
        ranked: np.ndarray,
        nearest: list[dict[str, Any]],
        in_scope: float = 1.0,
        evidence_column: int = -1,
        evidence_score: float = 0.0,
    ) -> UnitScore:
        best, runner_up = ranked[0], (ranked[1] if len(ranked) > 1 else None)
        theme_id = int(classes[best])
        confidence = float(probabilities[best])
        theme = self._themes_by_id.get(theme_id, {})
        # the unit's own best roadmap item: explained in any case, it decides the route only at its threshold
        best_item = (
            self._roadmap_by_id.get(self.evidence_.item_ids[evidence_column])
            if evidence_column >= 0 and self.evidence_ is not None
            else None
        )
        match = None
        if best_item is not None and self.evidence_ is not None:
            item_words = self.evidence_.matched_terms(prepared_unit.unit.text, evidence_column)
            match = EvidenceMatch(best_item, evidence_score, self.evidence_.threshold, tuple(item_words))
        decision = decide_route(
            theme_id, theme, confidence, in_scope, match, self.thresholds, self.default_owner
        )
        words = set(prepared_unit.lemmas) | set(prepared_unit.unit.text.lower().split())
        matched = [kw for kw in theme.get("keywords", []) if all(w in words for w in kw.split())]
        explanation: dict[str, Any] = {
            "reason": decision.reason,
            "keywords": matched,
            "nearest_examples": nearest,
            "runner_up": None,
            "in_scope": round(in_scope, 4),
        }
        if match is not None:
            explanation["roadmap_evidence"] = {
                "item_id": match.item["id"],
                "score": round(evidence_score, 4),
                "threshold": match.threshold,
                "routed": decision.names_item,
                "words": list(match.words),
            }
        if runner_up is not None:
            other_id = int(classes[runner_up])
            explanation["runner_up"] = {
                "theme_id": other_id,
                "theme_name": self._themes_by_id.get(other_id, {}).get("name"),
                "probability": round(float(probabilities[runner_up]), 4),
            }
        unit = prepared_unit.unit
        return UnitScore(
            unit_index=unit.index,
            start=unit.start,
            end=unit.end,
            text=unit.text,
            theme_id=theme_id,
            theme_name=theme.get("name"),
            confidence=round(confidence, 4),
            roadmap_item=dict(decision.roadmap_item) if decision.roadmap_item else None,
            owner=decision.owner,
            route=decision.route,
            explanation=explanation,
            area_id=theme.get(AREA_ID),
            area_name=theme.get(AREA_NAME),
            vector=vector,
        )
