"""DDL of the tables a SQL touches, for grounded repair.

From the task folder's ``.ddl`` files (step 1), else ``schema_metadata.json``, else the live
catalog of the business database (read only). For a table that does not exist, the tables
with the closest names are given instead, so the model can pick the right one.
"""

from __future__ import annotations

import difflib
import logging
import re
import threading
from pathlib import Path

from data_pipeline.ddl_generation.ddl_render import render_ddl
from data_pipeline.ddl_generation.metadata_reader import read_schema_metadata
from data_pipeline.schema.model import SCHEMA_METADATA_FILE, SchemaMetadata
from data_pipeline.schema.sql_checks import SQLCheckError, parse_single_select
from data_pipeline.schema.sql_checks import referenced_tables as _referenced
from data_pipeline.sources.catalog import table_names

logger = logging.getLogger(__name__)

DDL_BUDGET_CHARS = 16_000
_TABLE_LINE = re.compile(r"^--\s*Table:\s*(\S+)\s*$", re.MULTILINE)
_NAME = re.compile(r'"((?:[^"]|"")+)"|([A-Za-z_\u0080-\uffff][\w$]*)')


class DDLSource:
    """DDL text per table: ``.ddl`` files, else ``schema_metadata.json``, else the catalog.

    Args:
        folder: the task folder (or the pair file's folder); may hold neither.
        dsn: the business database, for the catalog fallback (read only).
        db_name: for DDL headers rendered from metadata.
    """

    def __init__(self, folder: Path | None, dsn: str | None = None, db_name: str = ""):
        self._ddl: dict[tuple[str, str], str] = {}
        self._dsn = dsn
        self._db_name = db_name
        self._lock = threading.Lock()
        self._catalog_names: list[tuple[str, str]] | None = None
        if folder is not None:
            self._load_folder(Path(folder))
        self.origin = "ddl_files" if self._ddl else None
        if not self._ddl and folder is not None and (Path(folder) / SCHEMA_METADATA_FILE).is_file():
            self._load_metadata(SchemaMetadata.load(Path(folder)))
            self.origin = "schema_metadata" if self._ddl else None

    def _load_folder(self, folder: Path) -> None:
        for path in sorted(folder.glob("*.ddl")):
            text = path.read_text(encoding="utf-8", errors="replace")
            self._ddl[_table_of_ddl(path, text)] = text

    def _load_metadata(self, schema: SchemaMetadata) -> None:
        known = {(t.schema, t.name) for t in schema.tables}
        for table in schema.tables:
            self._ddl[(table.schema, table.name)] = render_ddl(
                table, db_name=schema.db_name, known_tables=known
            )

    # Which tables ------------------------------------------------------------------------
    def known_tables(self) -> list[tuple[str, str]]:
        if self._ddl:
            return list(self._ddl)
        return self._catalog_tables()

    def _catalog_tables(self) -> list[tuple[str, str]]:
        if self._dsn is None:
            return []
        with self._lock:
            if self._catalog_names is None:
                self._catalog_names = table_names(self._dsn)
            return self._catalog_names

    def tables_for(self, sql: str) -> list[tuple[str, str]]:
        """Tables ``sql`` reads, plus the closest names for each table that does not exist."""
        known = self.known_tables()
        known_set = set(known)
        wanted: list[tuple[str, str]] = []
        for ref in _tables_in(sql, known):
            candidates = [ref] if ref in known_set else _close_matches(ref, known)
            wanted.extend(c for c in candidates if c not in wanted)
        return wanted

    def ddl_for(self, *sqls: str) -> str:
        """The DDL of the tables the given SQL texts touch (bounded in size)."""
        tables: list[tuple[str, str]] = []
        for sql in sqls:
            tables.extend(t for t in self.tables_for(sql) if t not in tables)
        if not tables:  # nothing recognisable: show what there is, within the budget
            tables = self.known_tables()
        texts = []
        used = 0
        for table in tables:
            text = self._text_of(table)
            if not text:
                continue
            if used + len(text) > DDL_BUDGET_CHARS and texts:
                break
            texts.append(text.strip())
            used += len(text)
        return "\n\n".join(texts)

    def _text_of(self, table: tuple[str, str]) -> str | None:
        with self._lock:
            if table in self._ddl:
                return self._ddl[table]
        if self._dsn is None:
            return None
        text = _catalog_ddl(self._dsn, table, self._db_name)
        with self._lock:
            self._ddl.setdefault(table, text or "")
        return text


def _table_of_ddl(path: Path, text: str) -> tuple[str, str]:
    m = _TABLE_LINE.search(text[:500])
    if m and "." in m.group(1):
        schema, _, name = m.group(1).partition(".")
        return schema, name
    stem = path.stem
    if "__" in stem:
        schema, _, name = stem.partition("__")
        return schema, name
    return "public", stem


def _tables_in(sql: str, known: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Tables a query names: from the parse tree, else any word equal to a known table."""
    try:
        return _referenced(parse_single_select(sql))
    except SQLCheckError:
        pass
    except Exception:  # sqlglot edge cases: fall back to the word scan
        logger.debug("could not parse SQL for table references", exc_info=True)
    by_name = {}
    for schema, name in known:
        by_name.setdefault(name, (schema, name))
    found = []
    for quoted, bare in _NAME.findall(sql or ""):
        name = quoted.replace('""', '"') if quoted else bare.lower()
        if name in by_name and by_name[name] not in found:
            found.append(by_name[name])
    return found


def _close_matches(ref: tuple[str, str], known: list[tuple[str, str]]) -> list[tuple[str, str]]:
    names = [name for _, name in known]
    close = difflib.get_close_matches(ref[1], names, n=2, cutoff=0.6)
    return [t for t in known if t[1] in close]


def _catalog_ddl(dsn: str, table: tuple[str, str], db_name: str) -> str | None:
    """DDL of one table read from the catalog (used when the folder has no step 1 files)."""
    try:
        schema, _errors = read_schema_metadata(
            dsn, [f"{table[0]}.{table[1]}"], sample_rows=0, db_name=db_name or None
        )
    except Exception:
        logger.warning("could not read the catalog for %s.%s", *table, exc_info=True)
        return None
    meta = schema.table(*table)
    return render_ddl(meta, db_name=schema.db_name, known_tables=None) if meta else None
