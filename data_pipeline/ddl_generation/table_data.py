"""The bounded data queries of one table: row count, sample, enum-like check.

With planner statistics, one statement per table reads all three (see :mod:`.table_query`),
sized by the estimate. Without statistics (never analysed, views, foreign tables), or when
that statement fails, the parts run one by one: the bounded count first, then the sample and
the enum check sized by it. A failing part (timeout, missing privilege) becomes a warning and
the table is documented without it; a lost connection is raised. Each table's reading ends its
transaction, so no lock outlives it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg2
import psycopg2.extensions

from core.errors import error_summary
from data_pipeline.ddl_generation import sampling
from data_pipeline.ddl_generation.catalog import SAMPLEABLE_KINDS, RelationInfo
from data_pipeline.ddl_generation.table_query import table_query
from data_pipeline.schema.model import TableMeta


@dataclass(frozen=True)
class DataSettings:
    sample_rows: int = 20
    exact_count_max_rows: int = 100_000
    enum_max_distinct: int = 20


class CountingTupleCursor(psycopg2.extensions.cursor):
    """Tuple rows for data queries; counts statements on the connection (``statements``)."""

    def execute(self, query, vars=None):
        self.connection.statements += 1
        return super().execute(query, vars)


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

    def _query(self, table: TableMeta, what: str, query) -> list[tuple] | None:
        try:
            with self.conn.cursor(cursor_factory=CountingTupleCursor) as cur:
                cur.execute(query)
                return cur.fetchall()
        except psycopg2.Error as exc:
            if self.conn.closed:
                raise  # the server went away: the reader reports the source as unavailable
            self.conn.rollback()
            self.warn(table.qualified_name, f"{what} skipped: {error_summary(exc)}")
        return None

    def read(
        self, table: TableMeta, info: RelationInfo, base_types: dict[str, str], stats: dict
    ) -> None:
        """Fill ``row_count``, samples and enum-like values of ``table``."""
        try:
            estimate = info.estimated_rows() if table.kind in SAMPLEABLE_KINDS else None
            if estimate is None or not self._read_joint(table, estimate, base_types, stats):
                self._read_parts(table, base_types, stats)
        finally:
            if not self.conn.closed:
                self.conn.commit()  # ends the table's transaction: no lock outlives it

    def _pool(self) -> int:
        return max(self.settings.sample_rows * 20, 1000)

    def _percent(self, table: TableMeta, size: int | None, wanted: int) -> float | None:
        """TABLESAMPLE percentage for ``wanted`` rows of ``size``, or None to read rows in
        order (sampling pays off only when the table is much bigger than what we want)."""
        if table.kind not in SAMPLEABLE_KINDS or size is None or size <= 2 * wanted:
            return None
        return sampling.sample_percent(size, wanted)

    def _read_joint(self, table: TableMeta, estimate: int, base_types, stats) -> bool:
        """With planner statistics: everything in one statement sized by the estimate.
        Returns False when that statement failed (the parts are then read one by one)."""
        limit, n = self.settings.exact_count_max_rows, self.settings.sample_rows
        candidates = sampling.enum_candidates(
            table, stats, estimate, self.settings.enum_max_distinct
        )
        built = table_query(
            table,
            base_types,
            count_limit=limit if estimate <= limit else None,
            candidates=candidates,
            max_distinct=self.settings.enum_max_distinct,
            enum_percent=self._percent(table, estimate, sampling.ENUM_SCAN_ROWS),
            sample_n=n,
            sample_pool=self._pool(),
            sample_percent=self._percent(table, estimate, self._pool()),
        )
        rows = self._query(table, "data", built.query) if built else []
        if rows is None:
            return False
        count, enum_row, samples = built.parse(rows) if built else (None, None, [])
        if not built or not built.count:
            table.row_count, table.row_count_exact = estimate, False
        else:
            self._set_count(table, count, None)
        if samples:
            sampling.apply_samples(table, built.sample_names, samples)
        if (
            n
            and len(samples) < n
            and table.row_count != 0
            and (self._percent(table, estimate, self._pool()) is not None)
        ):
            self._sample(table, base_types, percent=None)  # the TABLESAMPLE came back short
        if enum_row is not None:
            sampling.apply_distinct(candidates, enum_row, stats, self.settings.enum_max_distinct)
        return True

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

    def _read_parts(self, table: TableMeta, base_types, stats) -> None:
        """Without statistics (or after a failure): count first, then size the rest by it."""
        limit = self.settings.exact_count_max_rows
        built = table_query(table, base_types, count_limit=limit)
        rows = self._query(table, "row count", built.query)
        if rows is not None:
            self._set_count(table, built.parse(rows)[0], None)
        if table.row_count == 0:
            return
        if self.settings.sample_rows:
            self._sample(table, base_types, self._percent(table, table.row_count, self._pool()))
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
                sampling.apply_distinct(candidates, built.parse(rows)[1], stats, max_distinct)

    def _sample(self, table: TableMeta, base_types, percent: float | None) -> None:
        n = self.settings.sample_rows
        # Shuffling needs ctid (tables, materialized views) and a known, bounded size.
        shuffle = table.kind in SAMPLEABLE_KINDS
        built = table_query(
            table,
            base_types,
            sample_n=n,
            sample_pool=self._pool(),
            sample_percent=percent,
            shuffle=shuffle,
        )
        if built is None:
            return
        rows = self._query(table, "sample", built.query)
        samples = built.parse(rows)[2] if rows else []
        if len(samples) < n and percent is not None:  # SYSTEM sampling came back short
            built = table_query(table, base_types, sample_n=n, sample_pool=self._pool())
            rows = self._query(table, "sample", built.query)
            samples = built.parse(rows)[2] if rows else []
        if samples:
            sampling.apply_samples(table, built.sample_names, samples)
