"""Step 1, ``ddl_generation``: metadata → missing comments from the LLM → ``.ddl`` and
``_detail.md`` per table, plus ``schema_metadata.json`` for the later steps.

The step fails only when no table succeeds; per-table problems are logged and reported in the
summary (``tables_failed``).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from core.errors import Cancelled, PipelineError, StepFailed
from core.threads import abandoning_pool
from data_pipeline.ddl_generation.detail_render import incoming_foreign_keys
from data_pipeline.ddl_generation.metadata_reader import MetadataReader
from data_pipeline.ddl_generation.relationships import infer_relationships
from data_pipeline.ddl_generation.writers import (
    file_stems,
    save_schema_metadata,
    step_files,
    write_table_files,
)
from data_pipeline.llm.base import TableComments
from data_pipeline.schema.model import SCHEMA_METADATA_FILE, TableMeta
from data_pipeline.sources.connection import connect_readonly
from data_pipeline.workflow.context import StepContext

logger = logging.getLogger(__name__)

MAX_COMMENT_CHARS = 500
READ_SHARE = 0.6  # share of the step's progress given to reading (the rest: comments, files)
PROBE_TIMEOUT_MS = 10_000  # statement timeout of one relationship probe


def run(ctx: StepContext) -> dict:
    """Document every listed table; return the step summary."""
    started = time.monotonic()
    if not ctx.tables:
        raise StepFailed("no tables listed: give a table list (table_list or table_list.txt)")
    task_dir = Path(ctx.task_dir)
    task_dir.mkdir(parents=True, exist_ok=True)

    def read_progress(done: int, total: int) -> None:
        ctx.progress(READ_SHARE * done, max(total, 1), f"metadata {done}/{total} tables")

    reader = MetadataReader(
        ctx.source_dsn,
        sample_rows=ctx.setting("sample_rows"),
        exact_count_max_rows=ctx.config.exact_count_max_rows,
        statement_timeout_ms=ctx.config.source_statement_timeout_ms,
        db_name=ctx.db_name,
        is_cancelled=ctx.is_cancelled,
        progress=read_progress,
    )
    meta, errors = reader.read(ctx.tables)
    privilege = _privilege_warning(reader.source_role)
    if privilege:
        if ctx.config.require_readonly_sources:
            raise StepFailed(f"{privilege} (REQUIRE_READONLY_SOURCES is on)")
        logger.warning("%s", privilege)
    for name, message in errors.items():
        logger.warning("table %s failed: %s", name, message)
    ctx.check_cancelled()
    relationships = _infer_relationships(ctx, meta.tables)

    comment_stats = _add_comments(ctx, meta.tables, read_share=READ_SHARE)

    stems = file_stems(meta.tables)
    known = {(t.schema, t.name) for t in meta.tables}
    incoming = incoming_foreign_keys(meta)
    written: list[str] = []
    succeeded: list[str] = []
    total = len(meta.tables)
    for i, table in enumerate(meta.tables, start=1):
        ctx.check_cancelled()
        key = table.qualified_name
        try:
            paths = write_table_files(
                task_dir,
                table,
                stems[key],
                db_name=meta.db_name,
                extras=reader.extras.get(key),
                known_tables=known,
                incoming=incoming,
            )
        except OSError as exc:
            errors[key] = f"could not write files: {exc}"
            logger.warning("table %s failed: could not write files: %s", key, exc)
            continue
        written += [p.name for p in paths]
        succeeded.append(key)
        ctx.progress(0.9 + 0.1 * i / total, 1.0, f"files {i}/{total}")

    if not succeeded:
        detail = "; ".join(f"{k}: {v}" for k, v in list(errors.items())[:5])
        raise StepFailed(
            f"no table could be documented ({len(errors)} failed): {detail}",
            details={"tables_failed": _failures(errors)},
        )
    ok_names = set(succeeded)
    meta.tables = [t for t in meta.tables if t.qualified_name in ok_names]
    save_schema_metadata(meta, task_dir)
    elapsed = round(time.monotonic() - started, 3)
    ctx.progress(1, 1, "done")
    summary = {
        "tables_total": len(ctx.tables),
        "tables_succeeded": len(succeeded),
        "tables_failed": _failures(errors),
        "comments_generated": comment_stats,
        "files_written": len(written) + 1,
        "files": [*written, SCHEMA_METADATA_FILE][:100],
        "warnings": {k: v for k, v in list(reader.warnings.items())[:50]},
        "source_role": {**reader.source_role, "warning": privilege},
        "relationships": relationships,
        "catalog_queries": reader.catalog_queries,
        "statements": reader.statements,
        "elapsed_seconds": elapsed,
        "llm": ctx.llm.describe() if hasattr(ctx.llm, "describe") else str(ctx.llm),
    }
    logger.info(
        "step 1 documented %d of %d table(s) in %.2f s (%d comment(s) generated)",
        len(succeeded),
        len(ctx.tables),
        elapsed,
        comment_stats["tables"] + comment_stats["columns"],
    )
    return summary


def _infer_relationships(ctx: StepContext, tables: list[TableMeta]) -> dict:
    """Foreign keys no schema declares, inferred from names and confirmed by the data
    (:mod:`.relationships`); added to ``tables`` marked as inferred. Inference is an extra:
    when the source cannot be asked, the step goes on without it."""
    config = ctx.config
    if not config.infer_relationships:
        return {"enabled": False}
    ctx.progress(READ_SHARE, 1.0, "relationships")
    timeout = min(int(config.source_statement_timeout_ms), PROBE_TIMEOUT_MS)
    try:
        conn = connect_readonly(
            ctx.source_dsn,
            purpose="relationships",
            settings={"statement_timeout": timeout, "lock_timeout": timeout},
        )
    except PipelineError as exc:
        logger.warning("relationships not inferred: %s", exc.message)
        return {"enabled": True, "error": exc.message}
    try:
        report = infer_relationships(
            conn,
            tables,
            min_share=config.relationship_min_share,
            exact_rows=config.exact_count_max_rows,
            time_budget_seconds=config.relationship_time_budget_seconds,
        )
    finally:
        conn.close()
    logger.info(
        "relationships: %d inferred, %d candidate(s) rejected, %d key(s) found in the data"
        " (%d probes, %.2f s)",
        len(report.inferred), len(report.rejected), len(report.keys), report.probes,
        report.elapsed_seconds,
    )  # fmt: skip
    return {"enabled": True, **report.summary()}


def _privilege_warning(role: dict) -> str | None:
    """What is wrong with the source role's privileges, or None: it should only read."""
    name = role.get("role") or "the source role"
    if role.get("superuser"):
        return f"the source is read as {name}, a superuser: use a read-only role"
    writable = role.get("writable") or []
    if writable:
        shown = ", ".join(writable[:5]) + (" …" if len(writable) > 5 else "")
        return f"the source role {name} may write listed tables ({shown}): use a read-only role"
    return None


