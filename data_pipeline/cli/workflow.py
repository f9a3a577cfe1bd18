"""The workflow's command line, ``python data_pipeline/schema_workflow.py`` (SPEC §9).

Tracked runs (the default) are tasks like the API's, with ``created_by = manual``; with
``--no-db-tracking`` nothing is written to the task tables and the files go straight into
``--output-dir``. Exit codes: 0 success, 1 failure, 2 bad arguments, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime
from pathlib import Path

from app_config import Config, ConfigError
from core.errors import InvalidInput, PipelineError
from core.files import write_text_atomic
from core.secrets import mask_secrets
from core.task_logging import (
    CONSOLE_FORMAT,
    ContextFilter,
    MaskingFormatter,
    configure_logging,
    configure_server_log,
)
from data_pipeline.cli.arguments import UsageError, build_params, read_table_list
from data_pipeline.cli.interrupt import InterruptHandler, exit_now
from data_pipeline.cli.progress import ProgressDisplay
from data_pipeline.runs.tracked import (
    EXIT_CANCELLED,
    EXIT_FAILED,
    EXIT_USAGE,
    RunNotClaimed,
    exit_code,
    run_tracked,
)
from data_pipeline.sources.registry import is_demo_source
from data_pipeline.tasks.models import STEP_NAMES, make_task_id, validate_task_id
from data_pipeline.tasks.runtime import open_runtime
from data_pipeline.workflow.orchestrator import SchemaWorkflowOrchestrator
from data_pipeline.workflow.plan import plan_run
from data_pipeline.workflow.report import TABLE_LIST_FILE, summary_numbers

logger = logging.getLogger("data_pipeline.schema_workflow")


EPILOG = """\
steps: 1 ddl_generation, 2 qa_generation, 3 sql_validation, 4 training_load
exit codes: 0 success, 1 a step failed, 2 bad arguments, 130 interrupted (Ctrl-C)

examples:
  python data_pipeline/schema_workflow.py --db-connection source:demo \\
      --table-list tables.txt --business-context "高速公路服务区管理系统"
  python data_pipeline/schema_workflow.py --task-id manual_20250101_120000 \\
      --execution-mode single --single-step 4
  python data_pipeline/schema_workflow.py --no-db-tracking --output-dir ./out \\
      --db-connection postgresql://reader@localhost/sales --table-list tables.txt \\
      --business-context "sales analytics" --execution-mode single --single-step 1
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="schema_workflow.py",
        description="Generate Text-to-SQL training data from a PostgreSQL database "
        "(DDL, table docs, validated question-SQL pairs, pgvector vectors).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    steps = range(1, len(STEP_NAMES) + 1)
    p.add_argument("--db-connection", metavar="DSN|source:NAME", help="business database")
    p.add_argument("--table-list", metavar="FILE", help="file listing the tables to document")
    p.add_argument("--business-context", metavar="TEXT", help="what the database is about")
    p.add_argument("--output-dir", metavar="DIR", help="where task folders (or, untracked, "
                   "the files themselves) go; default DATA_PIPELINE_ROOT")  # fmt: skip
    p.add_argument("--task-id", help="run (again) on this task id (manual_YYYYMMDD_HHMMSS)")
    p.add_argument("--no-db-tracking", action="store_true", help="do not record the run")
    p.add_argument("--execution-mode", choices=("complete", "single"))
    p.add_argument("--single-step", type=int, choices=steps, metavar="1-4")
    p.add_argument("--start-step", type=int, choices=steps, metavar="N")
    p.add_argument("--end-step", type=int, choices=steps, metavar="N")
    p.add_argument("--skip-steps", metavar="N,M", help="steps to skip, e.g. 3 or 3,4")
    p.add_argument("--skip-validation", action="store_true", default=None, help="skip step 3")
    p.add_argument("--disable-llm-repair", action="store_true", default=None)
    p.add_argument("--no-modify-file", action="store_true", default=None,
                   help="step 3 leaves the pair file unchanged")  # fmt: skip
    p.add_argument("--skip-training-load", action="store_true", default=None, help="skip step 4")
    p.add_argument("--backup-vector-tables", action="store_true", default=None)
    p.add_argument("--truncate-vector-tables", action="store_true", default=None)
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on unknown or malformed options
    display = ProgressDisplay(sys.stdout)
    _configure_console(args.verbose, display)
    interrupt = InterruptHandler().install()
    code = _main(args, display)
    if interrupt.interrupted:
        # The outcome is recorded: LLM calls still in flight in other threads are abandoned.
        exit_now(code)
    return code


