"""Curation of a task's question/SQL pairs: list, run, edit, add, delete, approve, load
(``/tasks/<task_id>/pairs…``, issue #13).

The task folder's newest ``*_pair.json`` stays the source of truth (see
:mod:`data_pipeline.curation`). Every write, refused with 409 while the task is running or
queued, happens under a lock (an advisory lock in the pipeline database, so two API nodes
take turns, and an ``flock`` in the folder): the folder is brought up to date from the output
store, the file re-read, changed, its previous version kept as ``<pair file>.curation.bak``,
the new one written atomically, the change appended to ``pair_curation.log`` (who, when,
before, after), and the three files registered and copied to the output store, as a step's
outputs are, so every node and worker sees the same pairs. SQL is checked before the lock is
taken, with the validator and level (``validation_level``) of step 3, against the task's
source database.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from core.errors import Conflict, NotFound, SourceUnavailable
from core.files import write_bytes_atomic
from core.sql_queries import query
from data_pipeline.api import schemas
from data_pipeline.api.auth import current_caller
from data_pipeline.api.common import (
    config,
    field_error,
    folder_for_new_run,
    json_body,
    load_task,
    query_args,
    runtime,
    store,
    task_folder,
)
from data_pipeline.api.envelope import ok
from data_pipeline.api.files import output_store
from data_pipeline.api.sources import SourceUnreachable
from data_pipeline.curation import pair_file as pf
from data_pipeline.curation.run_sql import run_query, validate_sql
from data_pipeline.curation.states import (
    APPROVABLE,
    STATES,
    ReportIndex,
    Verdict,
    load_report,
    record_verdict,
    verdict_of,
)
from data_pipeline.curation.tables import tables_of
from data_pipeline.sources.registry import resolve_source
from data_pipeline.tasks.models import Task, TaskStatus
from data_pipeline.tasks.output_store import OutputStoreError
from data_pipeline.training_load.documents import newest_pair_file
from data_pipeline.workflow.outputs import register_file

logger = logging.getLogger(__name__)
bp = Blueprint("pairs", __name__)

MAX_QUESTION = 2_000
MAX_SQL = 20_000
BUSY = (TaskStatus.RUNNING, TaskStatus.QUEUED)
PairId = Annotated[str, StringConstraints(pattern=pf.PAIR_ID.pattern)]


# Request and answer models ---------------------------------------------------------------
class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PairListQuery(BaseModel):
    """Filters of ``GET /tasks/<id>/pairs`` (counts are always over all pairs)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    state: Literal["valid", "repaired", "invalid", "unchecked", "approved", "unapproved"] | None = (
        None
    )
    table: str | None = Field(default=None, max_length=200, description="a table the SQL reads")
    q: str | None = Field(
        default=None, max_length=MAX_QUESTION, description="text in question or SQL (any case)"
    )


class NewPair(_Request):
    """Body of ``POST /tasks/<id>/pairs``."""

    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    sql: str = Field(min_length=1, max_length=MAX_SQL)


class PairEdit(_Request):
    """Body of ``PATCH /tasks/<id>/pairs/<pair_id>``: at least one of the two."""

    question: str | None = Field(default=None, min_length=1, max_length=MAX_QUESTION)
    sql: str | None = Field(default=None, min_length=1, max_length=MAX_SQL)

    @model_validator(mode="after")
    def _something(self) -> PairEdit:
        if self.question is None and self.sql is None:
            raise ValueError("give question, sql or both")
        return self


class RunPairRequest(_Request):
    """Body of ``POST /tasks/<id>/pairs/<pair_id>/run`` (may be empty)."""

    limit: int = Field(default=100, ge=1, le=1000, description="rows returned at most")


class ApproveRequest(_Request):
    """Body of ``POST /tasks/<id>/pairs/approve``: ``ids`` or ``all_valid``."""

    ids: list[PairId] | None = Field(default=None, min_length=1, max_length=10_000)
    all_valid: bool = Field(default=False, description="every valid or repaired pair")
    approved: bool = Field(default=True, description="false: withdraw the approval")

    @model_validator(mode="after")
    def _one_way(self) -> ApproveRequest:
        if (self.ids is None) == (not self.all_valid):
            raise ValueError("give either ids or all_valid: true")
        return self


