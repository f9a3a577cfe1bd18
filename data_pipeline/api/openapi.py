"""The OpenAPI 3.1 document of the API, generated from the pydantic models in ``schemas.py``
and served at ``/api/v0/data_pipeline/openapi.json``."""

from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from data_pipeline.api import schemas
from data_pipeline.api.common import API_PREFIX

bp = Blueprint("openapi", __name__)
REF = "#/components/schemas/{model}"


def _json(model_name: str) -> dict:
    return {"application/json": {"schema": {"$ref": REF.format(model=model_name)}}}


# method, path, summary, request body model, query model, response data model, extra statuses
ROUTES: list[tuple] = [
    ("get", "/health", "Liveness", None, None, None, ()),
    ("get", "/ready", "Readiness (503 when the pipeline database is down)", None, None, None,
     (503,)),
    ("post", "/tasks", "Create a task and start it (Idempotency-Key header supported)",
     schemas.CreateTaskRequest, None, schemas.CreateTaskResponse, (201, 400, 409, 413, 415)),
    ("get", "/tasks", "List tasks", None, schemas.TaskListQuery, schemas.TaskPage, (400,)),
    ("get", "/tasks/active", "The running task(s), or null", None, None, None, ()),
    ("get", "/tasks/{task_id}", "Task detail", None, None, schemas.TaskDetail, (400, 404)),
    ("delete", "/tasks/{task_id}", "Delete a task (rows, folder, optionally vectors)", None,
     schemas.DeleteQuery, schemas.DeleteResponse, (400, 404, 409)),
    ("post", "/tasks/{task_id}/execute", "Run the workflow or one step again",
     schemas.ExecuteRequest, None, schemas.ExecuteResponse, (202, 400, 404, 409)),
    ("post", "/tasks/{task_id}/cancel", "Cancel a run", None, None, schemas.CancelResponse,
     (404, 409)),
    ("get", "/tasks/{task_id}/executions", "Executions of the task's steps", None, None,
     schemas.ExecutionList, (404,)),
    ("post", "/tasks/{task_id}/table-list",
     "Set the table list (JSON or multipart .txt upload, form field \"file\")",
     schemas.TableListRequest, None, schemas.TableListOut, (400, 404, 409, 413, 415)),
    ("get", "/tasks/{task_id}/table-list", "The table list and parsed names", None, None,
     schemas.TableListOut, (404,)),
    ("get", "/tasks/{task_id}/logs", "Log records with filters and a cursor", None,
     schemas.LogQuery, schemas.LogPage, (400, 404)),
    ("get", "/tasks/{task_id}/logs/stream",
     "Live log tail (text/event-stream; Last-Event-ID resumes; ends with an 'end' event)",
     None, None, None, (404, 429)),
    ("get", "/tasks/{task_id}/logs/download", "The task's log file", None, None, None, (404,)),
    ("get", "/tasks/{task_id}/files", "Registered output files", None, None, schemas.FileList,
     (404,)),
    ("get", "/tasks/{task_id}/files/download/{filename}", "Download a file of the task",
     None, None, None, (400, 403, 404, 413)),
    ("get", "/sources", "Named business databases", None, None, schemas.SourceList, ()),
    ("get", "/whoami", "The caller's name and role", None, None, schemas.Caller, ()),
    ("get", "/sources/{name}/tables", "Tables of a named source", None, None,
     schemas.SourceTables, (404, 503)),
    ("get", "/metrics", "Prometheus metrics (text format)", None, None, None, ()),
    ("get", "/openapi.json", "This document", None, None, None, ()),
]  # fmt: skip


def all_routes() -> list[tuple]:
    """Every documented route: the ones above and those of the route modules that list their
    own (``OPENAPI_ROUTES``)."""
    from data_pipeline.api import pairs, runs, store

    return ROUTES + pairs.OPENAPI_ROUTES + store.OPENAPI_ROUTES + runs.OPENAPI_ROUTES


_BINARY = {"/tasks/{task_id}/logs/download", "/tasks/{task_id}/files/download/{filename}"}


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _path_parameters(path: str) -> list[dict]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in names]  # fmt: skip


def _success(status: int, data_model, path: str) -> dict:
    if path == "/metrics":
        return {"description": "Prometheus text", "content": {"text/plain": {}}}
    if path.endswith("/logs/stream"):
        return {"description": "Server-Sent Events", "content": {"text/event-stream": {}}}
    if path == "/store/export":
        return {"description": "JSON Lines, one document a line, as an attachment",
                "content": {"application/x-ndjson": {}}}  # fmt: skip
    if path in _BINARY:
        return {"description": "the file, as an attachment",
                "content": {"application/octet-stream": {}}}  # fmt: skip
    envelope = {"$ref": REF.format(model="Envelope")}
    if data_model is not None:
        envelope = {
            "allOf": [
                envelope,
                {"properties": {"data": {"$ref": REF.format(model=data_model.__name__)}}},
            ]
        }
    return {"description": "success", "content": {"application/json": {"schema": envelope}}}


@lru_cache(maxsize=1)
def build_document() -> dict:
    """The whole document (built once per process)."""
    models = {schemas.Envelope}
    for route in all_routes():
        models.update(m for m in (route[3], route[5]) if m is not None)
    _, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    paths: dict[str, dict] = {}
    for method, path, summary, body, query, data, extra in all_routes():
        ok_status = next((s for s in extra if s in (201, 202)), 200)
        responses = {str(ok_status): _success(ok_status, data, path)}
        for status in extra:
            if status not in (201, 202):
                responses[str(status)] = {"description": "error", "content": _json("Envelope")}
        if path not in ("/health", "/ready"):
            responses.setdefault("401", {"description": "token required (when configured)"})
        op: dict = {"summary": summary, "responses": responses}
        params = _path_parameters(path) + (_query_parameters(query) if query else [])
        if params:
            op["parameters"] = params
        if body is not None:
            op["requestBody"] = {
                "required": body is not schemas.ExecuteRequest,
                "content": _json(body.__name__),
            }
        paths.setdefault(API_PREFIX + path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Data Pipeline API",
            "version": "0.1.0",
            "description": "Turns a PostgreSQL business database into Text-to-SQL training "
            "data as tasks. Every JSON answer is {success, code, message, data}; errors add "
            "error {type, details}.",
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
    }


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of this API (the document itself, not in an envelope)."""
    return jsonify(build_document())
