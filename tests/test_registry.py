"""Stable theme IDs across retrains, curation that survives them, and the promotion gate."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
import yaml
from fake_embedders import TopicEmbedder
from tiny_data import tiny_config, write_tiny_dataset

from feedback_nlp.artifact import read_latest
from feedback_nlp.model import FeedbackModel
from feedback_nlp.pipeline import PromotionRejected, train
from feedback_nlp.registry import PreviousThemes, assign_theme_ids, successor_of


# -- matching, unit level: planted answers ---------------------------------------------------------
def _previous(assignments: dict[str, int], centroids: dict[int, np.ndarray]) -> PreviousThemes:
    themes = [
        {
            "id": i,
            "name": f"theme {i}",
            "status": "active",
            "created_in": "v1",
            "retired_in": None,
            "lineage": "new",
            "parents": [],
            "successors": [],
        }
        for i in sorted(centroids)
    ]
    return PreviousThemes(
        "v1", {"version": "v1", "next_id": max(centroids) + 1, "themes": themes}, centroids, assignments
    )


def _axis(i: int, dim: int = 8) -> np.ndarray:
    vector = np.zeros(dim, dtype=np.float32)
    vector[i] = 1
    return vector


def test_matched_clusters_keep_ids_and_unmatched_get_fresh_ones():
    keys = [f"u{i}" for i in range(30)]
    previous = _previous(
        {k: (10 if i < 15 else 20) for i, k in enumerate(keys)}, {10: _axis(0), 20: _axis(1)}
    )
    # the new run lists the clusters in the other order and finds a third, unseen one
    labels = np.array([1] * 15 + [0] * 15 + [2] * 5)
    result = assign_theme_ids(
        labels,
        np.vstack([_axis(1), _axis(0), _axis(2)]),
        keys + [f"n{i}" for i in range(5)],
        ["b", "a", "c"],
        "v2",
        previous,
    )
    assert result.cluster_ids == [20, 10, 21]
    assert (
        result.changes["new"] == [21] and result.changes["retired"] == [] and result.changes["churn"] == 0.0
    )


def test_a_planted_split_and_merge_are_recorded_and_ids_are_not_reused():
    keys = [f"u{i}" for i in range(60)]
    # previous: theme 1 = u0..u19, theme 2 = u20..u39, theme 3 = u40..u59
    previous = _previous(
        {k: 1 + i // 20 for i, k in enumerate(keys)}, {1: _axis(0), 2: _axis(1), 3: _axis(2)}
    )
    # new: theme 1 split in halves; themes 2 and 3 merged into one cluster
    labels = np.array([0] * 10 + [1] * 10 + [2] * 40)
    merged_centroid = (_axis(1) + _axis(2)) / np.sqrt(2)
    result = assign_theme_ids(
        labels,
        np.vstack([_axis(0), _axis(0) * 0.9 + _axis(3) * 0.44, merged_centroid]),
        keys,
        ["x", "y", "z"],
        "v2",
        previous,
    )
    ids = result.cluster_ids
    assert ids[0] == 1 and ids[1] == 4  # fresh id, never a retired one
    assert ids[2] in (2, 3)
    assert {"theme": 1, "into": sorted([1, 4])} in result.changes["split"]
    assert {"themes": [2, 3], "into": ids[2]} in result.changes["merged"]
    retired = {r["theme"]: r["successors"] for r in result.changes["retired"]}
    assert retired == {({2, 3} - {ids[2]}).pop(): [ids[2]]}
    assert successor_of(result.registry, ({2, 3} - {ids[2]}).pop()) == ids[2]
    entry = next(t for t in result.registry["themes"] if t["id"] == 4)
    assert entry["lineage"] == "split" and entry["parents"] == [1]


# -- the training job -----------------------------------------------------------------------------
def _rewrite_tickets(
    source: Path, target: Path, keep_share: float, extra_rows: list[list[str]], seed: int = 0
) -> Path:
    with open(source, encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    random.Random(seed).shuffle(body)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(body[: int(len(body) * keep_share)] + extra_rows)
    return target


@pytest.fixture
def first_run(tmp_path):
    feedback, roadmap = write_tiny_dataset(tmp_path / "data")
    result = train(feedback, roadmap, tmp_path / "models", tiny_config(), embedder=TopicEmbedder())
    return tmp_path, feedback, roadmap, result


def _unit_themes(model_dir: Path) -> dict[str, int]:
    rows = [json.loads(line) for line in (model_dir / "assignments.jsonl").read_text().splitlines()]
    return {row["key"]: row["theme_id"] for row in rows if row["theme_id"] is not None}


def test_ids_survive_a_retrain_on_90_percent_overlapping_data(first_run):
    tmp_path, feedback, roadmap, first = first_run
    other, _ = write_tiny_dataset(tmp_path / "other", seed=1)
    with open(other[0], encoding="utf-8") as handle:
        extra = [["NEW-" + row[0], *row[1:]] for row in list(csv.reader(handle))[1:13]]
    tickets = _rewrite_tickets(feedback[0], tmp_path / "v2" / "tickets.csv", 0.9, extra)
    second = train(
        [tickets, feedback[1]], roadmap, tmp_path / "models", tiny_config(), embedder=TopicEmbedder()
    )
    before, after = _unit_themes(first.path), _unit_themes(second.path)
    common = set(before) & set(after)
    kept = sum(before[k] == after[k] for k in common) / len(common)
    assert len(common) > 100 and kept >= 0.9
    # areas keep their IDs too: a theme that kept its ID is in the area with the same ID as before
    area_before, area_after = (
        {t["id"]: t["area_id"] for t in json.loads((run.path / "themes.json").read_text())}
        for run in (first, second)
    )
    same_theme = set(area_before) & set(area_after)
    assert same_theme and sum(area_before[t] == area_after[t] for t in same_theme) / len(same_theme) >= 0.9
    assert second.summary["changes"]["churn"] == pytest.approx(1 - kept, abs=1e-3)
    changelog = json.loads((second.path / "changelog.json").read_text())
    assert changelog["previous_version"] == first.version
    assert read_latest(tmp_path / "models") == second.version


def test_a_planted_new_topic_becomes_a_new_theme_and_old_ids_stay(first_run):
    tmp_path, feedback, roadmap, first = first_run
    planted = [
        "Please add a dark mode to the dashboard, the white screen hurts at night",
        "Dark theme for the web app would help our night shift",
        "Any plans for dark mode in the dashboard colours",
        "Night mode with a dark colour theme please",
    ]
    extra = [
        [
            f"DARK-{i}",
            planted[i % 4] + f" (team {i})",
            "ticket",
            "2026-10-01T10:00:00Z",
            "ACC-001",
            "1000",
            "smb",
            "email",
        ]
        for i in range(16)
    ]
    tickets = _rewrite_tickets(feedback[0], tmp_path / "v2" / "tickets.csv", 1.0, extra)
    second = train(
        [tickets, feedback[1]], roadmap, tmp_path / "models", tiny_config(), embedder=TopicEmbedder()
    )
    old_ids = {t["id"] for t in json.loads((first.path / "themes.json").read_text())}
    themes = json.loads((second.path / "themes.json").read_text())
    dark = [t for t in themes if any("dark" in k for k in t["keywords"][:3])]
    assert dark and all(t["id"] not in old_ids for t in dark)
    assert {t["id"] for t in dark} <= set(second.summary["changes"]["new"])
    assert old_ids <= {t["id"] for t in themes}  # nothing renumbered
    assert any(t["roadmap_item"] and t["roadmap_item"]["id"] == "RM-4" for t in dark)  # "Dark mode" item


def test_same_input_twice_gives_the_same_ids_and_no_churn(first_run):
    tmp_path, feedback, roadmap, first = first_run
    second = train(feedback, roadmap, tmp_path / "models", tiny_config(), embedder=TopicEmbedder())
    assert json.loads((first.path / "themes.json").read_text()) == json.loads(
        (second.path / "themes.json").read_text()
    )
    assert second.summary["changes"]["churn"] == 0.0 and second.summary["changes"]["new"] == []
    areas_before, areas_after = (
        json.loads((run.path / "theme_registry.json").read_text())["areas"] for run in (first, second)
    )
    assert areas_before == areas_after  # same areas, same IDs and names, none retired


def test_the_gate_rejects_heavy_churn_and_force_promotes(first_run):
    tmp_path, feedback, roadmap, first = first_run
    # forcing three themes on data that has about a dozen moves most units to another theme
    churny = tiny_config(min_themes=3, max_themes=3)
    with pytest.raises(PromotionRejected, match="churn") as caught:
        train(feedback, roadmap, tmp_path / "models", churny, embedder=TopicEmbedder())
    rejected = caught.value.path
    assert read_latest(tmp_path / "models") == first.version
    assert json.loads((rejected / "REJECTED.json").read_text())["reasons"]
    assert json.loads((rejected / "metadata.json").read_text())["status"] == "rejected"
    FeedbackModel.load(
        tmp_path / "models" / first.version, embedder=TopicEmbedder()
    )  # the serving model is untouched

    forced = train(feedback, roadmap, tmp_path / "models", churny, force=True, embedder=TopicEmbedder())
    assert read_latest(tmp_path / "models") == forced.version
    promotion = json.loads((forced.path / "metadata.json").read_text())["promotion"]
    assert promotion["status"] == "forced" and promotion["forced"] and promotion["reasons"]


def test_curation_is_applied_and_carried_over(first_run):
    tmp_path, feedback, roadmap, first = first_run
    themes = {t["id"]: t for t in json.loads((first.path / "themes.json").read_text())}
    by_keyword = lambda word: next(t["id"] for t in themes.values() if word in " ".join(t["keywords"][:3]))  # noqa: E731
    export, refund, crash = by_keyword("export"), by_keyword("refund"), by_keyword("crash")
    declined, sso = by_keyword("decline"), by_keyword("sign")
    decisions = {
        "rename": [{"theme": export, "name": "Slow CSV exports"}, {"theme": 999, "name": "Ghost"}],
        "merge": [{"themes": [declined, sso], "name": "Cards and logins"}],
        "pin": [{"theme": crash, "roadmap_item": "RM-4"}, {"theme": refund, "owner": "@refunds"}],
        "ignore": [{"theme": refund, "reason": "handled by the bank"}],
        "rename_area": [{"area": themes[export]["area_id"], "name": "Exports and data"}],
        "move": [{"theme": crash, "area": themes[export]["area_id"]}, {"theme": refund, "area": 999}],
        "seeds": [
            {
                "name": "Audit log",
                "examples": [
                    "We need an audit log of admin changes",
                    "Compliance asked for an audit trail of who changed what",
                ],
            }
        ],
    }
    taxonomy = tmp_path / "taxonomy.yaml"
    taxonomy.write_text(yaml.safe_dump(decisions))
    second = train(
        feedback, roadmap, tmp_path / "models", tiny_config(taxonomy=str(taxonomy)), embedder=TopicEmbedder()
    )
    curated = {t["id"]: t for t in json.loads((second.path / "themes.json").read_text())}
    assert curated[export]["name"] == "Slow CSV exports"
    assert (
        curated[export]["area_name"] == "Exports and data"
        and curated[export]["area_id"] == themes[export]["area_id"]
    )
    assert (
        curated[crash]["area_id"] == themes[export]["area_id"]
        and curated[crash]["area_name"] == "Exports and data"
    )
    assert {"decision": "move to area 999", "theme": refund, "why": "no such area"} in second.summary[
        "curation"
    ]["stale"]
    assert sso not in curated and curated[declined]["merged_from"] == [sso]
    assert curated[declined]["name"] == "Cards and logins"
    assert curated[declined]["size"] == themes[declined]["size"] + themes[sso]["size"]
    assert curated[crash]["roadmap_item"]["id"] == "RM-4" and curated[crash]["owner"] == "@design-team"
    assert curated[refund]["owner"] == "@refunds" and curated[refund]["ignored"] == "handled by the bank"
    seed = next(t for t in curated.values() if t.get("seed"))
    assert seed["name"] == "Audit log"
    assert {"decision": "rename to 'Ghost'", "theme": 999, "why": "no theme has this id"} in second.summary[
        "curation"
    ]["stale"]
    model = FeedbackModel.load(second.path, embedder=TopicEmbedder())
    (audit,) = model.score_texts(["Compliance wants an audit log of admin changes"])
    assert audit.primary.theme_id == seed["id"]
    (refund_score,) = model.score_texts(["I am still waiting for a refund of a duplicate charge"])
    assert refund_score.primary.route == "triage" and "noise" in refund_score.primary.explanation["reason"]

    # the next run keeps the seed's id by name and re-applies everything
    third = train(
        feedback, roadmap, tmp_path / "models", tiny_config(taxonomy=str(taxonomy)), embedder=TopicEmbedder()
    )
    again = {t["id"]: t for t in json.loads((third.path / "themes.json").read_text())}
    assert (
        again[export]["name"] == "Slow CSV exports"
        and next(t for t in again.values() if t.get("seed"))["id"] == seed["id"]
    )


def test_the_example_taxonomy_is_valid():
    from feedback_nlp.taxonomy import Taxonomy
    from tests.conftest import REPO_ROOT

    taxonomy = Taxonomy.load(REPO_ROOT / "training" / "taxonomy.example.yaml")
    assert taxonomy.renames and taxonomy.merges and taxonomy.pins and taxonomy.ignored and taxonomy.seeds


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("rename:\n  - {theme: 1}\n", "rename #1 has no name"),
        ("seeds:\n  - {name: x, examples: [only one]}\n", "at least two example texts"),
        ("colour: blue\n", "unknown sections colour"),
        ("move:\n  - {theme: 3, area: payments}\n", "move #1: 'payments' is not an id"),
        ("rename_area:\n  - {area: 2}\n", "rename_area #1 has no name"),
    ],
)
def test_a_broken_taxonomy_names_the_problem(tmp_path, content, message):
    from feedback_nlp.errors import ConfigError
    from feedback_nlp.taxonomy import Taxonomy

    path = tmp_path / "taxonomy.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        Taxonomy.load(path)


def test_the_cli_exits_non_zero_with_the_gate_reasons(first_run, capsys):
    from feedback_nlp.cli import main

    tmp_path, feedback, roadmap, first = first_run
    config = tmp_path / "churny.yaml"
    config.write_text(
        "encoder: hashing\nmin_themes: 3\nmax_themes: 3\nmin_theme_size: 5\nmin_similarity: 0.05\n"
    )
    args = [
        "train",
        *sum((["--feedback", str(f)] for f in feedback), []),
        "--roadmap",
        str(roadmap),
        "--models-dir",
        str(tmp_path / "models"),
        "--config",
        str(config),
    ]
    assert main(args) == 2
    assert "was not promoted" in capsys.readouterr().err
    assert read_latest(tmp_path / "models") == first.version


def test_decisions_about_a_retired_theme_follow_a_clear_successor_or_go_stale():
    from feedback_nlp.taxonomy import Taxonomy, resolve

    registry = {
        "version": "v3",
        "next_id": 6,
        "themes": [
            {"id": 1, "name": "a", "status": "retired", "successors": [4]},  # merged into 4
            {"id": 2, "name": "b", "status": "retired", "successors": [4, 5]},  # split: no clear successor
            {"id": 4, "name": "c", "status": "active", "successors": []},
            {"id": 5, "name": "d", "status": "active", "successors": []},
        ],
    }
    taxonomy = Taxonomy(
        renames={1: "Card delivery"},
        ignored={2: "noise"},
        pins=[{"theme": 1, "roadmap_item": "RM-9", "owner": None}],
    )
    resolved = resolve(taxonomy, registry, active_ids={4, 5}, roadmap_ids={"RM-1"})
    assert resolved.renames == {4: "Card delivery"}
    assert {"decision": "rename to 'Card delivery'", "from": 1, "to": 4} in resolved.carried
    assert resolved.ignored == {}
    assert {"decision": "ignore", "theme": 2, "why": "retired without a single successor"} in resolved.stale
    assert resolved.pins == [] and any("RM-9" in s["why"] for s in resolved.stale)
    # the ignore of the split theme is lost curation (the gate fails on it); the pin's item left the roadmap
    assert resolved.lost == [{"decision": "ignore", "theme": 2, "why": "retired without a single successor"}]