class LoadRequest(_Request):
    """Body of ``POST /tasks/<id>/pairs/load`` (may be empty)."""

    pairs: Literal["approved", "all"] = "approved"
    replace: bool | None = Field(
        default=None,
        description="true: remove the rows this task loaded before (truncate_vector_tables), "
        "so the store holds exactly what this load brings; omitted: the task's setting",
    )


class Pair(_Answer):
    id: str
    index: int = Field(description="position in the pair file (0-based)")
    question: str
    sql: str
    tables: list[str]
    state: Literal["valid", "repaired", "invalid", "unchecked"]
    error: str | None
    original_sql: str | None = Field(description="the SQL before step 3 repaired it")
    approved: bool
    approved_by: str | None
    approved_at: str | None
    edited_by: str | None
    edited_at: str | None
    added_by: str | None


class PairCounts(_Answer):
    total: int
    valid: int
    repaired: int
    invalid: int
    unchecked: int
    approved: int


class PairList(_Answer):
    task_id: str
    pair_file: str | None
    counts: PairCounts
    tables: list[str]
    pairs: list[Pair]


class PairDeleted(_Answer):
    deleted: str


class PairRows(_Answer):
    columns: list[str]
    rows: list[list]
    row_count: int
    truncated: bool
    duration_ms: float


class Skipped(_Answer):
    id: str
    reason: str


class ApproveResult(_Answer):
    approved: list[str]
    unapproved: list[str]
    skipped: list[Skipped]
    counts: PairCounts


class PairChange(_Answer):
    model_config = ConfigDict(extra="allow")
    at: str
    by: str
    action: Literal["edit", "add", "delete", "approve", "unapprove"]
    pair_id: str
    before: dict | None
    after: dict | None


class PairHistory(_Answer):
    task_id: str
    changes: list[PairChange]


# Reading -----------------------------------------------------------------------------------
@dataclass
class Pairs:
    """A pair file as read (entries as in the file, their ids, step 3's verdicts)."""

    path: Path | None
    entries: list
    ids: list[str | None]
    report: ReportIndex
    raw: bytes = b""

    def find(self, pair_id: str) -> int | None:
        try:
            return self.ids.index(pair_id)
        except ValueError:
            return None

    def view(self, i: int) -> dict:
        return pair_view(self.entries[i], i, self.ids[i], self.report)

    def views(self) -> list[dict]:
        return [self.view(i) for i, pid in enumerate(self.ids) if pid is not None]


def pair_view(entry: dict, index: int, pid: str, report: ReportIndex) -> dict:
    review = pf.review_of(entry)
    verdict = verdict_of(entry, report)
    sql = pf.text_of(entry, "sql")

    def text(key):
        value = review.get(key)
        return value if isinstance(value, str) else None

    return {
        "id": pid,
        "index": index,
        "question": pf.text_of(entry, "question"),
        "sql": sql,
        "tables": list(tables_of(sql)),
        "state": verdict.state,
        "error": verdict.error,
        "original_sql": verdict.original_sql,
        "approved": review.get("approved") is True,
        "approved_by": text("approved_by"),
        "approved_at": text("approved_at"),
        "edited_by": text("edited_by"),
        "edited_at": text("edited_at"),
        "added_by": text("added_by"),
    }


def counts_of(views: list[dict]) -> dict:
    counts = {"total": len(views), **dict.fromkeys(STATES, 0), "approved": 0}
    for v in views:
        counts[v["state"]] += 1
        counts["approved"] += v["approved"]
    return counts


def _sync(task: Task, folder: Path, *, strict: bool) -> None:
    """Bring the folder up to date from the output store (another node may have changed the
    pairs); never while a run writes into it. ``strict``: a failure is the request's (503)."""
    if task.status in BUSY:
        return
    try:
        output_store().materialize(task.id, folder)
    except OutputStoreError as exc:
        if strict:
            raise
        logger.warning("pairs of %s read without the output store: %s", task.id, exc.message)


def _read(task: Task) -> Pairs:
    folder = task_folder(task)
    if folder is None:
        return Pairs(None, [], [], ReportIndex())
    _sync(task, folder, strict=False)
    return _read_folder(folder)


