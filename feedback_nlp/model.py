"""A trained feedback model: the artifact folder on disk, loading it safely, and scoring new feedback."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from threadpoolctl import ThreadpoolController

from feedback_nlp.embedding import HASHING_ENCODER, Embedder, build_embedder, sha256_file
from feedback_nlp.errors import EncoderError, ModelLoadError
from feedback_nlp.evidence import RoadmapEvidence
from feedback_nlp.prepare import TextPreparer
from feedback_nlp.route_policy import EvidenceMatch, RouteThresholds, decide_route
from feedback_nlp.routing import ThemeRouter
from feedback_nlp.schemas import FeedbackRecord, ItemScore, UnitScore

logger = logging.getLogger(__name__)

LATEST_FILE = "LATEST"
METADATA_FILE = "metadata.json"
THEMES_FILE = "themes.json"
ROADMAP_FILE = "roadmap.json"
ROUTER_FILE = "router.joblib"
THEME_MODEL_FILE = "theme_model.joblib"
NEIGHBORS_FILE = "neighbors.npz"
NEIGHBOR_TEXTS_FILE = "neighbors.json"
SUMMARY_FILE = "summary.json"
QUARANTINE_FILE = "quarantine.jsonl"
ASSIGNMENTS_FILE = "assignments.jsonl"
# Optional (models trained before it score through the theme link only): the unit-level roadmap evidence.
EVIDENCE_FILE = "roadmap_evidence.json"
# Files the model cannot score without; each is checked against the sha256 in metadata.json on load.
REQUIRED_FILES = (
    THEMES_FILE,
    ROADMAP_FILE,
    ROUTER_FILE,
    THEME_MODEL_FILE,
    NEIGHBORS_FILE,
    NEIGHBOR_TEXTS_FILE,
)


def read_latest(models_dir: Path | str) -> str | None:
    """The version named in ``models_dir/LATEST``, or None when there is none yet."""
    try:
        name = (Path(models_dir) / LATEST_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def write_latest(models_dir: Path, version: str) -> None:
    """Point LATEST at ``version`` atomically: write a temporary file, then rename over the old one."""
    temporary = models_dir / f".{LATEST_FILE}.{os.getpid()}.tmp"
    temporary.write_text(version + "\n", encoding="utf-8")
    with open(temporary, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, models_dir / LATEST_FILE)


def resolve_model_dir(models_dir: Path | str, model: Path | str | None = None) -> Path:
    """The version folder to use: ``model`` when given, else the one named in ``models_dir/LATEST``."""
    if model is not None:
        path = Path(model)
        if not path.is_dir():
            raise ModelLoadError(f"{path}: no such model folder")
        return path
    models_dir = Path(models_dir)
    version = read_latest(models_dir)
    if version is None:
        raise ModelLoadError(
            f"{models_dir}: no trained model (no {LATEST_FILE} file); run `feedback-nlp train` or `make demo`"
        )
    path = models_dir / version
    if not path.is_dir():
        raise ModelLoadError(f"{models_dir}/{LATEST_FILE} names {version!r}, but {path} does not exist")
    return path


def verify_artifact(path: Path) -> dict[str, Any]:
    """Read metadata.json and check every file it lists against its sha256. Returns the metadata."""
    try:
        metadata = json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: no {METADATA_FILE}; not a complete model folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path}/{METADATA_FILE}: unreadable ({exc})") from None
    files = metadata.get("files") or {}
    for name in REQUIRED_FILES:
        if name not in files:
            raise ModelLoadError(f"{path}: {METADATA_FILE} lists no checksum for {name}")
    for name, expected in files.items():
        file_path = path / name
        if not file_path.is_file():
            raise ModelLoadError(f"{path}: {name} is missing")
        if sha256_file(file_path) != expected:
            raise ModelLoadError(
                f"{path}: {name} does not match its sha256 in {METADATA_FILE}; refusing to load it"
            )
    return metadata


@dataclass
class Neighbors:
    """Training units kept for explanations: unit-length embeddings, their theme and redacted text."""

    embeddings: np.ndarray
    theme_ids: np.ndarray
    texts: list[str]

    def nearest(self, vector: np.ndarray, k: int = 3) -> list[dict[str, Any]]:
        if len(self.texts) == 0:
            return []
        similarity = self.embeddings @ vector
        top = np.argsort(-similarity, kind="stable")[:k]
        return [
            {
                "text": self.texts[i],
                "similarity": round(float(similarity[i]), 4),
                "theme_id": int(self.theme_ids[i]),
            }
            for i in top
        ]


class FeedbackModel:
    """A loaded model version: prepares, embeds, classifies and routes new feedback.

    Build one with :meth:`load` (from a folder written by the training job); the constructor only stores
    the parts, so tests can assemble a model from fitted parts directly.
    """

    def __init__(
        self,
        *,
        path: Path,
        metadata: dict[str, Any],
        themes: list[dict[str, Any]],
        roadmap: list[dict[str, Any]],
        router: ThemeRouter,
        embedder: Embedder,
        neighbors: Neighbors,
        preparer: TextPreparer | None = None,
        evidence: RoadmapEvidence | None = None,
    ):
        self.path = path
        self.metadata = metadata
        self.themes = themes
        self.roadmap = roadmap
        self.router = router
        self.embedder = embedder
        self.neighbors = neighbors
        self.evidence = evidence
        config = metadata.get("config", {})
        self.preparer = preparer or TextPreparer(
            max_unit_chars=config.get("max_unit_chars", 1000),
            keep_terms=config.get("redaction_keep_terms") or (),
        )
        self.default_owner: str = config.get("default_owner", "triage")
        # no in-scope threshold when the training job had too few units for a hold-out to choose one on
        in_scope = (metadata.get("routing") or {}).get("in_scope_threshold")
        self.thresholds = RouteThresholds(
            confidence=float(config.get("confidence_threshold", 0.5)),
            in_scope=float(in_scope) if in_scope is not None else None,
        )
        self._themes_by_id = {theme["id"]: theme for theme in themes}
        self._roadmap_by_id = {str(item["id"]): item for item in roadmap}
        # Finding the loaded BLAS libraries reads the process's memory map: about 4 ms, done once here rather
        # than on every call of score (by now the router and the encoder have loaded every library scoring uses).
        self._threadpools = ThreadpoolController()

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @classmethod
    def load(cls, path: Path | str, embedder: Embedder | None = None) -> FeedbackModel:
        """Load and verify a model folder.

        Only load folders this project wrote: joblib files can run code on load, so their checksums are
        checked against metadata.json first, and the encoder's weights against the sha256 recorded at
        training time.

        Raises:
            ModelLoadError: the folder is incomplete, a file was changed, or the encoder does not match.
        """
        path = Path(path)
        metadata = verify_artifact(path)
        try:
            themes = json.loads((path / THEMES_FILE).read_text(encoding="utf-8"))
            roadmap = json.loads((path / ROADMAP_FILE).read_text(encoding="utf-8"))
            router = joblib.load(path / ROUTER_FILE)
            with np.load(path / NEIGHBORS_FILE) as arrays:
                neighbor_embeddings = arrays["embeddings"].astype(np.float32)
                neighbor_themes = arrays["theme_ids"]
            neighbor_texts = json.loads((path / NEIGHBOR_TEXTS_FILE).read_text(encoding="utf-8"))
            evidence = None
            if EVIDENCE_FILE in (metadata.get("files") or {}):
                evidence = RoadmapEvidence.from_dict(
                    json.loads((path / EVIDENCE_FILE).read_text(encoding="utf-8"))
                )
        except Exception as exc:  # any failure to read a verified file means the artifact is unusable
            raise ModelLoadError(f"{path}: cannot be loaded ({type(exc).__name__}: {exc})") from exc
        encoder = metadata["encoder"]
        if embedder is None:
            try:
                expected = None if encoder["name"] == HASHING_ENCODER else encoder["sha256"]
                embedder = build_embedder(
                    encoder["name"],
                    expected_sha256=expected,
                    batch_size=metadata.get("config", {}).get("embedding_batch_size", 64),
                )
            except EncoderError as exc:
                raise ModelLoadError(f"{path}: {exc}") from exc
        if embedder.fingerprint != encoder["sha256"]:
            raise ModelLoadError(
                f"{path}: trained with encoder {encoder['name']} ({encoder['sha256'][:12]}), "
                f"but the encoder given is {embedder.fingerprint[:12]}"
            )
        return cls(
            path=path,
            metadata=metadata,
            themes=themes,
            roadmap=roadmap,
            router=router,
            embedder=embedder,
            neighbors=Neighbors(neighbor_embeddings, neighbor_themes, neighbor_texts),
            evidence=evidence,
        )

    def theme(self, theme_id: int) -> dict[str, Any] | None:
        return self._themes_by_id.get(theme_id)

    def score_texts(self, texts: Sequence[str], source: str = "ticket") -> list[ItemScore]:
        """Score bare texts (ids are their positions)."""
        now = datetime.now(UTC)
        return self.score(
            [FeedbackRecord(id=str(i), text=t, source=source, created_at=now) for i, t in enumerate(texts)]
        )

    def score(self, records: Sequence[FeedbackRecord]) -> list[ItemScore]:
        """Split each record into units, and give every unit its theme, roadmap item, owner and route."""
        if not records:
            return []
        # The matrix products here are small; OpenBLAS threads left spinning after them steal the cores
        # from the encoder's own threads. One BLAS thread took single-item scoring from 69 ms to about 20 ms
        # on 2 cores (benchmarks/README.md).
        with self._threadpools.limit(limits=1, user_api="blas"):
            return self._score(records)

    def _score(self, records: Sequence[FeedbackRecord]) -> list[ItemScore]:
        prepared = self.preparer.prepare(records)
        flat = [unit for units in prepared for unit in units]
        texts = [p.unit.text for p in flat]
        vectors = self.embedder.embed(texts)
        if self.thresholds.in_scope is not None:
            probabilities, in_scope = self.router.predict_proba_and_in_scope(vectors, texts)
        else:  # the score would route nothing: not worth its neighbour search
            probabilities = self.router.predict_proba(vectors, texts)
            in_scope = np.ones(len(flat), dtype=np.float32)
        if self.evidence is not None:
            evidence_columns, evidence_scores = self.evidence.best(vectors, texts)
        else:
            evidence_columns, evidence_scores = np.full(len(flat), -1), np.zeros(len(flat), dtype=np.float32)
        classes = self.router.classes_
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
                        float(in_scope[position]),
                        int(evidence_columns[position]),
                        float(evidence_scores[position]),
                    )
                )
                position += 1
            results.append(
                ItemScore(id=record.id, source=record.source, model_version=self.version, units=unit_scores)
            )
        return results

    def _score_unit(
        self,
        prepared_unit,
        vector: np.ndarray,
        probabilities: np.ndarray,
        classes: np.ndarray,
        in_scope: float = 1.0,
        evidence_column: int = -1,
        evidence_score: float = 0.0,
    ) -> UnitScore:
        order = np.argsort(-probabilities, kind="stable")
        best, runner_up = order[0], (order[1] if len(order) > 1 else None)
        theme_id = int(classes[best])
        confidence = float(probabilities[best])
        theme = self._themes_by_id.get(theme_id, {})
        # the unit's own best roadmap item: explained in any case, it decides the route only at its threshold
        best_item = (
            self._roadmap_by_id.get(self.evidence.item_ids[evidence_column])
            if evidence_column >= 0 and self.evidence is not None
            else None
        )
        match = None
        if best_item is not None and self.evidence is not None:
            item_words = self.evidence.matched_terms(prepared_unit.unit.text, evidence_column)
            match = EvidenceMatch(best_item, evidence_score, self.evidence.threshold, tuple(item_words))
        decision = decide_route(
            theme_id, theme, confidence, in_scope, match, self.thresholds, self.default_owner
        )
        words = set(prepared_unit.lemmas) | set(prepared_unit.unit.text.lower().split())
        matched = [kw for kw in theme.get("keywords", []) if all(w in words for w in kw.split())]
        explanation: dict[str, Any] = {
            "reason": decision.reason,
            "keywords": matched,
            "nearest_examples": self.neighbors.nearest(vector, k=3),
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
        )
