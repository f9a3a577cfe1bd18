"""Creates the bundled demo business database (highway service areas) on a PostgreSQL server."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

from core.sql_queries import SQL_DIR as QUERIES_SQL_DIR

logger = logging.getLogger(__name__)

DEMO_DB_NAME = "demo_business"
SQL_DIR = QUERIES_SQL_DIR / "demo"
SCHEMA_FILE = SQL_DIR / "schema.sql"
DATA_FILE = SQL_DIR / "data.sql"

# Fixed key for pg_advisory_lock: serialises demo loads across processes on one server.
_ADVISORY_LOCK_KEY = 7_302_118_447_210_001


def dsn_with_database(dsn: str, dbname: str) -> str:
    """Return ``dsn`` pointing at database ``dbname``, keeping the DSN's form (URI or key=value)."""
    parse_dsn(dsn)  # raises ProgrammingError on a malformed DSN
    if not dsn.startswith(("postgresql://", "postgres://")):
        return make_dsn(dsn, dbname=dbname)
    parts = urlsplit(dsn)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "dbname" for key, _ in query):
        query = [(key, dbname if key == "dbname" else value) for key, value in query]
    path = "/" + quote(dbname, safe="")
    query_text = urlencode(query, safe="/")
    return urlunsplit((parts.scheme, parts.netloc, path, query_text, parts.fragment))


def _database_exists(cur, name: str) -> bool:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    return cur.fetchone() is not None


def _load(dsn: str) -> None:
    """Run schema.sql then data.sql against ``dsn`` in a single transaction."""
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:  # commits on success, rolls back on error
            cur.execute(SCHEMA_FILE.read_text(encoding="utf-8"))
            cur.execute(DATA_FILE.read_text(encoding="utf-8"))
    finally:
        conn.close()


def ensure_demo_database(admin_dsn: str, name: str = DEMO_DB_NAME) -> str:
    """Create and load database ``name`` unless it exists; return its DSN.

    The data is loaded into ``<name>_loading`` and renamed only once complete, so a half-loaded
    database never appears under the real name. A session advisory lock makes concurrent callers
    (threads or processes) wait for one another instead of loading twice.
    """
    target_dsn = dsn_with_database(admin_dsn, name)
    loading = sql.Identifier(f"{name}_loading")
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True  # CREATE/DROP/ALTER DATABASE cannot run inside a transaction
    try:  # the session advisory lock is released when the connection closes
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK_KEY,))
            if _database_exists(cur, name):
                logger.debug("Demo database %s already exists", name)
                return target_dsn
            started = time.monotonic()
            drop_loading = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(loading)
            cur.execute(drop_loading)  # leftover of an interrupted earlier load, if any
            cur.execute(
                sql.SQL(
                    "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'"
                    " LC_COLLATE 'C' LC_CTYPE 'C'"
                ).format(loading)
            )
            try:
                _load(dsn_with_database(admin_dsn, f"{name}_loading"))
            except Exception:
                try:
                    cur.execute(drop_loading)
                except psycopg2.Error:
                    logger.exception("Could not drop %s_loading after a failed load", name)
                raise
            cur.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(loading, sql.Identifier(name))
            )
            logger.info("Loaded demo database %s in %.2f s", name, time.monotonic() - started)
            return target_dsn
    finally:
        conn.close()
