"""Log routes: filtered pages with a cursor, a live tail over Server-Sent Events, download.

The SSE stream polls the store (the executor writes records in batches) and sends each record
as ``id: <log id>`` / ``event: log`` / ``data: <json>``; a client resumes with the
``Last-Event-ID`` header (EventSource does that by itself) or ``?after_id=``. A ``: ping``
comment keeps idle connections alive and reveals closed ones; an ``end`` event carries the
final status once the run is over and every record was sent; a stream lives at most
``log_stream_max_seconds`` so server threads are not held for ever (clients reconnect).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timezone

from flask import Blueprint, Response, current_app, request, send_file

from core.errors import NotFound, PipelineError
from core.processes import pid_alive
from core.task_logging import LOG_FILE_NAME
from data_pipeline.api import schemas, serializers
from data_pipeline.api.common import (
    config,
    field_error,
    load_task,
    query_args,
    store,
    task_folder,
)
from data_pipeline.api.envelope import ok
from data_pipeline.api.lifecycle import shutting_down
from data_pipeline.runs.launcher import HOSTNAME
from data_pipeline.tasks.models import FINISHED_STATUSES, TaskStatus

logger = logging.getLogger(__name__)
bp = Blueprint("logs", __name__)

POLL_SECONDS = 0.5
PING_SECONDS = 10.0
# Records that the executor flushes just after it recorded the outcome still get sent.
END_GRACE_SECONDS = 1.5
BATCH = 500


class TooManyStreams(PipelineError):
    http_status = 429
    error_type = "too_many_requests"


class _StreamSlots:
    """Open streams hold a server thread each; keep some threads for ordinary requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open = 0

    def acquire(self, limit: int) -> None:
        with self._lock:
            if self.open >= limit:
                raise TooManyStreams(
                    f"too many open log streams ({self.open}); close one or poll /logs instead"
                )
            self.open += 1

    def release(self) -> None:
        with self._lock:
            self.open = max(0, self.open - 1)


def stream_slots() -> _StreamSlots:
    """This app's count of open streams."""
    return current_app.extensions.setdefault("data_pipeline_streams", _StreamSlots())


@bp.get("/tasks/<task_id>/logs")
def task_logs(task_id: str):
    """Log records: ``level`` (minimum), ``step``, ``q``, ``since``/``until``, cursor."""
    task = load_task(task_id)
    args = query_args(schemas.LogQuery)
    if args.since and args.until and args.since > args.until:
        raise field_error("since", "after until", "since must not be after until")
    rows = store().query_logs(
        task.id,
        level=args.level,
        step=args.step,
        q=args.q,
        since=_aware(args.since),
        until=_aware(args.until),
        after_id=args.after_id,
        limit=args.limit,
        order=args.order,
    )
    records = [serializers.log_record(r) for r in rows]
    cursor = records[-1]["id"] if records else args.after_id
    data = {
        "task_id": task.id,
        "records": records,
        "count": len(records),
        "next_cursor": cursor,
        "has_more": len(records) == args.limit,
    }
    return ok(data, masked=True)  # log_record masked each record's text


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)  # naive times are read as UTC
    return value


def _resume_id() -> int | None:
    raw = request.headers.get("Last-Event-ID") or request.args.get("after_id")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        field = "Last-Event-ID" if request.headers.get("Last-Event-ID") else "after_id"
        raise field_error(
            field, "not a log id", "Last-Event-ID / after_id must be a log id (a number)"
        )
    return int(raw)


def _event(name: str, data: dict, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@bp.get("/tasks/<task_id>/logs/stream")
def stream_logs(task_id: str):
    """Live tail (SSE); resumes after ``Last-Event-ID``; ends with an ``end`` event (the run is
    over) or a ``shutdown`` event (the service is stopping: reconnect later)."""
    task = load_task(task_id)
    after = _resume_id()
    level = request.args.get("level")
    step = request.args.get("step")
    if level or step:  # validated like the /logs filters
        args = query_args(schemas.LogQuery)
        level, step = args.level, args.step
    cfg = config()
    task_store = store()
    disconnected = request.environ.get("waitress.client_disconnected")
    slots = stream_slots()
    slots.acquire(max(1, cfg.server_threads - 4))

    stopping = shutting_down()

    def generate():
        cursor = after
        started = last_write = time.monotonic()
        finished_seen: float | None = None
        yield "retry: 2000\n\n"
        while True:
            if disconnected is not None and disconnected():
                return
            if stopping.is_set():  # the service is stopping: the client reconnects later
                yield _event(
                    "shutdown",
                    {"task_id": task.id, "last_id": cursor, "reason": "the service is stopping"},
                )
                return
            rows = task_store.query_logs(
                task.id, level=level, step=step, after_id=cursor, limit=BATCH
            )
            for row in rows:
                cursor = row["id"]
                yield _event("log", serializers.log_record(row), row["id"])
            if rows:
                last_write = time.monotonic()
                if len(rows) == BATCH:
                    continue
            current = task_store.get_task(task.id)
            if current is None:
                yield _event("end", {"task_id": task.id, "status": "deleted"})
                return
            if current.status in FINISHED_STATUSES and not rows:
                finished_seen = finished_seen or time.monotonic()
                if _ended_long_enough(current, finished_seen):
                    yield _event("end", _end_data(current, cursor))
                    return
            now = time.monotonic()
            if now - started > cfg.log_stream_max_seconds:
                yield ": stream lifetime reached; reconnect with Last-Event-ID\n\n"
                return
            if now - last_write >= PING_SECONDS:
                last_write = now
                yield ": ping\n\n"
            stopping.wait(POLL_SECONDS)

    response = Response(generate(), mimetype="text/event-stream")
    response.call_on_close(slots.release)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


def _ended_long_enough(task, first_seen: float) -> bool:
    """Whether no more records can come: the executor's last ones may still be in flight for
    a moment after the outcome was recorded, unless it is known to be gone."""
    if time.monotonic() - first_seen >= END_GRACE_SECONDS:
        return True
    local = task.executor_host in (None, HOSTNAME)
    if task.executor_pid is None or (local and not pid_alive(task.executor_pid)):
        return True
    done = task.completed_at
    return done is not None and (datetime.now(timezone.utc) - done).total_seconds() > 5


def _end_data(task, cursor: int | None) -> dict:
    return {
        "task_id": task.id,
        "status": task.status.value,
        "progress": task.progress,
        "error_message": task.error_message,
        "last_id": cursor,
        "completed": task.status == TaskStatus.COMPLETED,
    }


@bp.get("/tasks/<task_id>/logs/download")
def download_log(task_id: str):
    """The task's whole ``data_pipeline.log`` as an attachment."""
    task = load_task(task_id)
    folder = task_folder(task)
    path = folder / LOG_FILE_NAME if folder is not None else None
    if path is None or not path.is_file() or path.is_symlink():
        raise NotFound(f"task {task.id} has no log file yet")
    return send_file(
        path,
        mimetype="text/plain",
        as_attachment=True,
        download_name=f"{task.id}_{LOG_FILE_NAME}",
        max_age=0,
    )
