"""Step 3 (``sql_validation``): validate the newest ``*_pair.json`` of the task folder.

Settings: ``validation_level`` (explain | execute), ``enable_llm_repair``,
``modify_original_file`` and ``repair_max_attempts`` from the run's parameters;
concurrency, statement timeout and row limit from the parameters or the configuration.
Progress moves with the SQL checked (then repaired); cancellation is honoured between SQL.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.errors import InvalidInput, StepFailed
from data_pipeline.sql_validation.report import REPORT_GLOB, SUMMARY_GLOB
from data_pipeline.sql_validation.runner import ValidationSettings, validate_pair_file
from data_pipeline.workflow.context import StepContext

PAIR_GLOB = "*_pair.json"
_PAIR_STAMP = re.compile(r"_(\d{8}_\d{6})_pair\.json$")


def pair_files(task_dir: Path) -> list[Path]:
    """The pair files of a task folder, oldest first (by the time in the name, then mtime)."""

    def key(path: Path) -> tuple[str, float]:
        m = _PAIR_STAMP.search(path.name)
        return (m.group(1) if m else "", path.stat().st_mtime)

    return sorted((p for p in Path(task_dir).glob(PAIR_GLOB) if p.is_file()), key=key)


def newest_pair_file(task_dir: Path) -> Path | None:
    files = pair_files(task_dir)
    return files[-1] if files else None


def missing_inputs(task_dir: Path) -> str | None:
    if newest_pair_file(task_dir) is None:
        return (
            "step 3 (sql_validation) needs the *_pair.json file of step 2 (qa_generation): "
            "run step 2 (qa_generation) first"
        )
    return None


def output_files(task_dir: Path) -> list[Path]:
    """Reports and change logs (the pair file itself is step 2's).

    The pair file's ``.backup`` is deliberately not listed: it holds step 2's original pairs,
    and a ``clean`` re-run must not delete the only copy of the pairs it removed."""
    folder = Path(task_dir)
    patterns = (SUMMARY_GLOB, REPORT_GLOB, "file_modifications_*.log")
    return sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()})


def settings_for(ctx: StepContext) -> ValidationSettings:
    return ValidationSettings(
        level=ctx.params.validation_level,
        max_concurrency=int(ctx.setting("validation_max_concurrency")),
        statement_timeout_ms=int(ctx.config.validation_statement_timeout_ms),
        row_limit=int(ctx.config.validation_row_limit),
        enable_repair=bool(ctx.params.enable_llm_repair),
        repair_max_attempts=int(ctx.setting("repair_max_attempts")),
        repair_concurrency=int(ctx.config.llm_max_concurrency),
        modify_original_file=bool(ctx.params.modify_original_file),
    )


def run(ctx: StepContext) -> dict:
    """Validate (and repair) the newest pair file; write the reports; return the summary."""
    pair = newest_pair_file(ctx.task_dir)
    if pair is None:
        raise StepFailed(missing_inputs(ctx.task_dir))
    try:
        return validate_pair_file(
            pair,
            ctx.source_dsn,
            settings_for(ctx),
            llm=ctx.llm,
            report_dir=ctx.task_dir,
            ddl_folder=ctx.task_dir,
            db_name=ctx.db_name,
            progress=lambda fraction, note=None: ctx.progress(fraction, 1.0, note),
            is_cancelled=ctx.is_cancelled,
        )
    except InvalidInput as exc:  # an unreadable pair file is this step's failure
        raise StepFailed(exc.message) from None
