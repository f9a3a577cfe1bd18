"""Opening the pipeline database for a process: embedded server, migrations, demo source.

Every process (API, executor, command line) starts here, so they all see the same database.
On the embedded default the server's superuser only prepares things (roles, ownership, the
``vector`` extension, the demo database); the process then works as ``data_pipeline_app``,
and the demo source is read as ``demo_reader`` (see :mod:`core.roles`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from app_config import DEMO_SOURCE_URL, Config
from core.db import Database
from core.demo_db import DEMO_DB_NAME, ensure_demo_database
from core.embedded_pg import start_embedded
from core.errors import error_summary
from core.migrations import apply_migrations, ensure_queue_schema, ensure_vector_extension
from core.roles import grant_demo_reader, prepare_app_role
from data_pipeline.sources.connection import protect
from data_pipeline.tasks.output_store import OutputStore, output_store_for
from data_pipeline.tasks.store import TaskStore

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What a process needs to work with tasks."""

    config: Config
    db: Database
    store: TaskStore
    pipeline_dsn: str
    vector_available: bool = False
    # Copies of task outputs every node can read (OUTPUT_STORE_URL; default: this database).
    output_store: OutputStore | None = None
    # Stopped before the database closes (an embedded worker, a queue connection).
    closers: list[Callable[[], object]] = field(default_factory=list)

    def close(self) -> None:
        while self.closers:
            try:
                self.closers.pop()()
            except Exception:
                logger.exception("closing a part of the runtime failed")
        self.db.close()


# The application role's DSN per embedded data folder, once this process prepared it.
_APP_DSN: dict[str, str] = {}


def admin_dsn(config: Config) -> str:
    """The DSN that may set the pipeline database up: the configured one, or the embedded
    server's superuser (started when it does not run yet)."""
    if config.pipeline_database_url:
        return config.pipeline_database_url
    return start_embedded(config.embedded_pg_dir)


def pipeline_dsn(config: Config) -> str:
    """The DSN the process works with: the configured one, or the embedded server's
    application role (prepared once per process, idempotently)."""
    if config.pipeline_database_url:
        return config.pipeline_database_url
    admin = start_embedded(config.embedded_pg_dir)
    key = str(config.embedded_pg_dir)
    if key not in _APP_DSN:
        _APP_DSN[key] = prepare_app_role(admin)
    return _APP_DSN[key]


def open_runtime(
    config: Config,
    *,
    migrate: bool = True,
    load_demo: bool | None = None,
    application_name: str = "data_pipeline",
    maxconn: int = 16,
) -> Runtime:
    """Connect to the pipeline database; apply migrations and load the demo when asked."""
    dsn = pipeline_dsn(config)
    db = Database(dsn, maxconn=maxconn, application_name=application_name)
    vector = False
    if migrate:
        apply_migrations(db)
        ensure_queue_schema(db)
        vector = ensure_vector_extension(db)
    if load_demo if load_demo is not None else (migrate and _wants_demo(config)):
        load_demo_source(config)
    # Neither the pipeline database nor the training store can ever be read as a source.
    protect(dsn)
    if config.vector_database_url and config.vector_database_url != dsn:
        protect(config.vector_database_url)
    return Runtime(
        config=config, db=db, store=TaskStore(db), pipeline_dsn=dsn, vector_available=vector,
        output_store=output_store_for(config, db),
    )  # fmt: skip


def load_demo_source(config: Config) -> bool:
    """Create the demo business database (once) and its ``demo_reader`` role; False, with a
    warning, when the pipeline database's user may not create the role (an external server):
    the demo source is never read with the pipeline's own role."""
    admin = admin_dsn(config)
    ensure_demo_database(admin)
    try:
        grant_demo_reader(admin, DEMO_DB_NAME)
    except Exception as exc:
        logger.warning(
            "the demo source needs the role demo_reader, which could not be set up (%s); "
            "source:demo will not be readable",
            error_summary(exc),
        )
        return False
    return True


def _wants_demo(config: Config) -> bool:
    return config.load_demo_source and DEMO_SOURCE_URL in config.data_sources.values()
