"""The scoring service in process (TestClient runs the lifespan): endpoints, auth, bad input, reloads.

Most tests use the real tiny model (hashing embedder); tests about the API's own behaviour (a request
in flight during a reload, a slow or failing model) use the stand-in from service_fakes.py.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_fakes import FakeModel, make_versions
from sqlalchemy.exc import OperationalError

from feedback_nlp.errors import ConfigError
from feedback_nlp.service.main import create_app
from feedback_nlp.settings import Settings

READ_KEY = "test-read-key"
ADMIN_KEY = "test-admin-key"
READ = {"X-API-Key": READ_KEY}
READ_JSON = {**READ, "content-type": "application/json"}
ADMIN = {"X-API-Key": ADMIN_KEY}
MAX_BATCH = 8
MAX_BODY = 100_000
MAX_TEXT = 6_000

NOTE = (
    "Good call with the finance team, they just got back from holiday. The CSV export times out when I "
    "export the full ledger. We need single sign-on with Okta for the admin console. Talk soon."
)


def make_settings(tmp_path: Path, models_dir: Path, **overrides) -> Settings:
    values = dict(
        models_dir=models_dir,
        database_url=f"sqlite:///{tmp_path}/service.sqlite",
        api_keys=f"{READ_KEY}, second-read-key",
        admin_keys=ADMIN_KEY,
        reload_poll_seconds=0,
        max_batch_items=MAX_BATCH,
        max_body_bytes=MAX_BODY,
        max_text_chars=MAX_TEXT,
        # no rate limits unless a test sets them: the module's shared app takes many requests
        rate_limit="",
        rate_limit_unauthenticated="",
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


def ticket(item_id: str, text: str = "The CSV export times out on the full ledger", **extra) -> dict:
    return {"id": item_id, "text": text, "source": "ticket", **extra}


def copy_version(version_dir: Path, models_dir: Path, name: str | None = None) -> str:
    name = name or version_dir.name
    shutil.copytree(version_dir, models_dir / name)
    return name


def point_latest(models_dir: Path, name: str) -> None:
    (models_dir / "LATEST").write_text(name + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model_dir):
    """One app over a copy of the tiny model, shared by the tests that do not change the model."""
    tmp_path = tmp_path_factory.mktemp("served")
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))
    app = create_app(make_settings(tmp_path, models_dir))
    with TestClient(app) as client:
        yield client, app.state.service


@pytest.fixture
def client(served):
    return served[0]


@pytest.fixture
def state(served):
    return served[1]


# -- health, docs, metrics -----------------------------------------------------------------------------


def test_probes_need_no_key_and_readyz_details_need_one(client, state):
    assert client.get("/healthz").json() == {"status": "ok"}
    bare = client.get("/readyz")
    assert bare.status_code == 200 and bare.json() == {"status": "ready"}
    ready = client.get("/readyz", headers=READ)
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "model_version": state.holder.version,
        "store": "ok",
        "problems": [],
    }
    assert client.get("/readyz", headers={"X-API-Key": "wrong-key"}).status_code == 401


def test_not_ready_shows_paths_and_reasons_only_with_a_key(tmp_path):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    with TestClient(create_app(make_settings(tmp_path, models_dir), model_loader=FakeModel)) as client:
        bare = client.get("/readyz")
        assert bare.status_code == 503 and bare.json() == {"status": "not ready"}
        assert str(tmp_path) not in bare.text
        detailed = client.get("/readyz", headers=READ)
        assert detailed.status_code == 503 and str(models_dir) in detailed.json()["problems"][0]


DOCS_AND_METRICS = ["/openapi.json", "/docs", "/redoc", "/metrics"]


@pytest.mark.parametrize("path", DOCS_AND_METRICS)
@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong-key"}])
def test_docs_and_metrics_need_a_key(client, path, headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 401 and "key" in response.json()["detail"].lower()


@pytest.mark.parametrize("path", DOCS_AND_METRICS)
def test_a_read_key_opens_docs_and_metrics(client, path):
    assert client.get(path, headers=READ).status_code == 200


@pytest.mark.parametrize(
    "overrides, public",
    [
        ({"public_docs": True}, {"/openapi.json", "/docs", "/redoc"}),
        ({"public_metrics": True}, {"/metrics"}),
    ],
)
def test_settings_open_docs_or_metrics_without_a_key(tmp_path, overrides, public):
    models_dir = make_versions(tmp_path / "models", "v1")
    app = create_app(make_settings(tmp_path, models_dir, **overrides), model_loader=FakeModel)
    with TestClient(app) as client:
        for path in DOCS_AND_METRICS:
            assert client.get(path).status_code == (200 if path in public else 401), path


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets_and_the_assets_are_served(client, page):
    html = client.get(page, headers=READ).text
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
    assert urls, html
    # the docs must render offline: no CDN, no web fonts, nothing outside this server
    assert not [url for url in urls if "//" in url], urls
    assets = [url for url in urls if url.startswith("/static/")]
    assert len(assets) >= 2
    for url in assets:
        response = client.get(url)  # the libraries' own files: no key needed
        assert response.status_code == 200 and len(response.content) > 500, url


def test_openapi_documents_the_api(client):
    schema = client.get("/openapi.json", headers=READ).json()
    assert {
        "/v1/score",
        "/v1/themes",
        "/v1/themes/{theme_id}",
        "/v1/roadmap",
        "/v1/admin/reload",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(schema["paths"])
    assert client.get("/docs", headers=READ).status_code == 200


def _documented(schema: dict, path: str, method: str, code: int) -> str | None:
    """The component name of the JSON body documented for ``code``, or None when ``code`` is not listed."""
    response = schema["paths"][path][method]["responses"].get(str(code))
    if response is None:
        return None
    return response["content"]["application/problem+json"]["schema"]["$ref"].rsplit("/", 1)[-1]


def test_openapi_documents_the_errors_the_api_gives(client):
    schema = client.get("/openapi.json", headers=READ).json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]  # FastAPI's loc/msg/type shape
    for path, methods in schema["paths"].items():
        for method in methods:
            assert _documented(schema, path, method, 400) == "Problem", (path, method)
            if path.startswith("/v1/"):
                assert _documented(schema, path, method, 401) == "Problem", (path, method)
            if _documented(schema, path, method, 422) is not None:
                assert _documented(schema, path, method, 422) == "Problem", (path, method)
    for path in ("/v1/themes", "/v1/themes/{theme_id}", "/v1/roadmap", "/v1/alignment", "/v1/score"):
        assert _documented(schema, path, "post" if path == "/v1/score" else "get", 422), path
    # a query-parameter error answers the documented shape
    response = client.get("/v1/themes?days=0", headers=READ)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [set(error) for error in response.json()["errors"]] == [{"field", "message"}]
    assert response.json()["errors"][0]["field"] == "query.days"


def test_invalid_content_length_is_the_documented_400(client):
    response = client.get("/healthz", headers={"content-length": "lots"})
    assert response.status_code == 400 and response.json() == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "invalid Content-Length header",
        "instance": "/healthz",
    }


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_optional_fields_are_absent_as_the_schema_allows(client, state, blank):
    fields = {"segment": blank, "channel": blank, "account_id": blank}
    response = client.post("/v1/score", json=ticket("BLANK-1", **fields), headers=READ)
    assert response.status_code == 200, response.text
    stored = state.store.get_item("BLANK-1")
    assert (stored["segment"], stored["channel"], stored["account_id"]) == (None, None, None)


def test_schema_says_required_strings_must_not_be_blank(client):
    schema = client.get("/openapi.json", headers=READ).json()
    item = schema["components"]["schemas"]["FeedbackItemIn"]["properties"]
    patterns = {name: re.compile(item[name]["pattern"]) for name in ("id", "text", "source")}
    assert all(pattern.search("a b") and not pattern.search(" \n ") for pattern in patterns.values())
    assert not any(pattern.search("a\u0000b") for pattern in patterns.values())
    for name in ("segment", "channel", "account_id"):
        assert "minLength" not in str(item[name])
        pattern = re.compile(item[name]["pattern"])  # beside anyOf: applies to the string
        assert pattern.search("") and not pattern.search("a\u0000b")


@pytest.mark.parametrize("created_at", [0, 1704067200, "1704067200", "0", True])
def test_created_at_is_iso_text_as_documented(client, created_at):
    response = client.post("/v1/score", json=ticket("DATE-1", created_at=created_at), headers=READ)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "created_at"


def test_the_created_at_pattern_says_the_contract_years():
    from feedback_nlp.contract import CREATED_AT_MAX, CREATED_AT_MIN
    from feedback_nlp.service.schemas import CREATED_AT_PATTERN

    matching = [year for year in range(1, 10000) if re.match(CREATED_AT_PATTERN, f"{year:04d}-01-01T00:00Z")]
    assert matching == list(range(CREATED_AT_MIN.year, CREATED_AT_MAX.year))


@pytest.mark.parametrize("metadata", [{"a\u0000b": 1}, {"k": ["a\u0000"]}, {"k": 1e300}, {"k": {"n": 2**63}}])
def test_metadata_the_schema_refuses_is_refused(client, metadata):
    schema = client.get("/openapi.json", headers=READ).json()["components"]["schemas"]
    assert schema["FeedbackItemIn"]["properties"]["metadata"]["additionalProperties"] is False
    assert any(branch.get("additionalProperties") is False for branch in schema["MetadataValue"]["anyOf"])
    response = client.post("/v1/score", json=ticket("META-1", metadata=metadata), headers=READ)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "metadata"


@pytest.mark.parametrize("value", [2**63 + 190, -(2**63) - 190, 2**63])
def test_the_documented_metadata_numbers_refuse_what_the_contract_refuses(client, value):
    # as served, bounds are floats (FastAPI's models): jsonschema-rs, schemathesis's validator, then took
    # 2**63 + 190 as within 9.223372036854776e+18 while the contract refuses it
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    schema = client.get("/openapi.json", headers=READ).json()["components"]["schemas"]
    branches = schema["MetadataValue"]["anyOf"]
    numbers = [branch for branch in branches if branch.get("type") in ("integer", "number")]
    assert len(numbers) == 2
    assert all(isinstance(branch["exclusiveMaximum"], int) for branch in numbers)
    assert not any(jsonschema_rs.validator_for(branch).is_valid(value) for branch in numbers)
    assert all(jsonschema_rs.validator_for(branch).is_valid(2**63 - 1) for branch in numbers)
    response = client.post("/v1/score", json=ticket("META-2", metadata={"k": value}), headers=READ)
    assert response.status_code == 422


@pytest.mark.parametrize("path", ["/v1/curation", "/v1/themes/0/split"])
def test_a_405_names_every_method_of_a_path_two_routes_share(client, path):
    # Starlette's own 405 named only the first route's method (schemathesis: "Allow: GET", POST missing)
    response = client.options(path, headers=READ)
    assert response.status_code == 405 and response.headers["content-type"].startswith("application/problem")
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}


def test_readyz_documents_its_key_as_optional(client):
    schema = client.get("/openapi.json", headers=READ).json()
    assert {} in schema["paths"]["/readyz"]["get"]["security"]
    assert {} not in schema["paths"]["/metrics"]["get"]["security"]


def test_metrics_count_requests_by_route_template_and_scoring(client, state):
    client.post("/v1/score", json=ticket("MET-1"), headers=READ)
    client.get("/v1/themes/987654", headers=READ)
    client.get("/no/such/path")
    text = client.get("/metrics", headers=READ).text
    assert 'feedback_nlp_http_requests_total{method="POST",route="/v1/score",status="200"}' in text
    assert 'feedback_nlp_http_requests_total{method="GET",route="/v1/themes/{theme_id}",status="404"}' in text
    assert 'route="unmatched",status="404"' in text
    assert (
        'feedback_nlp_http_request_duration_seconds_bucket{le="0.05",method="POST",route="/v1/score"' in text
    )
    assert f'feedback_nlp_model_info{{version="{state.holder.version}"}} 1.0' in text
    assert 'feedback_nlp_items_scored_total{source="ticket"}' in text
    assert "feedback_nlp_items_triaged_total" in text
    assert "/no/such/path" not in text  # unknown paths share one label


# -- auth ----------------------------------------------------------------------------------------------

PROTECTED = [
    ("post", "/v1/score"),
    ("get", "/v1/themes"),
    ("get", "/v1/themes/0"),
    ("get", "/v1/roadmap"),
    ("post", "/v1/admin/reload"),
]


@pytest.mark.parametrize("method, path", PROTECTED)
@pytest.mark.parametrize(
    "headers", [{}, {"X-API-Key": ""}, {"X-API-Key": "wrong-key"}, {"X-API-Key": READ_KEY + "x"}]
)
def test_missing_or_wrong_key_is_401(client, state, method, path, headers):
    before = state.store.count_items()
    response = client.request(method, path, headers=headers, json=ticket("AUTH-1"))
    assert response.status_code == 401
    assert "key" in response.json()["detail"].lower()
    assert state.store.count_items() == before


def test_scoring_key_on_admin_is_403(client):
    response = client.post("/v1/admin/reload", headers={"X-API-Key": "second-read-key"})
    assert response.status_code == 403


def test_admin_key_may_also_read_and_score(client):
    assert client.get("/v1/themes", headers=ADMIN).status_code == 200
    assert client.post("/v1/score", json=ticket("ADM-1"), headers=ADMIN).status_code == 200
    reload = client.post("/v1/admin/reload", headers=ADMIN)
    assert reload.status_code == 200 and reload.json()["status"] == "reloaded"


def test_no_keys_refuses_to_start_unless_insecure_dev(tmp_path):
    models_dir = make_versions(tmp_path / "models", "v1")
    settings = make_settings(tmp_path, models_dir, api_keys="", admin_keys="")
    with (
        pytest.raises(ConfigError, match="no API keys"),
        TestClient(create_app(settings, model_loader=FakeModel)),
    ):
        pass
    with TestClient(create_app(settings, insecure_dev=True, model_loader=FakeModel)) as client:
        assert client.get("/v1/themes").status_code == 200
        assert client.post("/v1/admin/reload").status_code == 200


# -- scoring -------------------------------------------------------------------------------------------


def test_score_one_ticket_and_store_it(client, state):
    response = client.post(
        "/v1/score",
        json=ticket("T-100", account_id="acme", account_arr=1200, metadata={"priority": "high"}),
        headers=READ,
    )
    assert response.status_code == 200
    result = response.json()
    assert result["id"] == "T-100" and result["source"] == "ticket"
    assert result["model_version"] == state.holder.version
    assert result["route"] in ("owner", "triage") and result["owner"]
    assert 0.0 <= result["confidence"] <= 1.0
    theme = state.holder.model.theme(result["theme_id"])
    assert result["theme_name"] == theme["name"]
    assert isinstance(result["area_id"], int)  # the area follows from the theme
    assert (result["area_id"], result["area_name"]) == (theme["area_id"], theme["area_name"])
    assert result["units"][0]["area_id"] == result["area_id"]
    assert "explanation" not in result  # once per unit, not repeated at the top
    explanation = result["units"][result["primary_unit"]]["explanation"]
    assert "export" in explanation["keywords"]
    assert 1 <= len(explanation["nearest_examples"]) <= 3
    assert all(-1.0 <= example["similarity"] <= 1.0 for example in explanation["nearest_examples"])
    assert explanation["runner_up"]["theme_id"] != result["theme_id"]
    evidence = explanation["roadmap_evidence"]  # the ticket's own best roadmap item, and whether it routed
    assert evidence["item_id"] in {item["id"] for item in state.holder.model.roadmap_}
    assert evidence["routed"] == (evidence["score"] >= evidence["threshold"])
    if evidence["routed"]:
        assert result["roadmap_item"]["id"] == evidence["item_id"] and result["route"] == "owner"
    assert len(result["units"]) == 1 and result["units"][0]["start"] == 0

    stored = state.store.get_item("T-100")
    assert stored["theme_id"] == result["theme_id"] and stored["route"] == result["route"]
    assert stored["model_version"] == result["model_version"]
    assert stored["account_id"] == "acme" and stored["metadata_json"] == {"priority": "high"}
    assert abs(stored["created_at"] - datetime.now(UTC)) < timedelta(minutes=5)  # default: now
    assert stored["units"][0]["roadmap_item_id"] == (result["roadmap_item"] or {}).get("id")


def test_score_a_batch_in_order(client, state):
    items = [
        ticket("B-1"),
        ticket("B-2", "We need single sign-on with Okta for the admin console"),
        {"id": "B-3", "text": NOTE, "source": "call_note", "created_at": "2026-09-10T08:00:00+02:00"},
    ]
    response = client.post("/v1/score", json={"items": items}, headers=READ)
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == state.holder.version
    assert [result["id"] for result in body["results"]] == ["B-1", "B-2", "B-3"]
    assert body["results"][0]["theme_id"] != body["results"][1]["theme_id"]
    for item in items:
        assert state.store.get_item(item["id"]) is not None
    assert state.store.get_item("B-3")["created_at"] == datetime(2026, 9, 10, 6, 0, tzinfo=UTC)


def test_call_note_is_scored_per_unit_with_offsets(client, state):
    response = client.post("/v1/score", json={"id": "N-1", "text": NOTE, "source": "call_note"}, headers=READ)
    assert response.status_code == 200
    units = response.json()["units"]
    assert len(units) >= 2
    assert [unit["unit_index"] for unit in units] == list(range(len(units)))
    spans = [NOTE[unit["start"] : unit["end"]] for unit in units]
    assert any("CSV export" in span for span in spans) and any("Okta" in span for span in spans)
    assert all(unit["end"] <= next_unit["start"] for unit, next_unit in zip(units, units[1:], strict=False))
    assert len({unit["theme_id"] for unit in units}) >= 2  # two requests, two themes
    stored_units = state.store.get_item("N-1")["units"]
    assert [(u["start_char"], u["end_char"]) for u in stored_units] == [(u["start"], u["end"]) for u in units]


def test_text_longer_than_the_encoder_window_is_scored_on_units(client):
    sentences = [
        "The CSV export times out when I export the full ledger.",
        "We need single sign-on with Okta for the admin console.",
    ] * 40
    text = " ".join(sentences)
    assert 3000 < len(text) <= MAX_TEXT
    response = client.post("/v1/score", json=ticket("LONG-1", text), headers=READ)
    assert response.status_code == 200
    units = response.json()["units"]
    assert len(units) > 1
    assert units[-1]["end"] >= len(text) - 1  # nothing cut off at the end


def test_same_id_twice_updates_the_stored_item(client, state):
    first = client.post("/v1/score", json=ticket("IDEM-1", "The CSV export times out"), headers=READ)
    before = state.store.count_items()
    second = client.post("/v1/score", json=ticket("IDEM-1", NOTE, source="call_note"), headers=READ)
    assert first.status_code == second.status_code == 200
    assert state.store.count_items() == before
    stored = state.store.get_item("IDEM-1")
    assert stored["source"] == "call_note"
    assert len(stored["units"]) == len(second.json()["units"]) >= 2


def test_duplicate_ids_in_one_batch_store_one_item(client, state):
    before = state.store.count_items()
    items = [ticket("DUP-1"), ticket("DUP-1", NOTE, source="call_note")]
    response = client.post("/v1/score", json={"items": items}, headers=READ)
    assert response.status_code == 200 and len(response.json()["results"]) == 2
    assert state.store.count_items() == before + 1
    assert len(state.store.get_item("DUP-1")["units"]) >= 2  # the last one wins


# -- bad input: always 4xx naming the field, nothing stored --------------------------------------------

GOOD = ticket("BAD-ok")
BAD_JSON_BODIES = [
    pytest.param(ticket("BAD-1", ""), "text", id="empty-text"),
    pytest.param(ticket("BAD-1", "   \n "), "text", id="blank-text"),
    pytest.param(ticket("BAD-1", 123), "text", id="text-not-a-string"),
    pytest.param(ticket("BAD-1", "x" * (MAX_TEXT + 1)), "text", id="text-over-limit"),
    pytest.param(ticket("BAD-1", "nul \u0000 inside"), "text", id="nul-in-text"),
    pytest.param({"text": "x", "source": "ticket"}, "id", id="missing-id"),
    pytest.param(ticket(""), "id", id="empty-id"),
    pytest.param(ticket(["BAD-1"]), "id", id="id-not-a-string"),
    pytest.param(ticket("x" * 201), "id", id="id-too-long"),
    pytest.param({"id": "BAD-1", "text": "x"}, "source", id="missing-source"),
    pytest.param(ticket("BAD-1", colour="nul \u0000 inside"), "colour", id="unknown-field-with-nul"),
    pytest.param({"items": [GOOD, ticket("BAD-2", n=2**70)]}, "items.1.n", id="unknown-field-too-big"),
    pytest.param(ticket("BAD-1", account_arr=-5), "account_arr", id="negative-arr"),
    pytest.param(ticket("BAD-1", account_arr="lots"), "account_arr", id="arr-not-a-number"),
    pytest.param(ticket("BAD-1", created_at="last tuesday"), "created_at", id="bad-created-at"),
    pytest.param(ticket("BAD-1", metadata=["a"]), "metadata", id="metadata-not-an-object"),
    pytest.param({"items": []}, "items", id="empty-batch"),
    pytest.param({"items": "nope"}, "items", id="items-not-a-list"),
    pytest.param({"items": [GOOD, ticket("BAD-2", "")]}, "items.1.text", id="bad-item-in-batch"),
    pytest.param(
        {"items": [GOOD, {"id": "BAD-2", "source": "ticket"}]}, "items.1.text", id="batch-missing-text"
    ),
    pytest.param({"items": [GOOD], "extra": 1}, "extra", id="unknown-field-beside-items"),
    pytest.param(
        {"items": [ticket(f"BAD-{i}") for i in range(MAX_BATCH + 1)]}, "items", id="batch-over-limit"
    ),
    pytest.param([GOOD], "body", id="array-body"),
    pytest.param("a string", "body", id="string-body"),
    pytest.param(None, "body", id="null-body"),
]


@pytest.mark.parametrize("body, field", BAD_JSON_BODIES)
def test_bad_input_is_422_naming_the_field(client, state, body, field):
    before = state.store.count_items()
    response = client.post("/v1/score", content=json.dumps(body), headers=READ_JSON)
    assert response.status_code == 422, response.text
    details = response.json()["errors"]
    named = [
        detail for detail in details if detail["field"] == field or detail["field"].endswith("." + field)
    ]
    assert named, details
    if field not in ("items", "body"):
        assert any(field.rsplit(".", 1)[-1] in detail["field"] + detail["message"] for detail in details)
    assert state.store.count_items() == before


@pytest.mark.parametrize(
    "raw, field",
    [
        (b'{"id": "BAD-1", "text": "x", "source": "ticket"', "body"),  # truncated JSON
        (b'{"id": "BAD-1", "text": "lone \\ud800 surrogate", "source": "ticket"}', "text"),
        (b'{"id": "BAD-1", "text": "x", "source": "ticket", "metadata": {"k": NaN}}', "metadata"),
        (b'{"id": "BAD-1", "text": "x", "source": "ticket", "account_arr": Infinity}', "account_arr"),
    ],
)
def test_malformed_json_is_422(client, raw, field):
    response = client.post("/v1/score", content=raw, headers=READ_JSON)
    assert response.status_code == 422
    assert any(detail["field"] == field for detail in response.json()["errors"])


def test_body_over_the_size_limit_is_413_before_parsing(client, state):
    before = state.store.count_items()
    big = json.dumps({"items": [ticket(f"BIG-{i}", "x" * 5000) for i in range(25)]})
    assert len(big) > MAX_BODY
    response = client.post("/v1/score", content=big, headers=READ_JSON)
    assert response.status_code == 413
    assert str(MAX_BODY) in response.json()["detail"]

    def chunks():  # no Content-Length: counted while it arrives
        for start in range(0, len(big), 10_000):
            yield big[start : start + 10_000].encode()

    chunked = client.post("/v1/score", content=chunks(), headers=READ_JSON)
    assert chunked.status_code == 413
    assert state.store.count_items() == before


def test_garbage_never_gets_a_500(client):
    bodies = [
        b"",
        b"\xff\xfe\x00",
        b"[" * 30,
        b'{"items": [null]}',
        b'{"items": [1, 2]}',
        b'{"id": {}, "text": {}, "source": {}}',
        b'{"id": "G", "text": "x", "source": "t", "metadata": 5}',
        b'{"id": "G", "text": "x", "source": "t", "created_at": 1e400}',
        b"{" * 5000,
    ]
    for body in bodies:
        for content_type in ("application/json", "text/plain"):
            response = client.post("/v1/score", content=body, headers={**READ, "content-type": content_type})
            assert 400 <= response.status_code < 500, (body[:40], response.status_code, response.text)
    assert client.get("/v1/themes/not-a-number", headers=READ).status_code == 422
    assert client.get("/v1/themes?days=0", headers=READ).status_code == 422


# -- themes and roadmap ------------------------------------------------------------------------------


def test_themes_list_and_detail(client, state):
    model = state.holder.model
    listing = client.get("/v1/themes", headers=READ).json()
    assert listing["model_version"] == model.version_
    assert [theme["id"] for theme in listing["themes"]] == [theme["id"] for theme in model.themes_]
    first = model.themes_[0]
    detail = client.get(f"/v1/themes/{first['id']}", headers=READ).json()
    assert detail["name"] == first["name"] and detail["keywords"] == first["keywords"]
    assert detail["examples"] == first["examples"] and detail["size"] == first["size"]
    assert detail["owner"] == first["owner"] and detail["roadmap_item"] == first["roadmap_item"]
    assert detail["area_id"] == first["area_id"] and detail["area_name"] == first["area_name"]
    assert all(isinstance(theme["area_id"], int) and theme["area_name"] for theme in listing["themes"])
    assert detail["recent_volume"]["days"] == 28


def test_unknown_theme_is_404(client):
    response = client.get("/v1/themes/987654", headers=READ)
    assert response.status_code == 404 and "987654" in response.json()["detail"]


def test_theme_volume_counts_recent_stored_feedback(client):
    result = client.post("/v1/score", json=ticket("VOL-0"), headers=READ).json()
    theme_id = result["theme_id"]

    def volume(days: int = 28) -> int:
        return client.get(f"/v1/themes/{theme_id}?days={days}", headers=READ).json()["recent_volume"]["units"]

    before = volume()
    client.post("/v1/score", json=ticket("VOL-1"), headers=READ)
    old = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    client.post("/v1/score", json=ticket("VOL-2", created_at=old), headers=READ)
    assert volume() == before + 1
    assert volume(days=3650) >= before + 2
    listed = {theme["id"]: theme for theme in client.get("/v1/themes", headers=READ).json()["themes"]}
    assert listed[theme_id]["recent_volume"]["units"] == volume()


def test_roadmap_lists_items_with_evidence_counts(client, state):
    def counts() -> dict[str, int]:
        body = client.get("/v1/roadmap", headers=READ).json()
        return {item["id"]: item["evidence_count"] for item in body["items"]}

    before = counts()
    assert set(before) == {item["id"] for item in state.holder.model.roadmap_}
    result = client.post("/v1/score", json=ticket("RM-EVID-1"), headers=READ).json()
    linked = result["roadmap_item"]["id"]
    after = counts()
    assert after[linked] == before[linked] + 1
    assert after == {**before, linked: before[linked] + 1}
    assert after == {key: state.store.roadmap_evidence_counts().get(key, 0) for key in after}
    body = client.get("/v1/roadmap", headers=READ).json()
    item = next(item for item in body["items"] if item["id"] == linked)
    assert result["theme_id"] in item["theme_ids"]


# -- reloads with the real model -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def second_version(tmp_path_factory) -> Path:
    from tiny_data import train_tiny_model

    return train_tiny_model(tmp_path_factory.mktemp("second") / "models", seed=1)


def test_reload_swaps_the_model_and_refuses_a_broken_one(tmp_path, tiny_model_dir, second_version):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    first = copy_version(tiny_model_dir, models_dir)
    second = copy_version(second_version, models_dir)
    point_latest(models_dir, first)
    app = create_app(make_settings(tmp_path, models_dir))
    with TestClient(app) as client:
        state = app.state.service
        old_version = state.holder.version
        scored = client.post("/v1/score", json=ticket("R-1"), headers=READ)
        assert scored.json()["model_version"] == old_version

        point_latest(models_dir, second)
        response = client.post("/v1/admin/reload", headers=ADMIN)
        assert response.status_code == 200, response.text
        new_version = response.json()["model_version"]
        assert response.json() == {
            "status": "reloaded",
            "model_version": new_version,
            "previous_version": old_version,
        }
        assert new_version != old_version
        scored = client.post("/v1/score", json=ticket("R-2"), headers=READ)
        assert scored.json()["model_version"] == new_version
        assert (
            f'feedback_nlp_model_info{{version="{new_version}"}} 1.0'
            in client.get("/metrics", headers=READ).text
        )
        assert f'version="{old_version}"' not in client.get("/metrics", headers=READ).text

        # a copy with one changed byte fails checksum verification: refused, the current model keeps serving
        broken = copy_version(second_version, models_dir, "broken-version")
        with open(models_dir / broken / "router.skops", "ab") as handle:
            handle.write(b"\0")
        point_latest(models_dir, broken)
        refused = client.post("/v1/admin/reload", headers=ADMIN)
        assert refused.status_code == 409
        assert "sha256" in refused.json()["detail"] and new_version in refused.json()["detail"]
        assert state.holder.version == new_version
        scored = client.post("/v1/score", json=ticket("R-3"), headers=READ)
        assert scored.status_code == 200 and scored.json()["model_version"] == new_version
        assert client.get("/readyz").status_code == 200
        assert (
            'feedback_nlp_model_reloads_total{result="refused"} 1.0'
            in client.get("/metrics", headers=READ).text
        )


# -- API behaviour with a stand-in model ---------------------------------------------------------------


def test_in_flight_request_finishes_on_the_old_model(tmp_path):
    gate, started = threading.Event(), threading.Event()
    loaded = []

    def loader(path: Path) -> FakeModel:
        model = FakeModel(path, gate=gate if not loaded else None, started=started if not loaded else None)
        loaded.append(model)
        return model

    models_dir = make_versions(tmp_path / "models", "v1", "v2", latest="v1")
    app = create_app(make_settings(tmp_path, models_dir), model_loader=loader)
    with TestClient(app) as client:
        results = {}
        slow = threading.Thread(
            target=lambda: results.update(slow=client.post("/v1/score", json=ticket("F-1"), headers=READ))
        )
        slow.start()
        assert started.wait(5)
        # the event loop is free while a request is being scored in the threadpool
        assert client.get("/healthz").status_code == 200
        point_latest(models_dir, "v2")
        assert client.post("/v1/admin/reload", headers=ADMIN).json()["model_version"] == "v2"
        assert client.post("/v1/score", json=ticket("F-2"), headers=READ).json()["model_version"] == "v2"
        gate.set()
        slow.join(10)
        assert results["slow"].status_code == 200
        assert results["slow"].json()["model_version"] == "v1"


def test_poller_picks_up_a_new_latest_and_skips_a_broken_one(tmp_path):
    models_dir = make_versions(tmp_path / "models", "v1", "v2", "v3", latest="v1")
    (models_dir / "v3" / "BROKEN").touch()
    app = create_app(make_settings(tmp_path, models_dir, reload_poll_seconds=0.05), model_loader=FakeModel)

    def wait_for(condition, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.02)
        return False

    with TestClient(app) as client:
        holder = app.state.service.holder
        assert holder.version == "v1"
        point_latest(models_dir, "v2")
        assert wait_for(lambda: holder.version == "v2")
        point_latest(models_dir, "v3")
        assert wait_for(lambda: holder.last_error is not None and "sha256" in holder.last_error)
        assert holder.version == "v2"
        assert client.post("/v1/score", json=ticket("P-1"), headers=READ).json()["model_version"] == "v2"


def test_not_ready_without_a_model_until_one_is_trained(tmp_path):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    app = create_app(make_settings(tmp_path, models_dir), model_loader=FakeModel)
    with TestClient(app) as client:
        ready = client.get("/readyz", headers=READ)
        assert ready.status_code == 503 and ready.json()["model_version"] is None
        assert "LATEST" in ready.json()["problems"][0]
        assert client.post("/v1/score", json=ticket("NM-1"), headers=READ).status_code == 503
        assert client.post("/v1/admin/reload", headers=ADMIN).status_code == 409
        make_versions(models_dir, "v1")
        assert client.post("/v1/admin/reload", headers=ADMIN).status_code == 200
        assert client.get("/readyz").status_code == 200


def test_unreachable_store_is_503_not_500(tmp_path):
    models_dir = make_versions(tmp_path / "models", "v1")
    settings = make_settings(
        tmp_path, models_dir, database_url="postgresql+psycopg://u:p@127.0.0.1:1/none?connect_timeout=2"
    )
    with TestClient(create_app(settings, model_loader=FakeModel)) as client:
        ready = client.get("/readyz", headers=READ)
        assert ready.status_code == 503 and ready.json()["store"] == "unreachable"
        assert client.post("/v1/score", json=ticket("S-1"), headers=READ).status_code == 503


def test_store_failure_while_writing_is_503(tmp_path, monkeypatch):
    models_dir = make_versions(tmp_path / "models", "v1")
    app = create_app(make_settings(tmp_path, models_dir), model_loader=FakeModel)
    with TestClient(app) as client:

        def fail(_pairs):
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))

        monkeypatch.setattr(app.state.service.store, "upsert_scored_batch", fail)
        response = client.post("/v1/score", json=ticket("S-2"), headers=READ)
        assert response.status_code == 503 and "nothing was stored" in response.json()["detail"]


def test_library_validation_error_is_422(tmp_path):
    models_dir = make_versions(tmp_path / "models", "v1")
    with TestClient(create_app(make_settings(tmp_path, models_dir), model_loader=FakeModel)) as client:
        response = client.post("/v1/score", json=ticket("L-1", "library-rejects this"), headers=READ)
        assert response.status_code == 422
        assert response.json()["errors"] == [{"field": "text", "message": "rejected by the library"}]


# -- trust in the model folder -------------------------------------------------------------------------


def test_latest_outside_the_models_dir_is_refused_by_the_service(tmp_path):
    models_dir = make_versions(tmp_path / "models", "v1")
    (tmp_path / "outside").mkdir()  # a folder FakeModel would happily load
    point_latest(models_dir, "../outside")
    app = create_app(make_settings(tmp_path, models_dir), model_loader=FakeModel)
    with TestClient(app) as client:
        holder = app.state.service.holder
        # refused, and the fallback serves v1 rather than the folder outside
        assert holder.version == "v1" and "directly inside" in holder.last_error
        point_latest(models_dir, str(tmp_path / "outside"))
        refused = client.post("/v1/admin/reload", headers=ADMIN)
        assert refused.status_code == 409 and "directly inside" in refused.json()["detail"]
        assert holder.version == "v1"


def test_on_start_a_refused_latest_falls_back_to_the_newest_good_version(tmp_path, caplog):
    models_dir = make_versions(tmp_path / "models", "v1", "v2", "v3", "v4", latest="v4")
    (models_dir / "v4" / "BROKEN").touch()  # tampered: refused
    (models_dir / "v3" / "REJECTED.json").write_text("{}")  # failed the promotion gate: never a fallback
    loads: list[str] = []

    def loader(path: Path) -> FakeModel:
        loads.append(path.name)
        return FakeModel(path)

    app = create_app(make_settings(tmp_path, models_dir, reload_poll_seconds=0.02), model_loader=loader)
    with caplog.at_level("WARNING"), TestClient(app) as client:
        holder = app.state.service.holder
        assert holder.version == "v2" and holder.served_folder == "v2"
        assert client.get("/readyz").status_code == 200
        assert client.post("/v1/score", json=ticket("FB-1"), headers=READ).json()["model_version"] == "v2"
        time.sleep(0.2)  # several polls: the refused v4 is not retried, v2 is not reloaded
        assert loads == ["v4", "v2"]
        point_latest(models_dir, "v1")  # LATEST stays the source of truth
        deadline = time.monotonic() + 5
        while holder.version != "v1" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert holder.version == "v1"
    assert "LATEST names v4, which was refused" in caplog.text and "serving v2" in caplog.text


def test_without_a_good_version_the_service_starts_not_ready(tmp_path):
    models_dir = make_versions(tmp_path / "models", "v1", latest="v1")
    (models_dir / "v1" / "BROKEN").touch()
    app = create_app(make_settings(tmp_path, models_dir), model_loader=FakeModel)
    with TestClient(app) as client:
        assert app.state.service.holder.version is None
        assert client.get("/readyz").status_code == 503


def test_the_poller_compares_folder_names_not_metadata_versions(tmp_path):
    from feedback_nlp.service.model_holder import ModelHolder

    class RenamedModel(FakeModel):
        def __init__(self, path: Path) -> None:
            super().__init__(path)
            self.version_ = "metadata-version-" + path.name  # a folder copied under another name

    loads = []
    models_dir = make_versions(tmp_path / "models", "copy-of-v1")
    holder = ModelHolder(models_dir, loader=lambda path: loads.append(path) or RenamedModel(path))
    assert holder.reload().status == "reloaded"
    for _ in range(3):
        assert holder.reload(only_if_changed=True).status == "unchanged"
    assert len(loads) == 1


def test_with_a_signing_key_the_service_refuses_an_unsigned_model(tmp_path, tiny_model_dir):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))
    settings = make_settings(tmp_path, models_dir, model_signing_key="s" * 40)
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz", headers=READ)
        assert ready.status_code == 503 and "not signed" in ready.json()["problems"][0]


# -- cost and abuse: work budget, timeout, rate limits -------------------------------------------------


def test_budget_defaults_scale_with_the_size_limits():
    defaults = Settings(_env_file=None)
    assert (defaults.batch_chars_limit, defaults.units_per_item_limit) == (256_000, 400)
    smaller = Settings(_env_file=None, max_batch_items=10, max_text_chars=1_000, max_body_bytes=5_000)
    assert (smaller.batch_chars_limit, smaller.units_per_item_limit) == (5_000, 20)
    explicit = Settings(_env_file=None, max_batch_chars=777, max_units_per_item=3)
    assert (explicit.batch_chars_limit, explicit.units_per_item_limit) == (777, 3)


@pytest.mark.parametrize("value", ["lots", "600/fortnight", "-1/minute"])
def test_a_rate_limit_that_cannot_be_read_is_refused(value):
    with pytest.raises(ValueError, match="rate limit .* not understood"):
        Settings(_env_file=None, rate_limit=value)


def test_a_batch_over_the_character_budget_is_422_before_scoring(client, state):
    # MAX_BATCH items of 1,000 characters each by default: 8,000 characters per request
    limit = state.settings.batch_chars_limit
    assert limit == MAX_BATCH * 1_000
    text = "The CSV export times out on the full ledger. " * 110  # about 5,000 characters, under MAX_TEXT
    before = state.store.count_items()
    response = client.post(
        "/v1/score", json={"items": [ticket("B-1", text), ticket("B-2", text)]}, headers=READ
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "items" and f"over the limit of {limit}" in error["message"]
    assert state.store.count_items() == before
    rejected = state.metrics.registry.get_sample_value(
        "feedback_nlp_work_budget_rejections_total", {"limit": "batch_chars"}
    )
    assert rejected is not None and rejected >= 1


def test_an_item_split_into_too_many_units_is_422_naming_it(tmp_path, tiny_model_dir):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    point_latest(models_dir, copy_version(tiny_model_dir, models_dir))
    many = " ".join(f"We need the CSV export number {i} to stop timing out on the ledger." for i in range(6))
    app = create_app(make_settings(tmp_path, models_dir, max_units_per_item=3))
    with TestClient(app) as client:
        assert (
            client.post("/v1/score", json=ticket("U-0", NOTE, source="call_note"), headers=READ).status_code
            == 200
        )
        body = {"items": [ticket("U-1"), ticket("U-2", many, source="call_note")]}
        response = client.post("/v1/score", json=body, headers=READ)
        assert response.status_code == 422
        [error] = response.json()["errors"]
        assert error["field"] == "items.1.text"
        assert "'U-2' splits into 6 units, over the limit of 3" in error["message"]
        assert app.state.service.store.get_item("U-1") is None  # nothing of the refused request is stored


def test_scoring_past_the_timeout_is_503_with_retry_after_and_stores_nothing(tmp_path):
    gate = threading.Event()
    models_dir = make_versions(tmp_path / "models", "v1")
    app = create_app(
        make_settings(tmp_path, models_dir, score_timeout_seconds=0.3),
        model_loader=lambda path: FakeModel(path, gate=gate),
    )
    with TestClient(app) as client:
        try:
            started = time.monotonic()
            response = client.post("/v1/score", json=ticket("S-1"), headers=READ)
            assert time.monotonic() - started < 5  # answered at the timeout, not when scoring ends
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "1"
            assert "took longer than 0.3 s" in response.json()["detail"]
            assert app.state.service.metrics.score_timeouts._value.get() == 1
        finally:
            gate.set()  # the abandoned thread finishes in the background; its result is dropped
        assert app.state.service.store.get_item("S-1") is None
        assert client.post("/v1/score", json=ticket("S-2"), headers=READ).status_code == 200


def test_rate_limits_per_key_and_per_address_answer_429_with_retry_after(tmp_path):
    models_dir = make_versions(tmp_path / "models", "v1")
    settings = make_settings(
        tmp_path, models_dir, rate_limit="3/minute", rate_limit_unauthenticated="2/minute"
    )
    app = create_app(settings, model_loader=FakeModel)
    registry = app.state.service.metrics.registry
    with TestClient(app) as client:
        for n in range(3):
            assert client.post("/v1/score", json=ticket(f"R-{n}"), headers=READ).status_code == 200
        limited = client.post("/v1/score", json=ticket("R-3"), headers=READ)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert "rate limit of 3 per 1 minute for this API key" in limited.json()["detail"]
        assert client.get("/v1/themes", headers=READ).status_code == 429  # one budget per key, every route
        # another key has a budget of its own
        assert client.get("/v1/themes", headers={"X-API-Key": "second-read-key"}).status_code == 200

        wrong = {"X-API-Key": "guess"}
        assert [client.get("/v1/themes", headers=wrong).status_code for _ in range(2)] == [401, 401]
        guessed = client.get("/v1/themes", headers={"X-API-Key": "another-guess"})
        assert guessed.status_code == 429 and int(guessed.headers["Retry-After"]) >= 1
        assert client.get("/v1/themes").status_code == 429  # no key: the same address's budget
        assert client.get("/healthz").status_code == 200  # probes are never limited

        assert registry.get_sample_value("feedback_nlp_rate_limited_total", {"scope": "key"}) == 2
        assert registry.get_sample_value("feedback_nlp_rate_limited_total", {"scope": "address"}) == 2


def test_the_moving_window_counts_as_the_limits_library_does():
    from limits import parse

    from feedback_nlp.service.rate_limit import SWEEP_SECONDS, MovingWindow

    now = [100.0]
    window = MovingWindow(clock=lambda: now[0])
    three_a_minute = parse("3/minute")
    assert [window.hit(three_a_minute, "key", "a") for _ in range(3)] == [0.0, 0.0, 0.0]
    now[0] = 130.0
    assert window.hit(three_a_minute, "key", "a") == pytest.approx(30.0)  # the first leaves at 160
    assert window.hit(three_a_minute, "key", "b") == 0.0  # another identity has a budget of its own
    now[0] = 160.0
    assert window.hit(three_a_minute, "key", "a") > 0  # at the window's edge the first still counts
    now[0] = 161.0
    assert [window.hit(three_a_minute, "key", "a") for _ in range(3)] == [
        0.0,
        0.0,
        0.0,
    ]  # refused: not counted
    assert window.hit(three_a_minute, "key", "a") == pytest.approx(60.0)
    now[0] = 161.0 + SWEEP_SECONDS + 61.0  # every window empty: forgotten on the next request
    assert window.hit(parse("1/second"), "address", "c") == 0.0
    assert window.identities() == 1


def test_rate_limiting_starts_no_thread_per_request(monkeypatch):
    """The ``limits`` library's memory storage started a timer thread on every request more than 10 ms after
    the last one: about 0.5 ms of CPU each (issue 20)."""
    from feedback_nlp.service.metrics import ServiceMetrics
    from feedback_nlp.service.rate_limit import RateLimiter

    started = []
    start = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda self: started.append(self) or start(self))
    limiter = RateLimiter("600/minute", "60/minute", ServiceMetrics())
    for _ in range(3):
        limiter.check("key", "some-key")
        time.sleep(0.02)
    assert started == []


# -- issue 19: extra fields, one error shape, operation ids ----------------------------------------------


def test_records_are_built_off_the_event_loop_only_when_metadata_is_redacted(client, state, monkeypatch):
    """Redacting metadata is blocking work for a worker thread; without any, the thread hop cost more than
    the records (issue 20). Redacted or not, what is stored is the same."""
    from feedback_nlp.service.routers import score as score_route

    hops = []
    hop = score_route.run_in_threadpool
    monkeypatch.setattr(score_route, "run_in_threadpool", lambda work: hops.append(1) or hop(work))
    assert client.post("/v1/score", json=ticket("HOP-1"), headers=READ).status_code == 200
    assert hops == [] and state.store.get_item("HOP-1")["metadata_json"] is None
    body = ticket("HOP-2", requester="jo.doe@example.com", metadata={"note": "call jo.doe@example.com"})
    assert client.post("/v1/score", json=body, headers=READ).status_code == 200
    assert hops == [1]
    stored = state.store.get_item("HOP-2")["metadata_json"]
    assert "jo.doe@example.com" not in json.dumps(stored) and set(stored) == {"requester", "note"}


def test_answers_are_copied_once_and_equal_the_copying_path(client, state, tiny_model, monkeypatch):
    """``plain_json`` copies every dict and list, so the route no longer deep-copies first (issue 20)."""
    from feedback_nlp import schemas
    from feedback_nlp.schemas import FeedbackRecord, plain_json

    records = [
        FeedbackRecord(id=f"CP-{n}", text=text, source=source, created_at=datetime(2026, 11, 2, tzinfo=UTC))
        for n, (text, source) in enumerate([("The CSV export times out", "ticket"), (NOTE, "call_note")])
    ]
    for score in tiny_model.score(records):
        shared = plain_json(score.to_dict(copy_values=False))
        assert shared == plain_json(score.to_dict())
        shared["units"][0]["explanation"]["keywords"].append("changed")  # the score itself is untouched
        assert shared != plain_json(score.to_dict())

    copies = []
    deepcopy = schemas.copy.deepcopy
    monkeypatch.setattr(schemas.copy, "deepcopy", lambda value: copies.append(1) or deepcopy(value))
    response = client.post("/v1/score", json={"items": [ticket("CP-3"), ticket("CP-4", NOTE)]}, headers=READ)
    assert response.status_code == 200 and len(response.json()["results"]) == 2
    assert copies == []


def test_unknown_fields_of_an_item_are_kept_as_metadata(client, state):
    body = ticket("X-1", zendesk_priority="urgent", tags=["billing"], metadata={"tags": ["explicit"]})
    response = client.post("/v1/score", json=body, headers=READ)
    assert response.status_code == 200, response.text
    # metadata's own key wins over a field of the same name sent beside it
    assert state.store.get_item("X-1")["metadata_json"] == {
        "zendesk_priority": "urgent",
        "tags": ["explicit"],
    }
    batch = {"items": [ticket("X-2", crm_id=7)]}
    assert client.post("/v1/score", json=batch, headers=READ).status_code == 200
    assert state.store.get_item("X-2")["metadata_json"] == {"crm_id": 7}


PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def _assert_problem(response, status: int, path: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) >= PROBLEM_KEYS and problem["status"] == status and problem["instance"] == path
    assert problem["type"] == "about:blank" and problem["title"] and problem["detail"]
    return problem


def test_every_error_is_problem_details(tmp_path, client):
    _assert_problem(client.get("/v1/themes"), 401, "/v1/themes")
    _assert_problem(client.post("/v1/admin/reload", headers=READ), 403, "/v1/admin/reload")
    _assert_problem(client.get("/v1/themes/987654", headers=READ), 404, "/v1/themes/987654")
    _assert_problem(client.get("/no/such/route", headers=READ), 404, "/no/such/route")
    not_allowed = _assert_problem(client.delete("/v1/score", headers=READ), 405, "/v1/score")
    assert not_allowed["detail"] == "Method Not Allowed"
    big = json.dumps({"items": [ticket(f"BIG-{i}", "x" * 5000) for i in range(25)]})
    _assert_problem(client.post("/v1/score", content=big, headers=READ_JSON), 413, "/v1/score")
    path_error = _assert_problem(client.get("/v1/themes/abc", headers=READ), 422, "/v1/themes/abc")
    assert path_error["errors"][0]["field"] == "path.theme_id"
    body_error = _assert_problem(client.post("/v1/score", json=ticket(""), headers=READ), 422, "/v1/score")
    assert body_error["errors"][0]["field"] == "id" and "id" in body_error["detail"]

    settings = make_settings(tmp_path, make_versions(tmp_path / "m", "v1"), rate_limit="1/minute")
    with TestClient(create_app(settings, model_loader=FakeModel)) as limited:
        assert limited.get("/v1/themes", headers=READ).status_code == 200
        _assert_problem(limited.get("/v1/themes", headers=READ), 429, "/v1/themes")


def test_every_operation_has_an_explicit_unique_operation_id(client):
    schema = client.get("/openapi.json", headers=READ).json()
    ids = [
        operation.get("operationId") for methods in schema["paths"].values() for operation in methods.values()
    ]
    assert all(ids) and len(ids) == len(set(ids))
    assert schema["paths"]["/v1/score"]["post"]["operationId"] == "score"
    assert schema["paths"]["/v1/themes/{theme_id}"]["get"]["operationId"] == "get_theme"
    problem = schema["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) >= PROBLEM_KEYS and "errors" in problem["properties"]
