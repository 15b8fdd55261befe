"""Owners correct single routes: kept as labels, re-routed in the store at once, used by the next retrain."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from test_curation import CURATOR, CURATOR_KEY
from test_service import READ, READ_JSON, copy_version, make_settings, point_latest
from test_workbench import sign_in

from feedback_nlp.corrections import NOT_MINE, TO_THEME, Correction, flagged_themes, training_pairs
from feedback_nlp.errors import ValidationError
from feedback_nlp.service.main import create_app


def test_the_latest_correction_of_a_unit_is_its_label_and_not_mine_trains_nothing():
    corrections = [
        Correction("a", 0, TO_THEME, 3, text="export times out"),
        Correction("a", 0, TO_THEME, 4, text="export times out"),
        Correction("b", 1, NOT_MINE, text="see you at the offsite"),
        Correction("c", 0, TO_THEME, 5, text=""),  # no text kept: nothing to learn from
    ]
    assert training_pairs(corrections) == (["export times out"], [4])


@pytest.mark.parametrize(
    "corrected_away, size, flagged",
    [(3, 40, True), (2, 10, False), (3, 100, False), (5, 100, True)],
)
def test_a_theme_is_flagged_when_enough_of_it_was_corrected_away(corrected_away, size, flagged):
    corrections = [Correction(f"i{n}", 0, NOT_MINE, previous_theme_id=7) for n in range(corrected_away)]
    expected = [{"theme": 7, "corrections": corrected_away}] if flagged else []
    assert flagged_themes(corrections, {7: size}) == expected


@pytest.mark.parametrize(
    "correction, field",
    [(Correction("a", 0, TO_THEME), "theme_id"), (Correction("a", 0, NOT_MINE, 3), "theme_id"),
     (Correction("a", 0, "wrong"), "kind")],
)  # fmt: skip
def test_an_incomplete_correction_names_the_field(correction, field):
    with pytest.raises(ValidationError) as caught:
        correction.check()
    assert caught.value.field == field


@pytest.fixture
def served(tmp_path, tiny_model_dir):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))
    app = create_app(make_settings(tmp_path, models_dir, curator_keys=CURATOR_KEY))
    with TestClient(app, follow_redirects=False) as client:
        item = {"id": "C-1", "text": "The CSV export times out on the full ledger", "source": "ticket"}
        assert client.post("/v1/score", json=item, headers=READ_JSON).status_code == 200
        yield client, app.state.service.store


def test_a_correction_re_routes_the_unit_at_once_and_is_kept(served, tiny_model):
    client, store = served
    before = store.get_item("C-1")["units"][0]
    other = next(t for t in tiny_model.themes_ if t["id"] != before["theme_id"])
    body = {"kind": "theme", "theme_id": other["id"]}
    assert client.post("/v1/feedback/C-1/corrections", json=body, headers=READ_JSON).status_code == 403
    moved = client.post("/v1/feedback/C-1/corrections", json=body, headers=CURATOR)
    assert moved.status_code == 201 and moved.json()["previous_theme_id"] == before["theme_id"]
    unit = store.get_item("C-1")["units"][0]
    assert (
        unit["theme_id"] == other["id"] and unit["theme_name"] == other["name"] and unit["route"] == "owner"
    )

    not_mine = client.post("/v1/feedback/C-1/corrections", json={"kind": "not_mine"}, headers=CURATOR)
    assert not_mine.status_code == 201
    assert store.get_item("C-1")["units"][0]["route"] == "triage"
    kept = client.get("/v1/corrections", headers=READ).json()["corrections"]
    assert [c["kind"] for c in kept] == ["theme", "not_mine"] and kept[0]["actor"].startswith("curator:")
    assert store.corrections()[0].text == before["text_redacted"]


@pytest.mark.parametrize(
    "path, body, status",
    [
        ("/v1/feedback/NOPE/corrections", {"kind": "not_mine"}, 404),
        ("/v1/feedback/C-1/corrections", {"kind": "not_mine", "unit_index": 99}, 404),
        ("/v1/feedback/C-1/corrections", {"kind": "theme", "theme_id": 987654}, 404),
        ("/v1/feedback/C-1/corrections", {"kind": "not_mine", "theme_id": 3}, 422),
        ("/v1/feedback/C-1/corrections", {"kind": "theme"}, 422),
        # JSON false is not 0 (schemathesis: a schema-violating body was accepted)
        ("/v1/feedback/C-1/corrections", {"kind": "theme", "theme_id": False}, 422),
        ("/v1/feedback/C-1/corrections", {"kind": "not_mine", "unit_index": False}, 422),
    ],
)
def test_a_bad_correction_is_a_4xx_saying_what(served, path, body, status):
    client, _ = served
    assert client.post(path, json=body, headers=CURATOR).status_code == status


def test_the_page_corrects_a_quote(served, tiny_model):
    client, store = served
    csrf = sign_in(client, CURATOR_KEY)
    theme_id = store.get_item("C-1")["units"][0]["theme_id"]
    page = client.get(f"/ui/themes/{theme_id}").text
    assert re.search(r'name="item_id" value="C-1"', page)
    form = {
        "csrf": csrf,
        "item_id": "C-1",
        "unit_index": "0",
        "kind": "not_mine",
        "back": f"/ui/themes/{theme_id}",
    }
    done = client.post("/ui/correct", data=form)
    assert "corrected" in done.headers["location"]
    assert store.get_item("C-1")["units"][0]["route"] == "triage"


def test_the_next_retrain_trains_the_router_on_corrections(tmp_path):
    from fake_embedders import TopicEmbedder
    from tiny_data import tiny_config, write_tiny_dataset

    from feedback_nlp.pipeline import train

    feedback, roadmap = write_tiny_dataset(tmp_path / "data")
    first = train(feedback, roadmap, tmp_path / "models", tiny_config(), embedder=TopicEmbedder())
    themes = json.loads((first.path / "themes.json").read_text())
    target, away = themes[0]["id"], themes[1]["id"]
    corrections = [
        Correction(f"i{n}", 0, TO_THEME, target, previous_theme_id=away, text=f"the csv export times out {n}")
        for n in range(4)
    ] + [Correction("gone", 0, TO_THEME, 987654, text="a theme no model has")]
    second = train(
        feedback,
        roadmap,
        tmp_path / "models",
        tiny_config(),
        embedder=TopicEmbedder(),
        corrections=corrections,
    )
    summary = second.summary["corrections"]
    assert summary["kept"] == 5 and summary["trained_on"] == 4 and summary["skipped"] == 1
    size = {t["id"]: t["size"] for t in themes}[away]
    assert summary["flagged_for_review"] == ([{"theme": away, "corrections": 4}] if 0.05 * size <= 4 else [])
    written = json.loads((second.path / "summary.json").read_text())
    assert written["corrections"] == summary


def test_a_corrected_text_replaces_its_copies_in_the_routers_training_data():
    import numpy as np

    from feedback_nlp.steps.router import CorrectedUnits, with_corrections

    X = np.eye(3, dtype=np.float32)
    y = np.array([1, 1, 2])
    corrected = CorrectedUnits(np.ones((1, 3)), np.array([7]), ("b",), skipped=0)
    X2, y2, texts2 = with_corrections(X, y, ["a", "b", "c"], corrected)
    assert texts2 == ["a", "c", "b"] and y2.tolist() == [1, 2, 7] and X2.shape == (3, 3)
    assert with_corrections(X, y, ["a", "b", "c"], None)[2] == ["a", "b", "c"]
