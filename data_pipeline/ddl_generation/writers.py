"""Writing step 1's files: ``<stem>.ddl`` and ``<stem>_detail.md`` per table.

The stem is ``table`` in ``public`` and ``schema__table`` elsewhere (SPEC §6), made safe as a
file name (no path separators or control characters) and unique within the run, also on
case-insensitive file systems. A public table named ``metadata`` is written as
``public__metadata`` because step 2 owns ``metadata_detail.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.files import write_text_atomic
from data_pipeline.ddl_generation.catalog import TableExtras
from data_pipeline.ddl_generation.ddl_render import render_ddl
from data_pipeline.ddl_generation.detail_render import incoming_foreign_keys, render_detail
from data_pipeline.schema.files import DDL_SUFFIX, DETAIL_SUFFIX, file_stems, safe_stem
from data_pipeline.schema.model import SCHEMA_METADATA_FILE, SchemaMetadata, TableMeta

__all__ = ["DDL_SUFFIX", "DETAIL_SUFFIX", "file_stems", "safe_stem", "write_table_files"]


def write_table_files(
    task_dir: Path,
    table: TableMeta,
    stem: str,
    *,
    db_name: str,
    schema: SchemaMetadata | None = None,
    extras: TableExtras | None = None,
    known_tables: set[tuple[str, str]] | None = None,
    incoming: dict[tuple[str, str], list] | None = None,
) -> list[Path]:
    """Write the ``.ddl`` and ``_detail.md`` of one table; return their paths.

    ``known_tables`` and ``incoming`` (see :func:`incoming_foreign_keys`) are derived from
    ``schema`` when not given; pass them when writing many tables of one schema.
    """
    if schema is not None:
        if known_tables is None:
            known_tables = {(t.schema, t.name) for t in schema.tables}
        if incoming is None:
            incoming = incoming_foreign_keys(schema)
    ddl_path = Path(task_dir) / f"{stem}{DDL_SUFFIX}"
    md_path = Path(task_dir) / f"{stem}{DETAIL_SUFFIX}"
    # Written in place: a half-written file is replaced by the next run, and steps that read
    # these files only start after this step has finished.
    ddl = render_ddl(table, db_name=db_name, extras=extras, known_tables=known_tables)
    write_text_atomic(ddl_path, ddl)
    detail = render_detail(table, db_name=db_name, incoming=incoming, extras=extras)
    write_text_atomic(md_path, detail)
    return [ddl_path, md_path]


def step_files(task_dir: Path) -> list[Path]:
    """The ``.ddl`` and ``_detail.md`` files in ``task_dir`` (step 2's
    ``metadata_detail.md`` excluded)."""
    folder = Path(task_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob(f"*{DDL_SUFFIX}") if p.is_file()]
    found += [
        p
        for p in folder.glob(f"*{DETAIL_SUFFIX}")
        if p.is_file() and p.name != f"metadata{DETAIL_SUFFIX}"
    ]
    return sorted(found)


def _table_dict(table: TableMeta) -> dict:
    """``dataclasses.asdict(table)`` without its deep copies (values are plain JSON already);
    the same keys in the same order, as the dataclasses' ``__init__`` sets them."""
    data = dict(vars(table))
    data["columns"] = [dict(vars(c)) for c in table.columns]
    data["foreign_keys"] = [dict(vars(fk)) for fk in table.foreign_keys]
    return data


def save_schema_metadata(meta: SchemaMetadata, folder: Path) -> Path:
    """Write ``schema_metadata.json`` as ``SchemaMetadata.save`` does (same content, read by
    ``SchemaMetadata.load``), one table per line: several times faster for hundreds of tables
    because the C JSON encoder is used (it cannot indent)."""
    path = Path(folder) / SCHEMA_METADATA_FILE

    def dumps(value) -> str:
        return json.dumps(value, ensure_ascii=False, default=str)

    head = f'{{"db_name": {dumps(meta.db_name)}, "server_version": {dumps(meta.server_version)}'
    tables = ",\n".join(dumps(_table_dict(t)) for t in meta.tables)
    write_text_atomic(path, f'{head}, "tables": [\n{tables}\n]}}\n')
    return path
