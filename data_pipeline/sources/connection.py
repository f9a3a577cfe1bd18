"""The one way to open a session on a business database: read-only, with timeouts, and never
on the pipeline's own database.

Every transaction of the session is read-only (``BEGIN READ ONLY``, or the session default
``default_transaction_read_only`` in autocommit mode); settings such as ``statement_timeout``
are applied once, right after connecting. A connection failure becomes
:class:`core.errors.SourceUnavailable` saying only which database could not be reached: why
(libpq's own words, which tell an open port from a closed one, or a file from a missing one)
goes to the server's log (:func:`core.task_logging.server_logger`), never to a caller.

A session that lands in the pipeline database or the training store (the same server
``system_identifier`` and database as one registered with :func:`protect`) or that can see
the task tables is refused before anything is read.
"""

from __future__ import annotations

import logging
import os
import threading

import psycopg2
import psycopg2.extensions
from psycopg2 import sql as pgsql
from psycopg2.extensions import parse_dsn

from core.errors import PipelineError, SourceUnavailable, error_summary
from core.sql_queries import query
from core.task_logging import server_logger

logger = logging.getLogger(__name__)
_NOWHERE = "/nonexistent/data-pipeline-no-libpq-file"
_protected: set[tuple[int | None, str]] = set()
_protected_lock = threading.Lock()


class SourceRefused(PipelineError):
    """A source that is the pipeline's own database (or can see its task tables)."""

    http_status = 400
    error_type = "source_refused"


def isolate_from_libpq_environment() -> list[str]:
    """Make libpq ignore everything but the connection string: no inherited ``PG*`` variables
    (``PGPASSWORD``, ``PGHOST``, ``PGSERVICE``, ...), and no password or service file of the
    service's user. Called at the start of the service and of each executor; returns the
    names removed."""
    removed = [name for name in os.environ if name.startswith("PG")]
    for name in removed:
        os.environ.pop(name, None)
    os.environ["PGPASSFILE"] = _NOWHERE
    os.environ["PGSERVICEFILE"] = _NOWHERE
    os.environ["PGSYSCONFDIR"] = _NOWHERE
    return removed


def protect(dsn: str) -> tuple[int | None, str] | None:
    """Register the database at ``dsn`` (the pipeline's, the store's) as never a source."""
    try:
        conn = psycopg2.connect(dsn, connect_timeout=5)
    except psycopg2.Error as exc:
        logger.warning(
            "could not read the identity of a protected database: %s", error_summary(exc)
        )
        return None
    try:
        conn.autocommit = True
        identity = _identity(conn)[:2]
    finally:
        conn.close()
    with _protected_lock:
        _protected.add(identity)
    return identity


def _identity(conn) -> tuple[int | None, str, bool]:
    with conn.cursor(cursor_factory=psycopg2.extensions.cursor) as cur:
        cur.execute(query("source_identity"))
        sysid, database, sees_tasks = cur.fetchone()
    return (int(sysid) if sysid is not None else None), database, bool(sees_tasks)


def _refuse_protected(conn, dsn: str) -> None:
    sysid, database, sees_tasks = _identity(conn)
    with _protected_lock:
        protected = (sysid, database) in _protected if sysid is not None else False
    if protected or sees_tasks:
        raise SourceRefused(
            f"{describe_target(dsn)} is the pipeline's own database (task tables or training "
            "store): it cannot be a source",
            details={"db_connection": "the pipeline database"},
        )


def describe_target(dsn: str) -> str:
    """``business database "x" on host`` for messages (never the password)."""
    try:
        parts = parse_dsn(dsn)
    except Exception:
        return "the business database"
    host = parts.get("host") or "localhost"
    if host.startswith("/"):
        host = f"socket {host}"
    port = f":{parts['port']}" if parts.get("port") else ""
    return f'business database "{parts.get("dbname", "?")}" on {host}{port}'


def connect_readonly(
    dsn: str,
    *,
    purpose: str,
    settings: dict[str, str | int] | None = None,
    autocommit: bool = False,
    isolation_level: int | None = None,
    connect_timeout: int = 10,
    **connect_kwargs,
) -> psycopg2.extensions.connection:
    """A read-only session on the business database at ``dsn``.

    Args:
        purpose: shown in ``pg_stat_activity`` as ``data_pipeline_<purpose>``.
        settings: session settings (``statement_timeout``, ``lock_timeout``, ``search_path``,
            ...), each applied with one ``SET`` statement.
        autocommit: every statement its own (read-only) transaction.
        isolation_level: e.g. ``ISOLATION_LEVEL_REPEATABLE_READ`` for one snapshot.
        connect_kwargs: passed to ``psycopg2.connect`` (connection or cursor factories).
    """
    try:
        conn = psycopg2.connect(
            dsn,
            connect_timeout=connect_timeout,
            application_name=f"data_pipeline_{purpose}"[:63],
            **connect_kwargs,
        )
    except psycopg2.Error as exc:
        target = describe_target(dsn)
        server_logger().warning("could not connect to %s: %s", target, error_summary(exc))
        raise SourceUnavailable(
            f"could not connect to {target} (the reason is in the server's log)"
        ) from None
    try:
        conn.autocommit = True  # the check below runs outside any transaction
        _refuse_protected(conn, dsn)
        values = dict(settings or {})
        if autocommit:
            values = {"default_transaction_read_only": "on", **values}
        else:
            conn.autocommit = False
            conn.set_session(isolation_level=isolation_level, readonly=True)
        if values:
            with conn.cursor() as cur:
                for name, value in values.items():
                    cur.execute(
                        pgsql.SQL("SET {} = {}").format(
                            pgsql.Identifier(name), pgsql.Literal(str(value))
                        )
                    )
            if not autocommit:
                conn.commit()
    except psycopg2.Error as exc:
        conn.close()
        target = describe_target(dsn)
        server_logger().warning("setting up a session on %s failed: %s", target, error_summary(exc))
        raise SourceUnavailable(f"setting up the session on {target} failed") from None
    except BaseException:
        conn.close()
        raise
    return conn
