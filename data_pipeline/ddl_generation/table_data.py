"""The bounded data queries of tables: row count, sample, enum-like check.

With planner statistics, one statement reads all three for a whole *batch* of tables (see
:mod:`.table_query`), each table's parts sized by its estimate; :func:`plan_batches` bounds a
batch by its number of tables, the rows it may read and its columns, so one statement stays
well inside the statement timeout. When a batch's statement fails (a timeout, a missing
privilege, a broken view, a lock held by someone else), its tables are read again one by one,
so only the table that really fails gets a warning.

Without statistics (never analysed, views, foreign tables), or when a table's own statement
fails, its parts run one by one: the bounded count first, then the sample and the enum check
sized by it. A failing part becomes a warning and the table is documented without it; a lost
connection is raised. Each batch (or lone table) ends its transaction, so no lock outlives it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions

from core.errors import error_summary
from data_pipeline.ddl_generation import sampling
from data_pipeline.ddl_generation.catalog import SAMPLEABLE_KINDS, RelationInfo
from data_pipeline.ddl_generation.table_query import TableQuery, batch_statement, table_query
from data_pipeline.schema.model import TableMeta

logger = logging.getLogger(__name__)

# Bounds of one batch statement: tables, rows it may read (by the planner's estimates) and
# columns (its SQL text and planning time grow with them).
BATCH_MAX_TABLES = 25
BATCH_MAX_ROWS = 300_000
BATCH_MAX_COLUMNS = 2_000


@dataclass(frozen=True)
class DataSettings:
    sample_rows: int = 20
    exact_count_max_rows: int = 100_000
    enum_max_distinct: int = 20

    @property
    def sample_pool(self) -> int:
        """Rows read to pick the sample from."""
        return max(self.sample_rows * 20, 1000)


@dataclass
class TableJob:
    """One table to read, with the catalog facts that size its reading."""

    table: TableMeta
    info: RelationInfo
    base_types: dict[str, str]
    stats: dict

    @property
    def estimate(self) -> int | None:
        """The planner's row estimate; None without statistics or for views."""
        if self.table.kind not in SAMPLEABLE_KINDS:
            return None
        return self.info.estimated_rows()

    def rows_read(self, settings: DataSettings) -> int:
        """About how many rows its joint statement reads (TABLESAMPLE keeps big tables small)."""
        est = self.estimate or 0
        counted = est if est <= settings.exact_count_max_rows else 0
        return counted + min(est, sampling.ENUM_SCAN_ROWS) + min(est, settings.sample_pool)


def plan_batches(
    jobs: list[TableJob], settings: DataSettings, max_tables: int = BATCH_MAX_TABLES
) -> list[list[TableJob]]:
    """Group ``jobs`` into batches read by one statement each, in list order.

    Tables with statistics share batches of at most ``max_tables`` tables, BATCH_MAX_ROWS
    estimated rows read and BATCH_MAX_COLUMNS columns (a table bigger than that is alone). A
    table without statistics is a batch of its own: its size is unknown, so its reading is
    sized by a count first.
    """
    max_tables = max(1, min(int(max_tables), BATCH_MAX_TABLES))
    batches: list[list[TableJob]] = []
    current: list[TableJob] = []
    rows = columns = 0
    for job in jobs:
        if job.estimate is None:
            batches.append([job])
            continue
        job_rows, job_columns = job.rows_read(settings), len(job.table.columns)
        if current and (
            len(current) >= max_tables
            or rows + job_rows > BATCH_MAX_ROWS
            or columns + job_columns > BATCH_MAX_COLUMNS
        ):
            batches.append(current)
            current, rows, columns = [], 0, 0
        current.append(job)
        rows += job_rows
        columns += job_columns
    if current:
        batches.append(current)
    return batches


class CountingTupleCursor(psycopg2.extensions.cursor):
    """Tuple rows for data queries; counts statements on the connection (``statements``)."""

    def execute(self, query, vars=None):
        self.connection.statements += 1
        return super().execute(query, vars)


