"""Named business databases: ``source:NAME`` references resolved to DSNs.

Sources come from the configuration (``DATA_SOURCES``, ``SOURCE_<NAME>_URL``); the bundled demo
source lives on the pipeline database's server (read through its own ``demo_reader`` role), so
resolving it needs that server's DSN.

Callers of the API name sources; a raw connection string from a caller is refused unless the
operator allowed them (``ALLOW_RAW_CONNECTIONS``), and then only with the keys
:data:`RAW_KEYS`, a network host (no unix socket) and, when ``SOURCE_HOST_ALLOWLIST`` is set, a
host on that list; the host is resolved once here and pinned (``hostaddr``), so a name cannot
resolve elsewhere when libpq connects. The command line (an operator on the server) may use
any connection string.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable

import psycopg2
from psycopg2.extensions import make_dsn, parse_dsn

from app_config import DEMO_SOURCE_URL, Config
from core.demo_db import DEMO_DB_NAME
from core.errors import InvalidInput
from core.roles import DEMO_READER_ROLE, dsn_for_role

SOURCE_PREFIX = "source:"
SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SOURCE_REF = re.compile(r"^source:([a-z][a-z0-9_]{0,62})$")
# The only libpq keys a caller's raw connection string may use (no passfile, service,
# sslkey, hostaddr, options, ...: nothing that reads the server's files or settings).
RAW_KEYS = frozenset(
    {"host", "port", "dbname", "user", "password", "sslmode", "connect_timeout",
     "application_name"}
)  # fmt: skip


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


def resolve_source(
    config: Config,
    pipeline: str | Callable[[], str] | None,
    spec: str,
    *,
    trusted: bool = True,
) -> str:
    """Turn ``source:NAME`` (or a connection string) into a DSN for the business database.

    Args:
        config: gives the named sources and the policy on raw connection strings.
        pipeline: the pipeline database DSN, or a function returning it (called only when
            ``spec`` names the bundled demo, which lives on that server).
        spec: ``source:NAME``, or a PostgreSQL DSN / URI.
        trusted: the connection string comes from the operator (the command line), not from
            a caller of the API: no restriction applies to it.
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
            return demo_source_dsn(server or "")
        return target
    if not spec.startswith(("postgresql://", "postgres://")) and "=" not in spec:
        raise InvalidInput(
            "db_connection must be source:NAME or a PostgreSQL DSN (postgresql://user@host/db)",
            details={"db_connection": "unrecognised format"},
        )
    if trusted:
        return spec
    if not config.allow_raw_connections:
        raise InvalidInput(
            "db_connection must name a configured source (source:NAME, see GET /sources): "
            "connection strings from callers are turned off (ALLOW_RAW_CONNECTIONS)",
            details={"db_connection": "connection strings are not allowed"},
        )
    return checked_raw_dsn(spec, config.source_hosts)


def demo_source_dsn(pipeline_dsn: str) -> str:
    """The bundled demo on the pipeline's server, read as the least-privileged ``demo_reader``."""
    return dsn_for_role(pipeline_dsn, DEMO_READER_ROLE, DEMO_DB_NAME)


def checked_raw_dsn(spec: str, allowlist: tuple[str, ...] = ()) -> str:
    """A caller's connection string reduced to :data:`RAW_KEYS`, to network hosts on the
    allow-list (when there is one), with the host pinned to the address it resolved to."""
    try:
        parts = parse_dsn(spec)
    except psycopg2.ProgrammingError:
        raise InvalidInput(
            "db_connection is not a valid PostgreSQL connection string",
            details={"db_connection": "invalid"},
        ) from None
    extra = sorted(set(parts) - RAW_KEYS)
    if extra:
        raise InvalidInput(
            f"db_connection may not set {', '.join(extra)} "
            f"(allowed: {', '.join(sorted(RAW_KEYS))})",
            details={"db_connection": "forbidden connection parameters", "keys": extra},
        )
    hosts = [h.strip() for h in (parts.get("host") or "").split(",")]
    if len(hosts) != 1 or not hosts[0]:
        raise InvalidInput(
            "db_connection needs one network host (host=...): local sockets and host lists "
            "are not accepted from callers",
            details={"db_connection": "host required"},
        )
    host = hosts[0]
    if host.startswith(("/", "@")) or not re.fullmatch(r"[A-Za-z0-9.:\-\[\]_]{1,253}", host):
        raise InvalidInput(
            "db_connection must name a network host, not a local socket",
            details={"db_connection": "socket not allowed"},
        )
    port = parts.get("port") or "5432"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InvalidInput("db_connection has an invalid port", details={"db_connection": "port"})
    address = _allowed_address(host.strip("[]"), allowlist)
    if address is not None:
        parts["hostaddr"] = address
    return make_dsn(**parts)


def _allowed_address(host: str, allowlist: tuple[str, ...]) -> str | None:
    """With an allow-list: the address ``host`` resolves to, when every address it resolves
    to is allowed (by name or CIDR); InvalidInput otherwise. Without one: None (libpq resolves)."""
    if not allowlist:
        return None
    names = {a.lower() for a in allowlist if not _is_network(a)}
    networks = [ipaddress.ip_network(a, strict=False) for a in allowlist if _is_network(a)]
    refused = InvalidInput(
        f"host {host!r} is not on the allow-list of source hosts (SOURCE_HOST_ALLOWLIST)",
        details={"db_connection": "host not allowed"},
    )
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise refused from None
    addresses = sorted({info[4][0] for info in infos})
    if not addresses:
        raise refused
    by_name = host.lower() in names
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not by_name and not any(ip in net for net in networks):
            raise refused
    return addresses[0]


def _is_network(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


def database_name(dsn: str) -> str:
    """The database name in a DSN (for ``db_name`` and file names)."""
    try:
        return parse_dsn(dsn).get("dbname") or "postgres"
    except Exception:
        raise InvalidInput("db_connection is not a valid PostgreSQL DSN") from None


def describe_source(name: str, dsn: str) -> dict:
    """How a named source is shown to callers: its name, database and network host; never a
    user, a password, a socket folder or the connection string."""
    try:
        parts = parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        parts = {}
    host = parts.get("host") or None
    if host and host.startswith(("/", "@")):
        host = "local"  # a unix socket of the server: its folder is the server's business
    return {
        "name": name,
        "reference": f"{SOURCE_PREFIX}{name}",
        "database": parts.get("dbname"),
        "host": host,
    }
