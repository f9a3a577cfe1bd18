"""What step 2 reads from step 1: the schema metadata and the ``*_detail.md`` documentation.

The documentation goes to the LLM as context, so it is bounded: each table's document gets an
equal share of a character budget (its head is kept: the purpose line and the first columns),
and a theme only gets the documents of its own tables.
"""

from __future__ import annotations

from pathlib import Path

from data_pipeline.schema.files import DETAIL_SUFFIX, file_stems
from data_pipeline.schema.model import SCHEMA_METADATA_FILE, SchemaMetadata

THEMES_BUDGET = 24_000  # characters of documentation sent with the theme request
THEME_BUDGET = 16_000  # characters sent with each theme's pair request
MIN_PER_TABLE = 600


def missing_inputs(task_dir: Path) -> str | None:
    """Why step 2 cannot run yet, or None."""
    task_dir = Path(task_dir)
    has_metadata = (task_dir / SCHEMA_METADATA_FILE).is_file()
    has_docs = any(p.name != "metadata_detail.md" for p in task_dir.glob(f"*{DETAIL_SUFFIX}"))
    if has_metadata and has_docs:
        return None
    checks = ((SCHEMA_METADATA_FILE, has_metadata), (f"the *{DETAIL_SUFFIX} files", has_docs))
    missing = [name for name, ok in checks if not ok]
    return (
        f"step 2 (qa_generation) needs {' and '.join(missing)} of step 1 (ddl_generation): "
        "run step 1 first"
    )


def load_schema(task_dir: Path) -> SchemaMetadata:
    return SchemaMetadata.load(Path(task_dir))


def load_details(task_dir: Path, schema: SchemaMetadata) -> dict[str, str]:
    """``schema.table`` → its ``_detail.md`` text (tables whose document exists)."""
    # Step 1 names files by its own unique stems (``schema__table``, suffixes on clashes).
    stems = file_stems(schema.tables)
    docs: dict[str, str] = {}
    for table in schema.tables:
        for stem in (stems.get(table.qualified_name), table.file_stem):
            path = Path(task_dir) / f"{stem}{DETAIL_SUFFIX}"
            if stem and path.is_file():
                docs[table.qualified_name] = path.read_text(encoding="utf-8", errors="replace")
                break
    return docs


def bounded_markdown(docs: dict[str, str], tables: list[str] | None, budget: int) -> str:
    """The documents of ``tables`` (all when None), joined, within ``budget`` characters."""
    names = [t for t in (tables if tables is not None else list(docs)) if t in docs]
    if not names:
        return ""
    share = max(MIN_PER_TABLE, budget // len(names))
    parts, used = [], 0
    for name in names:
        text = docs[name].strip()
        if len(text) > share:
            cut = text.rfind("\n", 0, share)
            text = text[: cut if cut > share // 2 else share].rstrip() + "\n…(truncated)"
        if used + len(text) > budget and parts:
            parts.append(f"…({len(names) - len(parts)} more tables not shown)")
            break
        parts.append(text)
        used += len(text) + 2
    return "\n\n".join(parts)
