"""The metadata of a business database that the steps pass to each other.

Step 1 reads it from the catalog and saves it as ``schema_metadata.json`` in the task folder
beside the ``.ddl`` and ``_detail.md`` files; steps 2 and 3 load it to know exactly which
tables and columns exist (to check generated SQL and to give the LLM the right DDL).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.files import write_text_atomic

SCHEMA_METADATA_FILE = "schema_metadata.json"


@dataclass
class ForeignKey:
    """A relationship from ``columns`` to ``ref_table.ref_columns``: declared in the catalog,
    or ``inferred`` from names and data (then ``evidence`` says how well the values match)."""

    name: str
    columns: list[str]
    ref_schema: str
    ref_table: str
    ref_columns: list[str]
    inferred: bool = False
    evidence: dict | None = None


@dataclass
class ColumnMeta:
    name: str
    data_type: str  # as format_type() prints it, e.g. "numeric(12,2)", "character varying(50)"
    nullable: bool = True
    default: str | None = None
    comment: str | None = None
    comment_generated: bool = False  # True when the comment was written by the LLM
    is_primary_key: bool = False
    is_unique: bool = False
    enum_values: list[str] | None = None  # enum type labels, or confirmed low-cardinality values
    enum_source: str | None = None  # "enum_type" or "low_cardinality"
    samples: list[Any] = field(default_factory=list)  # distinct sample values (JSON-safe)
    # Category of the type, for rule-based generation: text, integer, numeric, date,
    # timestamp, boolean, enum, json, other.
    category: str = "other"


@dataclass
class TableMeta:
    schema: str
    name: str
    comment: str | None = None
    comment_generated: bool = False
    kind: str = "table"  # table, partitioned table, view, materialized view
    columns: list[ColumnMeta] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    unique_constraints: list[list[str]] = field(default_factory=list)
    row_count: int | None = None
    row_count_exact: bool = False
    size_bytes: int | None = None
    sample_rows: list[dict[str, Any]] = field(default_factory=list)
    # A partitioned table's partitions (documented and queried through the table itself).
    partitions: list[str] = field(default_factory=list)
    # Without a declared primary key: a column found unique and not null in the data.
    inferred_key: list[str] = field(default_factory=list)

    @property
    def qualified_name(self) -> str:
        """``schema.table`` (unquoted), the name used in table lists."""
        return f"{self.schema}.{self.name}"

    @property
    def file_stem(self) -> str:
        """``table`` in ``public``, ``schema__table`` elsewhere (SPEC §6)."""
        return self.name if self.schema == "public" else f"{self.schema}__{self.name}"

    def column(self, name: str) -> ColumnMeta | None:
        return next((c for c in self.columns if c.name == name), None)

    @classmethod
    def from_dict(cls, data: dict) -> TableMeta:
        data = dict(data)
        data["columns"] = [ColumnMeta(**c) for c in data.get("columns", [])]
        data["foreign_keys"] = [ForeignKey(**fk) for fk in data.get("foreign_keys", [])]
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class SchemaMetadata:
    """Everything step 1 learned about the listed tables."""

    db_name: str
    tables: list[TableMeta]
    server_version: str | None = None

    def table(self, schema: str, name: str) -> TableMeta | None:
        return next((t for t in self.tables if t.schema == schema and t.name == name), None)

    def save(self, folder: Path) -> Path:
        path = Path(folder) / SCHEMA_METADATA_FILE
        text = json.dumps(asdict(self), ensure_ascii=False, indent=1, default=str)
        return write_text_atomic(path, text)

    @classmethod
    def load(cls, folder: Path) -> SchemaMetadata:
        path = Path(folder) / SCHEMA_METADATA_FILE
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            db_name=data["db_name"],
            tables=[TableMeta.from_dict(t) for t in data["tables"]],
            server_version=data.get("server_version"),
        )
