"""The OpenAPI 3.1 document of the API, generated from the pydantic models in ``schemas.py``
and served at ``/api/v0/data_pipeline/openapi.json``.

Each route is one entry of :data:`ROUTES` (or of a route module's ``OPENAPI_ROUTES``):
``(method, path, summary, body model, query model, data model, statuses)``. The document adds
what every route shares: its ``operationId`` and tag, path parameters, the headers and query
parameters the code reads (``Idempotency-Key``, ``Last-Event-ID``, ``access_token``), the
multipart upload of a table list, and the statuses any route of its kind can answer (400 for
an unknown or repeated query parameter, 401 without a token, 403 for a viewer's write, 404 for
an unknown id, 413/415 for a body, 503 while the pipeline database is down), each with the
error envelope.

The query parameters the document declares are also the ones a route accepts:
:func:`check_query_string` (a ``before_request`` hook of the API) answers 400 naming any
other parameter, and any parameter given twice that is not a list.
"""

from __future__ import annotations

import re
import typing
from functools import lru_cache

from flask import Blueprint, jsonify, request
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from core.errors import InvalidInput
from data_pipeline.api import schemas
from data_pipeline.api.common import API_PREFIX, PASS_THROUGH_QUERY

bp = Blueprint("openapi", __name__)
REF = "#/components/schemas/{model}"
VERSION = "0.2.0"


def _json(model_name: str) -> dict:
    return {"application/json": {"schema": {"$ref": REF.format(model=model_name)}}}


# method, path, summary, request body model, query model, response data model, statuses (the
# success status when not 200, and those particular to the route; the common ones are added).
ROUTES: list[tuple] = [
    ("get", "/health", "Liveness", None, None, None, ()),
    ("get", "/ready", "Readiness (503 when the pipeline database is down)", None, None, None,
     (503,)),
    ("post", "/tasks",
     "Create a task and start it (an Idempotency-Key sent again with the same body answers 200 "
     "with the task it created; with another body 422)",
     schemas.CreateTaskRequest, None, schemas.CreateTaskResponse, (201, 409, 422)),
    ("get", "/tasks", "List tasks (status, created_by, db_name and task_type may be repeated)",
     None, schemas.TaskListQuery, schemas.TaskPage, ()),
    ("get", "/tasks/active", "The running tasks (a list, empty when none runs)", None, None,
     list[schemas.TaskSummary], ()),
    ("get", "/tasks/{task_id}", "Task detail", None, None, schemas.TaskDetail, ()),
    ("delete", "/tasks/{task_id}", "Delete a task (rows, folder, optionally vectors)", None,
     schemas.DeleteQuery, schemas.DeleteResponse, (409,)),
    ("post", "/tasks/{task_id}/execute",
     "Run the workflow, one step, or the workflow from start_step (resume)",
     schemas.ExecuteRequest, None, schemas.ExecuteResponse, (202, 409, 422)),
    ("post", "/tasks/{task_id}/cancel", "Cancel a run", None, None, schemas.CancelResponse,
     (409,)),
    ("get", "/tasks/{task_id}/executions", "Executions of the task's steps", None, None,
     schemas.ExecutionList, ()),
    ("post", "/tasks/{task_id}/table-list",
     "Set the table list (JSON, or a multipart .txt upload in the form field \"file\")",
     schemas.TableListRequest, None, schemas.TableListOut, (409,)),
    ("get", "/tasks/{task_id}/table-list", "The table list and parsed names", None, None,
     schemas.TableListOut, ()),
    ("get", "/tasks/{task_id}/logs", "Log records with filters and a cursor", None,
     schemas.LogQuery, schemas.LogPage, ()),
    ("get", "/tasks/{task_id}/logs/stream",
     "Live log tail (text/event-stream; Last-Event-ID or after_id resumes; ends with an 'end' "
     "event)", None, None, None, (429,)),
    ("get", "/tasks/{task_id}/logs/download", "The task's log file", None, None, None, ()),
    ("get", "/tasks/{task_id}/files", "Registered output files", None, None, schemas.FileList,
     ()),
    ("get", "/tasks/{task_id}/files/download/{filename}", "Download a file of the task",
     None, None, None, (413,)),
    ("get", "/sources", "Named business databases", None, None, schemas.SourceList, ()),
    ("get", "/whoami", "The caller's name and role", None, None, schemas.Caller, ()),
    ("get", "/sources/{name}/tables", "Tables of a named source", None, None,
     schemas.SourceTables, ()),
    ("get", "/metrics", "Prometheus metrics (text format)", None, None, None, ()),
    ("get", "/openapi.json", "This document", None, None, None, ()),
]  # fmt: skip

