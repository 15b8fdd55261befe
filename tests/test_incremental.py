"""Incremental retraining (feedback_nlp/steps/incremental.py): what a retrain reuses, and when it does not.

The tiny hand-written set and the hashing embedder (tests/tiny_data.py): these tests are about which parts a
retrain reuses, read from the run summary's stage record (``summary.json["incremental"]``), not about time.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from tiny_data import TOPIC_TEXTS, tiny_config, write_tiny_dataset

from feedback_nlp.curation import CurationAction
from feedback_nlp.model import FeedbackModel
from feedback_nlp.pipeline import train
from feedback_nlp.steps.incremental import PreviousModel, keep_borders

NEW_TOPIC = [
    "Please add a dark colour theme to the web dashboard at night",
    "Our team wants dark mode in the dashboard, the white screen hurts",
    "Is a dark theme for the dashboard on the roadmap this year",
    "Night shift staff ask for dark mode on every dashboard page",
]


def _add_tickets(tickets: Path, texts: list[str], prefix: str) -> None:
    with open(tickets, "a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for n, text in enumerate(texts):
            writer.writerow(
                [f"{prefix}-{n:03d}", text, "ticket", "2026-11-02T10:00:00Z", "ACC-001", 1000, "smb", "email"]
            )


def _themes(path: Path) -> dict[int, str]:
    return {t["id"]: t["name"] for t in json.loads((path / "themes.json").read_text())}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A first model on the tiny set, and the data folder to retrain from."""
    root = tmp_path_factory.mktemp("incremental")
    feedback, roadmap = write_tiny_dataset(root / "data")
    result = train(feedback, roadmap, root / "models", tiny_config())
    return root, feedback, roadmap, result


def _retrain(first_run, tmp_path: Path, new_texts: list[str], **config) -> tuple:
    """Copy the first run's models folder and retrain it on the tiny set plus ``new_texts`` as tickets."""
    import shutil

    root, feedback, roadmap, first = first_run
    models = tmp_path / "models"
    shutil.copytree(root / "models", models)
    data = tmp_path / "data"
    shutil.copytree(root / "data", data)
    _add_tickets(data / feedback[0].name, new_texts, "NEW")
    moved = [data / path.name for path in feedback]
    result = train(moved, data / roadmap.name, models, tiny_config(**config), force=True)
    return first, result


def test_a_retrain_with_a_few_new_units_keeps_the_themes_and_refits_only_the_routers_classifier(
    first_run, tmp_path
):
    # 8 new tickets of known topics, written as the old ones are, beside 132 units: about 6% new
    new_texts = [f"{TOPIC_TEXTS[topic][n]}. Reference {5000 + n}" for n, topic in enumerate(TOPIC_TEXTS)]
    new_texts += [f"{TOPIC_TEXTS['refund'][n]}. Reference {6000 + n}" for n in range(3)]
    first, second = _retrain(first_run, tmp_path, new_texts)
    record = second.summary["incremental"]
    assert record["mode"] == "incremental" and record["reason"] is None, record
    # the tiny set is too small for a rehearsal (its in-scope score is the percentile one, refitted) and,
    # with the hashing embedder, for an in-scope bar: what the first run has is what is reused
    had_bar = first.summary["router"]["in_scope_threshold"] is not None
    assert record["reused"] == ["theme_borders", "router_calibration"] + ["in_scope_threshold"] * had_bar
    assert record["new_units"] == len(new_texts) and record["borders_from"] == first.version
    assert _themes(second.path) == _themes(first.path)  # the same theme ids, with the same names
    assert second.summary["changes"]["churn"] == 0.0 and second.summary["changes"]["new"] == []
    assert second.summary["router"]["refit_from"] == first.version
    assert second.summary["promotion"]["status"] == "promoted"  # the gate compared and passed it
    before, after = FeedbackModel.load(first.path), FeedbackModel.load(second.path)
    assert after.router_.calibration_.temperature_ == before.router_.calibration_.temperature_
    assert after.thresholds == before.thresholds
    # the classifier itself was refitted on the new units too: its vocabulary has their words
    words = after.router_.classifier_.text_vectorizers_[0].vocabulary_
    assert "5000" in words and "5000" not in before.router_.classifier_.text_vectorizers_[0].vocabulary_
    # every new unit went to its nearest theme, as the first model routes it
    rows = [json.loads(line) for line in (second.path / "assignments.jsonl").read_text().splitlines()]
    new_themes = [row["theme_id"] for row in rows if row["item_id"].startswith("NEW-")]
    assert len(new_themes) == len(new_texts) and None not in new_themes
    # a second incremental retrain counts the new units since the themes were discovered
    metadata = json.loads((second.path / "metadata.json").read_text())
    assert metadata["incremental"]["borders_from"] == first.version
    assert 0 < metadata["incremental"]["new_share_since_discovery"] < 0.2


