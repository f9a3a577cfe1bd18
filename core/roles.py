"""Least privilege on the embedded server: the roles the service uses instead of its superuser.

The embedded PostgreSQL trusts local connections and its bootstrap user is a superuser. That
user only sets things up (:func:`prepare_app_role`, :func:`grant_demo_reader`, idempotent and
serialised by an advisory lock); everything else connects as

* ``data_pipeline_app`` — owns the task tables and the training store, may connect to the
  pipeline database only; no superuser, no CREATEROLE, no CREATEDB;
* ``demo_reader`` — may connect to ``demo_business`` only, and read its tables (the ``demo``
  source); no other database of the server lets it in.
"""

from __future__ import annotations

import contextlib
import logging

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

logger = logging.getLogger(__name__)

APP_ROLE = "data_pipeline_app"
DEMO_READER_ROLE = "demo_reader"
_LOCK_KEY = 0x524F_4C45  # "ROLE": serialises the bootstrap of several processes
_NO_PRIVILEGES = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"


def dsn_for_role(dsn: str, role: str, dbname: str | None = None) -> str:
    """``dsn`` connecting as ``role`` (to ``dbname`` if given), without a password."""
    parts = parse_dsn(dsn)
    parts["user"] = role
    parts.pop("password", None)
    if dbname:
        parts["dbname"] = dbname
    return make_dsn(**parts)


@contextlib.contextmanager
def _admin(dsn: str):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            yield cur
    finally:
        conn.close()  # releases the session lock


def _ensure_role(cur, role: str) -> None:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    if cur.fetchone() is None:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN " + _NO_PRIVILEGES).format(sql.Identifier(role)))
        logger.info("created role %s", role)


def prepare_app_role(admin_dsn: str) -> str:
    """Make the application role own the pipeline database's objects; return its DSN.

    Run as the superuser of the embedded server, in the pipeline database, before the
    migrations: the role then owns what they create, and creating the ``vector`` extension
    (which needs the superuser) is done here.
    """
    db = parse_dsn(admin_dsn).get("dbname") or "postgres"
    with _admin(admin_dsn) as cur:
        _ensure_role(cur, APP_ROLE)
        app, database = sql.Identifier(APP_ROLE), sql.Identifier(db)
        cur.execute(
            sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(database)
        )
        cur.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(database, app))
        cur.execute("REVOKE CONNECT ON DATABASE template1 FROM PUBLIC")
        cur.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(app))
        cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
        # Objects made before the role existed (an older install) change hands; members of
        # extensions (vector's types and functions) stay the superuser's.
        cur.execute(
            """
            SELECT c.relkind, c.relname
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
              AND pg_get_userbyid(c.relowner) <> %s
              AND NOT EXISTS (SELECT 1 FROM pg_depend d
                              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                AND d.deptype = 'e')
              AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d
                              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                AND d.deptype IN ('a', 'i')))
            """,
            (APP_ROLE,),
        )
        kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
        for kind, name in cur.fetchall():
            cur.execute(
                sql.SQL("ALTER {} public.{} OWNER TO {}").format(
                    sql.SQL(kinds[kind]), sql.Identifier(name), app
                )
            )
        cur.execute(
            """
            SELECT p.oid::regprocedure::text
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> %s
              AND NOT EXISTS (SELECT 1 FROM pg_depend d
                              WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                                AND d.deptype = 'e')
            """,
            (APP_ROLE,),
        )
        for (signature,) in cur.fetchall():
            cur.execute(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(sql.SQL(signature), app))
    return dsn_for_role(admin_dsn, APP_ROLE)


def grant_demo_reader(admin_dsn: str, demo_db: str) -> str:
    """Let ``demo_reader`` read the demo database, and only it; return its DSN there."""
    demo_admin = dsn_for_role(admin_dsn, parse_dsn(admin_dsn).get("user") or "postgres", demo_db)
    with _admin(admin_dsn) as cur:
        _ensure_role(cur, DEMO_READER_ROLE)
        reader, database = sql.Identifier(DEMO_READER_ROLE), sql.Identifier(demo_db)
        cur.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
        cur.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, reader))
    with _admin(demo_admin) as cur:
        cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        cur.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(reader))
        cur.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(reader))
    return dsn_for_role(admin_dsn, DEMO_READER_ROLE, demo_db)
