"""Output files of a task: the registered list (with sha256) and safe downloads.

A download name must be a plain relative path: no ``..``, no absolute paths, no NUL, no
hidden files (400). A file is served from the task's folder when it is a regular file inside
it (the folder itself inside the data root, no symlink leading out) and holds the registered
content (same sha256); otherwise from the output store, when it holds the registered content
(this node may not have the folder: the run may have executed on another machine). Both
answers have the same headers, the ETag being the registered sha256. 404 when neither has it.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path, PurePosixPath

from flask import Blueprint, current_app, request, send_file

from core.errors import Forbidden, InvalidInput, NotFound, TooLarge
from data_pipeline.api import serializers
from data_pipeline.api.common import config, load_task, runtime, store, task_folder
from data_pipeline.api.envelope import ok
from data_pipeline.tasks.output_store import (
    OutputStore,
    OutputStoreError,
    OutputStream,
    output_store_for,
)
from data_pipeline.workflow.outputs import mtime_of, register_outputs, sha256_of

logger = logging.getLogger(__name__)
bp = Blueprint("files", __name__)

MAX_NAME_LENGTH = 512


def output_store() -> OutputStore:
    """The app's output store (``OUTPUT_STORE_URL``), made once per app."""
    found = current_app.extensions.get("data_pipeline_output_store")
    if found is None:
        found = runtime().output_store or output_store_for(config(), runtime().db)
        current_app.extensions["data_pipeline_output_store"] = found
    return found


def _register_now(task) -> None:
    """Register the folder's files when the executor has not (yet): an older or crashed run."""
    folder = task_folder(task)
    if folder is None or not folder.is_dir():
        return
    try:
        register_outputs(store(), task.id, folder, output_store=output_store())
    except OutputStoreError as exc:  # the rows are written; the listing need not fail
        logger.error("outputs of %s registered but not all copied: %s", task.id, exc.message)


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
    """A file of the task as an attachment, from this node's disk or the output store (403
    when downloads are off, 413 too big, 404 when no copy holds the registered content)."""
    task = load_task(task_id)
    relative = check_file_name(filename)
    cfg = config()
    if not cfg.enable_file_download:
        raise Forbidden("file downloads are disabled on this server (ENABLE_FILE_DOWNLOAD)")
    name = relative.as_posix()
    row = next((r for r in store().list_outputs(task.id) if r["file_path"] == name), None)
    if row is not None and not row.get("is_downloadable", True):
        raise Forbidden(f"file {name!r} is not downloadable")
    registered = (row or {}).get("content_hash")
    path = _local_copy(task, relative, row)
    if path is not None:
        _check_size(path.stat().st_size, cfg.max_download_file_size)
        return send_file(
            path,
            as_attachment=True,
            download_name=path.name,
            max_age=0,
            conditional=True,
            etag=registered or True,
        )
    if not registered:
        raise NotFound(f"file {name!r} not found")
    stream = output_store().open_stream(task.id, name)
    if stream is None or stream.sha256 != registered:
        if stream is not None:
            stream.chunks.close()
        raise NotFound(
            f"file {name!r} not found: neither this server's disk nor the output store holds "
            f"its registered content (sha256 {registered[:12]}…)",
            details={"sha256": registered},
        )
    try:
        _check_size(stream.size, cfg.max_download_file_size)
    except TooLarge:
        stream.chunks.close()
        raise
    return _send_stream(relative, stream, row["modified_at"])


def _local_copy(task, relative: PurePosixPath, row: dict | None) -> Path | None:
    """The file in this node's task folder, when there and holding the registered content
    (same size and modification time are trusted, as the registration trusts them; else it
    is hashed). Without a registered hash (a run still writing it), any regular file."""
    folder = task_folder(task)
    if folder is None or not folder.is_dir():
        return None
    try:
        path = resolve_in_folder(folder, relative)
    except NotFound:
        return None
    if row is None or not row.get("content_hash"):
        return path
    st = path.stat()
    if st.st_size != row["file_size"]:
        return None
    if mtime_of(st) == row["modified_at"] or sha256_of(path) == row["content_hash"]:
        return path
    return None


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise TooLarge(
            f"file is {size} bytes, over the download limit of {limit}",
            details={"size": size, "max": limit},
        )


class _ChunkReader(io.RawIOBase):
    """A stored file's chunks as the binary file ``send_file`` reads from."""

    def __init__(self, stream: OutputStream):
        self._chunks = stream.chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._chunks.close()  # an S3 body goes back to its pool
        super().close()


def _send_stream(relative: PurePosixPath, stream: OutputStream, modified_at):
    """The stored file with the headers ``send_file`` gives a local one: type from the name,
    attachment, Content-Length, Last-Modified, ETag (sha256), ranges and conditional GETs."""
    answer = send_file(
        _ChunkReader(stream),
        as_attachment=True,
        download_name=relative.name,
        max_age=0,
        conditional=False,
        etag=stream.sha256,
        last_modified=modified_at,
    )
    answer.content_length = stream.size
    return answer.make_conditional(request.environ, accept_ranges=True, complete_length=stream.size)
