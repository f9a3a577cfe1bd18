"""Step 4, ``training_load``: the task folder's DDL, documentation and question/SQL pairs
into the pgvector training store (see :mod:`data_pipeline.training_load.vector_store`).

Options: ``backup_vector_tables`` (CSV copies of the task's own rows into
``<task>/vector_bak/`` first) and ``truncate_vector_tables`` (remove the task's own rows before
loading; rows other tasks loaded too stay). A task never exports or removes the vectors of
others. Loading the same folder again adds no row and embeds nothing: ids come from the
content, and a stored row records what its vector was made from. A table's DDL and
documentation replace their earlier version from the same database; a pair stored already
(by anyone, up to case, spacing and trailing punctuation) is not added again
(:mod:`.load_plan`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import psycopg2

from core.errors import StepFailed, error_summary
from data_pipeline.tasks.runtime import pipeline_dsn as start_pipeline
from data_pipeline.training_load.documents import collect_documents, newest_pair_file
from data_pipeline.training_load.embedders import get_embedder
from data_pipeline.training_load.loader import load_documents
from data_pipeline.training_load.vector_store import BACKUP_DIR, TrainingStore
from data_pipeline.workflow.context import StepContext

logger = logging.getLogger(__name__)


def resolve_vector_dsn(config, pipeline_dsn: str | None = None) -> str:
    """Where the training store lives: ``VECTOR_DATABASE_URL``, else the pipeline database
    (starting the embedded server when that is the one configured)."""
    if config.vector_database_url:
        return config.vector_database_url
    if pipeline_dsn:
        return pipeline_dsn
    return start_pipeline(config)


def missing_inputs(task_dir: Path) -> str | None:
    """Why step 4 cannot run yet (naming the step to run first), or None."""
    task_dir = Path(task_dir)
    has_schema_docs = any(task_dir.glob("*.ddl")) or any(task_dir.glob("*_detail.md"))
    if not has_schema_docs:
        return (
            "step 4 (training_load) needs the .ddl and _detail.md files of step 1 "
            "(ddl_generation): run step 1 first"
        )
    if newest_pair_file(task_dir) is None:
        return (
            "step 4 (training_load) needs the question-SQL file (*_pair.json) of step 2 "
            "(qa_generation): run step 2 first"
        )
    return None


def output_files(task_dir: Path) -> list[Path]:
    """Nothing to clean: the vectors are in the store, and the backups in ``vector_bak/`` may
    be the only copy of what a truncate removed, so a ``clean`` re-run never deletes them."""
    return []


@contextlib.contextmanager
def _store_errors(store: TrainingStore) -> Iterator[None]:
    """Database errors of the store become a StepFailed naming the store (never the DSN)."""
    try:
        yield
    except psycopg2.Error as exc:
        raise StepFailed(
            f"the training store ({store.describe()}) failed: {error_summary(exc)}"
        ) from None


def run(ctx: StepContext) -> dict:
    """Load the task folder's training data; return counts per collection."""
    reason = missing_inputs(ctx.task_dir)
    if reason:
        raise StepFailed(reason)
    found = collect_documents(ctx.task_dir, load_pairs=ctx.params.load_pairs)
    if not found.documents:
        raise StepFailed(
            "step 4 (training_load) found no training documents in the task folder: the .ddl, "
            "_detail.md and pair files are empty"
        )
    embedder = get_embedder(ctx.config)
    dsn = ctx.vector_dsn or resolve_vector_dsn(ctx.config)
    logger.info(
        "loading %d documents (%d DDL files, %d documentation files, pairs from %s) with %s",
        len(found.documents),
        len(found.ddl_files),
        len(found.detail_files),
        found.pair_file,
        embedder.name,
    )
    summary: dict = {
        "embedder": embedder.name,
        "dimension": embedder.dimension,
        "source_files": {
            "ddl": found.ddl_files,
            "documentation": found.detail_files,
            "sql": found.pair_file,
        },
        "load_pairs": ctx.params.load_pairs,
        "backup_files": [],
        "truncated": None,
    }
    with TrainingStore(dsn) as store, _store_errors(store):
        ctx.check_cancelled()
        store.ensure(embedder.dimension)
        if ctx.params.backup_vector_tables:
            files = store.backup_vector_tables(Path(ctx.task_dir) / BACKUP_DIR, ctx.task_id)
            summary["backup_files"] = [p.relative_to(ctx.task_dir).as_posix() for p in files]
        if ctx.params.truncate_vector_tables:
            summary["truncated"] = store.truncate_vector_tables(embedder.dimension, ctx.task_id)
        store.check_dimension(embedder.dimension, embedder.name)
        ctx.check_cancelled()
        report = load_documents(
            store,
            found.documents,
            embedder,
            task_id=ctx.task_id,
            db_name=ctx.db_name,
            progress=lambda done, total: ctx.progress(done, total, f"{done}/{total} documents"),
            check_cancelled=ctx.check_cancelled,
        )
        summary.update(report.to_dict())
        summary["store_counts"] = store.counts()
    logger.info(
        "training load done: %d inserted, %d already present; the store holds %s",
        report.inserted,
        report.already_present,
        summary["store_counts"],
    )
    return summary
