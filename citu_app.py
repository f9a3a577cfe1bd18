"""The Data Pipeline API service: ``create_app(config)`` and ``python citu_app.py``.

Starting the service: the embedded PostgreSQL is started when no pipeline DSN is configured,
migrations are applied, the demo business database is loaded once, a worker starts in the
process (it takes queued runs and runs the periodic monitor; ``--no-worker``: API only), and
the app is served by waitress (a production WSGI server) on 127.0.0.1:8084 by default.
Every part of the app is imported up front: a module that fails to import stops the start
with its error, rather than leaving a server without its routes.
"""

from __future__ import annotations

import argparse
import logging
import sys

from flask import Flask

from app_config import Config, ConfigError
from core.task_logging import configure_logging, configure_server_log
from data_pipeline.api.common import API_PREFIX
from data_pipeline.api.envelope import register_error_handlers
from data_pipeline.api.health import bp as health_bp
from data_pipeline.api.lifecycle import GracefulStop
from data_pipeline.api.routes import register as register_routes
from data_pipeline.console import register_console
from data_pipeline.sources.connection import isolate_from_libpq_environment
from data_pipeline.tasks.runtime import Runtime, open_runtime

logger = logging.getLogger("citu_app")


def create_app(config: Config | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the Flask app. Tests pass their own ``config`` (and may pass a ``runtime``)."""
    config = config or Config.from_env()
    runtime = runtime or open_runtime(config)
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = config.max_request_bytes
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["data_pipeline"] = runtime
    app.extensions["data_pipeline_config"] = config

    register_error_handlers(app)
    app.register_blueprint(health_bp, url_prefix=API_PREFIX)
    register_console(app)
    register_routes(app, config, runtime)
    return app


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Run the Data Pipeline API service.")
    parser.add_argument("--host", help="interface to bind (default from DATA_PIPELINE_HOST)")
    parser.add_argument("--port", type=int, help="port (default from DATA_PIPELINE_PORT)")
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="API only: run no worker in this process (workers: python -m data_pipeline.worker)",
    )
    args = parser.parse_args(argv)
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v}
    if args.no_worker:
        overrides["embedded_worker"] = False
    config = config.with_overrides(**overrides)
    configure_logging(config.log_level)
    configure_server_log(config.server_log_file, console=True)
    isolate_from_libpq_environment()
    try:
        app = create_app(config)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    service = GracefulStop(
        app,
        grace=config.shutdown_grace_seconds,
        host=config.host,
        port=config.port,
        threads=config.server_threads,
        connection_limit=config.server_connection_limit,
        channel_timeout=config.server_idle_timeout_seconds,
        # poll() instead of select(): no limit of 1024 file descriptors on connections.
        asyncore_use_poll=True,
        channel_request_lookahead=1,
        ident="data-pipeline-api",
        max_request_body_size=config.max_request_bytes + 64 * 1024,
    )
    logger.info("serving on http://%s:%s%s", config.host, config.port, API_PREFIX)
    return service.serve()


if __name__ == "__main__":
    sys.exit(main())
