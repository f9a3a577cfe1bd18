"""Changing what a task holds: its table list (inline or uploaded) and deleting it.

The table list is registered and copied to the output store as soon as it is saved (workers on
other hosts read it from there); deleting a task removes the store's copies of its files too.
"""

from __future__ import annotations

import logging
import shutil

from flask import Blueprint, request

from core.errors import Conflict, InvalidInput, NotFound, TooLarge
from core.files import write_bytes_atomic, write_text_atomic
from data_pipeline.api import schemas
from data_pipeline.api.auth import require_owner_or_admin
from data_pipeline.api.common import (
    UnsupportedMediaType,
    config,
    data_root,
    dispatcher,
    field_error,
    folder_for_new_run,
    json_body,
    launcher,
    load_task,
    query_args,
    runtime,
    store,
    task_folder,
)
from data_pipeline.api.envelope import ok
from data_pipeline.api.files import output_store
from data_pipeline.runs.launcher import cancel_run
from data_pipeline.schema.table_list import (
    DEFAULT_TABLE_LIST_FILE,
    TableListError,
    format_table_list,
    parse_table_list,
)
from data_pipeline.tasks.models import TaskStatus
from data_pipeline.tasks.output_store import OutputStoreError
from data_pipeline.training_load.vector_store import TrainingStore
from data_pipeline.workflow.outputs import register_file

logger = logging.getLogger(__name__)
bp = Blueprint("manage", __name__)

_TEXT_TYPES = {"text/plain", "application/octet-stream", ""}