# Stable names for generated clients (snake_case; never renamed once published).
OPERATION_IDS: dict[tuple[str, str], str] = {
    ("get", "/health"): "health",
    ("get", "/ready"): "ready",
    ("post", "/tasks"): "create_task",
    ("get", "/tasks"): "list_tasks",
    ("get", "/tasks/active"): "list_active_tasks",
    ("get", "/tasks/{task_id}"): "get_task",
    ("delete", "/tasks/{task_id}"): "delete_task",
    ("post", "/tasks/{task_id}/execute"): "execute_task",
    ("post", "/tasks/{task_id}/cancel"): "cancel_task",
    ("get", "/tasks/{task_id}/executions"): "list_executions",
    ("post", "/tasks/{task_id}/table-list"): "set_table_list",
    ("get", "/tasks/{task_id}/table-list"): "get_table_list",
    ("get", "/tasks/{task_id}/logs"): "list_logs",
    ("get", "/tasks/{task_id}/logs/stream"): "stream_logs",
    ("get", "/tasks/{task_id}/logs/download"): "download_log",
    ("get", "/tasks/{task_id}/files"): "list_files",
    ("get", "/tasks/{task_id}/files/download/{filename}"): "download_file",
    ("get", "/sources"): "list_sources",
    ("get", "/whoami"): "whoami",
    ("get", "/sources/{name}/tables"): "list_source_tables",
    ("get", "/metrics"): "metrics",
    ("get", "/openapi.json"): "get_openapi_document",
    ("get", "/tasks/{task_id}/pairs"): "list_pairs",
    ("post", "/tasks/{task_id}/pairs"): "add_pair",
    ("get", "/tasks/{task_id}/pairs/history"): "get_pair_history",
    ("post", "/tasks/{task_id}/pairs/approve"): "approve_pairs",
    ("post", "/tasks/{task_id}/pairs/load"): "load_pairs",
    ("get", "/tasks/{task_id}/pairs/{pair_id}"): "get_pair",
    ("patch", "/tasks/{task_id}/pairs/{pair_id}"): "edit_pair",
    ("delete", "/tasks/{task_id}/pairs/{pair_id}"): "delete_pair",
    ("post", "/tasks/{task_id}/pairs/{pair_id}/run"): "run_pair",
    ("get", "/store"): "get_store_stats",
    ("get", "/store/search"): "search_store",
    ("get", "/store/documents"): "list_store_documents",
    ("get", "/store/documents/{doc_id}"): "get_store_document",
    ("delete", "/store/documents/{doc_id}"): "delete_store_document",
    ("post", "/store/documents/delete"): "delete_store_documents",
    ("get", "/store/export"): "export_store",
    ("get", "/tasks/{task_id}/runs"): "list_runs",
    ("get", "/tasks/{task_id}/runs/{run_number}"): "get_run",
}

TAGS = [
    {"name": "tasks", "description": "Create, list, run, resume, cancel and delete tasks"},
    {"name": "logs", "description": "A task's log records, live stream and log file"},
    {"name": "files", "description": "A task's output files"},
    {"name": "sources", "description": "Named business databases and their tables"},
    {"name": "pairs", "description": "Curating a task's question/SQL pairs"},
    {"name": "store", "description": "The training store (what step 4 loaded)"},
    {"name": "system", "description": "Health, readiness, caller, metrics, this document"},
]

# Routes that also take the token as ?access_token= (EventSource and download links).
QUERY_TOKEN_PATHS = frozenset(
    {
        "/tasks/{task_id}/logs/stream",
        "/tasks/{task_id}/logs/download",
        "/tasks/{task_id}/files/download/{filename}",
        "/store/export",
    }
)
_BINARY = {"/tasks/{task_id}/logs/download", "/tasks/{task_id}/files/download/{filename}"}
_OPTIONAL_BODY = {schemas.ExecuteRequest}  # and the route modules' models named "…Request"
_NO_DATABASE = {"/health", "/openapi.json", "/whoami"}  # never 503
_OPEN = {"/health", "/ready"}  # no token needed

