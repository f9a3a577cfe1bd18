"""The training store's SQL and layout checks (used by :mod:`.vector_store`).

Named statements live in ``sql/vector/training_store.sql``. The layout is that of
``langchain_postgres.PGVector``, which ``vanna.pgvector.PG_VectorStore`` uses; an existing
table in the older ``langchain_community`` layout (``uuid`` + ``custom_id``) is refused with
a message saying so, rather than half-written.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid

import psycopg2

from core.errors import StepFailed, error_summary
from core.sql_queries import query
from data_pipeline.training_load.documents import TrainingDocument

EMBEDDING_TABLE = "langchain_pg_embedding"
COLLECTION_TABLE = "langchain_pg_collection"
LOCK_KEY = 0x5645_4354  # "VECT": serialises creation of the store by concurrent loads
_COLLECTION_NS = uuid.uuid5(uuid.NAMESPACE_URL, "https://data-pipeline-api/collections")
_REQUIRED = {"id", "collection_id", "embedding", "document", "cmetadata"}


def collection_uuid(name: str) -> str:
    """The uuid a collection gets when this project creates it (found by name otherwise)."""
    return str(uuid.uuid5(_COLLECTION_NS, name))


@functools.cache
def _literal_format(dimension: int) -> str:
    # One %-format call per vector is several times faster than formatting each float.
    return "[" + ",".join(["%.7g"] * dimension) + "]"


def vector_literal(vector: list[float]) -> str:
    """pgvector's text form of a vector (7 significant digits: the column stores float4)."""
    return _literal_format(len(vector)) % tuple(vector)


def text_array(values) -> str:
    """A ``text[]`` literal (``'{"a","b"}'``): one value for the server to parse, where a
    Python list would become an ``ARRAY[...]`` of thousands of constants."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def task_filter(task_id: str) -> str:
    """JSON for ``cmetadata @> ...``: the rows a task loaded (GIN-indexed)."""
    return json.dumps({"task_ids": [task_id]})


def embedding_key(doc: TrainingDocument, embedder: str) -> str:
    """What a document's vector depends on, hashed: the embedder, query or passage, the text.
    A stored row whose key differs (another embedder, or text embedded otherwise by an
    earlier version) is embedded again when it is loaded again."""
    kind = "query" if doc.as_query else "passage"
    digest = hashlib.sha256(f"{embedder}\x1f{kind}\x1f{doc.embedding_text}".encode())
    return digest.hexdigest()[:16]


def row_metadata(
    doc: TrainingDocument,
    task_id: str | None,
    db_name: str | None,
    embedder: str | None = None,
) -> str:
    """A row's ``cmetadata``: ``id`` as Vanna reads it, the loading task(s), the source, and
    (given the embedder's name) who made the vector and from what."""
    meta = {
        "id": doc.doc_id,
        "task_id": task_id,
        "task_ids": [task_id] if task_id else [],
        "source_file": doc.source_file,
        "db_name": db_name,
        "collection": doc.collection,
        **doc.extra,
    }
    if embedder is not None:
        meta["embedder"] = embedder
        meta["embedding_key"] = embedding_key(doc, embedder)
    return json.dumps(meta, ensure_ascii=False)


def ensure_extension(cur, where: str) -> None:
    """Create pgvector when missing, or fail saying what is needed and from whom."""
    cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
    if cur.fetchone():
        return
    cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    if not cur.fetchone():
        raise StepFailed(
            "the training load needs the PostgreSQL 'vector' extension (pgvector), which "
            f"the server of the training store ({where}) does not have: install pgvector "
            "there, or set VECTOR_DATABASE_URL to a server that has it"
        )
    cur.execute("SAVEPOINT create_vector")
    try:
        cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg2.Error as exc:
        cur.execute("ROLLBACK TO SAVEPOINT create_vector")
        raise StepFailed(
            f"the training load needs the 'vector' extension in {where}, and creating it "
            f"failed ({error_summary(exc)}); ask an administrator to run CREATE EXTENSION "
            "vector there"
        ) from None


def embedding_columns(cur) -> dict[str, dict]:
    """``{name: {type, typmod}}`` of ``langchain_pg_embedding`` ({} when it does not exist)."""
    cur.execute(query("embedding_columns"))
    return {r["name"]: dict(r) for r in cur.fetchall()}


def check_layout(columns: dict[str, dict]) -> None:
    """Refuse an existing table of another layout than the one Vanna's store reads."""
    if "id" not in columns and "custom_id" in columns:
        raise StepFailed(
            "langchain_pg_embedding has the old langchain_community layout (uuid, custom_id); "
            "this store uses the langchain_postgres layout (id VARCHAR primary key) that "
            "Vanna's PG_VectorStore reads: rename or drop the old table"
        )
    missing = _REQUIRED - set(columns)
    if missing:
        raise StepFailed(
            f"langchain_pg_embedding lacks the columns {sorted(missing)} of the "
            "langchain_postgres layout"
        )
    if columns["cmetadata"]["type"] != "jsonb":
        raise StepFailed("langchain_pg_embedding.cmetadata must be JSONB (use_jsonb=True)")
