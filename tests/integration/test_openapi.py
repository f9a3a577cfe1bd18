"""The OpenAPI document is valid and complete: every route and method of the app, an
operationId and a tag on each, the statuses the code answers (tried here for real), the
parameters the routes read; and the HTTP details around it (CORS, the query-string rules)."""

from __future__ import annotations

import hashlib
import io
import json
import re

import pytest
from openapi_spec_validator import validate

from data_pipeline.api.openapi import build_document, openapi_path
from tests.api_support import API, make_app

TAGS = {"tasks", "logs", "files", "sources", "pairs", "store", "system"}


@pytest.fixture
def doc(client):
    return client.get(f"{API}/openapi.json").json


def _op(doc, method: str, path: str) -> dict:
    return doc["paths"][API + path][method.lower()]


def test_document_is_valid_and_declares_every_route_with_id_and_tag(app, doc):
    validate(doc)  # openapi-spec-validator: OpenAPI 3.1 and its JSON Schema dialect
    assert doc == json.loads(json.dumps(build_document()))
    assert doc["servers"] == [{"url": "/", "description": "this server"}]
    declared = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API):
            path = API + openapi_path(rule.rule)
            routed |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed - declared == set(), "routes missing from the document"
    assert declared - routed == set(), "documented routes the app does not have"
    ids = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert re.fullmatch(r"[a-z][a-z0-9_]*", op["operationId"]), op["operationId"]
            assert len(op["tags"]) == 1 and op["tags"][0] in TAGS, (method, path)
            ids.append(op["operationId"])
            responses = op["responses"]
            assert "default" in responses
            if not path.endswith(("/health", "/ready")):
                assert {"400", "401"} <= set(responses), (method, path)
            if method != "get":
                assert "403" in responses, (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            if "requestBody" in op:
                assert {"413", "415"} <= set(responses), (method, path)
            for status, answer in responses.items():
                if status.startswith(("4", "5")) or status == "default":
                    name = answer["$ref"].removeprefix("#/components/responses/")
                    answer = doc["components"]["responses"][name]
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorEnvelope")
    assert len(ids) == len(set(ids)), "operationIds are unique"
    for method, path, op_id in (
        ("post", "/tasks", "create_task"), ("get", "/tasks", "list_tasks"),
        ("get", "/tasks/{task_id}", "get_task"),
        ("post", "/tasks/{task_id}/execute", "execute_task"),
        ("get", "/tasks/{task_id}/pairs", "list_pairs"), ("get", "/store/search", "search_store"),
    ):  # fmt: skip
        assert _op(doc, method, path)["operationId"] == op_id


def test_parameters_bodies_and_enums_are_declared(doc):
    create = _op(doc, "post", "/tasks")
    headers = {p["name"]: p for p in create["parameters"] if p["in"] == "header"}
    assert "Idempotency-Key" in headers
    assert {"200", "201", "422"} <= set(create["responses"])
    assert "Location" in create["responses"]["201"]["headers"]
    stream = _op(doc, "get", "/tasks/{task_id}/logs/stream")
    names = {(p["in"], p["name"]) for p in stream["parameters"]}
    assert {("header", "Last-Event-ID"), ("query", "after_id"), ("query", "level"),
            ("query", "step"), ("query", "access_token")} <= names  # fmt: skip
    assert {"429", "503"} <= set(stream["responses"])
    for path in ("/tasks/{task_id}/logs/download", "/tasks/{task_id}/files/download/{filename}",
                 "/store/export"):  # fmt: skip
        assert "access_token" in {p["name"] for p in _op(doc, "get", path)["parameters"]}
    assert "access_token" not in {p["name"] for p in _op(doc, "get", "/tasks")["parameters"]}
    upload = _op(doc, "post", "/tasks/{task_id}/table-list")["requestBody"]["content"]
    assert set(upload) == {"application/json", "multipart/form-data"}
    file_field = upload["multipart/form-data"]["schema"]["properties"]["file"]
    assert file_field["format"] == "binary"
    assert _op(doc, "post", "/tasks/{task_id}/execute")["requestBody"]["required"] is False
    status = next(p for p in _op(doc, "get", "/tasks")["parameters"] if p["name"] == "status")
    assert status["schema"]["type"] == "array" and status["explode"] is True
    schemas = doc["components"]["schemas"]
    assert set(schemas["TaskStatus"]["enum"]) == {
        "pending", "queued", "running", "completed", "partial_completed", "failed", "cancelled",
    }  # fmt: skip
    assert set(schemas["StepStatus"]["enum"]) >= {"pending", "running", "completed", "skipped"}
    active = _op(doc, "get", "/tasks/active")["responses"]["200"]["content"]["application/json"]
    assert active["schema"]["allOf"][1]["properties"]["data"]["type"] == "array"
    assert {"/health", "/ready"} == {
        p.removeprefix(API)
        for p, ops in doc["paths"].items()
        if any(op.get("security") == [{}] for op in ops.values())
    }


# (method, path template, concrete suffix or request) -> status: answers the existing API tests
# get from the code, tried again here and looked up in the document.
def test_statuses_the_code_answers_are_declared(client, doc):
    seen: list[tuple[str, str, int]] = []

    def check(response, method: str, path: str) -> None:
        seen.append((method, path, response.status_code))
        declared = _op(doc, method, path)["responses"]
        assert str(response.status_code) in declared, (method, path, response.status_code)

    body = {"parameters": {"db_connection": "source:demo", "business_context": "服务区",
                           "table_list": ["service_area"]}, "start": False}  # fmt: skip
    key = {"Idempotency-Key": "openapi-1"}
    r = client.post(f"{API}/tasks", json=body, headers=key)
    check(r, "post", "/tasks")
    tid = r.json["data"]["task_id"]
    check(client.post(f"{API}/tasks", json=body, headers=key), "post", "/tasks")  # 200
    other = {**body, "task_name": "another"}
    check(client.post(f"{API}/tasks", json=other, headers=key), "post", "/tasks")  # 422
    check(client.post(f"{API}/tasks", json={}), "post", "/tasks")  # 400
    check(client.post(f"{API}/tasks", data=b"{}", content_type="text/plain"), "post", "/tasks")
    big = b'{"task_name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    check(client.post(f"{API}/tasks", data=big, content_type="application/json"), "post",
          "/tasks")  # fmt: skip
    check(client.get(f"{API}/tasks?nope=1"), "get", "/tasks")
    check(client.get(f"{API}/tasks/active"), "get", "/tasks/active")
    check(client.get(f"{API}/tasks/task_20240101_000000"), "get", "/tasks/{task_id}")
    check(client.get(f"{API}/tasks/TASK_1"), "get", "/tasks/{task_id}")
    execute = "/tasks/{task_id}/execute"
    check(client.post(f"{API}/tasks/{tid}/execute", json={"single_step": 2}), "post", execute)
    check(client.post(f"{API}/tasks/{tid}/execute", json={"step_name": "x"}), "post", execute)
    tl = "/tasks/{task_id}/table-list"
    check(client.post(f"{API}/tasks/{tid}/table-list", data=b"x", content_type="text/plain"),
          "post", tl)  # fmt: skip
    upload = {"file": (io.BytesIO(b"a\n" * 6000), "t.txt", "text/plain")}
    check(client.post(f"{API}/tasks/{tid}/table-list", data=upload,
                      content_type="multipart/form-data"), "post", tl)  # fmt: skip
    check(client.get(f"{API}/tasks/{tid}/logs/stream", headers={"Last-Event-ID": "x"}), "get",
          "/tasks/{task_id}/logs/stream")  # fmt: skip
    check(client.get(f"{API}/tasks/{tid}/files/download/nope.txt"), "get",
          "/tasks/{task_id}/files/download/{filename}")  # fmt: skip
    check(client.get(f"{API}/sources/unknown/tables"), "get", "/sources/{name}/tables")
    check(client.post(f"{API}/tasks/{tid}/cancel"), "post", "/tasks/{task_id}/cancel")  # 200
    check(client.post(f"{API}/tasks/{tid}/cancel"), "post", "/tasks/{task_id}/cancel")  # 409
    check(client.delete(f"{API}/tasks/{tid}?force=maybe"), "delete", "/tasks/{task_id}")
    statuses = {s for _, _, s in seen}
    assert {200, 201, 400, 404, 409, 413, 415, 422} <= statuses, sorted(statuses)