@dataclass
class _Joint:
    """A table's part of a batch statement: the query and what sized it."""

    job: TableJob
    query: TableQuery | None
    candidates: list
    sample_percent: float | None


class TableDataReader:
    """Reads the data-dependent facts of tables over one connection.

    Args:
        conn: a read-only connection (see ``MetadataReader.connect``).
        settings: sample size, exact-count threshold, enum size limit.
        warn: called with (table name, message) for a skipped part.
    """

    def __init__(self, conn, settings: DataSettings, warn: Callable[[str, str], None]):
        self.conn = conn
        self.settings = settings
        self.warn = warn

    # Running statements ------------------------------------------------------------------
    def _run(self, query: str) -> list[tuple]:
        with self.conn.cursor(cursor_factory=CountingTupleCursor) as cur:
            cur.execute(query)
            return cur.fetchall()

    def _query(self, table: TableMeta, what: str, query: str) -> list[tuple] | None:
        """Rows of a statement about ``table``; None (and a warning) when it fails."""
        try:
            return self._run(query)
        except psycopg2.Error as exc:
            self._recover(exc)
            self.warn(table.qualified_name, f"{what} skipped: {error_summary(exc)}")
        return None

    def _recover(self, exc: psycopg2.Error) -> None:
        if self.conn.closed:
            raise exc  # the server went away: the reader reports the source as unavailable
        self.conn.rollback()

    def _end(self) -> None:
        if not self.conn.closed:
            self.conn.commit()  # ends the transaction: no lock outlives the batch

    # Batches -----------------------------------------------------------------------------
    def read_batch(self, jobs: list[TableJob]) -> None:
        """Fill ``row_count``, samples and enum-like values of every table of ``jobs``.

        Tables with statistics are read by one statement; when it fails, each table is read
        on its own (see :meth:`read`), so a failure stays with the table that causes it.
        """
        if len(jobs) == 1 or any(job.estimate is None for job in jobs):
            for job in jobs:
                self.read(job)
            return
        try:
            joints = [self._joint(job, i) for i, job in enumerate(jobs)]
            queries = [j.query for j in joints if j.query is not None]
            try:
                rows = self._run(batch_statement(queries)) if queries else []
            except psycopg2.Error as exc:
                self._recover(exc)
                logger.info(
                    "a batch of %d tables failed (%s); reading them one by one",
                    len(jobs),
                    error_summary(exc),
                )
                for job in jobs:
                    self.read(job)
                return
            payloads = dict(rows)
            for joint in joints:
                payload = payloads.get(joint.query.index) if joint.query is not None else None
                self._apply_joint(joint, payload)
        finally:
            self._end()

    # One table ---------------------------------------------------------------------------
    def read(self, job: TableJob) -> None:
        """Fill ``row_count``, samples and enum-like values of one table (own statements)."""
        try:
            estimate = job.estimate
            if estimate is None or not self._read_joint(job):
                self._read_parts(job)
        finally:
            self._end()

    def _percent(self, table: TableMeta, size: int | None, wanted: int) -> float | None:
        """TABLESAMPLE percentage for ``wanted`` rows of ``size``, or None to read rows in
        order (sampling pays off only when the table is much bigger than what we want)."""
        if table.kind not in SAMPLEABLE_KINDS or size is None or size <= 2 * wanted:
            return None
        return sampling.sample_percent(size, wanted)

    def _joint(self, job: TableJob, index: int) -> _Joint:
        """With planner statistics: every part in one SELECT sized by the estimate."""
        table, estimate = job.table, job.estimate
        limit, pool = self.settings.exact_count_max_rows, self.settings.sample_pool
        candidates = sampling.enum_candidates(
            table, job.stats, estimate, self.settings.enum_max_distinct
        )
        percent = self._percent(table, estimate, pool)
        built = table_query(
            table,
            job.base_types,
            index=index,
            count_limit=limit if estimate <= limit else None,
            candidates=candidates,
            max_distinct=self.settings.enum_max_distinct,
            enum_percent=self._percent(table, estimate, sampling.ENUM_SCAN_ROWS),
            sample_n=self.settings.sample_rows,
            sample_pool=pool,
            sample_percent=percent,
        )
        return _Joint(job, built, candidates, percent)

    def _read_joint(self, job: TableJob) -> bool:
        """The table's joint statement alone. Returns False when it failed (the parts are
        then read one by one: a part that fails alone does not take the others with it)."""
        joint = self._joint(job, 0)
        payload = None
        if joint.query is not None:
            rows = self._query(job.table, "data", joint.query.query)
            if rows is None:
                return False
            payload = rows[0][1]
        self._apply_joint(joint, payload)
        return True

    def _apply_joint(self, joint: _Joint, payload: str | None) -> None:
        table, estimate = joint.job.table, joint.job.estimate
        built, n = joint.query, self.settings.sample_rows
        count, enum_row, samples = built.parse(payload) if built and payload else (None, None, [])
        if not built or not built.count:
            table.row_count, table.row_count_exact = estimate, False
        else:
            self._set_count(table, count, None)
        if samples:
            sampling.apply_samples(table, built.sample_names, samples)
        if n and len(samples) < n and table.row_count != 0 and joint.sample_percent is not None:
            self._sample(joint.job, percent=None)  # the TABLESAMPLE came back short
        if enum_row is not None:
            sampling.apply_distinct(
                joint.candidates, enum_row, joint.job.stats, self.settings.enum_max_distinct
            )

    def _set_count(self, table: TableMeta, n: int, estimate: int | None) -> None:
        limit = self.settings.exact_count_max_rows
        if n <= limit:
            table.row_count, table.row_count_exact = n, True
            return
        table.row_count, table.row_count_exact = estimate, False
        self.warn(
            table.qualified_name,
            f"more than {limit} rows but the planner statistics are missing or out of date"
            " (run ANALYZE)",
        )

    def _read_parts(self, job: TableJob) -> None:
        """Without statistics (or after a failure): count first, then size the rest by it."""
        table, base_types, stats = job.table, job.base_types, job.stats
        limit = self.settings.exact_count_max_rows
        built = table_query(table, base_types, count_limit=limit)
        rows = self._query(table, "row count", built.query)
        if rows is not None:
            self._set_count(table, built.parse(rows[0][1])[0], None)
        if table.row_count == 0:
            return
        if self.settings.sample_rows:
            pool = self.settings.sample_pool
            self._sample(job, self._percent(table, table.row_count, pool))
        max_distinct = self.settings.enum_max_distinct
        candidates = sampling.enum_candidates(table, stats, table.row_count, max_distinct)
        if candidates:
            built = table_query(
                table,
                base_types,
                candidates=candidates,
                max_distinct=max_distinct,
                enum_percent=self._percent(table, table.row_count, sampling.ENUM_SCAN_ROWS),
            )
            rows = self._query(table, "enum-like check", built.query)
            if rows:
                sampling.apply_distinct(candidates, built.parse(rows[0][1])[1], stats, max_distinct)

    def _sample(self, job: TableJob, percent: float | None) -> None:
        table, n, pool = job.table, self.settings.sample_rows, self.settings.sample_pool
        # Shuffling needs ctid (tables, materialized views) and a known, bounded size.
        shuffle = table.kind in SAMPLEABLE_KINDS
        built = table_query(
            table,
            job.base_types,
            sample_n=n,
            sample_pool=pool,
            sample_percent=percent,
            shuffle=shuffle,
        )
        if built is None:
            return
        rows = self._query(table, "sample", built.query)
        samples = built.parse(rows[0][1])[2] if rows else []
        if len(samples) < n and percent is not None:  # SYSTEM sampling came back short
            built = table_query(table, job.base_types, sample_n=n, sample_pool=pool)
            rows = self._query(table, "sample", built.query)
            samples = built.parse(rows[0][1])[2] if rows else []
        if samples:
            sampling.apply_samples(table, built.sample_names, samples)