def test_a_full_retrain_stays_available(first_run, tmp_path):
    first, second = _retrain(first_run, tmp_path, [], incremental=False)
    record = second.summary["incremental"]
    assert record == {
        "mode": "full",
        "reason": "incremental: false in the configuration",
        "reused": [],
        "borders_from": None,
        "new_units": 0,
        "new_share_since_discovery": None,
        "misfit_share": None,
    }
    assert "refit_from" not in second.summary["router"]
    assert second.summary["router"]["rehearsal"] == first.summary["router"]["rehearsal"]


def test_a_retrain_whose_new_units_fit_no_theme_rediscovers_the_themes(first_run, tmp_path):
    new_texts = [f"{text} ({n})" for n in range(4) for text in NEW_TOPIC]  # 16 units of a new topic
    _, second = _retrain(first_run, tmp_path, new_texts)
    record = second.summary["incremental"]
    assert record["mode"] == "full" and record["reused"] == []
    assert "of the new units fit no theme" in record["reason"]


def test_a_retrain_whose_theme_set_changed_trains_the_router_afresh(first_run, tmp_path):
    _, _, _, first = first_run
    largest, second_largest = list(_themes(first.path))[:2]
    root, feedback, roadmap, _ = first_run
    import shutil

    models = tmp_path / "models"
    shutil.copytree(root / "models", models)
    merge = CurationAction("merge_themes", (largest, second_largest), name="Merged by a curator")
    result = train(feedback, roadmap, models, tiny_config(), curation=[merge], force=True)
    record = result.summary["incremental"]
    assert record["mode"] == "incremental" and record["reused"] == ["theme_borders"]
    assert record["reason"].startswith("the themes changed since")
    assert "refit_from" not in result.summary["router"]
    assert "in_scope_calibration_units" in result.summary["router"]  # measured again on a hold-out


def _previous(centroids: np.ndarray, path: Path, assignments: dict[str, int | None]) -> PreviousModel:
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "assignments.jsonl", "w", encoding="utf-8") as handle:
        for key, raw in assignments.items():
            handle.write(json.dumps({"key": key, "raw_theme_id": raw}) + "\n")
    return PreviousModel(
        path=path,
        version="v1",
        raw_ids=np.asarray([10, 11]),
        centroids=centroids,
        seed_ids={},
        router=None,  # type: ignore[arg-type]  # not read by keep_borders
        borders_from="v0",
        new_share_since_discovery=0.1,
    )


def test_kept_borders_keep_old_units_themes_and_place_new_units_at_the_nearest(tmp_path):
    centroids = np.eye(2, dtype=np.float32)
    # old units a (theme 10), b (theme 11, though nearer 10: its border is kept) and c (unassigned)
    previous = _previous(centroids, tmp_path / "v1", {"a": 10, "b": 11, "c": None})
    X = np.asarray([[1, 0], [0.8, 0.6], [0.6, 0.8], [0, 1], [0.1, 0.99]], dtype=np.float32)
    config = tiny_config(min_similarity=0.5, incremental_max_new_share=0.5)
    kept = keep_borders(X, ["a", "b", "c", "new1", "new2"], previous, config)
    assert not isinstance(kept, str)
    labels, borders = kept
    assert labels.tolist() == [0, 1, -1, 1, 1]
    assert borders.new_units.tolist() == [False, False, False, True, True]
    # 1 - (1 - 0.1) * (1 - 2/5): the new share since the themes were discovered
    assert borders.new_share_since_discovery == pytest.approx(0.46)


@pytest.mark.parametrize(
    ("new_share", "misfit_share", "expected"),
    [
        (0.5, 1.0, "of the units are new since themes were discovered in v0"),
        (1.0, 0.1, "of the new units fit no theme of v1"),
    ],
)
def test_kept_borders_give_way_when_the_data_moved(tmp_path, new_share, misfit_share, expected):
    centroids = np.eye(2, dtype=np.float32)
    previous = _previous(centroids, tmp_path / "v1", {"a": 10, "b": 11})
    # the new units are at 45 degrees from both themes: less similar than every old unit to its own, and as
    # many as a theme's least size (fewer could not form a theme of their own)
    X = np.asarray([[1, 0], [0, 1], [0.7071, 0.7071], [0.7071, 0.7071]], dtype=np.float32)
    config = tiny_config(
        min_similarity=0.5,
        min_theme_size=2,
        incremental_max_new_share=new_share,
        incremental_max_misfit_share=misfit_share,
    )
    reason = keep_borders(X, ["a", "b", "new1", "new2"], previous, config)
    assert isinstance(reason, str) and expected in reason


# The router's warm-started refit (feedback_nlp/routing.py, ThemeClassifier.fit(warm_start=...)): the same
# classifier as a fit on all units, each theme's SVM problem solved on the units near the serving margins.

