"""Helpers shared by the routes: the runtime objects, strict JSON/query parsing into pydantic
models, and the one way a task id from a client becomes a task and a folder."""

from __future__ import annotations

import functools
import json
import types
import typing
from pathlib import Path
from typing import TypeVar

from flask import current_app, request
from pydantic import BaseModel, ValidationError

from app_config import Config
from core.errors import InvalidInput, NotFound, PipelineError
from data_pipeline.jobqueue.dispatch import Dispatcher
from data_pipeline.runs.launcher import Launcher
from data_pipeline.tasks.folders import safe_task_folder
from data_pipeline.tasks.models import Task, validate_task_id
from data_pipeline.tasks.runtime import Runtime
from data_pipeline.tasks.store import TaskStore

API_PREFIX = "/api/v0/data_pipeline"
MAX_JSON_DEPTH = 32  # nesting levels a request body may have
M = TypeVar("M", bound=BaseModel)


class UnsupportedMediaType(PipelineError):
    http_status = 415
    error_type = "unsupported_media_type"


def runtime() -> Runtime:
    return current_app.extensions["data_pipeline"]


def config() -> Config:
    return current_app.extensions["data_pipeline_config"]


def store() -> TaskStore:
    return runtime().store


def launcher() -> Launcher:
    return current_app.extensions["data_pipeline_launcher"]


def dispatcher() -> Dispatcher:
    return current_app.extensions["data_pipeline_dispatcher"]


def validation_error(exc: ValidationError, prefix: str = "") -> InvalidInput:
    """A pydantic error as a 400 naming every offending field (never echoing values)."""
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"] if p != "__root__")
        field = f"{prefix}{loc}" if loc else (prefix.rstrip(".") or "body")
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "required"
        elif err["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append({"field": field, "message": message})
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:8])
    return InvalidInput(f"invalid request: {summary}", details={"fields": problems})


def json_body(model: type[M], *, allow_empty: bool = False) -> M:
    """Parse the JSON body into ``model``: 415 wrong type, 400 malformed or invalid."""
    raw = request.get_data(cache=True)  # MAX_CONTENT_LENGTH -> 413 before this returns
    if not raw.strip():
        if allow_empty:
            return model()
        raise _body_error("request body is empty: a JSON object is expected", "required")
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            "Content-Type must be application/json",
            details={"content_type": request.mimetype or None},
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _body_error("request body is not valid JSON", "not valid JSON") from None
    except RecursionError:
        raise _body_error(
            f"request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)", "too deep"
        ) from None
    if not isinstance(data, dict):
        raise _body_error("request body must be a JSON object", "not a JSON object")
    _check_json(data, "")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def _body_error(message: str, problem: str) -> InvalidInput:
    return InvalidInput(message, details={"fields": [{"field": "body", "message": problem}]})


def _check_json(value, where: str, depth: int = 0) -> None:
    """Refuse what no field can hold: NUL characters (PostgreSQL text cannot store them) and
    nesting deeper than any request needs."""
    if depth > MAX_JSON_DEPTH:
        raise _body_error(
            f"request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)", "too deep"
        )
    if isinstance(value, str):
        if "\x00" in value:
            raise field_error(where or "body", "contains a NUL character")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise field_error(where or "body", "a key contains a NUL character")
            _check_json(item, f"{where}.{key}" if where else key, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]", depth + 1)


# Query parameters any route accepts: the token of EventSource and download links (checked by
# auth where it counts) and a cache buster.
PASS_THROUGH_QUERY = frozenset({"access_token", "_"})


@functools.lru_cache(maxsize=64)
def list_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields of a query model that take repeated values (typed as lists)."""
    found = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        options = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
        if any(typing.get_origin(o) is list for o in options):
            found.add(name)
    return frozenset(found)


def _is_union(annotation) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def query_args(model: type[M]) -> M:
    """Parse the query string into ``model`` (400 naming the bad parameters); a list field
    takes every value of a repeated parameter, any other field refuses a repeated one."""
    lists = list_fields(model)
    args: dict[str, str | list[str]] = {}
    for key in request.args:
        values = request.args.getlist(key)
        if "\x00" in key or any("\x00" in v for v in values):
            raise field_error(key.replace("\x00", ""), "contains a NUL character")
        if key in PASS_THROUGH_QUERY:
            continue
        if key in lists:
            args[key] = values
        elif len(values) > 1:
            raise field_error(key, "given more than once", f"query parameter {key} given twice")
        else:
            args[key] = values[0]
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        raise validation_error(exc) from None


def load_task(task_id: str) -> Task:
    """The task named by a client: 400 for a malformed id, 404 for an unknown one."""
    validate_task_id(task_id)
    task = store().get_task(task_id)
    if task is None:
        raise NotFound(f"task {task_id} not found", details={"task_id": task_id})
    return task


@functools.lru_cache(maxsize=8)
def _resolved(path: Path) -> Path:
    return path.resolve()


def data_root() -> Path:
    return _resolved(Path(config().data_root))


def task_folder(task: Task) -> Path | None:
    """The task's folder when it lies inside the data root; None otherwise (never used)."""
    return safe_task_folder(data_root(), task.id, task.output_directory)


def folder_for_new_run(task: Task) -> Path:
    """The folder a run writes to; refuses tasks whose folder is outside the data root."""
    folder = task_folder(task)
    if folder is None:
        raise InvalidInput(
            f"task {task.id} keeps its files outside the data root; it cannot be run through "
            "the API",
            details={"task_id": task.id},
        )
    return folder


def relative_folder(task: Task) -> str | None:
    """The task's folder relative to the data root (None when it lies elsewhere)."""
    if task.output_directory in (None, str(config().data_root / task.id)):
        return task.id  # the usual place: no file-system calls needed to know it
    folder = task_folder(task)
    if folder is None:
        return None
    return folder.relative_to(data_root()).as_posix()


def task_links(task_id: str) -> dict:
    base = f"{API_PREFIX}/tasks/{task_id}"
    return {
        "self": base,
        "logs": f"{base}/logs",
        "stream": f"{base}/logs/stream",
        "files": f"{base}/files",
        "executions": f"{base}/executions",
    }


def field_error(field: str, problem: str, message: str | None = None, **extra) -> InvalidInput:
    """A 400 about one field, in the same shape as pydantic's."""
    text = message or f"invalid request: {field}: {problem}"
    return InvalidInput(text, details={"fields": [{"field": field, "message": problem}], **extra})


def as_bool(value: str | None, name: str) -> bool:
    if value is None:
        return False
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise field_error(name, "must be true or false", f"{name} must be true or false")