def test_tokens_roles_and_cors(config):
    """401 and 403 are declared where answered; CORS preflights are answered before the
    token check, allowed origins get their headers, others none."""
    viewer = "viewer-token"
    callers = {"vera": {"sha256": hashlib.sha256(viewer.encode()).hexdigest(), "role": "viewer"}}
    origin = "https://ui.example.com"
    app = make_app(
        config.with_overrides(
            api_token="admin-token", api_tokens=json.dumps(callers),
            cors_allowed_origins=f"{origin}, http://localhost:5173/",
        )
    )  # fmt: skip
    client = app.test_client()
    doc = build_document()
    try:
        r = client.get(f"{API}/tasks")
        assert r.status_code == 401 and "401" in _op(doc, "get", "/tasks")["responses"]
        r = client.post(f"{API}/tasks", json={}, headers={"Authorization": f"Bearer {viewer}"})
        assert r.status_code == 403 and "403" in _op(doc, "post", "/tasks")["responses"]

        # Preflight: no token needed, the route's methods, the headers a client sends.
        r = client.options(
            f"{API}/tasks",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization, idempotency-key"},
        )  # fmt: skip
        assert r.status_code == 204
        assert r.headers["Access-Control-Allow-Origin"] == origin
        assert {"GET", "POST"} <= set(r.headers["Access-Control-Allow-Methods"].split(", "))
        allowed = r.headers["Access-Control-Allow-Headers"]
        for header in ("Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"):
            assert header in allowed
        assert "Origin" in r.headers["Vary"]
        assert "Access-Control-Allow-Credentials" not in r.headers
        # A real request from the origin: its answer readable, useful headers exposed.
        auth = {"Authorization": "Bearer admin-token", "Origin": "http://localhost:5173"}
        r = client.get(f"{API}/tasks", headers=auth)
        assert r.status_code == 200
        assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
        assert "Location" in r.headers["Access-Control-Expose-Headers"]
        assert "Origin" in r.headers["Vary"]
        # Errors carry the headers too (a page must be able to read a 401).
        r = client.get(f"{API}/tasks", headers={"Origin": origin})
        assert r.status_code == 401 and r.headers["Access-Control-Allow-Origin"] == origin
        # Another origin: answered, but no CORS header (the browser keeps it from the page).
        r = client.get(f"{API}/tasks", headers={**auth, "Origin": "https://evil.example"})
        assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers
        r = client.options(
            f"{API}/tasks",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "Access-Control-Allow-Origin" not in r.headers
    finally:
        app.extensions["data_pipeline"].close()


def test_cors_is_off_by_default(client):
    r = client.get(f"{API}/health", headers={"Origin": "https://ui.example.com"})
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers
    r = client.options(
        f"{API}/tasks",
        headers={"Origin": "https://ui.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in r.headers
