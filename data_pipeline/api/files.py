"""Output files of a task: the registered list (with sha256) and safe downloads.

A download name must resolve to a regular file inside the task's folder, which itself lies
inside the data root: no ``..``, no absolute paths, no NUL, no hidden files, no symlink
leading out.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath

from flask import Blueprint, send_file

from core.errors import Forbidden, InvalidInput, NotFound, TooLarge
from data_pipeline.api import serializers
from data_pipeline.api.common import config, load_task, store, task_folder
from data_pipeline.api.envelope import ok
from data_pipeline.workflow.outputs import register_outputs

logger = logging.getLogger(__name__)
bp = Blueprint("files", __name__)

MAX_NAME_LENGTH = 512


def _register_now(task) -> None:
    """Register the folder's files when the executor has not (yet): an older or crashed run."""
    folder = task_folder(task)
    if folder is None or not folder.is_dir():
        return
    register_outputs(store(), task.id, folder)


@bp.get("/tasks/<task_id>/files")
def list_files(task_id: str):
    """Registered outputs: name, type, size, sha256, primary, times, step."""
    task = load_task(task_id)
    rows = store().list_outputs(task.id)
    if not rows and task.status.value != "running":
        _register_now(task)
        rows = store().list_outputs(task.id)
    files = [serializers.output_file(task.id, r) for r in rows]
    data = {
        "task_id": task.id,
        "files": files,
        "count": len(files),
        "total_size": sum(f["size"] for f in files),
    }
    return ok(data)


def check_file_name(name: str) -> PurePosixPath:
    """A relative path of plain, visible parts; InvalidInput otherwise."""
    reason = None
    if not name or len(name) > MAX_NAME_LENGTH:
        reason = "empty or too long"
    elif "\x00" in name or any(ord(c) < 32 for c in name):
        reason = "control characters"
    elif "\\" in name or name.startswith("/") or ":" in name.split("/")[0]:
        reason = "absolute paths and backslashes are not allowed"
    else:
        parts = name.split("/")
        if any(p in ("", ".", "..") for p in parts):
            reason = "'..', '.' and empty path parts are not allowed"
        elif any(p.startswith(".") for p in parts):
            reason = "hidden files are not served"
    if reason:
        raise InvalidInput(
            f"invalid file name: {reason}",
            details={"fields": [{"field": "filename", "message": reason}]},
        )
    return PurePosixPath(name)


def resolve_in_folder(folder: Path, relative: PurePosixPath) -> Path:
    """The file inside ``folder`` (already resolved); 404 when absent or leading outside."""
    candidate = folder.joinpath(*relative.parts)
    try:
        resolved = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotFound(f"file {relative.as_posix()!r} not found") from None
    if not resolved.is_relative_to(folder) or not resolved.is_file():
        logger.warning("refused download of %r: outside the task folder", relative.as_posix())
        raise NotFound(f"file {relative.as_posix()!r} not found")
    return resolved


@bp.get("/tasks/<task_id>/files/download/<path:filename>")
def download_file(task_id: str, filename: str):
    """A file of the task folder as an attachment (403 when downloads are off, 413 too big)."""
    task = load_task(task_id)
    relative = check_file_name(filename)
    cfg = config()
    if not cfg.enable_file_download:
        raise Forbidden("file downloads are disabled on this server (ENABLE_FILE_DOWNLOAD)")
    folder = task_folder(task)
    if folder is None or not folder.is_dir():
        raise NotFound(f"task {task.id} has no files")
    path = resolve_in_folder(folder, relative)
    registered = {r["file_path"]: r for r in store().list_outputs(task.id)}
    row = registered.get(relative.as_posix())
    if row is not None and not row.get("is_downloadable", True):
        raise Forbidden(f"file {relative.as_posix()!r} is not downloadable")
    size = path.stat().st_size
    if size > cfg.max_download_file_size:
        raise TooLarge(
            f"file is {size} bytes, over the download limit of {cfg.max_download_file_size}",
            details={"size": size, "max": cfg.max_download_file_size},
        )
    return send_file(
        path,
        as_attachment=True,
        download_name=path.name,
        max_age=0,
        conditional=True,
        etag=True,
    )
