"""The workflow's command line, ``data-pipeline run`` or
``python data_pipeline/schema_workflow.py`` (SPEC §9).

Tracked runs (the default) are tasks like the API's, with ``created_by = manual``; with
``--no-db-tracking`` nothing is written to the task tables and the files go straight into
``--output-dir``. ``--json`` prints the run's report on stdout (and nothing else there),
``--quiet`` only warnings and errors. Exit codes: 0 success, 1 failure (a step failed, the
business database cannot be reached), 2 bad arguments, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys

from app_config import Config, ConfigError
from core.errors import InvalidInput, PipelineError, SourceUnavailable
from core.secrets import mask_secrets
from core.task_logging import (
    CONSOLE_FORMAT,
    ContextFilter,
    MaskingFormatter,
    configure_logging,
    configure_server_log,
)
from data_pipeline import __version__
from data_pipeline.cli.arguments import UsageError, build_params, read_table_list
from data_pipeline.cli.interrupt import InterruptHandler, exit_now
from data_pipeline.cli.progress import ProgressDisplay
from data_pipeline.runs.tracked import EXIT_CANCELLED, EXIT_FAILED, EXIT_USAGE, exit_code
from data_pipeline.sources.registry import is_demo_source
from data_pipeline.tasks.models import STEP_NAMES, validate_task_id
from data_pipeline.tasks.runtime import open_runtime
from data_pipeline.workflow.report import summary_numbers
from data_pipeline.workflow.run import check_source, run_new_or_existing, run_untracked

logger = logging.getLogger("data_pipeline.schema_workflow")


EPILOG = """\
steps: 1 ddl_generation, 2 qa_generation, 3 sql_validation, 4 training_load
exit codes: 0 success, 1 a step failed, 2 bad arguments, 130 interrupted (Ctrl-C)

examples:
  data-pipeline run --db-connection source:demo \\
      --table-list tables.txt --business-context "高速公路服务区管理系统"
  data-pipeline run --task-id manual_20250101_120000 --single-step 4
  data-pipeline run --json --no-db-tracking --output-dir ./out \\
      --db-connection postgresql://reader@localhost/sales --table-list tables.txt \\
      --business-context "sales analytics" --execution-mode single --single-step 1
"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog or "schema_workflow.py",
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
    out = p.add_mutually_exclusive_group()
    out.add_argument(
        "-q", "--quiet", action="store_true",
        help="no progress bar, no summary: only warnings and errors (stderr)",
    )  # fmt: skip
    out.add_argument(
        "--json", action="store_true",
        help="print the run's report as JSON on stdout (and nothing else there)",
    )  # fmt: skip
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)  # exits 2 on unknown or malformed options
    prog = prog or "schema_workflow.py"
    stdout = sys.stdout
    # The bar goes where the report does not: stderr with --json; none with --quiet.
    bar = sys.stderr if args.json else stdout
    display = ProgressDisplay(bar, enabled=False if args.quiet else None)
    with contextlib.ExitStack() as stack:
        if display.enabled:  # anything written to stderr clears the bar first
            stack.enter_context(display.guard_stderr())
        if args.json:  # stray prints of any library go to stderr: stdout is the report's
            stack.enter_context(contextlib.redirect_stdout(sys.stderr))
        _configure_console(args, display)
        interrupt = InterruptHandler().install()
        code, report = _main(args, display, prog)
    if report is not None:
        print(json.dumps(report, ensure_ascii=False, indent=2) if args.json
              else format_summary(report), file=stdout, flush=True)  # fmt: skip
    if interrupt.interrupted:
        # The outcome is recorded: LLM calls still in flight in other threads are abandoned.
        exit_now(code)
    return code


def _main(args: argparse.Namespace, display: ProgressDisplay, prog: str) -> tuple[int, dict | None]:
    try:
        report = _run(args, display)
    except UsageError as exc:
        display.finish()
        print(f"{prog}: error: {mask_secrets(str(exc))}", file=sys.stderr)
        return EXIT_USAGE, None
    except KeyboardInterrupt:
        display.finish()
        print("interrupted", file=sys.stderr)
        return EXIT_CANCELLED, None
    except PipelineError as exc:
        display.finish()
        print(f"{prog}: {mask_secrets(exc.message)}", file=sys.stderr)
        return EXIT_FAILED, None
    display.update(100 if report["status"] in ("completed", "partial_completed") else 0)
    display.finish()
    if args.quiet:
        return exit_code(report), None
    return exit_code(report), report


def _configure_console(args: argparse.Namespace, display: ProgressDisplay) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
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


def _run(args: argparse.Namespace, display: ProgressDisplay) -> dict:
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
        if tracked and args.task_id and existing is None and not args.db_connection:
            raise UsageError(
                f"no task {args.task_id} (give --db-connection … to create one with this id)"
            )
        pipeline = runtime.pipeline_dsn if runtime else None
        params, db_name, source = build_params(args, existing, table_names, pipeline, config)
        try:  # before anything is created: a refused connection leaves no task nor folder
            check_source(source, params, table_names if table_text is not None else None)
        except InvalidInput as exc:
            raise UsageError(f"--table-list: {mask_secrets(exc.message)}") from None
        except SourceUnavailable as exc:
            raise PipelineError(f"{mask_secrets(exc.message)}; nothing was started") from None
        progress = display.update if display.enabled else None
        if not tracked:
            return run_untracked(
                config, runtime, params, table_text, task_id=args.task_id,
                output_dir=args.output_dir, progress=progress,
            )  # fmt: skip

        def claimed(task, task_dir) -> None:
            if not args.quiet:
                print(f"task {task.id}: folder {task_dir}", file=sys.stderr)

        return run_new_or_existing(
            runtime, existing, params, table_text, db_name=db_name, task_id=args.task_id,
            output_dir=args.output_dir, progress=progress, on_claimed=claimed,
        )  # fmt: skip
    finally:
        if runtime is not None:
            runtime.close()


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
