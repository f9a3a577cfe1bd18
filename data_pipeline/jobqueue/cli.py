"""The worker's command line (``python -m data_pipeline.worker``, see that module)."""

from __future__ import annotations

import argparse
import logging
import sys

from app_config import Config, ConfigError
from core.task_logging import configure_logging, configure_server_log
from data_pipeline.jobqueue.worker import Worker, default_worker_name
from data_pipeline.sources.connection import isolate_from_libpq_environment
from data_pipeline.tasks.runtime import open_runtime

logger = logging.getLogger("data_pipeline.worker")


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog or "python -m data_pipeline.worker",
        description="Run a worker: take queued task runs and start their executors.",
    )
    parser.add_argument(
        "--concurrency", type=int, help="runs at once on this worker (default WORKER_CONCURRENCY,"
        " else MAX_CONCURRENT_TASKS)",
    )  # fmt: skip
    parser.add_argument("--name", help=f"worker name (default {default_worker_name()})")
    args = parser.parse_args(argv)
    if args.concurrency is not None and args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    configure_server_log(config.server_log_file, console=True)
    isolate_from_libpq_environment()
    runtime = open_runtime(config, application_name="data_pipeline_worker")
    worker = Worker(runtime, name=args.name, concurrency=args.concurrency)
    try:
        worker.run()  # until SIGTERM / SIGINT (procrastinate's handlers)
    finally:
        runtime.close()
    return 0