DESCRIPTIONS = {
    200: "success",
    201: "created",
    202: "accepted: the run is queued or started",
    206: "part of the file (Range)",
    304: "not modified (If-None-Match / If-Modified-Since)",
    400: "invalid input: error.details.fields lists every problem as {field, message}",
    401: "a token is required (when tokens are configured) or the token is unknown",
    403: "the caller's role may not do this (a viewer writing, a non-owner deleting)",
    404: "no such task, file, pair, source or document",
    409: "conflict with the task's state (running, queued, already completed, …)",
    413: "request body, upload or file too large",
    415: "unsupported Content-Type (application/json expected, or a .txt upload)",
    416: "range not satisfiable",
    422: "well-formed but refused (e.g. an Idempotency-Key reused with another body)",
    429: "too many open log streams",
    503: "a database, source, output store or embedder is unavailable (Retry-After)",
}


def all_routes() -> list[tuple]:
    """Every documented route: the ones above and those of the route modules that list their
    own (``OPENAPI_ROUTES``)."""
    from data_pipeline.api import pairs, runs, store

    return ROUTES + pairs.OPENAPI_ROUTES + store.OPENAPI_ROUTES + runs.OPENAPI_ROUTES


def tag_of(path: str) -> str:
    """The tag of a route, from its path."""
    if path in ("/health", "/ready", "/whoami", "/metrics", "/openapi.json"):
        return "system"
    if path.startswith("/sources"):
        return "sources"
    if path.startswith("/store"):
        return "store"
    for part in ("logs", "files", "pairs"):
        if path.startswith(f"/tasks/{{task_id}}/{part}"):
            return part
    return "tasks"


def operation_id(method: str, path: str) -> str:
    """The route's stable operationId (derived from method and path for a route not listed)."""
    known = OPERATION_IDS.get((method, path))
    if known:
        return known
    words = [w.strip("{}").replace("-", "_").replace(".", "_") for w in path.split("/") if w]
    return "_".join([method, *words])


def _query_schema(prop: dict) -> dict:
    """A query parameter's schema: the non-null branch (a query value is never null)."""
    options = prop.get("anyOf")
    if options:
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            merged = {k: v for k, v in prop.items() if k != "anyOf"}
            merged.update(kept[0])
            if merged.get("default", 0) is None:
                del merged["default"]
            return merged
    return prop


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = _query_schema(prop)
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if prop.get("description"):
            param["description"] = prop["description"]
        if prop.get("type") == "array":
            param.update(style="form", explode=True)  # ?status=a&status=b
        params.append(param)
    return params


def _path_parameters(path: str) -> list[dict]:
    params = []
    for name in re.findall(r"{(\w+)}", path):
        schema: dict = {"type": "string"}
        if name == "task_id":
            schema.update(pattern=r"^(task|manual)_\d{8}_\d{6}(_[a-z0-9]{1,8})?$", maxLength=40)
        elif name == "run_number":
            schema = {"type": "integer", "minimum": 1}
        elif name == "filename":
            schema.update(maxLength=512)
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if path.endswith("/files/download/{filename}"):
        params[-1]["description"] = "a path relative to the task folder; may contain '/'"
    return params


def _stream_parameters() -> list[dict]:
    props = schemas.LogQuery.model_json_schema(ref_template=REF)["properties"]
    return [
        {
            "name": "Last-Event-ID",
            "in": "header",
            "required": False,
            "description": "resume after this log id (EventSource sends it by itself)",
            "schema": {"type": "string", "pattern": r"^\d{1,18}$"},
        },
        {
            "name": "after_id",
            "in": "query",
            "required": False,
            "description": "resume after this log id (when no Last-Event-ID is sent)",
            "schema": {"type": "integer", "minimum": 0},
        },
        *(
            {"name": name, "in": "query", "required": False, "schema": _query_schema(props[name])}
            for name in ("level", "step")
        ),
    ]