def _read_folder(folder: Path) -> Pairs:
    path = newest_pair_file(folder) if folder.is_dir() else None
    if path is None:
        return Pairs(None, [], [], ReportIndex())
    raw = path.read_bytes()
    entries = pf.parse_entries(raw, path.name)
    return Pairs(path, entries, pf.assign_ids(entries), load_report(folder), raw)


def _pair_id(pair_id: str) -> str:
    if not pf.PAIR_ID.match(pair_id):
        raise field_error(
            "pair_id", "malformed", "invalid request: pair_id must look like p_3f2a9c1b7d"
        )
    return pair_id


def _not_found(task: Task, pair_id: str) -> NotFound:
    return NotFound(
        f"pair {pair_id} not found in task {task.id}",
        details={"task_id": task.id, "pair_id": pair_id},
    )


# Writing -----------------------------------------------------------------------------------
def _refuse_busy(task: Task) -> None:
    if task.status in BUSY:
        raise Conflict(
            f"task {task.id} is {task.status.value}: its pairs cannot change until the run ends",
            details={"task_id": task.id, "status": task.status.value},
        )


@dataclass
class Change:
    """What a write did: the answer, and one change-log record per pair changed."""

    answer: object
    records: list[dict]


def _write(task: Task, change: Callable[[Pairs, str, str], Change]) -> object:
    """Apply ``change(pairs, who, now)`` to the task's pair file (see the module docstring);
    returns the change's answer. Nothing is written when it records no change."""
    _refuse_busy(task)
    folder = folder_for_new_run(task)
    with runtime().db.transaction() as cur:
        cur.execute(query("lock_pair_curation"), {"task_id": task.id})
        with pf.locked(folder):
            current = store().get_task(task.id)
            if current is None:
                raise NotFound(f"task {task.id} not found", details={"task_id": task.id})
            _refuse_busy(current)
            _sync(current, folder, strict=True)
            pairs = _read_folder(folder)
            if pairs.path is None:
                raise Conflict(
                    f"task {task.id} has no pair file yet: run step 2 (qa_generation) first",
                    details={"task_id": task.id},
                )
            for i, pid in enumerate(pairs.ids):  # ids are stored from the first write on
                entry = pairs.entries[i]
                if pid is not None and entry.get("id") != pid:
                    pairs.entries[i] = {"id": pid, **{k: v for k, v in entry.items() if k != "id"}}
            result = change(pairs, current_caller().name, pf.now_iso())
            if result.records:
                _save(task.id, folder, pairs, result.records)
    return result.answer


def _save(task_id: str, folder: Path, pairs: Pairs, records: list[dict]) -> None:
    """Backup, file, log; then register and copy them (restored when the store refuses)."""
    path = pairs.path
    backup = pf.backup_path(path)
    old_backup = backup.read_bytes() if backup.is_file() else None
    log_new, log_old = pf.log_text(folder, records)
    pf.write_entries(path, pairs.entries, pairs.raw)
    pf.write_log(folder, log_new)
    names = (path.name, backup.name, pf.LOG_NAME)
    try:
        for name in names:
            register_file(store(), task_id, folder, name, output_store=output_store())
    except OutputStoreError:
        write_bytes_atomic(path, pairs.raw)
        for target, old in ((backup, old_backup), (folder / pf.LOG_NAME, log_old)):
            if old is None:
                target.unlink(missing_ok=True)
            else:
                write_bytes_atomic(target, old if isinstance(old, bytes) else old.encode())
        with contextlib.suppress(Exception):
            for name in names:
                if (folder / name).is_file():
                    register_file(store(), task_id, folder, name, output_store=output_store())
        raise
    logger.info(
        "pairs of %s changed by %s: %s", task_id, records[0]["by"],
        ", ".join(f"{r['action']} {r['pair_id']}" for r in records[:10]),
    )  # fmt: skip


def _snapshot(entry: dict, report: ReportIndex) -> dict:
    verdict = verdict_of(entry, report)
    return {
        "question": pf.text_of(entry, "question"),
        "sql": pf.text_of(entry, "sql"),
        "state": verdict.state,
        "error": verdict.error,
        "approved": pf.review_of(entry).get("approved") is True,
    }


