"""Curation kept in the store: the decisions, their read-time view, and the /v1/curation API."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from test_service import ADMIN, READ, copy_version, make_settings, point_latest

from feedback_nlp.curation import (
    CurationAction,
    CurationView,
    actions_to_yaml,
    combine,
    taxonomy_to_actions,
    to_taxonomy,
)
from feedback_nlp.errors import ValidationError
from feedback_nlp.service.main import create_app
from feedback_nlp.split import SplitGroup
from feedback_nlp.store import open_store
from feedback_nlp.taxonomy import Taxonomy

CURATOR_KEY = "test-curator-key"
CURATOR = {"X-API-Key": CURATOR_KEY}

THEMES = [
    {"id": 1, "name": "card delivery", "size": 10, "roadmap_item": None, "owner": "triage"},
    {"id": 2, "name": "late cards", "size": 4, "roadmap_item": None, "owner": "triage"},
    {"id": 3, "name": "csv export", "size": 7, "roadmap_item": None, "owner": "triage", "area_id": 0,
     "area_name": "Reporting"},
]  # fmt: skip
ROADMAP = [{"id": "RM-01", "title": "Live card delivery tracking"}]


# -- the decisions and their read-time view ------------------------------------------------------------


def test_the_view_renames_merges_pins_and_ignores_without_touching_the_model():
    view = CurationView.of(
        [
            CurationAction("merge_themes", (1, 2), name="Card delivery delays"),
            CurationAction("pin_theme", (1,), roadmap_item="RM-01"),
            CurationAction("ignore_theme", (3,), reason="noise"),
        ]
    )
    themes = {t["id"]: t for t in view.themes(THEMES, ROADMAP)}
    assert set(themes) == {1, 3}
    assert themes[1]["name"] == "Card delivery delays"
    assert themes[1]["merged_from"] == [2] and themes[1]["size"] == 14
    assert themes[1]["roadmap_item"] == {"id": "RM-01", "title": "Live card delivery tracking"}
    assert themes[3]["ignored"] == "noise"
    assert THEMES[0]["name"] == "card delivery" and "merged_from" not in THEMES[0]
    assert view.canonical(2) == 1 and view.canonical(3) == 3


def test_areas_are_optional_and_area_decisions_apply_where_the_model_has_areas():
    view = CurationView.of(
        [
            CurationAction("rename_area", area="0", name="Exports"),  # area 0 is an area
            CurationAction("move_theme", (1,), area="0"),
        ]
    )
    themes = {t["id"]: t for t in view.themes(THEMES)}
    assert themes[3]["area_name"] == "Exports"
    assert themes[1]["area_id"] == 0 and themes[1]["area_name"] == "Exports"
    assert "area_id" not in themes[2]


def test_a_later_decision_about_the_same_theme_wins_and_merge_cycles_stop():
    view = CurationView.of(
        [
            CurationAction("rename_theme", (1,), name="first"),
            CurationAction("rename_theme", (1,), name="second"),
            CurationAction("merge_themes", (1, 2)),
            CurationAction("merge_themes", (2, 1)),
        ]
    )
    assert view.names[1] == "second"
    assert view.canonical(1) in (1, 2) and view.canonical(2) in (1, 2)


@pytest.mark.parametrize(
    "action, field",
    [
        (CurationAction("rename_theme", (1,)), "name"),
        (CurationAction("rename_theme", (1, 2), name="x"), "themes"),
        (CurationAction("merge_themes", (1, 1)), "themes"),
        (CurationAction("pin_theme", (1,)), "roadmap_item"),
        (CurationAction("move_theme", (1,)), "area"),
        (CurationAction("move_theme", (1,), area="A1"), "area"),
        (CurationAction("split_theme", (1,)), "groups"),
        (CurationAction("split_theme", (1,), groups=(SplitGroup(1, "same id", (), ()),)), "groups"),
        (CurationAction("split_theme", (1,), groups=(SplitGroup(9, " ", (), ()),)), "name"),
        (CurationAction("rename_theme", (1,), name="x", groups=(SplitGroup(9, "x", (), ()),)), "groups"),
        (CurationAction("recolour_theme", (1,)), "kind"),
    ],
)
def test_an_incomplete_decision_names_the_field_to_fix(action, field):
    with pytest.raises(ValidationError) as caught:
        action.check()
    assert caught.value.field == field


PDF = SplitGroup(31, "PDF export", ("pdf",), ("The PDF export cuts the table", "Cannot save as PDF"))
NO_QUOTES = SplitGroup(32, "Excel export", ("excel",), ())
NIGHT = SplitGroup(
    900, "Night mode", ("night",), ("Please add a night mode", "A dark night theme for the app at night")
)


def test_training_gets_the_store_decisions_over_the_yaml_and_seeds_a_split():
    from_file = Taxonomy(renames={1: "from yaml", 2: "kept"}, ignored={3: "yaml noise"}, moves={2: 4})
    store = to_taxonomy(
        [
            CurationAction("rename_theme", (1,), name="from store", id=1),
            CurationAction("move_theme", (1,), area="3", id=2),
            CurationAction("rename_area", area="3", name="Exports", id=3),
            CurationAction("split_theme", (5,), groups=(PDF, NO_QUOTES), id=4),
        ]
    )
    combined = combine(from_file, store.taxonomy)
    assert combined.renames == {1: "from store", 2: "kept"} and combined.ignored == {3: "yaml noise"}
    assert combined.moves == {2: 4, 1: 3} and combined.area_renames == {3: "Exports"}
    # a sub-group becomes a seed theme keeping its id; one without quotes is listed, by name, as not applied
    assert [(s.name, s.theme_id, s.split_from) for s in combined.seeds] == [("PDF export", 31, 5)]
    assert [(e["id"], e["decision"]) for e in store.not_applied] == [
        (4, "split 'Excel export' (theme 32) off theme 5")
    ]


def test_yaml_export_reads_back_as_the_same_decisions(tmp_path):
    actions = [
        CurationAction("rename_theme", (1,), name="Card delivery delays"),
        CurationAction("merge_themes", (4, 9), name="Duplicate charges"),
        CurationAction("pin_theme", (2,), roadmap_item="RM-02"),
        CurationAction("ignore_theme", (24,), reason="meeting logistics"),
        CurationAction("rename_area", area="1", name="Exports"),
        CurationAction("move_theme", (2,), area="1"),
        CurationAction("split_theme", (5,), groups=(PDF,)),
    ]
    path = tmp_path / "taxonomy.yaml"
    path.write_text(actions_to_yaml(actions), encoding="utf-8")
    assert "split:" in path.read_text(encoding="utf-8") and "not in this format" not in path.read_text()
    again = taxonomy_to_actions(Taxonomy.load(path), actor="import")
    assert to_taxonomy(again).taxonomy == to_taxonomy(actions).taxonomy
    [split] = [action for action in again if action.kind == "split_theme"]
    assert split.themes == (5,) and split.groups == (PDF,)  # the centre is not exported: none to lose here


def test_the_store_keeps_who_and_when_and_a_withdrawn_decision_stays_on_record(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/store.sqlite")
    try:
        kept = store.add_curation(
            CurationAction("rename_theme", (1,), name=" Card delivery ", actor="curator:x")
        )
        assert kept.id is not None and kept.name == "Card delivery" and kept.created_at is not None
        assert [a.name for a in store.curation()] == ["Card delivery"]
        assert store.revoke_curation(kept.id, "curator:y") and not store.revoke_curation(kept.id, "curator:y")
        assert store.curation() == [] and store.curation(include_revoked=True)[0].actor == "curator:x"
    finally:
        store.close()


# -- the API ---------------------------------------------------------------------------------------------


@pytest.fixture
def curated(tmp_path, tiny_model_dir):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))
    app = create_app(make_settings(tmp_path, models_dir, curator_keys=CURATOR_KEY))
    with TestClient(app) as client:
        yield client


def _themes(client) -> dict[int, dict]:
    response = client.get("/v1/themes", headers=READ)
    assert response.status_code == 200
    return {t["id"]: t for t in response.json()["themes"]}


def test_a_read_key_may_look_but_not_curate(curated):
    theme_id = next(iter(_themes(curated)))
    body = {"kind": "rename_theme", "themes": [theme_id], "name": "x"}
    assert curated.post("/v1/curation", json=body, headers=READ).status_code == 403
    assert curated.get("/v1/curation", headers=READ).json()["actions"] == []


def test_a_rename_merge_and_ignore_show_at_once_in_the_themes_and_can_be_withdrawn(curated):
    first, second, third = list(_themes(curated))[:3]
    renamed = curated.post(
        "/v1/curation",
        json={"kind": "rename_theme", "themes": [first], "name": "Card delivery"},
        headers=CURATOR,
    )
    assert renamed.status_code == 201 and renamed.json()["actor"].startswith("curator:")
    merge = {"kind": "merge_themes", "themes": [first, second]}
    assert curated.post("/v1/curation", json=merge, headers=ADMIN).status_code == 201
    ignore = {"kind": "ignore_theme", "themes": [third], "reason": "noise"}
    assert curated.post("/v1/curation", json=ignore, headers=CURATOR).status_code == 201

    themes = _themes(curated)
    assert themes[first]["name"] == "Card delivery" and themes[first]["merged_from"] == [second]
    assert second not in themes and third not in themes
    assert curated.get(f"/v1/themes/{second}", headers=READ).json()["id"] == first
    shown = curated.get("/v1/themes", params={"include_ignored": True}, headers=READ).json()["themes"]
    assert {t["id"]: t["ignored"] for t in shown}[third] == "noise"

    assert curated.delete(f"/v1/curation/{renamed.json()['id']}", headers=CURATOR).status_code == 204
    assert _themes(curated)[first]["name"] != "Card delivery"
    assert curated.delete(f"/v1/curation/{renamed.json()['id']}", headers=CURATOR).status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "rename_theme", "themes": [0]}, "name"),
        ({"kind": "rename_theme", "themes": [0], "name": "   "}, "name"),
        ({"kind": "merge_themes", "themes": [0]}, "themes"),
        ({"kind": "paint_theme", "themes": [0]}, "body"),
        ({"kind": "move_theme", "themes": [0], "area": "Payments"}, "area"),  # an area id is a number
        ({"kind": "rename_area", "area": "²", "name": "Payments"}, "area"),  # ASCII digits only
    ],
)
def test_a_bad_decision_is_a_422_naming_the_field(curated, body, field):
    response = curated.post("/v1/curation", json=body, headers=CURATOR)
    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    "body, what",
    [
        ({"kind": "rename_theme", "themes": [987654], "name": "x"}, "no theme 987654"),
        ({"kind": "pin_theme", "themes": [0], "roadmap_item": "RM-404"}, "no roadmap item 'RM-404'"),
    ],
)
def test_a_decision_about_something_the_model_lacks_is_a_404_naming_it(curated, body, what):
    response = curated.post("/v1/curation", json=body, headers=CURATOR)
    assert response.status_code == 404 and what in response.json()["detail"]


# -- retraining ------------------------------------------------------------------------------------------


def test_every_retrain_applies_the_store_curation_over_the_yaml(tmp_path):
    from fake_embedders import TopicEmbedder
    from tiny_data import tiny_config, write_tiny_dataset

    from feedback_nlp.pipeline import train

    feedback, roadmap = write_tiny_dataset(tmp_path / "data")
    first = train(feedback, roadmap, tmp_path / "models", tiny_config(), embedder=TopicEmbedder())
    theme_ids = [t["id"] for t in json.loads((first.path / "themes.json").read_text())]
    kept, renamed = theme_ids[0], theme_ids[1]
    (tmp_path / "taxonomy.yaml").write_text(
        f"rename:\n  - {{theme: {kept}, name: From the file}}\n  - {{theme: {renamed}, name: Old name}}\n"
    )
    curation = [
        CurationAction("rename_theme", (renamed,), name="Renamed in the workbench", id=1),
        CurationAction("split_theme", (kept,), groups=(NIGHT, NO_QUOTES), id=2),
    ]
    config = tiny_config(taxonomy=str(tmp_path / "taxonomy.yaml"))
    second = train(
        feedback, roadmap, tmp_path / "models", config, embedder=TopicEmbedder(), curation=curation
    )
    names = {t["id"]: t["name"] for t in json.loads((second.path / "themes.json").read_text())}
    assert names[renamed] == "Renamed in the workbench" and names[kept] == "From the file"
    # the split's sub-group is a theme of the new model under the id the split gave it, never reused
    assert names[NIGHT.theme_id] == "Night mode" and kept in names
    registry = json.loads((second.path / "theme_registry.json").read_text())
    assert registry["next_id"] > NIGHT.theme_id
    report = second.summary["curation"]
    assert [entry["decision"] for entry in report["not_applied"]] == [
        f"split 'Excel export' (theme 32) off theme {kept}"
    ]
    assert report["sources"][-1] == "store (2 decisions)" and report["lost"] == []


def test_lost_curation_fails_the_promotion_gate_by_name(tmp_path):
    from tiny_data import tiny_config

    from feedback_nlp.steps.promote import promotion_gate

    (tmp_path / "v1").mkdir()
    lost = {"decision": "rename to 'Card delivery'", "theme": 7, "why": "retired without a single successor"}
    changelog = {"common_units": 0, "churn": 0.0, "curation": {"lost": [lost]}}
    promotion = promotion_gate({"unassigned_fraction": 0.0}, changelog, tmp_path / "v1", tiny_config())
    assert promotion.rejected
    assert promotion.reasons == ("curation lost: rename to 'Card delivery' (theme 7 retired without a single "
                                 "successor)",)  # fmt: skip
    forced = promotion_gate(
        {"unassigned_fraction": 0.0}, changelog, tmp_path / "v1", tiny_config(), force=True
    )
    assert forced.status == "forced"


# -- the report ------------------------------------------------------------------------------------------


def test_the_report_resolves_curation_at_read_time_without_re_ingest(tmp_path):
    from feedback_nlp.report import compute_report
    from tests.test_report import HISTORY, WEEK, build_store, model_info

    store = build_store().write(f"sqlite:///{tmp_path}/feedback.sqlite")
    try:
        before = compute_report(store.engine, model_info(), WEEK, weeks_of_history=HISTORY)
        for action in (
            CurationAction("rename_theme", (1,), name="Slow exports"),
            CurationAction("merge_themes", (1, 2)),
            CurationAction("ignore_theme", (3,), reason="not a product request"),
        ):
            store.add_curation(action)
        view = CurationView.of(store.curation())
        after = compute_report(store.engine, model_info(), WEEK, weeks_of_history=HISTORY, curation=view)
    finally:
        store.close()
    units_before = {r["id"]: r["units"] for r in before["themes"]}
    rows = {r["id"]: r for r in after["themes"]}
    assert rows[1]["name"] == "Slow exports" and 2 not in rows
    assert rows[1]["units"] == units_before[1] + units_before[2]
    assert 3 in {r["id"] for r in before["unplanned"]} and 3 not in {r["id"] for r in after["unplanned"]}
    assert (
        3 not in {r["id"] for r in after["top_by_volume"]} and rows[3]["ignored"] == "not a product request"
    )
    # still reconciled: every unit of the week is in a theme row or without a theme
    assert after["reconciliation"]["units"]["in_themes"] == before["reconciliation"]["units"]["in_themes"]


def test_curation_imports_from_and_exports_to_taxonomy_yaml(tmp_path, capsys):
    from feedback_nlp.cli import main

    url = f"sqlite:///{tmp_path}/store.sqlite"
    (tmp_path / "in.yaml").write_text(
        "rename:\n  - {theme: 3, name: Card delivery}\nignore:\n  - {theme: 5}\n"
    )
    assert main(["curation", "import", str(tmp_path / "in.yaml"), "--database-url", url]) == 0
    assert "2 decisions" in capsys.readouterr().out
    assert main(["curation", "export", "--database-url", url, "--out", str(tmp_path / "out.yaml")]) == 0
    exported = Taxonomy.load(tmp_path / "out.yaml")
    assert exported.renames == {3: "Card delivery"} and exported.ignored == {5: "marked as noise"}


@pytest.mark.parametrize("kind", ["move_theme", "rename_area"])
def test_an_area_id_that_is_not_digits_is_refused_by_the_schema(curated, kind):
    # schemathesis: a schema-valid body must be accepted, so the schema itself says "digits"
    body = {"kind": kind, "area": "cards", "themes": [0], "name": "Cards"}
    if kind == "rename_area":
        del body["themes"]
    response = curated.post("/v1/curation", json=body, headers=CURATOR)
    assert response.status_code == 422
    assert any(error["field"].endswith("area") for error in response.json()["errors"])
    schemas = curated.get("/openapi.json", headers=CURATOR).json()["components"]["schemas"]
    name = {"move_theme": "MoveThemeIn", "rename_area": "RenameAreaIn"}[kind]
    assert schemas[name]["properties"]["area"]["pattern"] == "^[0-9]+$"
