"""Named business databases: ``source:NAME`` references resolved to DSNs.

Sources come from the configuration (``DATA_SOURCES``, ``SOURCE_<NAME>_URL``); the bundled demo
source lives on the pipeline database's server, so resolving it needs that server's DSN.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import psycopg2
from psycopg2.extensions import parse_dsn

from app_config import DEMO_SOURCE_URL, Config
from core.demo_db import DEMO_DB_NAME, dsn_with_database
from core.errors import InvalidInput
from core.secrets import mask_secrets

SOURCE_PREFIX = "source:"
SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SOURCE_REF = re.compile(r"^source:([a-z][a-z0-9_]{0,62})$")


def source_names(config: Config) -> list[str]:
    return sorted(config.data_sources)


def source_name_of(spec: str | None) -> str | None:
    """The NAME of a ``source:NAME`` reference (None for a DSN or nothing)."""
    spec = (spec or "").strip()
    return spec[len(SOURCE_PREFIX) :] if spec.startswith(SOURCE_PREFIX) else None


def is_demo_source(config: Config, spec: str | None) -> bool:
    """Whether ``spec`` names the bundled demo (it lives on the pipeline database's server)."""
    name = source_name_of(spec)
    return bool(name) and config.data_sources.get(name) == DEMO_SOURCE_URL


def resolve_source(config: Config, pipeline: str | Callable[[], str] | None, spec: str) -> str:
    """Turn ``source:NAME`` (or a DSN given as is) into a DSN for the business database.

    Args:
        config: gives the named sources.
        pipeline: the pipeline database DSN, or a function returning it (called only when
            ``spec`` names the bundled demo, which lives on that server).
        spec: ``source:NAME`` or a PostgreSQL DSN / URI.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInput("db_connection is empty", details={"db_connection": "required"})
    spec = spec.strip()
    if spec.startswith(SOURCE_PREFIX):
        m = _SOURCE_REF.match(spec)
        name = m.group(1) if m else None
        if not name or name not in config.data_sources:
            known = ", ".join(source_names(config)) or "none configured"
            raise InvalidInput(
                f"unknown source {spec[len(SOURCE_PREFIX) :][:64]!r}; known sources: {known}",
                details={"db_connection": "unknown source"},
            )
        target = config.data_sources[name]
        if target == DEMO_SOURCE_URL:
            server = pipeline() if callable(pipeline) else pipeline
            return dsn_with_database(server or "", DEMO_DB_NAME)
        return target
    if spec.startswith(("postgresql://", "postgres://")) or "dbname=" in spec:
        return spec
    raise InvalidInput(
        "db_connection must be source:NAME or a PostgreSQL DSN (postgresql://user@host/db)",
        details={"db_connection": "unrecognised format"},
    )


def database_name(dsn: str) -> str:
    """The database name in a DSN (for ``db_name`` and file names)."""
    try:
        return parse_dsn(dsn).get("dbname") or "postgres"
    except Exception:
        raise InvalidInput("db_connection is not a valid PostgreSQL DSN") from None


def describe_source(name: str, dsn: str) -> dict:
    """How a named source is shown to clients: database, host, masked DSN."""
    try:
        parts = parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        parts = {}
    host = parts.get("host")
    if host and host.startswith("/"):
        host = "local socket"
    return {
        "name": name,
        "reference": f"{SOURCE_PREFIX}{name}",
        "database": parts.get("dbname"),
        "host": host,
        "dsn": mask_secrets(dsn),
    }