# Checking SQL ------------------------------------------------------------------------------
def _source(task: Task) -> str:
    spec = (task.parameters or {}).get("db_connection")
    return resolve_source(config(), runtime().pipeline_dsn, spec, trusted=False)


def _check_sql(task: Task, sql: str) -> Verdict:
    """Step 3's verdict on ``sql`` against the task's source, at the task's level."""
    cfg = config()
    level = (task.parameters or {}).get("validation_level") or "explain"
    try:
        result = validate_sql(
            _source(task),
            sql,
            level=level if level in ("explain", "execute") else "explain",
            statement_timeout_ms=cfg.validation_statement_timeout_ms,
            row_limit=cfg.validation_row_limit,
        )
    except SourceUnavailable as exc:
        raise SourceUnreachable(
            f"the SQL cannot be checked now: {exc.message}", details={"task_id": task.id}
        ) from None
    if result.valid:
        return Verdict("valid")
    return Verdict("invalid", result.error or "invalid")


# Routes ----------------------------------------------------------------------------------------
@bp.get("/tasks/<task_id>/pairs")
def list_pairs(task_id: str):
    """Every pair with its state and tables, filtered; counts over all pairs."""
    task = load_task(task_id)
    args = query_args(PairListQuery)
    pairs = _read(task)
    views = pairs.views()
    shown = views
    if args.state in STATES:
        shown = [v for v in shown if v["state"] == args.state]
    elif args.state is not None:
        wanted = args.state == "approved"
        shown = [v for v in shown if v["approved"] is wanted]
    if args.table:
        table = args.table.lower().removeprefix("public.")
        shown = [v for v in shown if table in (t.lower() for t in v["tables"])]
    if args.q:
        needle = args.q.casefold()
        shown = [v for v in shown if needle in v["question"].casefold()
                 or needle in v["sql"].casefold()]  # fmt: skip
    data = {
        "task_id": task.id,
        "pair_file": pairs.path.name if pairs.path else None,
        "counts": counts_of(views),
        "tables": sorted({t for v in views for t in v["tables"]}),
        "pairs": shown,
    }
    return ok(data, f"{len(shown)} of {len(views)} pairs")


@bp.get("/tasks/<task_id>/pairs/<pair_id>")
def get_pair(task_id: str, pair_id: str):
    task = load_task(task_id)
    _pair_id(pair_id)
    pairs = _read(task)
    i = pairs.find(pair_id)
    if i is None:
        raise _not_found(task, pair_id)
    return ok(pairs.view(i))


@bp.post("/tasks/<task_id>/pairs")
def add_pair(task_id: str):
    """Add a pair, validated at once (an invalid one is saved as invalid, with its error)."""
    task = load_task(task_id)
    body = json_body(NewPair)
    _refuse_busy(task)
    verdict = _check_sql(task, body.sql)

    def add(pairs: Pairs, who: str, now: str) -> Change:
        pid = pf.new_id(body.question, body.sql, {p for p in pairs.ids if p})
        entry = {"id": pid, "question": body.question, "sql": body.sql}
        record_verdict(entry, verdict)
        entry["review"].update(approved=False, added_by=who, added_at=now, edited_by=who,
                               edited_at=now)  # fmt: skip
        pairs.entries.append(entry)
        pairs.ids.append(pid)
        i = len(pairs.entries) - 1
        after = _snapshot(entry, pairs.report)
        return Change(pairs.view(i), [pf.change_record(who, "add", pid, None, after, now)])

    view = _write(task, add)
    return ok(view, f"pair added ({view['state']})", 201)