def _failures(errors: dict[str, str]) -> list[dict]:
    return [{"table": k, "error": v} for k, v in errors.items()]


def _needs_comments(table: TableMeta) -> bool:
    return not table.comment or any(not c.comment for c in table.columns)


def _add_comments(ctx: StepContext, tables: list[TableMeta], *, read_share: float) -> dict:
    """Ask the LLM for missing comments, concurrently for a remote model; keep existing ones."""
    stats = {"tables": 0, "columns": 0, "dropped": 0, "failed_tables": 0}
    todo = [t for t in tables if _needs_comments(t)]
    if not todo or ctx.llm is None:
        return stats
    context = ctx.params.business_context
    lock = threading.Lock()

    def ask(table: TableMeta) -> TableComments | None:
        if ctx.is_cancelled():
            return None
        try:
            return ctx.llm.comment_table(table, context)
        except Cancelled:
            raise
        except PipelineError as exc:
            logger.warning("comments for %s not generated: %s", table.qualified_name, exc.message)
        except Exception as exc:  # one table's bad answer must not stop the others
            logger.warning("comments for %s not generated: %s", table.qualified_name, exc)
        with lock:
            stats["failed_tables"] += 1
        return None

    rule_based = getattr(ctx.llm, "is_rule_based", False)
    workers = 1 if rule_based else max(1, int(getattr(ctx.config, "llm_max_concurrency", 4)))
    span = 0.9 - read_share
    with abandoning_pool(workers, "comments") as pool:
        for i, (table, answer) in enumerate(zip(todo, pool.map(ask, todo), strict=True), 1):
            if answer is not None:
                apply_comments(table, answer, stats)
            ctx.progress(read_share + span * i / len(todo), 1.0, f"comments {i}/{len(todo)}")
    ctx.check_cancelled()
    return stats


def _clean(text) -> str | None:
    if not isinstance(text, str):
        return None
    text = " ".join(text.split())
    return text[:MAX_COMMENT_CHARS] or None


def apply_comments(table: TableMeta, answer: TableComments, stats: dict | None = None) -> None:
    """Fill the table's *missing* comments from ``answer``; answers naming columns that do
    not exist are dropped (and logged). Column names match exactly, or ignoring case when
    that is unambiguous."""
    stats = stats if stats is not None else {"tables": 0, "columns": 0, "dropped": 0}
    if not table.comment and (text := _clean(answer.table_comment)):
        table.comment, table.comment_generated = text, True
        stats["tables"] += 1
    by_lower: dict[str, list] = {}
    for col in table.columns:
        by_lower.setdefault(col.name.lower(), []).append(col)
    dropped = []
    for name, comment in (answer.column_comments or {}).items():
        col = table.column(name) if isinstance(name, str) else None
        if col is None and isinstance(name, str) and len(by_lower.get(name.lower(), [])) == 1:
            col = by_lower[name.lower()][0]
        if col is None:
            dropped.append(str(name))
            continue
        if not col.comment and (text := _clean(comment)):
            col.comment, col.comment_generated = text, True
            stats["columns"] += 1
    if dropped:
        stats["dropped"] += len(dropped)
        logger.warning(
            "dropped comments for column(s) that %s does not have: %s",
            table.qualified_name,
            ", ".join(dropped[:20]),
        )


def output_files(task_dir: Path) -> list[Path]:
    """The files step 1 writes (removed by a ``clean`` re-run)."""
    files = step_files(task_dir)
    meta = Path(task_dir) / SCHEMA_METADATA_FILE
    if meta.is_file():
        files.append(meta)
    return files


def missing_inputs(task_dir: Path) -> str | None:
    """Step 1 reads no files of earlier steps (its table list is checked by the caller)."""
    return None
