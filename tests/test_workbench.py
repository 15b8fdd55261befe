"""The workbench page /ui in process: sign-in, CSRF, the pages, curating from a form (the browser test is
tests/test_workbench_browser.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from test_curation import CURATOR_KEY
from test_service import READ, READ_KEY, copy_version, make_settings, point_latest

from feedback_nlp.service.main import create_app
from feedback_nlp.workbench import sparkline_points, theme_map


def test_a_sparkline_spans_its_box_with_the_peak_at_the_top():
    points = [
        tuple(map(float, p.split(","))) for p in sparkline_points([0, 5, 10], width=100, height=24).split()
    ]
    assert points == [(2.0, 22.0), (50.0, 12.0), (98.0, 2.0)]
    assert sparkline_points([]) == ""


def test_the_map_places_similar_themes_close_and_sizes_circles_by_volume():
    themes = [
        {"id": 1, "name": "a", "size": 100, "area_name": "Cards"},
        {"id": 2, "name": "b", "size": 25, "area_name": "Cards"},
        {"id": 3, "name": "c", "size": 25},
    ]
    centroids = np.array([[1.0, 0.0, 0.0], [0.98, 0.05, 0.0], [0.0, 0.0, 1.0]])
    points = {p.id: p for p in theme_map(themes, np.array([1, 2, 3]), centroids)}
    distance = lambda a, b: np.hypot(a.x - b.x, a.y - b.y)  # noqa: E731
    assert distance(points[1], points[2]) < distance(points[1], points[3])
    assert points[1].r > points[2].r == points[3].r
    assert points[1].colour == points[2].colour != points[3].colour and points[3].area == "—"


@pytest.fixture
def page(tmp_path, tiny_model_dir):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))
    app = create_app(make_settings(tmp_path, models_dir, curator_keys=CURATOR_KEY))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def sign_in(client: TestClient, key: str) -> str:
    """Sign in through the form; returns the session's CSRF token (from the next page)."""
    form = client.get("/ui/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    answer = client.post("/ui/login", data={"api_key": key, "csrf": token, "next": "/ui"})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/ui").text).group(1)


def test_pages_need_a_session_and_a_wrong_key_does_not_get_one(page):
    answer = page.get("/ui/map")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login?next=/ui/map")
    form = page.get("/ui/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    wrong = page.post("/ui/login", data={"api_key": "nope", "csrf": token})
    assert "not valid" in wrong.headers["location"] or "not+valid" in wrong.headers["location"]
    assert page.get("/ui").status_code == 303
    # the sign-in form's own token is checked too
    forged = page.post("/ui/login", data={"api_key": READ_KEY, "csrf": "forged"})
    assert "expired" in forged.headers["location"]


def test_every_page_renders_the_models_themes(page, tiny_model):
    sign_in(page, READ_KEY)
    overview = page.get("/ui").text
    for theme in tiny_model.themes_:
        assert f'href="/ui/themes/{theme["id"]}"' in overview
    first = tiny_model.themes_[0]
    assert first["name"] in page.get(f"/ui/themes/{first['id']}").text
    assert page.get("/ui/map").text.count("<circle") >= len(tiny_model.themes_)
    assert "Items without evidence" in page.get("/ui/roadmap").text
    assert page.get("/ui/search", params={"since": "yesterday"}).status_code == 200
    assert page.get("/ui/themes/987654").status_code == 200  # a page saying there is no such theme
    for url in re.findall(r'(?:href|src)="(/static/[^"]+)"', overview):
        assert page.get(url).status_code == 200
    # the session opens the API docs, which a browser cannot send X-API-Key to; signing out closes them
    assert page.get("/docs").status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', overview).group(1)
    page.post("/ui/logout", data={"csrf": csrf})
    assert page.get("/docs").status_code == 401 and page.get("/ui").status_code == 303


def test_a_rename_in_the_page_shows_in_the_api_and_needs_a_curator_and_the_csrf_token(page, tiny_model):
    theme_id = tiny_model.themes_[0]["id"]
    form = {"kind": "rename_theme", "themes": str(theme_id), "name": "Renamed in the page", "back": "/ui"}
    reader_csrf = sign_in(page, READ_KEY)
    refused = page.post("/ui/curate", data={**form, "csrf": reader_csrf})
    assert "curator" in refused.headers["location"]
    csrf = sign_in(page, CURATOR_KEY)
    assert "expired" in page.post("/ui/curate", data={**form, "csrf": "wrong"}).headers["location"]
    done = page.post("/ui/curate", data={**form, "csrf": csrf})
    assert "recorded" in done.headers["location"]
    theme = page.get(f"/v1/themes/{theme_id}", headers=READ).json()
    assert theme["name"] == "Renamed in the page"
    (action,) = page.get("/v1/curation", headers=READ).json()["actions"]
    assert action["actor"].startswith("curator:") and CURATOR_KEY not in action["actor"]
    bad = page.post("/ui/curate", data={**form, "themes": "987654", "csrf": csrf})
    assert "no+theme" in bad.headers["location"] or "no%20theme" in bad.headers["location"]
