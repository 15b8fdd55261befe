"""Step 9: the promotion gate: a retrain replaces the serving model only if it is no worse and stable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feedback_nlp import artifact
from feedback_nlp.config import TrainingConfig
from feedback_nlp.errors import ModelLoadError

PROMOTED, REJECTED, FORCED = "promoted", "rejected", "forced"


@dataclass(frozen=True)
class Promotion:
    status: str  # PROMOTED, REJECTED or FORCED
    reasons: tuple[str, ...]
    compared_with: str | None  # the serving version it was compared with

    @property
    def rejected(self) -> bool:
        return self.status == REJECTED

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reasons": list(self.reasons),
            "forced": self.status == FORCED,
            "compared_with": self.compared_with,
        }


def promotion_gate(
    metrics: dict[str, Any],
    changelog: dict[str, Any],
    previous_dir: Path | None,
    config: TrainingConfig,
    force: bool = False,
) -> Promotion:
    """Promote only if router quality and unassigned share are no worse than the serving model's (within
    ``gate_metric_tolerance``) and the share of previous units whose theme changed is under
    ``gate_max_churn``; and only if it carries every curation decision the serving model had (a decision
    about a theme that vanished is lost curation: named in the reasons)."""
    if previous_dir is None:
        return Promotion(PROMOTED, (), None)
    try:
        previous = artifact.read_json(previous_dir, artifact.METADATA_FILE)["metrics"]
    except (ModelLoadError, KeyError, TypeError):
        previous = {}
    tolerance = config.gate_metric_tolerance
    reasons = []
    for name in ("router_holdout_accuracy", "router_holdout_macro_f1"):
        old, new = previous.get(name), metrics.get(name)
        if old is not None and new is not None and new < old - tolerance:
            reasons.append(f"{name} fell from {old:.3f} to {new:.3f} (tolerance {tolerance})")
    old_unassigned = previous.get("unassigned_fraction")
    if old_unassigned is not None and metrics["unassigned_fraction"] > old_unassigned + tolerance:
        reasons.append(
            f"unassigned_fraction rose from {old_unassigned:.3f} to {metrics['unassigned_fraction']:.3f}"
        )
    if changelog["common_units"] and changelog["churn"] > config.gate_max_churn:
        reasons.append(
            f"theme churn {changelog['churn']:.1%} of {changelog['common_units']} previous units "
            f"is over the limit {config.gate_max_churn:.0%}"
        )
    for lost in (changelog.get("curation") or {}).get("lost", []):
        reasons.append(f"curation lost: {lost['decision']} (theme {lost['theme']} {lost['why']})")
    status = PROMOTED if not reasons else (FORCED if force else REJECTED)
    return Promotion(status, tuple(reasons), previous_dir.name)