@bp.patch("/tasks/<task_id>/pairs/<pair_id>")
def edit_pair(task_id: str, pair_id: str):
    """Change the question and/or SQL; a changed SQL is validated again; un-approves."""
    task = load_task(task_id)
    _pair_id(pair_id)
    body = json_body(PairEdit)
    _refuse_busy(task)
    before = _read(task)
    i = before.find(pair_id)
    if i is None:
        raise _not_found(task, pair_id)
    checked: dict[str, Verdict] = {}
    if body.sql is not None and body.sql != pf.text_of(before.entries[i], "sql"):
        checked[body.sql] = _check_sql(task, body.sql)  # before the lock: it may take a while

    def edit(pairs: Pairs, who: str, now: str) -> Change:
        i = pairs.find(pair_id)
        if i is None:
            raise _not_found(task, pair_id)
        entry = pairs.entries[i]
        question = body.question if body.question is not None else pf.text_of(entry, "question")
        sql = body.sql if body.sql is not None else pf.text_of(entry, "sql")
        if question == pf.text_of(entry, "question") and sql == pf.text_of(entry, "sql"):
            return Change(pairs.view(i), [])  # nothing to change
        old = _snapshot(entry, pairs.report)
        if sql != pf.text_of(entry, "sql"):
            verdict = checked.get(sql) or _check_sql(task, sql)
        else:  # only the question: the SQL keeps its verdict, whatever gave it
            verdict = verdict_of(entry, pairs.report)
        entry["question"], entry["sql"] = question, sql
        record_verdict(entry, verdict)
        entry["review"].update(approved=False, approved_by=None, approved_at=None,
                               edited_by=who, edited_at=now)  # fmt: skip
        after = _snapshot(entry, pairs.report)
        return Change(pairs.view(i), [pf.change_record(who, "edit", pair_id, old, after, now)])

    view = _write(task, edit)
    return ok(view, f"pair {pair_id} saved ({view['state']})")


@bp.delete("/tasks/<task_id>/pairs/<pair_id>")
def delete_pair(task_id: str, pair_id: str):
    task = load_task(task_id)
    _pair_id(pair_id)

    def delete(pairs: Pairs, who: str, now: str) -> Change:
        i = pairs.find(pair_id)
        if i is None:
            raise _not_found(task, pair_id)
        old = _snapshot(pairs.entries[i], pairs.report)
        del pairs.entries[i]
        del pairs.ids[i]
        record = pf.change_record(who, "delete", pair_id, old, None, now)
        return Change({"deleted": pair_id}, [record])

    return ok(_write(task, delete), f"pair {pair_id} deleted")


@bp.post("/tasks/<task_id>/pairs/<pair_id>/run")
def run_pair(task_id: str, pair_id: str):
    """Run the pair's SQL on the task's source: read-only, checked, limited rows and time."""
    task = load_task(task_id)
    _pair_id(pair_id)
    body = json_body(RunPairRequest, allow_empty=True)
    pairs = _read(task)
    i = pairs.find(pair_id)
    if i is None:
        raise _not_found(task, pair_id)
    sql = pf.text_of(pairs.entries[i], "sql")
    if not sql.strip():
        raise field_error("pair_id", "no SQL to run", f"pair {pair_id} has no SQL to run")
    try:
        result = run_query(
            _source(task),
            sql,
            limit=body.limit,
            statement_timeout_ms=config().validation_statement_timeout_ms,
        )
    except SourceUnavailable as exc:
        raise SourceUnreachable(f"the SQL cannot run now: {exc.message}") from None
    more = " (more rows not shown)" if result.truncated else ""
    return ok(result.to_dict(), f"{result.row_count} rows in {result.duration_ms:.0f} ms{more}")


@bp.post("/tasks/<task_id>/pairs/approve")
def approve_pairs(task_id: str):
    """Approve pairs (or withdraw approvals); invalid and unchecked pairs are skipped."""
    task = load_task(task_id)
    body = json_body(ApproveRequest)

    def approve(pairs: Pairs, who: str, now: str) -> Change:
        views = {v["id"]: v for v in pairs.views()}
        if body.all_valid:
            targets = [pid for pid, v in views.items() if v["state"] in APPROVABLE]
        else:
            targets = list(dict.fromkeys(body.ids or []))
        done, withdrawn, skipped, records = [], [], [], []
        for pid in targets:
            view = views.get(pid)
            if view is None:
                skipped.append({"id": pid, "reason": "no such pair"})
                continue
            if body.approved and view["state"] not in APPROVABLE:
                why = f": {view['error']}" if view["error"] else ""
                skipped.append({"id": pid, "reason": f"{view['state']}{why}"})
                continue
            entry = pairs.entries[pairs.find(pid)]
            (done if body.approved else withdrawn).append(pid)
            if view["approved"] is body.approved:
                continue
            review = dict(pf.review_of(entry))
            if body.approved:
                review.update(approved=True, approved_by=who, approved_at=now)
            else:
                review.update(approved=False, approved_by=None, approved_at=None)
            entry["review"] = review
            action = "approve" if body.approved else "unapprove"
            records.append(pf.change_record(
                who, action, pid, {"approved": not body.approved}, {"approved": body.approved},
                now,
            ))  # fmt: skip
        answer = {"approved": done, "unapproved": withdrawn, "skipped": skipped,
                  "counts": counts_of(pairs.views())}  # fmt: skip
        return Change(answer, records)

    data = _write(task, approve)
    verb = "approved" if body.approved else "unapproved"
    n = len(data["approved"] if body.approved else data["unapproved"])
    return ok(data, f"{n} pairs {verb}, {len(data['skipped'])} skipped")


