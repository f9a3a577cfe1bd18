"""How step 1 names the files of each table (``<stem>.ddl``, ``<stem>_detail.md``): step 1
writes them, and later steps find them by the same rules."""

from __future__ import annotations

import re

from data_pipeline.schema.model import TableMeta

DDL_SUFFIX = ".ddl"
DETAIL_SUFFIX = "_detail.md"
RESERVED_STEMS = {"metadata"}  # metadata_detail.md is written by step 2
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
MAX_STEM_BYTES = 200


def safe_stem(table: TableMeta) -> str:
    """The file stem of ``table``, safe on any file system."""
    stem = table.file_stem
    if table.schema == "public" and stem.lower() in RESERVED_STEMS:
        stem = f"public__{stem}"
    stem = _UNSAFE.sub("_", stem).strip()
    if stem.startswith("."):
        stem = "_" + stem[1:]
    while len(stem.encode("utf-8")) > MAX_STEM_BYTES:
        stem = stem[:-1]
    return stem or "_"


def file_stems(tables: list[TableMeta]) -> dict[str, str]:
    """``qualified_name`` → a stem unique among ``tables`` (ignoring case)."""
    stems: dict[str, str] = {}
    taken: set[str] = set()
    for table in tables:
        base = stem = safe_stem(table)
        n = 2
        while stem.lower() in taken:
            stem = f"{base}_{n}"
            n += 1
        taken.add(stem.lower())
        stems[table.qualified_name] = stem
    return stems
