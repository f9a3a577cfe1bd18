"""The one way to open a session on a business database: read-only, with timeouts.

Every transaction of the session is read-only (``BEGIN READ ONLY``, or the session default
``default_transaction_read_only`` in autocommit mode); settings such as ``statement_timeout``
are applied once, right after connecting. A connection failure becomes
:class:`core.errors.SourceUnavailable` naming the database, never the password.
"""

from __future__ import annotations

import psycopg2
import psycopg2.extensions
from psycopg2 import sql as pgsql
from psycopg2.extensions import parse_dsn

from core.errors import SourceUnavailable, error_summary


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
        raise SourceUnavailable(
            f"cannot connect to {describe_target(dsn)}: {error_summary(exc)}"
        ) from None
    try:
        values = dict(settings or {})
        if autocommit:
            conn.autocommit = True
            values = {"default_transaction_read_only": "on", **values}
        else:
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
        raise SourceUnavailable(
            f"setting up the session on {describe_target(dsn)} failed: {error_summary(exc)}"
        ) from None
    except BaseException:
        conn.close()
        raise
    return conn
