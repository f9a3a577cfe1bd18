"""A thin, typed Python client of the Data Pipeline API (standard library only: ``urllib``).

    from data_pipeline.client import Client, ApiError

    api = Client("http://127.0.0.1:8084", token=None)
    created = api.create_task(
        {"db_connection": "source:demo", "business_context": "高速公路服务区",
         "table_list": ["service_area", "daily_revenue"]},
        task_name="demo",
    )
    task = api.wait(created.task_id, timeout=600)      # follows the task to its end
    print(task.status, [s.status for s in task.step_details])

Answers are the pydantic models of :mod:`data_pipeline.api.schemas` (the ones the OpenAPI
document is built from; ``pairs`` and ``store`` answers use those modules' models). A refused
or failed request raises :class:`ApiError` with the HTTP status, the error type, the message
and the details (``details["fields"]`` on a 400: ``[{"field", "message"}, ...]``).
The client is made for a server of the same version (the models forbid unknown fields).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from data_pipeline.api import schemas

API_PREFIX = "/api/v0/data_pipeline"
FINISHED = frozenset({"completed", "partial_completed", "failed", "cancelled"})
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """An answer that is not a success: HTTP ``status``, error ``type`` (``invalid_input``,
    ``not_found``, ``conflict``, …), ``message`` and ``details``."""

    def __init__(self, status: int, type: str, message: str, details: dict | None = None):
        super().__init__(f"{status} {type}: {message}")
        self.status = status
        self.type = type
        self.message = message
        self.details = details or {}

    @property
    def fields(self) -> list[dict]:
        """The problems of a 400, one ``{"field", "message"}`` each."""
        return list(self.details.get("fields") or [])


@dataclass
class LogEvent:
    """One event of the log stream: ``log`` (``data`` is a log record, ``id`` its id), ``end``
    (the run is over: ``data["status"]``) or ``shutdown`` (the service is stopping)."""

    event: str
    data: dict = field(default_factory=dict)
    id: int | None = None


class Client:
    """The API at ``base_url`` (``http://host:8084``; the API prefix is added), with a bearer
    ``token`` when the server requires one."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 30.0):
        base = base_url.rstrip("/")
        if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
            raise ValueError(f"base_url must be an http:// or https:// URL, got {base_url!r}")
        self.base_url = base if base.endswith(API_PREFIX) else base + API_PREFIX
        self.token = token
        self.timeout = timeout

    # Plumbing ----------------------------------------------------------------------------
    def _url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        url = self.base_url + path
        pairs: list[tuple[str, str]] = []
        for key, value in (query or {}).items():
            if value is None:
                continue
            values = value if isinstance(value, list | tuple | set) else [value]
            for v in values:
                pairs.append((key, str(v).lower() if isinstance(v, bool) else str(v)))
        return f"{url}?{urllib.parse.urlencode(pairs)}" if pairs else url

    def _open(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ):
        """The raw HTTP answer (for streams and files); ApiError for an error status."""
        sent = {"Accept": "application/json", **(headers or {})}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            sent["Content-Type"] = "application/json"
        url = self._url(path, query)  # http(s) only: checked in __init__
        req = urllib.request.Request(url, data=data, method=method, headers=sent)  # noqa: S310
        try:
            return urllib.request.urlopen(req, timeout=timeout or self.timeout)  # noqa: S310
        except urllib.error.HTTPError as exc:
            raise _error_of(exc.code, exc.read()) from None

    def _call(self, method: str, path: str, **kw) -> Any:
        """The ``data`` of a JSON envelope."""
        with self._open(method, path, **kw) as answer:
            raw = answer.read()
            status = answer.status
        try:
            envelope = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise ApiError(status, "invalid_answer", raw[:200].decode("utf-8", "replace")) from None
        return envelope.get("data")

    @staticmethod
    def _as(model: type[M], data: Any) -> M:
        return model.model_validate(data)

    # System ----------------------------------------------------------------------------------
    def health(self) -> dict:
        return self._call("GET", "/health")

    def ready(self) -> dict:
        return self._call("GET", "/ready")

    def whoami(self) -> schemas.Caller:
        return self._as(schemas.Caller, self._call("GET", "/whoami"))

    def openapi(self) -> dict:
        with self._open("GET", "/openapi.json") as answer:
            return json.loads(answer.read())

    # Tasks ---------------------------------------------------------------------------------
    def create_task(
        self,
        parameters: Mapping[str, Any] | BaseModel,
        *,
        task_name: str | None = None,
        start: bool = True,
        queue: bool = True,
        idempotency_key: str | None = None,
    ) -> schemas.CreateTaskResponse:
        """Create a task (and start it unless ``start=False``). ``idempotency_key``: sending
        the same key and body again returns the task it created (``created`` false)."""
        if isinstance(parameters, BaseModel):
            parameters = parameters.model_dump(mode="json", exclude_none=True)
        body = {"parameters": dict(parameters), "start": start, "queue": queue}
        if task_name is not None:
            body["task_name"] = task_name
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        data = self._call("POST", "/tasks", body=body, headers=headers)
        return self._as(schemas.CreateTaskResponse, data)

    def get_task(self, task_id: str) -> schemas.TaskDetail:
        return self._as(schemas.TaskDetail, self._call("GET", f"/tasks/{_seg(task_id)}"))

    def list_tasks(
        self,
        *,
        status: str | Sequence[str] | None = None,
        created_by: str | Sequence[str] | None = None,
        db_name: str | Sequence[str] | None = None,
        q: str | None = None,
        limit: int = 20,
        offset: int = 0,
        sort: str = "created_at",
        order: str = "desc",
    ) -> schemas.TaskPage:
        """A page of tasks; ``status`` etc. may list several values (a task with any)."""
        query = {"status": _many(status), "created_by": _many(created_by),
                 "db_name": _many(db_name), "q": q, "limit": limit, "offset": offset,
                 "sort": sort, "order": order}  # fmt: skip
        return self._as(schemas.TaskPage, self._call("GET", "/tasks", query=query))

    def active_tasks(self) -> list[schemas.TaskSummary]:
        return [self._as(schemas.TaskSummary, t) for t in self._call("GET", "/tasks/active")]

    def execute(
        self,
        task_id: str,
        *,
        step: int | str | None = None,
        start_step: int | None = None,
        force: bool = False,
        clean: bool = False,
        queue: bool = True,
    ) -> schemas.ExecuteResponse:
        """Run the task again: the whole workflow, one ``step`` (1-4 or its name), or the
        workflow from ``start_step`` to the end (resume a failed or cancelled run)."""
        body: dict[str, Any] = {"force": force, "clean": clean, "queue": queue}
        if isinstance(step, int):
            body["single_step"] = step
        elif step is not None:
            body["step_name"] = step
        if start_step is not None:
            body["start_step"] = start_step
        data = self._call("POST", f"/tasks/{_seg(task_id)}/execute", body=body)
        return self._as(schemas.ExecuteResponse, data)

    def cancel(self, task_id: str) -> schemas.CancelResponse:
        data = self._call("POST", f"/tasks/{_seg(task_id)}/cancel")
        return self._as(schemas.CancelResponse, data)

    def delete_task(
        self, task_id: str, *, force: bool = False, purge_training_data: bool = False
    ) -> schemas.DeleteResponse:
        query = {"force": force, "purge_training_data": purge_training_data}
        data = self._call("DELETE", f"/tasks/{_seg(task_id)}", query=query)
        return self._as(schemas.DeleteResponse, data)

    def executions(self, task_id: str) -> schemas.ExecutionList:
        data = self._call("GET", f"/tasks/{_seg(task_id)}/executions")
        return self._as(schemas.ExecutionList, data)

    def set_table_list(self, task_id: str, tables: Sequence[str]) -> schemas.TableListOut:
        data = self._call(
            "POST", f"/tasks/{_seg(task_id)}/table-list", body={"tables": list(tables)}
        )
        return self._as(schemas.TableListOut, data)

    def upload_table_list(
        self, task_id: str, text: str, filename: str = "table_list.txt"
    ) -> schemas.TableListOut:
        """Upload a table list file (multipart, form field ``file``)."""
        boundary = uuid.uuid4().hex
        payload = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{filename}"\r\nContent-Type: text/plain\r\n\r\n'
            ).encode()
            + text.encode("utf-8")
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        data = self._call(
            "POST", f"/tasks/{_seg(task_id)}/table-list", data=payload, headers=headers
        )
        return self._as(schemas.TableListOut, data)

    def table_list(self, task_id: str) -> schemas.TableListOut:
        data = self._call("GET", f"/tasks/{_seg(task_id)}/table-list")
        return self._as(schemas.TableListOut, data)

    def wait(
        self, task_id: str, timeout: float = 600.0, *, poll: float = 1.0
    ) -> schemas.TaskDetail:
        """Follow the task until it ends (completed, partial_completed, failed, cancelled)
        and return its detail; TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.get_task(task_id)
            if task.status.value in FINISHED:
                return task
            if time.monotonic() >= deadline:
                raise TimeoutError(f"task {task_id} still {task.status.value} after {timeout} s")
            time.sleep(min(poll, max(0.05, deadline - time.monotonic())))

    # Logs ------------------------------------------------------------------------------------
    def logs(
        self,
        task_id: str,
        *,
        after_id: int | None = None,
        level: str | None = None,
        step: str | None = None,
        q: str | None = None,
        limit: int = 100,
        order: str = "asc",
    ) -> schemas.LogPage:
        """A page of log records; pass ``next_cursor`` as ``after_id`` for the next one."""
        query = {"after_id": after_id, "level": level, "step": step, "q": q, "limit": limit,
                 "order": order}  # fmt: skip
        data = self._call("GET", f"/tasks/{_seg(task_id)}/logs", query=query)
        return self._as(schemas.LogPage, data)

    def all_logs(self, task_id: str, **filters) -> Iterator[schemas.LogRecord]:
        """Every log record (page after page, following the cursor)."""
        after = filters.pop("after_id", None)
        while True:
            page = self.logs(task_id, after_id=after, **filters)
            yield from page.records
            if not page.has_more:
                return
            after = page.next_cursor

    def stream_logs(
        self,
        task_id: str,
        *,
        after_id: int | None = None,
        level: str | None = None,
        step: str | None = None,
        reconnect: bool = True,
        timeout: float = 60.0,
    ) -> Iterator[LogEvent]:
        """The live log tail (Server-Sent Events) as events, until the ``end`` event (yielded
        last). When the server closes the stream early (its lifetime, a restart) it is opened
        again after the last id received, unless ``reconnect`` is false."""
        last = after_id
        while True:
            headers = {"Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            query = {"level": level, "step": step}
            with self._open("GET", f"/tasks/{_seg(task_id)}/logs/stream", query=query,
                            headers=headers, timeout=timeout) as answer:  # fmt: skip
                for event in _sse_events(answer):
                    if event.id is not None:
                        last = event.id
                    yield event
                    if event.event == "end":
                        return
            if not reconnect:
                return
            time.sleep(1.0)

    def download_log(self, task_id: str) -> bytes:
        with self._open("GET", f"/tasks/{_seg(task_id)}/logs/download") as answer:
            return answer.read()

    # Files ---------------------------------------------------------------------------------
    def files(self, task_id: str) -> schemas.FileList:
        return self._as(schemas.FileList, self._call("GET", f"/tasks/{_seg(task_id)}/files"))

    def download(self, task_id: str, filename: str, dest: str | Path | None = None):
        """A file of the task: its bytes, or written to ``dest`` (returns the path)."""
        path = "/".join(urllib.parse.quote(p, safe="") for p in filename.split("/"))
        with self._open("GET", f"/tasks/{_seg(task_id)}/files/download/{path}") as answer:
            if dest is None:
                return answer.read()
            target = Path(dest)
            if target.is_dir():
                target = target / Path(filename).name
            with open(target, "wb") as out:
                while chunk := answer.read(1024 * 1024):
                    out.write(chunk)
            return target

    # Sources -------------------------------------------------------------------------------
    def sources(self) -> schemas.SourceList:
        return self._as(schemas.SourceList, self._call("GET", "/sources"))

    def source_tables(self, name: str) -> schemas.SourceTables:
        data = self._call("GET", f"/sources/{_seg(name)}/tables")
        return self._as(schemas.SourceTables, data)

    # Pairs ---------------------------------------------------------------------------------
    def pairs(
        self,
        task_id: str,
        *,
        state: str | None = None,
        table: str | None = None,
        q: str | None = None,
    ):
        """The task's pairs with their state (``pairs.PairList``)."""
        from data_pipeline.api.pairs import PairList

        query = {"state": state, "table": table, "q": q}
        return self._as(PairList, self._call("GET", f"/tasks/{_seg(task_id)}/pairs", query=query))

    def get_pair(self, task_id: str, pair_id: str):
        from data_pipeline.api.pairs import Pair

        return self._as(Pair, self._call("GET", f"/tasks/{_seg(task_id)}/pairs/{_seg(pair_id)}"))

    def add_pair(self, task_id: str, question: str, sql: str):
        from data_pipeline.api.pairs import Pair

        body = {"question": question, "sql": sql}
        return self._as(Pair, self._call("POST", f"/tasks/{_seg(task_id)}/pairs", body=body))

    def edit_pair(
        self, task_id: str, pair_id: str, *, question: str | None = None, sql: str | None = None
    ):
        """Change a pair's question and/or SQL (validated again; the approval is withdrawn)."""
        from data_pipeline.api.pairs import Pair

        body = {k: v for k, v in {"question": question, "sql": sql}.items() if v is not None}
        data = self._call("PATCH", f"/tasks/{_seg(task_id)}/pairs/{_seg(pair_id)}", body=body)
        return self._as(Pair, data)

    def delete_pair(self, task_id: str, pair_id: str) -> dict:
        return self._call("DELETE", f"/tasks/{_seg(task_id)}/pairs/{_seg(pair_id)}")

    def approve_pairs(
        self,
        task_id: str,
        ids: Sequence[str] | None = None,
        *,
        all_valid: bool = False,
        approved: bool = True,
    ):
        """Approve pairs by id, or every valid one (``approved=False`` withdraws)."""
        from data_pipeline.api.pairs import ApproveResult

        body: dict[str, Any] = {"approved": approved}
        if all_valid:
            body["all_valid"] = True
        else:
            body["ids"] = list(ids or [])
        data = self._call("POST", f"/tasks/{_seg(task_id)}/pairs/approve", body=body)
        return self._as(ApproveResult, data)

    def load_pairs(
        self, task_id: str, *, pairs: str = "approved", replace: bool | None = None
    ) -> schemas.ExecuteResponse:
        """Step 4 again with the approved (or ``"all"``) pairs (a run, like execute)."""
        body: dict[str, Any] = {"pairs": pairs}
        if replace is not None:
            body["replace"] = replace
        data = self._call("POST", f"/tasks/{_seg(task_id)}/pairs/load", body=body)
        return self._as(schemas.ExecuteResponse, data)

    # Training store --------------------------------------------------------------------------
    def store_search(
        self,
        q: str,
        *,
        k: int = 10,
        collection: str | None = None,
        task_id: str | None = None,
        db_name: str | None = None,
    ):
        """The stored documents nearest to a question (``store.StoreSearchResult``)."""
        from data_pipeline.api.store import StoreSearchResult

        query = {"q": q, "k": k, "collection": collection, "task_id": task_id, "db_name": db_name}
        return self._as(StoreSearchResult, self._call("GET", "/store/search", query=query))

    def store_stats(self):
        from data_pipeline.api.store import StoreStats

        return self._as(StoreStats, self._call("GET", "/store"))


def _seg(value: str) -> str:
    """One path segment, escaped."""
    return urllib.parse.quote(str(value), safe="")


def _many(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _error_of(status: int, raw: bytes) -> ApiError:
    try:
        body = json.loads(raw.decode("utf-8"))
        error = body.get("error") or {}
        return ApiError(
            status, error.get("type", "http_error"), body.get("message", ""), error.get("details")
        )
    except (ValueError, AttributeError):
        return ApiError(status, "http_error", raw[:200].decode("utf-8", "replace"))


def _sse_events(answer) -> Iterator[LogEvent]:
    """Events of a ``text/event-stream`` answer (comments and ``retry`` lines skipped)."""
    name, data, event_id = "message", [], None
    for raw in answer:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                payload = "\n".join(data)
                try:
                    parsed = json.loads(payload)
                except ValueError:
                    parsed = {"text": payload}
                yield LogEvent(name, parsed, event_id)
            name, data, event_id = "message", [], None
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            name = value
        elif key == "data":
            data.append(value)
        elif key == "id" and value.isdigit():
            event_id = int(value)


__all__ = ["ApiError", "Client", "LogEvent"]
