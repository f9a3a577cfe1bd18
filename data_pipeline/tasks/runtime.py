"""Opening the pipeline database for a process: embedded server, migrations, demo source.

Every process (API, executor, command line) starts here, so they all see the same database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app_config import DEMO_SOURCE_URL, Config
from core.db import Database
from core.demo_db import ensure_demo_database
from core.embedded_pg import start_embedded
from core.migrations import apply_migrations, ensure_vector_extension
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

    def close(self) -> None:
        self.db.close()


def pipeline_dsn(config: Config, *, keep_running: bool = False) -> str:
    """The pipeline database's DSN, starting the embedded server when none is configured."""
    if config.pipeline_database_url:
        return config.pipeline_database_url
    return start_embedded(config.embedded_pg_dir, keep_running=keep_running)


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
        vector = ensure_vector_extension(db)
    if load_demo if load_demo is not None else (migrate and _wants_demo(config)):
        ensure_demo_database(dsn)
    return Runtime(
        config=config, db=db, store=TaskStore(db), pipeline_dsn=dsn, vector_available=vector
    )


def _wants_demo(config: Config) -> bool:
    return config.load_demo_source and DEMO_SOURCE_URL in config.data_sources.values()
