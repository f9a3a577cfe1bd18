"""Reads what step 1 documents about the listed tables of a business database.

Catalog metadata of *all* listed tables comes from a constant number of ``pg_catalog``
queries (``sql/catalog/metadata.sql``). Then the data: per table, a count that stops after
``exact_count_max_rows + 1`` rows (skipped when the planner's estimate already says the table
is large), a sample (``TABLESAMPLE SYSTEM`` on large tables, ``LIMIT`` on small ones) and a
bounded check of the enum-like candidates, all of it in one statement for a whole batch of
tables (see :mod:`.table_data`): a few round trips for hundreds of tables.

The batches run over a few connections at once (``parallel``, default 4), which open while
the catalog is read; a batch that fails is read again one table at a time, so that only the
table at fault is documented without its data.

The business database is only read: every session is read-only, with a statement timeout and a
lock timeout, and each batch runs in its own short transaction so that locks are not held
across the whole run.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from core.errors import Cancelled, SourceUnavailable, error_summary
from core.sql_queries import query
from data_pipeline.ddl_generation.catalog import (
    RelationInfo,
    TableExtras,
    build_table,
    resolve,
    split_listed,
)
from data_pipeline.ddl_generation.table_data import (
    BATCH_MAX_TABLES,
    CountingTupleCursor,
    DataSettings,
    TableDataReader,
    TableJob,
    plan_batches,
)
from data_pipeline.schema.model import SchemaMetadata, TableMeta
from data_pipeline.sources.connection import connect_readonly

logger = logging.getLogger(__name__)

MIN_SERVER_VERSION = 120000  # pg_partition_tree, attgenerated
TABLES_PER_CONNECTION = 10  # no extra connection for fewer listed tables than this


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
    ``batch_size`` bounds the tables read by one statement (1: a statement per table).
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
        parallel: int = 4,
        batch_size: int = BATCH_MAX_TABLES,
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
        # Who read the source, and what it could have written (the least-privilege check).
        self.source_role: dict = {}
        self.parallel = max(1, int(parallel))
        self.batch_size = max(1, int(batch_size))  # tables per statement at most
        self._lock = threading.Lock()

    # Connection -------------------------------------------------------------------------
    def connect(self) -> psycopg2.extensions.connection:
        """A read-only session on the business database with the timeouts set."""
        return connect_readonly(
            self.dsn,
            purpose="ddl_generation",
            connection_factory=_CountingConnection,
            cursor_factory=_CountingCursor,
            # REPEATABLE READ gives the catalog queries one consistent snapshot.
            isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ,
            settings={
                "statement_timeout": self.statement_timeout_ms,
                # Waiting behind someone's ALTER TABLE must not hang the step.
                "lock_timeout": min(self.statement_timeout_ms, 10_000),
                # format_type() and pg_get_expr() then qualify every non-public name, which is
                # what the DDL needs to run in another database.
                "search_path": "public",
            },
        )

    # Reading ----------------------------------------------------------------------------
    def read(self, tables: list[str]) -> tuple[SchemaMetadata, dict[str, str]]:
        """Metadata of ``tables`` (list names) and, per failed table, why it failed."""
        started = time.monotonic()
        conns = [self.connect()]
        # The data connections open (a few round trips each) while the catalog is read.
        wanted = min(self.parallel, max(1, len(tables) // TABLES_PER_CONNECTION))
        opener = ThreadPoolExecutor(1, thread_name_prefix="metadata-connect")
        pending = [opener.submit(self.connect) for _ in range(wanted - 1)]
        try:
            meta, errors, infos, stats = self._read_catalog(conns[0], tables)
            while pending:
                conns.append(pending[0].result())
                pending.pop(0)
            self._read_all_data(conns, meta.tables, infos, stats)
        except psycopg2.Error as exc:
            raise SourceUnavailable(
                f"business database query failed: {error_summary(exc)}"
            ) from None
        finally:
            opener.shutdown(wait=True, cancel_futures=True)
            for future in pending:  # opened, but not used (an error came first)
                if not future.cancelled() and future.exception() is None:
                    conns.append(future.result())
            self.statements = sum(c.statements for c in conns)
            for conn in conns:
                conn.close()
        logger.info(
            "read metadata of %d table(s) in %.2f s (%d catalog queries, %d statements,"
            " %d connection(s))",
            len(meta.tables),
            time.monotonic() - started,
            self.catalog_queries,
            self.statements,
            len(conns),
        )
        return meta, errors

    def _read_all_data(self, conns: list, tables: list[TableMeta], infos, stats) -> None:
        """Run the data queries of every table, a batch of tables per statement, spread over
        up to ``parallel`` connections; progress and cancellation are handled here, in the
        calling thread, between batches."""
        total = len(tables)
        if self.is_cancelled():
            raise Cancelled("the run was cancelled")
        self.progress(0, total)
        settings = DataSettings(self.sample_rows, self.exact_count_max_rows, self.enum_max_distinct)
        jobs = [
            TableJob(table, *infos[table.qualified_name], stats.get(table.qualified_name, {}))
            for table in tables
        ]
        # At least two batches per connection, so that the connections finish together.
        per_batch = min(self.batch_size, math.ceil(total / (2 * len(conns)))) if total else 1
        todo = deque(plan_batches(jobs, settings, per_batch))
        finished, stop = queue.Queue(), threading.Event()

        def work(conn) -> None:
            reader = TableDataReader(conn, settings, self._warn)
            try:
                while not stop.is_set():
                    try:
                        batch = todo.popleft()
                    except IndexError:
                        return
                    reader.read_batch(batch)
                    finished.put(len(batch))
            except BaseException:
                stop.set()  # the other workers stop too; the error is raised below
                raise

        done = 0
        with ThreadPoolExecutor(len(conns), thread_name_prefix="metadata") as pool:
            futures = [pool.submit(work, conn) for conn in conns]
            while done < total and not stop.is_set():
                try:
                    done += finished.get(timeout=0.2)
                    self.progress(done, total)
                except queue.Empty:
                    if all(f.done() for f in futures):
                        break
                if self.is_cancelled():
                    stop.set()
            for future in futures:
                future.result()
        if done < total and self.is_cancelled():
            raise Cancelled("the run was cancelled")

    def _catalog(self, cur, name: str, params: dict | None = None) -> list[dict]:
        self.catalog_queries += 1
        cur.execute(query(name), params or {})
        # Tuples zipped into dicts: several times faster than RealDictCursor on 10k+ rows.
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def _read_catalog(self, conn, tables: list[str]):
        listed, errors = split_listed(tables)
        with conn.cursor(cursor_factory=CountingTupleCursor) as cur:
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
            chosen_by_oid = {row["oid"]: row for row in chosen.values()}
            col_rows = self._catalog(cur, "columns", {"oids": oids})
            con_rows = self._catalog(cur, "constraints", {"oids": oids})
            text_columns = [
                (chosen_by_oid[r["oid"]]["schema_name"], chosen_by_oid[r["oid"]]["table_name"], r)
                for r in col_rows
                if r["type_category"] == "S"
            ]
            stat_rows = self._catalog(
                cur,
                "column_stats",
                {
                    "schemas": [s for s, _, _ in text_columns],
                    "names": [t for _, t, _ in text_columns],
                    "columns": [r["attname"] for _, _, r in text_columns],
                },
            )
        conn.commit()

        self.source_role = {
            "role": server.get("role_name"),
            "superuser": bool(server.get("is_superuser")),
            "writable": sorted(name for name, rel in chosen.items() if rel.get("can_write")),
        }
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
        stats_by_table: dict[tuple[str, str], list[dict]] = {}
        for row in stat_rows:
            stats_by_table.setdefault((row["schema_name"], row["table_name"]), []).append(row)
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
                for r in stats_by_table.get((table.schema, table.name), [])
                if r["inherited"] == want_inherited
            }
        return meta, errors, infos, stats

    def _warn(self, table: str, message: str) -> None:
        logger.warning("%s: %s", table, message)
        with self._lock:
            self.warnings.setdefault(table, []).append(message)


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
