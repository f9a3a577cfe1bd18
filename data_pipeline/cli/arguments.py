"""Command-line arguments → :class:`WorkflowParams`, with messages a user can act on.

Every problem found here is a usage error (exit code 2): an invalid table list (with line
numbers), an unknown source, a malformed DSN, an impossible combination of options.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from core.errors import InvalidInput
from core.secrets import mask_secrets
from data_pipeline.schema.table_list import TableListError, parse_table_list
from data_pipeline.sources.registry import database_name, resolve_source
from data_pipeline.tasks.models import STEP_NAMES, Task
from data_pipeline.workflow.params import WorkflowParams
from data_pipeline.workflow.plan import plan_run
from data_pipeline.workflow.report import TABLE_LIST_FILE

OPTION_OF_FIELD = {
    "db_connection": "--db-connection",
    "business_context": "--business-context",
    "table_list": "--table-list",
    "table_list_file": "--table-list",
    "execution_mode": "--execution-mode",
    "single_step": "--single-step",
    "start_step": "--start-step",
    "end_step": "--end-step",
    "skip_steps": "--skip-steps",
}
_FLAGS = {  # option attribute -> (parameter, value when the flag is given)
    "skip_validation": ("enable_sql_validation", False),
    "disable_llm_repair": ("enable_llm_repair", False),
    "no_modify_file": ("modify_original_file", False),
    "skip_training_load": ("enable_training_data_load", False),
    "backup_vector_tables": ("backup_vector_tables", True),
    "truncate_vector_tables": ("truncate_vector_tables", True),
}


class UsageError(Exception):
    """The command line cannot be run as given (exit code 2)."""


def read_table_list(path: str | None, config) -> tuple[str | None, list[str] | None]:
    """The text and parsed names of ``--table-list FILE`` (None, None when not given)."""
    if not path:
        return None, None
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--table-list: no such file: {path}")
    size = file.stat().st_size
    if size > config.max_table_list_bytes:
        raise UsageError(
            f"--table-list: file too large ({size} bytes, at most {config.max_table_list_bytes})"
        )
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"--table-list: not UTF-8 text (byte {exc.start})") from None
    try:
        names = parse_table_list(text)
    except TableListError as exc:
        lines = [exc.message]
        for err in exc.details.get("errors", [])[:20]:
            lines.append(f"  line {err['line']}: {err['value']!r}: {err['reason']}")
        raise UsageError("--table-list: " + "\n".join(lines)) from None
    if not names:
        raise UsageError(f"--table-list: {path} lists no table")
    return text, names


def _skip_steps(text: str) -> list[int]:
    try:
        steps = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise UsageError(
            f"--skip-steps: expected step numbers like 3 or 3,4, got {text!r}"
        ) from None
    if not steps or any(not 1 <= s <= len(STEP_NAMES) for s in steps):
        raise UsageError(f"--skip-steps: steps are numbered 1-4, got {text!r}")
    return steps


def _overrides(args: argparse.Namespace, table_names: list[str] | None) -> dict:
    over: dict = {}
    for attr, field in (
        ("db_connection", "db_connection"),
        ("business_context", "business_context"),
        ("start_step", "start_step"),
        ("end_step", "end_step"),
    ):
        if getattr(args, attr) is not None:
            over[field] = getattr(args, attr)
    if args.skip_steps is not None:
        over["skip_steps"] = _skip_steps(args.skip_steps)
    mode = args.execution_mode or ("single" if args.single_step is not None else None)
    if mode == "single" and any(
        v is not None for v in (args.start_step, args.end_step, args.skip_steps)
    ):
        raise UsageError("--start-step, --end-step and --skip-steps apply to complete mode only")
    if mode:
        over["execution_mode"] = mode
        over["single_step"] = args.single_step
    for attr, (field, value) in _FLAGS.items():
        if getattr(args, attr):
            over[field] = value
    if table_names is not None:
        over["table_list"] = None
        over["table_list_file"] = TABLE_LIST_FILE
    return over


def _readable(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err.get("loc") else ""
        option = OPTION_OF_FIELD.get(field, field.replace("_", "-") or "arguments")
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        for name in sorted(OPTION_OF_FIELD, key=len, reverse=True):
            message = message.replace(name, OPTION_OF_FIELD[name])
        if err.get("type") == "missing":
            message = "is required"
        problems.append(f"{option}: {message}" if field else message)
    return "; ".join(problems)


def build_params(
    args: argparse.Namespace,
    existing: Task | None,
    table_names: list[str] | None,
    pipeline_dsn: str | None,
    config,
) -> tuple[WorkflowParams, str, str]:
    """The run's parameters (an existing task's, overridden by the options given), the
    business database's name and DSN. Raises UsageError with a readable message."""
    merged = dict(existing.parameters) if existing is not None else {}
    merged.update(_overrides(args, table_names))
    try:
        params = WorkflowParams(**merged)
    except ValidationError as exc:
        raise UsageError(mask_secrets(_readable(exc))) from None
    try:
        source = resolve_source(config, pipeline_dsn or "", params.db_connection)
        db_name = params.db_name or database_name(source)
    except InvalidInput as exc:
        raise UsageError(f"--db-connection: {mask_secrets(exc.message)}") from None
    if _runs_step_one(params) and not _has_table_list(params, args, existing, table_names):
        raise UsageError("--table-list is required to run step 1 (ddl_generation)")
    return params, db_name, source


def _runs_step_one(params: WorkflowParams) -> bool:
    return plan_run(params).runs("ddl_generation")


def _has_table_list(params, args, existing, table_names) -> bool:
    if table_names or params.table_list or params.table_list_file:
        return True
    folders = []
    if existing is not None and existing.output_directory:
        folders.append(Path(existing.output_directory))
    if args.no_db_tracking and args.output_dir:
        folders.append(Path(args.output_dir))
    return any((folder / TABLE_LIST_FILE).is_file() for folder in folders)
