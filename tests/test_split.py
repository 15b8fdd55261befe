"""Splitting a theme (feedback_nlp/split.py, /v1/themes/{id}/split): the proposal, the store's re-routing,
withdrawal, the API's answers and errors. The real browser's split is in test_workbench_browser.py, the
retrain's in test_curation.py."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from test_curation import CURATOR, CURATOR_KEY
from test_service import READ, copy_version, make_settings, point_latest

from feedback_nlp.errors import ValidationError
from feedback_nlp.service.main import create_app
from feedback_nlp.split import StoredUnit, propose_split, reroute, split_groups
from feedback_nlp.store import open_store

CSV = ["CSV export times out", "the CSV export is slow", "CSV download times out", "export CSV fails"]
SSO = ["SSO login with Okta", "Okta SSO for admins", "single sign-on via Okta", "SAML SSO login loops"]


def units(texts_by_direction: dict[int, list[str]], dim: int = 8, noise: float = 0.05) -> list[StoredUnit]:
    rng = np.random.default_rng(42)
    out = []
    for direction, texts in texts_by_direction.items():
        for n, text in enumerate(texts):
            vector = np.eye(dim, dtype=np.float32)[direction] + rng.normal(0, noise, dim).astype(np.float32)
            out.append(StoredUnit(f"{direction}-{n}", 0, text, vector))
    return out


def test_two_planted_sub_groups_are_found_with_their_phrases_and_quotes():
    stored = units({0: CSV + CSV[:2], 1: SSO})
    proposal = propose_split(7, stored, max_groups=3)
    assert [g.size for g in proposal.groups] == [6, 4]  # biggest first
    assert proposal.groups[0].phrases[0] == "csv" and proposal.groups[1].phrases[0] in ("okta", "sso")
    assert set(proposal.groups[1].quotes) <= set(SSO) and len(proposal.groups[1].quotes) == 3
    # the same units give the same proposal; one more unit, another id
    assert propose_split(7, list(reversed(stored)), max_groups=3).proposal_id == proposal.proposal_id
    assert propose_split(7, stored[:-1], max_groups=3).proposal_id != proposal.proposal_id


def test_picks_become_new_themes_and_only_their_units_move():
    stored = units({0: CSV, 1: SSO})
    proposal = propose_split(7, stored)
    sso = next(g.index for g in proposal.groups if "okta" in g.phrases)
    [group] = split_groups(proposal, {sso: "Single sign-on"}, first_new_id=40)
    assert (group.theme_id, group.name) == (40, "Single sign-on") and group.examples
    moved = reroute(proposal, [group], stored)
    assert moved == {(u.item_id, 0): 40 for u in stored if u.text in SSO}


@pytest.mark.parametrize(
    "picks, field",
    [({}, "groups"), ({5: "x"}, "groups"), ({0: "a", 1: "b"}, "groups"), ({0: " "}, "name")],
)
def test_bad_picks_name_the_field(picks, field):
    proposal = propose_split(7, units({0: CSV, 1: SSO}))
    with pytest.raises(ValidationError) as caught:
        split_groups(proposal, picks, first_new_id=40)
    assert caught.value.field == field


def test_too_few_units_is_a_clear_refusal():
    with pytest.raises(ValidationError, match="split needs at least 6"):
        propose_split(7, units({0: CSV[:2], 1: SSO[:2]}))


# -- the API ---------------------------------------------------------------------------------------------

EXPORT = [
    "The CSV export times out on the full ledger",
    "Exporting to CSV fails for large reports",
    "CSV export of the quarter never finishes",
    "The CSV download keeps timing out",
]
PDF = [
    "The PDF export cuts off the last column",
    "PDF export is missing the header row",
    "Exported PDF has the wrong page size",
    "Please fix the PDF export layout",
]


@pytest.fixture
def service(tmp_path, tiny_model_dir):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))
    app = create_app(make_settings(tmp_path, models_dir, curator_keys=CURATOR_KEY))
    with TestClient(app) as client:
        texts = [f"{text}, case {n}" for n, text in enumerate((EXPORT + PDF) * 3)]
        items = [{"id": f"E-{n}", "text": text, "source": "ticket"} for n, text in enumerate(texts)]
        for start in range(0, len(items), 8):  # the tiny settings' batch limit
            batch = {"items": items[start : start + 8]}
            assert client.post("/v1/score", json=batch, headers=CURATOR).status_code == 200
        yield client, tmp_path


def _biggest_theme(tmp_path) -> tuple[int, int]:
    store = open_store(f"sqlite:///{tmp_path}/service.sqlite")
    try:
        volumes = store.theme_volumes()
    finally:
        store.close()
    theme_id, size = max(volumes.items(), key=lambda kv: kv[1])
    return int(theme_id), int(size)


def test_propose_pick_and_see_the_new_theme_at_once_then_withdraw(service):
    client, tmp_path = service
    theme_id, size = _biggest_theme(tmp_path)
    assert size >= 6, "the tiny model should put most export feedback in one theme"
    assert client.get(f"/v1/themes/{theme_id}/split", headers=READ).status_code == 403  # curators only
    proposal = client.get(f"/v1/themes/{theme_id}/split?max_groups=2", headers=CURATOR).json()
    assert proposal["units"] == size and len(proposal["groups"]) == 2
    body = {
        "proposal_id": proposal["proposal_id"],
        "max_groups": 2,
        "groups": [{"index": 1, "name": "Split off"}],
    }
    answer = client.post(f"/v1/themes/{theme_id}/split", json=body, headers=CURATOR)
    assert answer.status_code == 201, answer.text
    action = answer.json()
    [group] = action["groups"]
    new_id = group["theme_id"]
    assert action["kind"] == "split_theme" and action["actor"].startswith("curator:")
    themes = {t["id"]: t for t in client.get("/v1/themes", headers=READ).json()["themes"]}
    assert themes[new_id]["name"] == "Split off" and new_id not in (theme_id,)
    moved = client.get(f"/v1/search?q=case&mode=words&theme={new_id}&limit=100", headers=READ).json()["units"]
    assert len(moved) == proposal["groups"][1]["size"]
    assert {u["theme_name"] for u in moved} == {"Split off"}
    # the same proposal again: the theme changed, so it is refused as a problem, not applied twice
    again = client.post(f"/v1/themes/{theme_id}/split", json=body, headers=CURATOR)
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    # withdrawn: the units are back in the theme they came from, the new theme gone
    assert client.delete(f"/v1/curation/{action['id']}", headers=CURATOR).status_code == 204
    assert new_id not in {t["id"] for t in client.get("/v1/themes", headers=READ).json()["themes"]}
    assert _biggest_theme(tmp_path) == (theme_id, size)


@pytest.mark.parametrize(
    "path, body, status, field",
    [
        ("/v1/themes/999999/split", None, 404, None),
        ("/v1/themes/{theme}/split?max_groups=9", None, 422, "max_groups"),
        ("/v1/themes/{theme}/split", {"proposal_id": "0" * 16, "groups": []}, 422, "groups"),
        (
            "/v1/themes/{theme}/split",
            {"proposal_id": "0" * 16, "groups": [{"index": 0, "name": "x"}]},
            409,
            None,
        ),
        (
            "/v1/themes/{theme}/split",
            {"proposal_id": "nope", "groups": [{"index": 0, "name": "x"}]},
            422,
            None,
        ),
    ],
)
def test_errors_are_problems_never_500(service, path, body, status, field):
    client, tmp_path = service
    theme_id, _ = _biggest_theme(tmp_path)
    url = path.format(theme=theme_id)
    answer = client.post(url, json=body, headers=CURATOR) if body else client.get(url, headers=CURATOR)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if field:
        assert field in answer.text


def test_a_theme_too_small_to_split_is_a_409_saying_why(service):
    client, tmp_path = service
    store = open_store(f"sqlite:///{tmp_path}/service.sqlite")
    try:
        small = min(store.theme_volumes().items(), key=lambda kv: kv[1])
    finally:
        store.close()
    if small[1] >= 6:
        pytest.skip("every theme of the tiny model holds six units or more here")
    answer = client.get(f"/v1/themes/{small[0]}/split", headers=CURATOR)
    assert answer.status_code == 409 and "a split needs at least 6" in answer.text