_OPENERS = ["", "Hi, ", "Urgent: ", "Hello team, "]
_CLOSERS = ["", " Thanks.", " Please advise.", " Any update?"]


def _units(variants: range) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The tiny topics' texts, each with the given opener/closer variants: embeddings, themes, texts."""
    from feedback_nlp.embedding import HashingEmbedder

    texts, themes = [], []
    for theme, topic in enumerate(TOPIC_TEXTS):
        for n, text in enumerate(TOPIC_TEXTS[topic]):
            for v in variants:
                texts.append(f"{_OPENERS[v % 4]}{text}{_CLOSERS[(v + n) % 4]} (ref {v})")
                themes.append(theme)
    return HashingEmbedder().embed(texts), np.asarray(themes), texts


@pytest.fixture(scope="module")
def served_and_all_units():
    """A classifier fitted on the old units (served), and the old units with 20% more beside them."""
    from feedback_nlp.routing import ThemeClassifier

    X_old, y_old, texts_old = _units(range(4))
    X_new, y_new, texts_new = _units(range(4, 5))
    served = ThemeClassifier().fit(X_old, y_old, texts_old)
    return served, np.vstack([X_old, X_new]), np.concatenate([y_old, y_new]), texts_old + texts_new


def test_a_warm_started_refit_routes_as_a_fit_on_all_units(served_and_all_units, monkeypatch):
    from feedback_nlp import routing
    from feedback_nlp.embedding import HashingEmbedder

    served, X, y, texts = served_and_all_units
    working_sets: list[float] = []
    solve = routing._solve_on_working_set

    def spy(base, design, signs, working):
        working_sets.append(float(working.mean()))
        return solve(base, design, signs, working)

    monkeypatch.setattr(routing, "_solve_on_working_set", spy)
    warm = routing.ThemeClassifier().fit(X, y, texts, warm_start=served)
    assert len(working_sets) == len(TOPIC_TEXTS)  # one problem per theme, each from the serving margins
    assert min(working_sets) < 1.0  # and some solved on fewer units than all
    cold = routing.ThemeClassifier().fit(X, y, texts)
    assert (warm.predict(X, texts) == cold.predict(X, texts)).all()
    np.testing.assert_allclose(warm.decision_function(X, texts), cold.decision_function(X, texts), atol=2e-3)
    probe = ["The CSV export is stuck again", "Okta SSO for the console please", "Refund me twice"]
    probe_X = HashingEmbedder().embed(probe)
    assert warm.predict(probe_X, probe).tolist() == cold.predict(probe_X, probe).tolist()


@pytest.mark.parametrize("rounds", [1, 5])
def test_a_working_set_missing_support_units_still_gives_the_full_solution(
    served_and_all_units, monkeypatch, rounds
):
    """A working set of one unit per side misses most of the units under the margin: the margin check adds
    them (5 rounds), or the problem is solved on all units when it cannot settle (1 round)."""
    from sklearn.svm import LinearSVC

    from feedback_nlp import routing

    _, X, y, texts = served_and_all_units
    monkeypatch.setattr(routing, "WORKING_SET_ROUNDS", rounds)
    design = routing.ThemeClassifier().fit(X, y, texts)._design(X, texts).astype(np.float64)
    signs = np.where(y == 0, 1.0, -1.0)
    working = np.zeros(len(y), dtype=bool)
    working[[np.flatnonzero(y == 0)[0], np.flatnonzero(y != 0)[0]]] = True
    base = LinearSVC(C=0.5, random_state=42)
    solved = routing._solve_on_working_set(base, design, signs, working)
    full = LinearSVC(C=0.5, random_state=42).fit(design, (y == 0).astype(int))
    np.testing.assert_allclose(solved.decision_function(design), full.decision_function(design), atol=2e-3)
    one_sided = routing._solve_on_working_set(base, design, signs, y == 0)  # no unit of the other side
    np.testing.assert_allclose(one_sided.coef_, full.coef_, atol=1e-6)


def test_a_warm_start_of_other_themes_or_without_texts_is_not_used(served_and_all_units, monkeypatch):
    from feedback_nlp import routing

    served, X, y, texts = served_and_all_units
    monkeypatch.setattr(routing, "_working_set_svm", lambda *args: pytest.fail("warm start used"))
    fewer = y != 4  # a theme fewer than the serving classifier knows
    X_few, texts_few = X[fewer], [t for t, keep in zip(texts, fewer) if keep]
    routing.ThemeClassifier().fit(X_few, y[fewer], texts_few, warm_start=served)
    embeddings_only = routing.ThemeClassifier(text_features=False).fit(X, y)
    routing.ThemeClassifier().fit(X, y, texts, warm_start=embeddings_only)
    routing.ThemeClassifier(text_features=False).fit(X, y, warm_start=served)
