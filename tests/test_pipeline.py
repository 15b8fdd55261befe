"""The training job end to end on the tiny hand-written set (hashing embedder, real everything else)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from tiny_data import tiny_config, write_tiny_dataset

from feedback_nlp.artifact import read_latest, resolve_model_dir
from feedback_nlp.errors import ConfigError, ModelLoadError, RoadmapError, TrainingError
from feedback_nlp.model import FeedbackModel
from feedback_nlp.pipeline import train

EXPECTED_FILES = {
    "metadata.json",
    "themes.json",
    "roadmap.json",
    "router.skops",
    "neighbors.npz",
    "neighbors.json",
    "summary.json",
    "quarantine.jsonl",
    "assignments.jsonl",
}


def test_model_folder_holds_every_file_and_metadata_field(tiny_model_dir):
    assert {p.name for p in tiny_model_dir.iterdir()} >= EXPECTED_FILES
    metadata = json.loads((tiny_model_dir / "metadata.json").read_text())
    for key in (
        "version",
        "created_at",
        "inputs",
        "rows_read",
        "rows_accepted",
        "rows_quarantined",
        "units",
        "encoder",
        "library_versions",
        "git_commit",
        "config",
        "metrics",
        "files",
    ):
        assert key in metadata
    assert metadata["version"] == tiny_model_dir.name
    assert metadata["rows_read"] == metadata["rows_accepted"] + metadata["rows_quarantined"] == 132
    assert all(len(i["sha256"]) == 64 for i in metadata["inputs"])
    assert read_latest(tiny_model_dir.parent) == tiny_model_dir.name


def test_themes_have_names_keywords_examples_and_owners(tiny_model_dir):
    themes = json.loads((tiny_model_dir / "themes.json").read_text())
    assert 3 <= len(themes) <= 12
    for theme in themes:
        assert {
            "id",
            "name",
            "area_id",
            "area_name",
            "keywords",
            "size",
            "examples",
            "roadmap_item",
            "roadmap_score",
            "owner",
        } <= set(theme)
        assert theme["keywords"] and 1 <= len(theme["examples"]) <= 3
        if theme["roadmap_item"] is None:
            assert theme["owner"] == "triage@ledgerly.example"
    # the export complaints reach the export roadmap item and its owner
    export = [t for t in themes if any("export" in k for k in t["keywords"][:3])]
    assert export and all(
        t["roadmap_item"]["id"] == "RM-1" and t["owner"] == "maya@ledgerly.example" for t in export
    )
    summary = json.loads((tiny_model_dir / "summary.json").read_text())
    assert {"id": "RM-4", "title": "Dark mode", "owner": "@design-team", "status": "parked"} in summary[
        "no_evidence"
    ]
    assert summary["unassigned_fraction"] < 0.10


def test_every_theme_belongs_to_one_area_the_registry_knows(tiny_model_dir):
    themes = json.loads((tiny_model_dir / "themes.json").read_text())
    registry = json.loads((tiny_model_dir / "theme_registry.json").read_text())["areas"]
    active = {a["id"]: a["name"] for a in registry["areas"] if a["status"] == "active"}
    assert all(isinstance(t["area_id"], int) and t["area_name"] for t in themes)
    assert {t["area_id"] for t in themes} == set(active)
    assert all(active[t["area_id"]] == t["area_name"] for t in themes)
    assert 1 < len(active) < len(themes) and registry["next_id"] > max(active)
    summary = json.loads((tiny_model_dir / "summary.json").read_text())
    sizes = [a["size"] for a in summary["areas"]]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == sum(t["size"] for t in themes)
    assert sorted(t for a in summary["areas"] for t in a["themes"]) == sorted(t["id"] for t in themes)
    assert all(a["keywords"] and a["name"] == active[a["id"]] for a in summary["areas"])


def test_labels_have_no_stop_words_or_redaction_tokens(tiny_model_dir):
    from spacy.lang.en.stop_words import STOP_WORDS

    themes = json.loads((tiny_model_dir / "themes.json").read_text())
    for theme in themes:
        for keyword in theme["keywords"]:
            for word in keyword.split():
                assert word not in STOP_WORDS and word not in {"person", "email", "phone", "card_number"}


def test_save_load_round_trip_gives_identical_scores(tiny_model_dir, tiny_model):
    texts = ["the CSV export times out", "Okta single sign-on please", "refund never arrived"]
    first = [r.to_dict() for r in tiny_model.score_texts(texts)]
    again = [r.to_dict() for r in FeedbackModel.load(tiny_model_dir).score_texts(texts)]
    assert first == again
    assert first[0]["roadmap_item"]["id"] == "RM-1" and first[0]["route"] == "owner"


def test_scoring_alone_or_in_a_batch_gives_the_same_answer(tiny_model):
    texts = ["the CSV export times out", "my card was declined at the hotel", "app crashes on android"]
    batch = [r.to_dict() for r in tiny_model.score_texts(texts)]
    for i, text in enumerate(texts):
        (alone,) = tiny_model.score_texts([text])
        assert {k: v for k, v in alone.to_dict().items() if k != "id"} == {
            k: v for k, v in batch[i].items() if k != "id"
        }


def test_a_unit_that_names_a_roadmap_item_reaches_its_owner(tiny_model_dir):
    # the decision itself, and its precedence over confidence and in-scope: tests/test_route_policy.py
    model = FeedbackModel.load(tiny_model_dir)
    assert model.evidence_ is not None and model.evidence_.item_ids == ["RM-1", "RM-2", "RM-3", "RM-4"]
    named, unnamed = model.score_texts(["the fast ledger CSV export times out", "refund never arrived"])
    assert named.primary.route == "owner" and named.primary.roadmap_item["id"] == "RM-1"
    assert named.primary.owner == next(i["owner"] for i in model.roadmap_ if i["id"] == "RM-1")
    reason = named.primary.explanation["reason"]
    assert reason.startswith("names roadmap item RM-1") and "export" in reason
    assert "names roadmap item" not in unnamed.primary.explanation["reason"]
    evidence = named.primary.explanation["roadmap_evidence"]
    assert evidence["item_id"] == "RM-1" and evidence["routed"] and evidence["score"] >= evidence["threshold"]
    assert {"export", "ledg"} <= set(evidence["words"])
    assert unnamed.primary.explanation["roadmap_evidence"]["routed"] is False
    assert unnamed.primary.explanation["roadmap_evidence"]["score"] < model.evidence_.threshold


def test_unit_evidence_can_be_switched_off(tmp_path):
    from tiny_data import train_tiny_model

    from feedback_nlp.artifact import EVIDENCE_FILE

    version_dir = train_tiny_model(tmp_path / "models", roadmap_evidence_threshold=None)
    assert not (version_dir / EVIDENCE_FILE).exists()
    assert FeedbackModel.load(version_dir).evidence_ is None


def test_scoring_runs_with_one_blas_thread_and_gives_them_back(tiny_model, monkeypatch):
    from threadpoolctl import ThreadpoolController

    blas = [lib for lib in ThreadpoolController().info() if lib["user_api"] == "blas"]
    if not blas:
        pytest.skip("no BLAS library that threadpoolctl can see")
    before = {lib["filepath"]: lib["num_threads"] for lib in blas}
    seen = []
    real_score = type(tiny_model)._score

    def spy(self, records, *args, **kwargs):
        seen.extend(lib["num_threads"] for lib in ThreadpoolController().info() if lib["user_api"] == "blas")
        return real_score(self, records, *args, **kwargs)

    monkeypatch.setattr(type(tiny_model), "_score", spy)
    tiny_model.score_texts(["the csv export times out"])
    assert seen and set(seen) == {1}  # spinning BLAS threads would steal the encoder's cores
    after = {
        lib["filepath"]: lib["num_threads"]
        for lib in ThreadpoolController().info()
        if lib["user_api"] == "blas"
    }
    assert after == before


def test_explanation_has_keywords_neighbours_and_runner_up(tiny_model):
    (result,) = tiny_model.score_texts(["the CSV export times out"])
    answer = result.to_dict()
    explanation = answer["units"][answer["primary_unit"]]["explanation"]
    assert "explanation" not in answer  # sent once, with its unit
    assert "export" in explanation["keywords"]
    assert len(explanation["nearest_examples"]) == 3
    assert all(-1 <= n["similarity"] <= 1 for n in explanation["nearest_examples"])
    runner = explanation["runner_up"]
    assert (
        runner["theme_id"] != result.primary.theme_id
        and 0 <= runner["probability"] <= result.primary.confidence
    )


@pytest.mark.parametrize("failure", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_latest_is_unchanged_when_a_run_fails_midway(tmp_path, monkeypatch, failure):
    models_dir = tmp_path / "models"
    feedback, roadmap = write_tiny_dataset(tmp_path / "data")
    first = train(feedback, roadmap, models_dir, tiny_config())
    before = {p.name for p in models_dir.iterdir()}

    def explode(*args, **kwargs):
        raise failure

    monkeypatch.setattr("feedback_nlp.pipeline.train_theme_router", explode)
    with pytest.raises(type(failure)):
        train(feedback, roadmap, models_dir, tiny_config(random_state=7))
    assert read_latest(models_dir) == first.version
    assert {p.name for p in models_dir.iterdir()} == before  # no half-written folder left behind
    FeedbackModel.load(resolve_model_dir(models_dir))


def test_a_tampered_artifact_is_refused(tmp_path, tiny_model_dir):
    copy = tmp_path / tiny_model_dir.name
    shutil.copytree(tiny_model_dir, copy)
    with open(copy / "router.skops", "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ModelLoadError, match="router.skops does not match"):
        FeedbackModel.load(copy)
    (copy / "themes.json").unlink()
    with pytest.raises(ModelLoadError):
        FeedbackModel.load(copy)


def test_a_broken_roadmap_fails_fast_naming_item_and_field(tmp_path):
    feedback, roadmap = write_tiny_dataset(tmp_path / "data")
    roadmap.write_text("- {id: RM-1, title: Export, status: planned}\n", encoding="utf-8")
    with pytest.raises(RoadmapError, match="item 'RM-1' has no owner"):
        train(feedback, roadmap, tmp_path / "models", tiny_config())
    roadmap.write_text(
        "- {id: RM-1, title: A, owner: a@x.io, status: planned}\n"
        "- {id: RM-1, title: B, owner: b@x.io, status: shipped}\n",
        encoding="utf-8",
    )
    with pytest.raises(RoadmapError, match="item 'RM-1': duplicate id"):
        train(feedback, roadmap, tmp_path / "models", tiny_config())
    assert not (tmp_path / "models").exists() or read_latest(tmp_path / "models") is None


def test_too_little_feedback_is_a_clear_error(tmp_path):
    feedback, roadmap = write_tiny_dataset(tmp_path / "data", tickets_per_topic=1, notes=0)
    with pytest.raises(TrainingError, match="usable feedback units"):
        train(feedback, roadmap, tmp_path / "models", tiny_config())


def test_retraining_reuses_the_embedding_cache(tmp_path):
    feedback, roadmap = write_tiny_dataset(tmp_path / "data")
    first = train(feedback, roadmap, tmp_path / "models", tiny_config())
    second = train(feedback, roadmap, tmp_path / "models", tiny_config())
    assert first.summary["embedding_cache"]["misses"] > 0
    assert second.summary["embedding_cache"]["misses"] == 0
    assert (
        second.summary["embedding_cache"]["hits"]
        == first.summary["embedding_cache"]["misses"] + first.summary["embedding_cache"]["hits"]
    )


def test_same_data_config_and_seed_give_the_same_themes(tmp_path):
    feedback, roadmap = write_tiny_dataset(tmp_path / "data")
    runs = [train(feedback, roadmap, tmp_path / f"models{i}", tiny_config()) for i in range(2)]
    themes = [json.loads((r.path / "themes.json").read_text()) for r in runs]
    assert themes[0] == themes[1]
    assignments = [(r.path / "assignments.jsonl").read_text() for r in runs]
    assert assignments[0] == assignments[1]


def test_retraining_reuses_prepared_units(tmp_path):
    feedback, roadmap = write_tiny_dataset(tmp_path / "data")
    first = train(feedback, roadmap, tmp_path / "models", tiny_config())
    second = train(feedback, roadmap, tmp_path / "models", tiny_config())
    assert first.summary["prepared_cache"]["misses"] == 132
    assert second.summary["prepared_cache"] == {"hits": 132, "misses": 0}
    assert (first.path / "assignments.jsonl").read_text() == (second.path / "assignments.jsonl").read_text()


def test_text_unlike_the_training_data_goes_to_triage(tiny_model_dir, tiny_model):
    metadata = json.loads((tiny_model_dir / "metadata.json").read_text())
    threshold = metadata["routing"]["in_scope_threshold"]
    assert threshold is not None and 0 < threshold < 1
    (familiar,) = tiny_model.score_texts(["The CSV export times out when I export the full ledger"])
    (stranger,) = tiny_model.score_texts(["Our giraffe enclosure needs a warmer roof before winter"])
    assert familiar.primary.route == "owner" and familiar.primary.explanation["in_scope"] >= threshold
    assert stranger.primary.route == "triage" and stranger.primary.explanation["in_scope"] < threshold
    assert "possibly a new topic" in stranger.primary.explanation["reason"]


def test_a_model_trained_on_enough_feedback_rehearses_its_in_scope_score(tmp_path):
    examples = Path(__file__).resolve().parents[1] / "examples"
    tickets = examples / "feedback" / "tickets.csv"
    result = train([tickets], examples / "roadmap.yaml", tmp_path / "models", tiny_config(max_themes=40))
    rehearsal = result.summary["router"]["rehearsal"]
    assert rehearsal is not None and rehearsal["groups"] == 8 and rehearsal["hidden_units"] > 0
    model = FeedbackModel.load(result.path)
    threshold = model.thresholds.in_scope
    assert model.router_.in_scope_.novelty_ is not None and threshold is not None and 0 < threshold < 1
    familiar_text = pd.read_csv(tickets)["text"].iloc[0]  # "I wanted to know why i got an additional fee..."
    familiar, stranger = model.score_texts(
        [familiar_text, "Our giraffe enclosure needs a warmer roof before winter"]
    )
    assert familiar.primary.explanation["in_scope"] >= threshold
    assert stranger.primary.route == "triage" and stranger.primary.explanation["in_scope"] < threshold
    assert "possibly a new topic" in stranger.primary.explanation["reason"]
    (alone,) = model.score_texts(["Our giraffe enclosure needs a warmer roof before winter"])
    assert alone.primary.explanation["in_scope"] == stranger.primary.explanation["in_scope"]
    # a retrain with 30 new tickets (written as old ones were) keeps the rehearsal's score and its bar
    frame = pd.read_csv(tickets)
    more = frame.head(30).assign(id=["NEW-" + str(i) for i in frame.head(30)["id"]])
    pd.concat([frame, more]).to_csv(tmp_path / "more.csv", index=False)
    again = train(
        [tmp_path / "more.csv"], examples / "roadmap.yaml", tmp_path / "models", tiny_config(max_themes=40)
    )
    reused = ["theme_borders", "router_calibration", "in_scope_score", "in_scope_threshold"]
    assert again.summary["incremental"]["reused"] == reused
    refitted = FeedbackModel.load(again.path)
    assert refitted.router_.in_scope_.novelty_.summary == model.router_.in_scope_.novelty_.summary
    assert refitted.thresholds == model.thresholds
    # the ML engineer can switch it off (a faster router, the percentile score), and bound the router's units
    off = train(
        [tickets],
        examples / "roadmap.yaml",
        tmp_path / "models",
        tiny_config(max_themes=40, router_rehearsal_groups=0, router_max_units=600),
        force=True,
    )
    assert off.summary["router"]["rehearsal"] is None
    assert off.summary["incremental"]["reason"] == (
        f"configuration changed since {again.version}: router_rehearsal_groups, router_max_units"
    )
    assert FeedbackModel.load(off.path).router_.in_scope_.novelty_ is None
    assert off.summary["router"]["trained_on_units"] <= 600 < off.summary["router"]["units_available"]
    assert result.summary["router"]["trained_on_units"] == result.summary["router"]["units_available"]
    served = {t["id"] for t in json.loads((off.path / "themes.json").read_text()) if t["size"] > 0}
    assert served <= set(FeedbackModel.load(off.path).router_.classes_)  # trimming keeps every theme
    from feedback_nlp.commands.train import format_summary  # the ML engineer sees the trimming

    assert f"Router trained on {off.summary['router']['trained_on_units']} of" in format_summary(
        off.summary, off.path
    )
    assert "Router trained on" not in format_summary(result.summary, result.path)
    with pytest.raises(ConfigError, match="router_rehearsal_groups"):
        tiny_config(router_rehearsal_groups=-1)
    with pytest.raises(ConfigError, match="router_max_units"):
        tiny_config(router_max_units=0)