@bp.post("/tasks/<task_id>/pairs/load")
def load_pairs(task_id: str):
    """Step 4 again (force) with the approved pairs only, or all of them (202, like execute)."""
    from data_pipeline.api.tasks import start_requested_run

    task = load_task(task_id)
    body = json_body(LoadRequest, allow_empty=True)
    _refuse_busy(task)
    if body.pairs == "approved":
        pairs = _read(task)
        if not any(v["approved"] for v in pairs.views()):
            raise Conflict(
                f"task {task.id} has no approved pair: approve pairs first, or load all",
                details={"task_id": task.id},
            )
    previous = dict(task.parameters or {})
    changed = {**previous, "load_pairs": body.pairs}
    if body.replace is not None:
        changed["truncate_vector_tables"] = body.replace
    updated = store().update_parameters(task.id, changed)
    request = schemas.ExecuteRequest(step_name="training_load", force=True)
    try:
        return start_requested_run(updated, request)
    except Exception:
        with contextlib.suppress(Exception):  # refused: the task keeps its parameters
            store().update_parameters(task.id, previous)
        raise


@bp.get("/tasks/<task_id>/pairs/history")
def pair_history(task_id: str):
    """Every change made by curation, newest first (who, when, before, after)."""
    task = load_task(task_id)
    folder = task_folder(task)
    if folder is None or not folder.is_dir():
        return ok({"task_id": task.id, "changes": []})
    _sync(task, folder, strict=False)
    changes = pf.read_history(folder)
    return ok({"task_id": task.id, "changes": changes}, f"{len(changes)} changes")


# OpenAPI entries of these routes, in the shape of ``openapi.ROUTES``.
OPENAPI_ROUTES: list[tuple] = [
    ("get", "/tasks/{task_id}/pairs", "The task's pairs with state and tables (filters; counts)",
     None, PairListQuery, PairList, (400, 404, 409)),
    ("post", "/tasks/{task_id}/pairs", "Add a pair (validated at once)", NewPair, None, Pair,
     (201, 400, 403, 404, 409, 413, 415, 503)),
    ("get", "/tasks/{task_id}/pairs/history", "Curation changes, newest first", None, None,
     PairHistory, (404,)),
    ("post", "/tasks/{task_id}/pairs/approve", "Approve pairs, or withdraw approvals",
     ApproveRequest, None, ApproveResult, (400, 403, 404, 409, 415)),
    ("post", "/tasks/{task_id}/pairs/load",
     "Load the approved (or all) pairs: step 4 again, as a normal run", LoadRequest, None,
     schemas.ExecuteResponse, (202, 400, 403, 404, 409)),
    ("get", "/tasks/{task_id}/pairs/{pair_id}", "One pair", None, None, Pair, (400, 404)),
    ("patch", "/tasks/{task_id}/pairs/{pair_id}",
     "Edit a pair's question and/or SQL (validated again; un-approves)", PairEdit, None, Pair,
     (400, 403, 404, 409, 413, 415, 503)),
    ("delete", "/tasks/{task_id}/pairs/{pair_id}", "Delete a pair", None, None, PairDeleted,
     (400, 403, 404, 409)),
    ("post", "/tasks/{task_id}/pairs/{pair_id}/run",
     "Run the pair's SQL read-only (checked, row and time limits)", RunPairRequest, None,
     PairRows, (400, 403, 404, 503)),
]  # fmt: skip