def _main(args: argparse.Namespace, display: ProgressDisplay) -> int:
    try:
        return _run(args, display)
    except UsageError as exc:
        display.finish()
        print(f"schema_workflow.py: error: {mask_secrets(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        display.finish()
        print("interrupted", file=sys.stderr)
        return EXIT_CANCELLED
    except PipelineError as exc:
        display.finish()
        print(f"schema_workflow.py: {mask_secrets(exc.message)}", file=sys.stderr)
        return EXIT_FAILED


def _configure_console(verbose: int, display: ProgressDisplay) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    configure_logging(level, console=False)
    handler = display.log_handler() if display.enabled else logging.StreamHandler(sys.stderr)
    handler.setFormatter(MaskingFormatter(CONSOLE_FORMAT))
    # The first handler to see a record fixes its task/step attributes for the handlers after
    # it (the run's file and database handlers): it must set them from the log context.
    handler.addFilter(ContextFilter())
    handler.setLevel(level)
    logging.getLogger().addHandler(handler)
    # The operator at the terminal also reads the server's log (why a connection failed).
    configure_server_log(None, console=True)


def _run(args: argparse.Namespace, display: ProgressDisplay) -> int:
    try:
        config = Config.from_env()
        if args.task_id:
            validate_task_id(args.task_id)
    except (ConfigError, InvalidInput) as exc:
        raise UsageError(str(exc)) from None
    table_text, table_names = read_table_list(args.table_list, config)
    tracked = not args.no_db_tracking
    runtime = None
    if tracked or is_demo_source(config, args.db_connection):
        # An untracked run still needs the pipeline database for the bundled demo source.
        runtime = open_runtime(config)
    try:
        existing = runtime.store.get_task(args.task_id) if tracked and args.task_id else None
        pipeline = runtime.pipeline_dsn if runtime else None
        params, db_name = build_params(args, existing, table_names, pipeline, config)
        if tracked:
            return _tracked(args, config, runtime, existing, params, db_name, table_text, display)
        return _untracked(args, config, runtime, params, table_text, display)
    finally:
        if runtime is not None:
            runtime.close()


def _untracked(args, config, runtime, params, table_text, display) -> int:
    task_id = args.task_id or make_task_id("manual", datetime.now())
    task_dir = Path(args.output_dir).resolve() if args.output_dir else config.data_root / task_id
    task_dir.mkdir(parents=True, exist_ok=True)
    if table_text is not None:
        write_text_atomic(task_dir / TABLE_LIST_FILE, table_text)
    report = SchemaWorkflowOrchestrator(
        config,
        params,
        task_dir,
        progress_display=display.update if display.enabled else None,
        pipeline_dsn=runtime.pipeline_dsn if runtime else None,
    ).run()
    return _summarise(report, display)


def _tracked(args, config, runtime, existing, params, db_name, table_text, display) -> int:
    store = runtime.store
    parameters = params.model_dump(exclude_none=True)
    if existing is not None:
        task = existing
        if args.output_dir:
            logger.warning("--output-dir ignored: task %s keeps its folder", task.id)
        if parameters != task.parameters:
            task = store.update_parameters(task.id, parameters)
    else:
        root = Path(args.output_dir).resolve() if args.output_dir else config.data_root
        task, _ = store.create_task(
            parameters=parameters,
            data_root=root,
            task_name=f"schema_workflow on {db_name}",
            created_by="manual",
            db_name=db_name,
            business_context=params.business_context,
            task_id=args.task_id,
        )
    # A re-run step sends the steps after it back to pending, as the API's execute does.
    store.start_run(task.id, steps=plan_run(params).reset_steps())

    def claimed(task, task_dir: Path, logs) -> None:
        if table_text is not None:
            write_text_atomic(task_dir / TABLE_LIST_FILE, table_text)
        print(f"task {task.id}: folder {task_dir}", file=sys.stderr)

    try:
        report = run_tracked(
            runtime,
            task.id,
            lambda _task: params,
            who="command line",
            on_claimed=claimed,
            progress_display=display.update if display.enabled else None,
        )
    except RunNotClaimed:
        raise PipelineError(
            f"task {task.id} was taken over or cancelled before it started"
        ) from None
    return _summarise(report, display)


def _summarise(report: dict, display: ProgressDisplay) -> int:
    display.update(100 if report["status"] in ("completed", "partial_completed") else 0)
    display.finish()
    print(format_summary(report))
    return exit_code(report)


def format_summary(report: dict) -> str:
    """The end-of-run summary printed on stdout (passwords masked)."""
    where = "tracked in the task tables" if report.get("tracked") else "not tracked"
    lines = [
        f"status:   {report['status']}",
        f"task:     {report.get('task_id') or '-'} ({where})",
        f"folder:   {report.get('output_directory')}",
    ]
    for i, step in enumerate(report.get("steps", {}).values()):
        counts = [f"{k}={v}" for k, v in summary_numbers(step.get("summary")).items()][:6]
        duration = step.get("duration_seconds")
        lines.append(
            f"{'steps:' if i == 0 else '':<10}{step['number']} {step['step']:<15} "
            f"{step['status']:<10} {duration if duration is not None else '-':>7} s  "
            + " ".join(counts)
        )
    totals = report.get("totals", {})
    lines.append(f"files:    {totals.get('output_files', 0)} ({totals.get('output_bytes', 0)} B)")
    lines.append(f"duration: {report.get('duration_seconds')} s")
    if report.get("error"):
        lines.append(f"error:    {report['error'].get('message')}")
    for i, warning in enumerate(report.get("warnings") or []):
        lines.append(f"{'warnings:' if i == 0 else '':<10}{warning}")
    return mask_secrets("\n".join(lines))
