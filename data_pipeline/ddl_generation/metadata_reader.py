"""Reads what step 1 documents about the listed tables of a business database.

Catalog metadata of *all* listed tables comes from a constant number of ``pg_catalog``
queries (``sql/catalog/metadata.sql``). Then, per table, at most three bounded data queries:
a count that stops after ``exact_count_max_rows + 1`` rows (skipped when the planner's
estimate already says the table is large), a sample (``TABLESAMPLE SYSTEM`` on large tables,
``LIMIT`` on small ones) and one query confirming the enum-like candidates of the table.

The business database is only read: the session is read-only, with a statement timeout and a
lock timeout, and each table's data queries run in their own short transaction so that locks
are not held across the whole run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from core.errors import Cancelled, SourceUnavailable
from core.secrets import mask_secrets
from data_pipeline.ddl_generation import sampling
from data_pipeline.ddl_generation.catalog import (
    SAMPLEABLE_KINDS,
    RelationInfo,
    TableExtras,
    build_table,
    catalog_query,
    resolve,
)
from data_pipeline.schema_model import SchemaMetadata, TableMeta
from data_pipeline.table_list import split_qualified

logger = logging.getLogger(__name__)

MIN_SERVER_VERSION = 120000  # pg_partition_tree, attgenerated


class _CountingCursor(psycopg2.extras.RealDictCursor):
    """Counts the statements it runs, so the reader can report (and tests can check) them."""

    def execute(self, query, vars=None):
        self.connection.statements += 1
        return super().execute(query, vars)


class _CountingConnection(psycopg2.extensions.connection):
    statements = 0


class MetadataReader:
    """Reads :class:`SchemaMetadata` for a table list; see the module docstring.

    After :meth:`read`: ``catalog_queries`` (constant), ``statements`` (all statements),
    ``warnings`` (table → notes such as a timed-out sample), ``extras`` (table → TableExtras).
    """

    def __init__(
        self,
        dsn: str,
        *,
        sample_rows: int = 20,
        exact_count_max_rows: int = 100_000,
        statement_timeout_ms: int = 30_000,
        enum_max_distinct: int = 20,
        db_name: str | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ):
        self.dsn = dsn
        self.sample_rows = max(0, int(sample_rows))
        self.exact_count_max_rows = max(0, int(exact_count_max_rows))
        self.statement_timeout_ms = int(statement_timeout_ms)
        self.enum_max_distinct = int(enum_max_distinct)
        self.db_name = db_name
        self.is_cancelled = is_cancelled or (lambda: False)
        self.progress = progress or (lambda done, total: None)
        self.catalog_queries = 0
        self.statements = 0
        self.warnings: dict[str, list[str]] = {}
        self.extras: dict[str, TableExtras] = {}

    # Connection -------------------------------------------------------------------------
    def connect(self) -> psycopg2.extensions.connection:
        """A read-only session on the business database with the timeouts set."""
        try:
            conn = psycopg2.connect(
                self.dsn,
                connection_factory=_CountingConnection,
                cursor_factory=_CountingCursor,
                connect_timeout=10,
                application_name="data_pipeline ddl_generation",
            )
        except psycopg2.Error as exc:
            raise SourceUnavailable(
                f"cannot connect to the business database: {_first_line(exc)}"
            ) from None
        # Every transaction of this session is read-only; REPEATABLE READ gives the catalog
        # queries one consistent snapshot.
        conn.set_session(
            isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True
        )
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = %s", (self.statement_timeout_ms,))
            # Waiting behind someone's ALTER TABLE must not hang the step.
            cur.execute("SET lock_timeout = %s", (min(self.statement_timeout_ms, 10_000),))
            # format_type() and pg_get_expr() then qualify every non-public name, which is
            # what the DDL needs to run in another database.
            cur.execute("SET search_path = public")
        conn.commit()
        return conn

    # Reading ----------------------------------------------------------------------------
    def read(self, tables: list[str]) -> tuple[SchemaMetadata, dict[str, str]]:
        """Metadata of ``tables`` (list names) and, per failed table, why it failed."""
        started = time.monotonic()
        conn = self.connect()
        try:
            meta, errors, infos, stats = self._read_catalog(conn, tables)
            self.progress(0, len(meta.tables))
            for done, table in enumerate(meta.tables, start=1):
                if self.is_cancelled():
                    raise Cancelled("the run was cancelled")
                self._read_data(conn, table, infos[table.qualified_name], stats)
                self.progress(done, len(meta.tables))
        except psycopg2.OperationalError as exc:
            raise SourceUnavailable(f"business database query failed: {_first_line(exc)}") from None
        finally:
            self.statements = conn.statements
            conn.close()
        logger.info(
            "read metadata of %d table(s) in %.2f s (%d catalog queries, %d statements)",
            len(meta.tables),
            time.monotonic() - started,
            self.catalog_queries,
            self.statements,
        )
        return meta, errors

    def _catalog(self, cur, name: str, params: dict | None = None) -> list[dict]:
        self.catalog_queries += 1
        cur.execute(catalog_query(name), params or {})
        return list(cur.fetchall())

    def _read_catalog(self, conn, tables: list[str]):
        errors: dict[str, str] = {}
        listed: list[tuple[str, str, str]] = []
        for name in tables:
            try:
                listed.append((name, *split_qualified(name)))
            except ValueError as exc:
                errors[name] = f"invalid table name {name!r}: {exc}"
        with conn.cursor() as cur:
            server = self._catalog(cur, "server_info")[0]
            if server["version_num"] < MIN_SERVER_VERSION:
                raise SourceUnavailable(
                    f"PostgreSQL {server['server_version']} is not supported (12 or later needed)"
                )
            rel_rows = self._catalog(
                cur,
                "relations",
                {"schemas": [s for _, s, _ in listed], "names": [t for _, _, t in listed]},
            )
            chosen, not_found, notes = resolve(listed, rel_rows)
            errors.update(not_found)
            oids = [row["oid"] for row in chosen.values()]
            col_rows = self._catalog(cur, "columns", {"oids": oids})
            con_rows = self._catalog(cur, "constraints", {"oids": oids})
            stat_rows = self._catalog(cur, "column_stats", {"oids": oids})
        conn.commit()

        by_oid: dict[int, dict[str, list]] = {oid: {"cols": [], "cons": []} for oid in oids}
        for row in col_rows:
            by_oid[row["oid"]]["cols"].append(row)
        for row in con_rows:
            by_oid[row["oid"]]["cons"].append(row)
        meta = SchemaMetadata(
            db_name=self.db_name or server["db_name"],
            tables=[],
            server_version=server["server_version"],
        )
        infos: dict[str, tuple[RelationInfo, dict[str, str]]] = {}
        stats: dict[str, dict[str, dict]] = {}
        stats_by_oid: dict[int, list[dict]] = {}
        for row in stat_rows:
            stats_by_oid.setdefault(row["oid"], []).append(row)
        for name, rel in chosen.items():
            parts = by_oid[rel["oid"]]
            table, extras = build_table(rel, parts["cols"], parts["cons"])
            key = table.qualified_name
            meta.tables.append(table)
            self.extras[key] = extras
            if name in notes:
                self._warn(key, notes[name])
            info = RelationInfo(
                oid=rel["oid"],
                reltuples=rel["reltuples"],
                relpages=rel["relpages"] or 0,
                heap_bytes=int(rel["heap_bytes"] or 0),
                block_size=server["block_size"],
            )
            base_types = {r["attname"]: r["base_type"] for r in parts["cols"]}
            infos[key] = (info, base_types)
            # Partitioned tables have their statistics on the parent as "inherited".
            want_inherited = table.kind == "partitioned table"
            stats[key] = {
                r["attname"]: r
                for r in stats_by_oid.get(rel["oid"], [])
                if r["inherited"] == want_inherited
            }
        return meta, errors, infos, stats

    def _warn(self, table: str, message: str) -> None:
        logger.warning("%s: %s", table, message)
        self.warnings.setdefault(table, []).append(message)

    def _query(self, conn, table: TableMeta, what: str, query) -> list[tuple] | None:
        """Run one data query; a failure (timeout, permission) is a warning, not an error."""
        try:
            with conn.cursor(cursor_factory=_PlainCountingCursor) as cur:
                cur.execute(query)
                return cur.fetchall()
        except psycopg2.Error as exc:
            if conn.closed:
                raise  # the server went away: read() reports the source as unavailable
            conn.rollback()
            self._warn(table.qualified_name, f"{what} skipped: {_first_line(exc)}")
        return None

    def _read_data(self, conn, table: TableMeta, info_types, stats) -> None:
        info, base_types = info_types
        estimate = info.estimated_rows() if table.kind in SAMPLEABLE_KINDS else None
        limit = self.exact_count_max_rows
        # Row count: trust a large estimate; otherwise count, but never past limit + 1 rows.
        if estimate is not None and estimate > limit:
            table.row_count, table.row_count_exact = estimate, False
        else:
            rows = self._query(conn, table, "row count", sampling.bounded_count_sql(table, limit))
            if rows is not None:
                n = rows[0][0]
                if n <= limit:
                    table.row_count, table.row_count_exact = n, True
                else:
                    table.row_count = estimate  # None without statistics
                    self._warn(
                        table.qualified_name,
                        f"more than {limit} rows and no planner statistics (run ANALYZE)",
                    )
        sampleable = table.kind in SAMPLEABLE_KINDS and table.row_count is not None

        def percent_for(wanted: int) -> float | None:
            # TABLESAMPLE only pays off when the table is much bigger than what we want.
            if not sampleable or table.row_count <= 2 * wanted:
                return None
            return sampling.sample_percent(table.row_count, wanted)

        if table.row_count == 0:
            conn.commit()
            return
        if self.sample_rows:
            self._sample(conn, table, base_types, percent_for)
        table_stats = stats.get(table.qualified_name, {})
        candidates = sampling.enum_candidates(
            table, table_stats, table.row_count, self.enum_max_distinct
        )
        if candidates:
            query = sampling.distinct_sql(
                table, candidates, self.enum_max_distinct, percent_for(sampling.ENUM_SCAN_ROWS)
            )
            rows = self._query(conn, table, "enum-like check", query)
            if rows:
                sampling.apply_distinct(candidates, rows[0], table_stats, self.enum_max_distinct)
        conn.commit()  # ends the table's transaction: no lock outlives its reading

    def _sample(self, conn, table, base_types, percent_for) -> None:
        # SYSTEM sampling picks whole pages, so rows of one page come together: take a pool
        # of ~1000 rows from enough pages and pick from it in a pseudo-random but repeatable
        # order. A plain LIMIT is the fallback when the pool comes back short.
        pool = max(self.sample_rows * 20, 1000)
        percent = percent_for(pool)
        shuffle = table.kind in SAMPLEABLE_KINDS and table.row_count is not None
        built = sampling.sample_sql(table, base_types, self.sample_rows, percent, shuffle)
        if built is None:
            return
        query, names = built
        rows = self._query(conn, table, "sample", query)
        if rows is not None and len(rows) < self.sample_rows and percent is not None:
            query, names = sampling.sample_sql(table, base_types, self.sample_rows, None, False)
            rows = self._query(conn, table, "sample", query)
        if rows:
            sampling.apply_samples(table, names, rows)


class _PlainCountingCursor(psycopg2.extensions.cursor):
    """Tuple rows for data queries (column names may repeat or be odd); counted too."""

    def execute(self, query, vars=None):
        self.connection.statements += 1
        return super().execute(query, vars)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return mask_secrets(text.splitlines()[0] if text else type(exc).__name__)


def read_schema_metadata(
    dsn: str,
    tables: list[str],
    *,
    sample_rows: int = 20,
    exact_count_max_rows: int = 100_000,
    statement_timeout_ms: int = 30_000,
    enum_max_distinct: int = 20,
    db_name: str | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[SchemaMetadata, dict[str, str]]:
    """Metadata of ``tables`` (``schema.table`` list names) in the database at ``dsn``.

    Returns the metadata of the tables that could be read and, for the others, list name →
    error message. Raises SourceUnavailable when the database cannot be reached, Cancelled
    when ``is_cancelled`` turns true between tables.
    """
    reader = MetadataReader(
        dsn,
        sample_rows=sample_rows,
        exact_count_max_rows=exact_count_max_rows,
        statement_timeout_ms=statement_timeout_ms,
        enum_max_distinct=enum_max_distinct,
        db_name=db_name,
        is_cancelled=is_cancelled,
        progress=progress,
    )
    return reader.read(tables)