def _extra_parameters(method: str, path: str) -> list[dict]:
    """Headers and query parameters a route reads outside its query model."""
    params: list[dict] = []
    if (method, path) == ("post", "/tasks"):
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "1-200 visible ASCII characters: the same key with the same body "
                "answers 200 with the task it created; with another body 422",
                "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,200}$", "maxLength": 200},
            }
        )
    if path.endswith("/logs/stream"):
        params += _stream_parameters()
    if path in QUERY_TOKEN_PATHS:
        params.append(
            {
                "name": "access_token",
                "in": "query",
                "required": False,
                "description": "the bearer token, for clients that cannot send headers "
                "(EventSource, download links); prefer the Authorization header",
                "schema": {"type": "string"},
            }
        )
    return params


def _data_schema(data) -> dict | None:
    if data is None:
        return None
    if typing.get_origin(data) is list:
        (item,) = typing.get_args(data)
        return {"type": "array", "items": {"$ref": REF.format(model=item.__name__)}}
    return {"$ref": REF.format(model=data.__name__)}


def _success(status: int, data_model, path: str) -> dict:
    if path == "/metrics":
        return {"description": "Prometheus text", "content": {"text/plain": {}}}
    if path.endswith("/logs/stream"):
        return {
            "description": "Server-Sent Events: 'log' events (id: the log id, data: a LogRecord), "
            "an 'end' event once the run is over, a 'shutdown' event when the service stops",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    if path == "/store/export":
        return {"description": "JSON Lines, one document a line, as an attachment",
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}  # fmt: skip
    if path in _BINARY:
        return {
            "description": "the file, as an attachment",
            "headers": {"ETag": {"schema": {"type": "string"}}},
            "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                 "format": "binary"}}},
        }  # fmt: skip
    if path == "/openapi.json":
        return {"description": "this document", "content": {"application/json": {}}}
    envelope = {"$ref": REF.format(model="Envelope")}
    data = _data_schema(data_model)
    if data is not None:
        envelope = {"allOf": [envelope, {"properties": {"data": data}}]}
    return {
        "description": DESCRIPTIONS.get(status, "success"),
        "content": {"application/json": {"schema": envelope}},
    }


RESPONSE_REF = "#/components/responses/{name}"


def _error_ref(status: int | str) -> dict:
    """An error answer, by reference to ``components.responses`` (shared by every route)."""
    return {"$ref": RESPONSE_REF.format(name=f"Error{status}")}


def _error(status: int) -> dict:
    answer: dict = {"description": DESCRIPTIONS[status], "content": _json("ErrorEnvelope")}
    if status == 401:
        answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    if status == 405:
        answer["headers"] = {"Allow": {"schema": {"type": "string"}}}
    if status == 503:
        answer["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return answer


def _statuses(method: str, path: str, body, query, extra) -> list[int]:
    """Every status the route can answer besides its success."""
    found = {s for s in extra if s not in (201, 202)}
    if path not in _OPEN:
        found |= {400, 401}  # unknown or repeated query parameters; no or unknown token
    if method != "get":
        found.add(403)
    if "{" in path:
        found |= {400, 404}
    if body is not None:
        found |= {400, 413, 415}
    if path not in _NO_DATABASE:
        found.add(503)
    if path in _BINARY:
        found |= {403, 416}
    return sorted(found)


def _request_body(path: str, body: type[BaseModel]) -> dict:
    optional = body in _OPTIONAL_BODY or body.__name__ in ("RunPairRequest", "LoadRequest")
    content = _json(body.__name__)
    if path.endswith("/table-list"):
        content["multipart/form-data"] = {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "contentMediaType": "text/plain",
                        "description": "a .txt table list (one name a line, # comments)",
                    }
                },
            },
            "encoding": {"file": {"contentType": "text/plain, application/octet-stream"}},
        }
    answer = {"required": not optional, "content": content}
    if optional:
        answer["description"] = "may be empty (the defaults apply)"
    return answer