def _read_upload() -> str:
    """The uploaded ``.txt`` file's text, within the type, size and line limits."""
    cfg = config()
    files = list(request.files.values())
    if len(files) != 1:
        raise InvalidInput(
            'upload exactly one file (form field "file") with the table list',
            details={"fields": [{"field": "file", "message": "required"}]},
        )
    upload = files[0]
    name = upload.filename or ""
    if not name.lower().endswith(".txt") or (upload.mimetype or "") not in _TEXT_TYPES:
        raise UnsupportedMediaType(
            "the table list must be a .txt file (text/plain)",
            details={"filename": name[:100], "content_type": upload.mimetype},
        )
    raw = upload.stream.read(cfg.max_table_list_bytes + 1)
    if len(raw) > cfg.max_table_list_bytes:
        raise TooLarge(
            f"table list file is larger than {cfg.max_table_list_bytes} bytes",
            details={"max_bytes": cfg.max_table_list_bytes},
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise field_error(
            "file", "not UTF-8 text", f"table list file is not UTF-8 text (byte {exc.start})"
        ) from None
    if "\x00" in text:
        raise field_error("file", "contains NUL bytes", "table list file contains NUL bytes")
    lines = text.count("\n") + 1
    if lines > cfg.max_table_list_lines:
        raise TooLarge(
            f"table list file has {lines} lines, at most {cfg.max_table_list_lines}",
            details={"max_lines": cfg.max_table_list_lines},
        )
    return text


def _parse(text: str, field: str) -> list[str]:
    """The names of a table list; a 400 naming every bad line as ``field`` (``file`` for an
    upload, ``tables[i]`` for a JSON list)."""
    try:
        names = parse_table_list(text)
    except TableListError as exc:
        errors = exc.details.get("errors") or []
        fields = [
            {
                "field": field if field == "file" else f"{field}[{e['line'] - 1}]",
                "message": f"line {e['line']}: {e['reason']}" if field == "file" else e["reason"],
            }
            for e in errors
        ] or [{"field": field, "message": exc.message}]
        raise TableListError(exc.message, details={**exc.details, "fields": fields}) from None
    if not names:
        raise TableListError(
            "the table list is empty",
            details={"errors": [], "fields": [{"field": field, "message": "empty"}]},
        )
    return names


@bp.post("/tasks/<task_id>/table-list")
def set_table_list(task_id: str):
    """Set the table list: JSON ``{"tables": [...]}`` or a multipart ``.txt`` upload."""
    task = load_task(task_id)
    if task.status == TaskStatus.RUNNING:
        raise Conflict(f"task {task.id} is running; its table list cannot change now")
    if request.mimetype == "multipart/form-data":
        text = _read_upload()
        names = _parse(text, "file")
    else:
        body = json_body(schemas.TableListRequest)
        names = _parse("\n".join(t.replace("\n", " ") for t in body.tables), "tables")
        text = format_table_list(names)
    folder = folder_for_new_run(task)
    folder.mkdir(parents=True, exist_ok=True)
    _save_table_list(task.id, folder, text)
    params = dict(task.parameters or {})
    params["table_list_file"] = DEFAULT_TABLE_LIST_FILE
    params["table_list"] = None
    store().update_parameters(task.id, params)
    data = {
        "task_id": task.id,
        "file": DEFAULT_TABLE_LIST_FILE,
        "text": text,
        "tables": names,
        "count": len(names),
    }
    return ok(data, f"table list saved ({len(names)} tables)")


def _save_table_list(task_id: str, folder, text: str) -> None:
    """Write, register and copy the list to the output store; when the store refuses it
    (503), the folder gets its earlier list back, as the task's rows and parameters keep it."""
    path = folder / DEFAULT_TABLE_LIST_FILE
    previous = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    write_text_atomic(path, text, newline="\n")
    try:
        register_file(
            store(), task_id, folder, DEFAULT_TABLE_LIST_FILE, output_store=output_store()
        )
    except OutputStoreError:
        if previous is None:
            path.unlink(missing_ok=True)
        else:
            write_bytes_atomic(path, previous)
        raise


@bp.get("/tasks/<task_id>/table-list")
def get_table_list(task_id: str):
    """The task's table list: its text and the parsed names."""
    task = load_task(task_id)
    params = task.parameters or {}
    folder = task_folder(task)
    file_name = params.get("table_list_file") or DEFAULT_TABLE_LIST_FILE
    path = folder / file_name if folder is not None else None
    if path is not None and path.is_file() and not path.is_symlink():
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        source = file_name
    elif (stored := _stored_text(task.id, file_name)) is not None:  # saved on another node
        text, source = stored, file_name
    elif params.get("table_list"):
        text = format_table_list(_parse("\n".join(params["table_list"]), "table_list"))
        source = None
    else:
        raise NotFound(f"task {task.id} has no table list")
    try:
        names = parse_table_list(text)
    except TableListError as exc:  # a file edited by hand: show it with its errors
        return ok({"task_id": task.id, "file": source, "text": text, "tables": [], "count": 0,
                   "errors": exc.details.get("errors", [])}, exc.message)  # fmt: skip
    return ok({"task_id": task.id, "file": source, "text": text, "tables": names,
               "count": len(names)})  # fmt: skip


def _stored_text(task_id: str, file_name: str) -> str | None:
    """A small text file of the task from the output store (None when it holds none)."""
    stream = output_store().open_stream(task_id, file_name)
    if stream is None:
        return None
    if stream.size > config().max_table_list_bytes:
        stream.chunks.close()
        return None
    return b"".join(stream.chunks).decode("utf-8-sig", errors="replace")


def _purge_training_data(task_id: str) -> tuple[dict[str, int], int]:
    """Remove the vectors the task loaded: ``({collection: n}, shared rows kept)`` (rows that
    another task loaded too stay, without this task in their metadata)."""
    with TrainingStore(config().vector_database_url or runtime().pipeline_dsn) as training:
        purged = training.purge_task(task_id)
    return purged["removed"], purged["kept_shared"]


@bp.delete("/tasks/<task_id>")
def delete_task(task_id: str):
    """Delete a task: rows, folder and, with ``purge_training_data=true``, its vectors."""
    task = load_task(task_id)
    require_owner_or_admin(task.created_by, f"delete task {task.id}")
    args = query_args(schemas.DeleteQuery)
    cancelled = False
    if task.status == TaskStatus.QUEUED:  # a queued task is dropped: nothing runs yet
        cancelled = cancel_run(store(), task, 0, message="cancelled: the task is being deleted")
        if cancelled is not None:
            dispatcher().cancel_queued(cancelled)
        cancelled = cancelled is not None
    elif task.status == TaskStatus.RUNNING:
        if not args.force:
            raise Conflict(
                f"task {task.id} is running; cancel it first or pass force=true",
                details={"status": task.status.value},
            )
        cancelled = cancel_run(
            store(),
            task,
            config().cancel_grace_seconds,
            launcher=launcher(),
            message="cancelled: the task is being deleted",
            wait=True,
        ) is not None  # fmt: skip
    training, shared = _purge_training_data(task.id) if args.purge_training_data else (None, None)
    rows = {
        "tasks": 1,
        "executions": len(store().list_executions(task.id)),
        "logs": store().count_logs(task.id),
        "outputs": len(store().list_outputs(task.id)),
    }
    # The stored copies first: when the store fails (503), the task is still there to delete
    # again, rather than gone with copies nobody would ever remove.
    stored = output_store().delete_task(task.id)
    if store().delete_task(task.id) is None:
        raise NotFound(f"task {task.id} not found")
    folder = task_folder(task)
    removed, files = None, 0
    if folder is not None and folder.is_dir() and folder != data_root():
        files = sum(1 for p in folder.rglob("*") if not p.is_dir())
        shutil.rmtree(folder, ignore_errors=True)
        removed = folder.relative_to(data_root()).as_posix()
    logger.info(
        "task %s deleted (%s, folder %s, %d stored copies)", task.id, rows, removed or "none",
        stored,
    )  # fmt: skip
    data = {
        "task_id": task.id,
        "cancelled": cancelled,
        "rows": rows,
        "folder_removed": removed,
        "files_removed": files,
        "training_data_removed": training,
        "training_data_kept_shared": shared,
    }
    return ok(data, f"task {task.id} deleted")
