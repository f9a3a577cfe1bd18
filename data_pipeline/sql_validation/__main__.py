"""Command line: validate the SQL of a question-SQL pair file on its own.

    python -m data_pipeline.sql_validation --db-connection DSN|source:NAME --input-file PAIRS.json
        [--level explain|execute] [--report-dir DIR] [--no-modify-file] [--enable-llm-repair]
        [--max-concurrency N] [--timeout-ms N] [-v]

Prints the counts and the report's path. Exit status: 0 when every SQL is valid (or was
repaired), 1 when some stay invalid or the database cannot be reached, 2 on bad arguments
(missing or unreadable file, bad JSON, unknown source).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from app_config import Config, ConfigError
from core.errors import Cancelled, InvalidInput, PipelineError
from core.secrets import mask_secrets
from data_pipeline.llm import get_llm
from data_pipeline.sources.registry import database_name, is_demo_source, resolve_source
from data_pipeline.sql_validation.runner import ValidationSettings, load_pairs, validate_pair_file
from data_pipeline.tasks.runtime import load_demo_source, pipeline_dsn


def _parser(config: Config, prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "python -m data_pipeline.sql_validation",
        description="Validate the SQL of a question-SQL pair file against a PostgreSQL "
        "database (read only).",
    )
    parser.add_argument("--db-connection", required=True, help="DSN or source:NAME")
    parser.add_argument("--input-file", required=True, type=Path, help="the *_pair.json file")
    parser.add_argument("--level", choices=("explain", "execute"), default="explain")
    parser.add_argument("--report-dir", type=Path, help="default: the input file's folder")
    parser.add_argument(
        "--no-modify-file",
        action="store_true",
        help="leave the pair file unchanged (default: replace repaired SQL, remove invalid SQL, "
        "keep a .backup and a change log)",
    )
    parser.add_argument(
        "--enable-llm-repair", action="store_true", help="ask the configured LLM to fix failures"
    )
    parser.add_argument(
        "--max-concurrency", type=int, default=config.validation_max_concurrency, metavar="N"
    )
    parser.add_argument(
        "--timeout-ms", type=int, default=config.validation_statement_timeout_ms, metavar="N"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _resolve(config: Config, spec: str) -> str:
    if is_demo_source(config, spec):
        load_demo_source(config)
        return resolve_source(config, pipeline_dsn(config), spec)
    return resolve_source(config, None, spec)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = _parser(config, prog).parse_args(argv)  # exits 2 on bad options
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.max_concurrency < 1 or args.timeout_ms < 1:
        print("error: --max-concurrency and --timeout-ms must be positive", file=sys.stderr)
        return 2

    try:
        load_pairs(args.input_file)  # bad file -> exit 2 before touching any database
        dsn = _resolve(config, args.db_connection)
        db_name = database_name(dsn)
    except InvalidInput as exc:
        print(f"error: {mask_secrets(exc.message)}", file=sys.stderr)
        return 2
    llm = None
    if args.enable_llm_repair:
        llm = get_llm(config)
    settings = ValidationSettings(
        level=args.level,
        max_concurrency=args.max_concurrency,
        statement_timeout_ms=args.timeout_ms,
        row_limit=config.validation_row_limit,
        enable_repair=args.enable_llm_repair,
        repair_max_attempts=config.repair_max_attempts,
        repair_concurrency=config.llm_max_concurrency,
        modify_original_file=not args.no_modify_file,
    )
    report_dir = (args.report_dir or args.input_file.resolve().parent).resolve()
    try:
        summary = validate_pair_file(
            args.input_file,
            dsn,
            settings,
            llm=llm,
            report_dir=report_dir,
            ddl_folder=args.input_file.resolve().parent,
            db_name=db_name,
        )
    except InvalidInput as exc:
        print(f"error: {mask_secrets(exc.message)}", file=sys.stderr)
        return 2
    except Cancelled:
        print("interrupted", file=sys.stderr)
        return 130
    except PipelineError as exc:
        print(f"error: {mask_secrets(exc.message)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

    print(
        f"total {summary['total']}, valid {summary['valid']}, repaired {summary['repaired']}, "
        f"invalid {summary['invalid']}, removed {summary['removed']} "
        f"(success rate {100 * summary['success_rate']:.1f} %)"
    )
    if summary["by_error_kind"]:
        kinds = ", ".join(f"{k} {n}" for k, n in summary["by_error_kind"].items())
        print(f"failures by kind: {kinds}")
    print(f"report: {report_dir / summary['report_file']}")
    print(f"summary: {report_dir / summary['summary_file']}")
    if summary.get("modification_log"):
        print(f"file changes: {report_dir / summary['modification_log']}")
    return 0 if summary["invalid"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