@lru_cache(maxsize=1)
def build_document() -> dict:
    """The whole document (built once per process)."""
    models = {schemas.Envelope, schemas.ErrorEnvelope}
    for route in all_routes():
        for m in (route[3], route[5]):
            if m is not None and typing.get_origin(m) is list:
                m = typing.get_args(m)[0]
            if m is not None:
                models.add(m)
    _, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    paths: dict[str, dict] = {}
    used: set[int] = set()
    for method, path, summary, body, query, data, extra in all_routes():
        ok_status = next((s for s in extra if s in (201, 202)), 200)
        responses = {str(ok_status): _success(ok_status, data, path)}
        if (method, path) == ("post", "/tasks"):
            responses["201"]["headers"] = {"Location": {"schema": {"type": "string"}}}
            responses["200"] = {
                **_success(200, data, path),
                "description": "the task an earlier request with this Idempotency-Key created",
            }
        if path in _BINARY:
            responses["206"] = {"description": DESCRIPTIONS[206]}
            responses["304"] = {"description": DESCRIPTIONS[304]}
        for status in _statuses(method, path, body, query, extra):
            responses[str(status)] = _error_ref(status)
            used.add(status)
        responses["default"] = _error_ref("Default")
        op: dict = {
            "operationId": operation_id(method, path),
            "tags": [tag_of(path)],
            "summary": summary,
            "responses": dict(sorted(responses.items())),
        }
        params = _path_parameters(path) + (_query_parameters(query) if query else [])
        params += _extra_parameters(method, path)
        if params:
            op["parameters"] = params
        if body is not None:
            op["requestBody"] = _request_body(path, body)
        if path in _OPEN:
            op["security"] = [{}]
        paths.setdefault(API_PREFIX + path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Data Pipeline API",
            "version": VERSION,
            "description": "Turns a PostgreSQL business database into Text-to-SQL training "
            "data as tasks. Every JSON answer is {success, code, message, data}; errors add "
            "error {type, details}; a 400's details.fields lists every problem as {field, "
            "message}. Query parameters not declared here are refused (400), except "
            "access_token and the cache buster '_'.",
        },
        "servers": [{"url": "/", "description": "this server"}],
        "tags": TAGS,
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "responses": {
                **{f"Error{s}": _error(s) for s in sorted(used)},
                "ErrorDefault": {
                    "description": "unexpected error",
                    "content": _json("ErrorEnvelope"),
                },
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
    }


def openapi_path(rule: str) -> str:
    """A Flask rule (``/api/…/tasks/<task_id>/files/download/<path:filename>``) as the
    document's path (``/tasks/{task_id}/files/download/{filename}``)."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.removeprefix(API_PREFIX))


@lru_cache(maxsize=1)
def declared_query() -> dict[tuple[str, str], tuple[frozenset[str], frozenset[str]]]:
    """(method, path) → (query parameters declared, those that may repeat)."""
    found = {}
    for path, ops in build_document()["paths"].items():
        for method, op in ops.items():
            query = [p for p in op.get("parameters", []) if p["in"] == "query"]
            names = frozenset(p["name"] for p in query)
            arrays = frozenset(p["name"] for p in query if p["schema"].get("type") == "array")
            found[(method, path.removeprefix(API_PREFIX))] = (names, arrays)
    return found


def check_query_string():
    """``before_request`` hook of the API: 400 naming every query parameter the route does
    not declare, and every single-valued one given more than once."""
    rule = request.url_rule
    if rule is None or not request.args:
        return None
    method = "get" if request.method == "HEAD" else request.method.lower()
    declared = declared_query().get((method, openapi_path(rule.rule)))
    if declared is None:  # OPTIONS, or a route of another blueprint
        return None
    names, arrays = declared
    fields = []
    for key in request.args:
        if key in PASS_THROUGH_QUERY:
            continue
        if key not in names:
            fields.append({"field": key, "message": "unknown query parameter"})
        elif key not in arrays and len(request.args.getlist(key)) > 1:
            fields.append({"field": key, "message": "given more than once"})
    if fields:
        shown = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:8])
        allowed = ", ".join(sorted(names)) or "none"
        raise InvalidInput(
            f"invalid query string: {shown} (this route takes: {allowed})",
            details={"fields": [{**f, "field": f["field"][:100]} for f in fields]},
        )
    return None


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of this API (the document itself, not in an envelope)."""
    return jsonify(build_document())
