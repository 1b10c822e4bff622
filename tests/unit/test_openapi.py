"""The OpenAPI document is complete and correct: every route the app serves (but the web
UI's) is declared, with its request body, answer schemas and the one error shape; every
example validates against its schema; the document is valid OpenAPI 3.1."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi

from cmdb.server.api.openapi import app_routes, openapi_document
from cmdb.server.app import create_app
from cmdb.server.config import Settings


@pytest.fixture(scope="module")
def app_and_doc(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("openapi"), max_page_size=500)
    app = create_app(settings)
    return app, openapi_document(app)


def operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def validator(doc, schema):
    # the document's components travel with the schema, so #/components/... refs resolve
    return Draft202012Validator({**schema, "components": doc["components"]})


def test_the_document_is_valid_openapi_3_1(app_and_doc):
    _, doc = app_and_doc
    assert doc["openapi"] == "3.1.0"
    validate_openapi(doc)  # raises with the path of the first problem


def test_every_route_the_app_serves_is_declared(app_and_doc):
    app, doc = app_and_doc
    served = set(app_routes(app))
    documented = {(m, p) for m, p, _ in operations(doc)}
    assert served == documented
    assert ("GET", "/api/v1/cis") in served and ("POST", "/api/v1/schedules") in served
    undeclared = [(m, p) for m, p, op in operations(doc) if op.get("x-undeclared")]
    assert undeclared == [], f"routes without a declaration (cmdb.server.api.spec): {undeclared}"
    assert not any(p.startswith("/ui") for _, p in served)


def test_every_api_handler_runs_behind_its_declaration(app_and_doc):
    app, _ = app_and_doc
    for route in app.router.routes():
        path = route.resource.canonical
        if route.method == "HEAD" or (route.method, path) not in set(app_routes(app)):
            continue
        declaration = getattr(route.handler, "declaration", None)
        if path == "/metrics":  # Prometheus text, its own access rules: documented only
            assert declaration is None
            continue
        assert declaration is not None, f"{route.method} {path} skips the edge checks"
        assert (declaration.method, declaration.path) == (route.method, path)


def test_bodies_answers_and_errors_are_described(app_and_doc):
    _, doc = app_and_doc
    ids = set()
    for method, path, op in operations(doc):
        where = f"{method} {path}"
        assert op["summary"] and op["operationId"] not in ids, where
        ids.add(op["operationId"])
        if method in ("POST", "PUT", "PATCH"):
            assert op.get("requestBody", {}).get("content"), f"{where} has no request body"
        success = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        assert success, f"{where} has no success answer"
        for status, reply in success.items():
            (media,) = reply["content"].values()
            assert media["schema"], f"{where} {status}: empty schema"
            assert "example" in media or media.get("examples"), f"{where} {status}: no example"
        errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
        assert "400" in errors and "503" in errors, where
        for status, reply in errors.items():
            schema = reply["content"]["application/json"]["schema"]
            error = {"$ref": "#/components/schemas/Error"}
            assert schema == error or error in schema.get("allOf", []), f"{where} {status}"
        if op["security"]:
            assert {"401", "403"} <= set(errors), where
        for param in op.get("parameters", []):
            assert param["in"] in ("path", "query") and param["schema"], where
            if param["in"] == "path":
                assert param["required"] is True and "{" + param["name"] + "}" in path, where


def test_every_example_validates_against_its_schema(app_and_doc):
    _, doc = app_and_doc
    checked = 0
    for method, path, op in operations(doc):
        media_types = [
            ("request", m) for m in op.get("requestBody", {}).get("content", {}).values()
        ]
        media_types += [
            (status, m) for status, r in op["responses"].items() for m in r["content"].values()
        ]
        for what, media in media_types:
            examples = [media["example"]] if "example" in media else []
            examples += [e["value"] for e in media.get("examples", {}).values()]
            for example in examples:
                errors = list(validator(doc, media["schema"]).iter_errors(example))
                assert not errors, f"{method} {path} {what}: {errors[0].message}"
                checked += 1
        for param in op.get("parameters", []):
            if "example" in param:
                assert not list(validator(doc, param["schema"]).iter_errors(param["example"]))
    assert checked > 100


def test_limits_come_from_the_server_settings(app_and_doc):
    _, doc = app_and_doc
    params = {p["name"]: p for p in doc["paths"]["/api/v1/cis"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 500  # this app's max_page_size
    assert params["class"]["schema"]["enum"][0] == "Asset"
    impact = doc["paths"]["/api/v1/impact"]["post"]
    body = impact["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["depth"]["maximum"] == 20
    assert set(body["examples"]) == {"full", "summary", "references"}
    answer = impact["responses"]["200"]["content"]["application/json"]
    assert "cis" not in answer["examples"]["summary"]["value"]


def test_catalogue_bodies_and_text_limits_are_declared(app_and_doc):
    _, doc = app_and_doc
    for path in ("/api/v1/services", "/api/v1/assets", "/api/v1/changes", "/api/v1/impact"):
        assert doc["paths"][path]["post"]["requestBody"]["required"] is True
    service = doc["paths"]["/api/v1/services"]["post"]["requestBody"]["content"]
    schema = service["application/json"]["schema"]
    assert schema["properties"]["name"]["maxLength"] == 200
    assert schema["properties"]["description"]["maxLength"] == 10_000
    assert schema["additionalProperties"] is False
    imported = doc["paths"]["/api/v1/services/import"]["post"]["requestBody"]["content"]
    assert set(imported) == {"application/json", "application/yaml"}
