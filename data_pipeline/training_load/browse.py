"""The training store as a reviewer sees it: counts, a filtered and paged list, one document,
deletion by id and an export (the API's ``/store`` routes; the SQL is in
``sql/vector/store_browse.sql``).

A document is shown as ``Doc``: ``{id, collection, db_name, task_ids, source_file, embedder,
content, question?, sql?}`` (``question``/``sql`` for a pair of the ``sql`` collection, whose
``content`` is the JSON document Vanna reads). A store without its tables yet answers empty
counts and lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2.extras

from core.sql_queries import query
from data_pipeline.training_load.documents import COLLECTIONS
from data_pipeline.training_load.store_schema import task_filter, text_array
from data_pipeline.training_load.vector_store import SearchHit, TrainingStore

EXPORT_BATCH = 500  # rows fetched per round trip by the export's server-side cursor


@dataclass(frozen=True)
class DocFilter:
    """Which documents: ``None`` means any. ``text`` is searched in the document,
    case-insensitively, as plain text (``%`` and ``_`` match themselves)."""

    collection: str | None = None
    task_id: str | None = None
    db_name: str | None = None
    text: str | None = None

    def params(self) -> dict:
        return {
            "collection": self.collection,
            "task_id": self.task_id,
            "task_filter": task_filter(self.task_id) if self.task_id else "{}",
            "db_name": self.db_name,
            "pattern": f"%{escape_like(self.text)}%" if self.text else None,
        }


def escape_like(text: str) -> str:
    """``text`` as a LIKE pattern matching itself (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def task_ids_of(meta: dict) -> list[str]:
    ids = meta.get("task_ids")
    if isinstance(ids, list) and ids:
        return [str(t) for t in ids]
    return [meta["task_id"]] if meta.get("task_id") else []


def as_doc(doc_id: str, collection: str, document: str | None, meta: dict | None) -> dict:
    """A stored row as the API shows it."""
    meta = meta or {}
    doc = {
        "id": doc_id,
        "collection": collection,
        "db_name": meta.get("db_name"),
        "task_ids": task_ids_of(meta),
        "source_file": meta.get("source_file"),
        "embedder": meta.get("embedder"),
        "content": document or "",
    }
    if collection == "sql" and document:
        try:
            pair = json.loads(document)
        except ValueError:
            pair = None
        if isinstance(pair, dict):
            doc["question"] = pair.get("question")
            doc["sql"] = pair.get("sql")
    return doc


def _row_doc(row: dict) -> dict:
    return as_doc(row["id"], row["collection"], row["document"], row["cmetadata"])


def hit_doc(hit: SearchHit) -> dict:
    """A search result: the document and its cosine distance."""
    return {
        **as_doc(hit.id, hit.collection, hit.document, hit.metadata),
        "distance": round(hit.distance, 6),
    }


def stats(store: TrainingStore) -> dict:
    """Rows in all, per collection, per source database (with its collections), per task and
    per embedder recorded with the vectors."""
    empty = {
        "total": 0,
        "collections": [{"collection": c, "count": 0} for c in COLLECTIONS],
        "databases": [],
        "tasks": [],
        "embedders": [],
    }
    if not store.exists():
        return empty
    counts = store.counts()
    with store.db.transaction() as cur:
        cur.execute(query("browse_databases"))
        per_db = cur.fetchall()
        cur.execute(query("browse_tasks"))
        tasks = [{"task_id": r["task_id"], "count": int(r["n"])} for r in cur.fetchall()]
        cur.execute(query("browse_embedders"))
        embedders = [{"name": r["embedder"], "count": int(r["n"])} for r in cur.fetchall()]
    databases: dict[str | None, dict] = {}
    for r in per_db:
        entry = databases.setdefault(
            r["db_name"],
            {"db_name": r["db_name"], "count": 0, "collections": dict.fromkeys(COLLECTIONS, 0)},
        )
        entry["count"] += int(r["n"])
        entry["collections"][r["collection"]] = int(r["n"])
    names = [*COLLECTIONS, *sorted(set(counts) - set(COLLECTIONS))]
    return {
        "total": sum(counts.values()),
        "collections": [{"collection": c, "count": counts.get(c, 0)} for c in names],
        "databases": list(databases.values()),
        "tasks": tasks,
        "embedders": embedders,
    }


def embedder_counts(store: TrainingStore) -> dict[str | None, int]:
    """Rows per recorded embedder (``None``: not recorded)."""
    if not store.exists():
        return {}
    with store.db.transaction() as cur:
        cur.execute(query("browse_embedders"))
        return {r["embedder"]: int(r["n"]) for r in cur.fetchall()}


def list_documents(
    store: TrainingStore, where: DocFilter, *, page: int = 1, page_size: int = 50
) -> tuple[list[dict], int]:
    """One page of the documents ``where`` selects, and how many it selects in all."""
    if not store.exists():
        return [], 0
    params = where.params()
    with store.db.transaction() as cur:
        cur.execute(query("browse_count"), params)
        total = int(cur.fetchone()["n"])
        if total == 0 or (page - 1) * page_size >= total:
            return [], total
        cur.execute(
            query("browse_documents"),
            {**params, "limit": page_size, "offset": (page - 1) * page_size},
        )
        return [_row_doc(r) for r in cur.fetchall()], total


def get_document(store: TrainingStore, doc_id: str) -> dict | None:
    if not store.exists():
        return None
    with store.db.transaction() as cur:
        cur.execute(query("browse_document"), {"id": doc_id})
        row = cur.fetchone()
    return _row_doc(row) if row else None


def delete_documents(store: TrainingStore, ids: list[str]) -> tuple[list[str], list[str]]:
    """Remove the rows ``ids``: ``(deleted, missing)``, both in the order given."""
    wanted = list(dict.fromkeys(ids))
    if not wanted or not store.exists():
        return [], wanted
    with store.db.transaction(dict_rows=False) as cur:
        cur.execute(query("browse_delete"), {"ids": text_array(wanted)})
        gone = {row[0] for row in cur.fetchall()}
    return [i for i in wanted if i in gone], [i for i in wanted if i not in gone]


def export_documents(store: TrainingStore, where: DocFilter) -> Iterator[dict]:
    """Every document ``where`` selects, in the list's order, read through a server-side
    cursor ``EXPORT_BATCH`` rows at a time (memory stays bounded whatever the store's size).
    The connection is held until the iterator is exhausted or closed."""
    if not store.exists():
        return
    params = {**where.params(), "limit": None, "offset": 0}
    with store.db.connection() as conn:
        try:
            with conn.cursor(
                name="store_export", cursor_factory=psycopg2.extras.RealDictCursor
            ) as cur:
                cur.itersize = EXPORT_BATCH
                cur.execute(query("browse_documents"), params)
                for row in cur:
                    yield _row_doc(row)
        finally:
            conn.rollback()  # read only: nothing to keep; the cursor goes with the transaction
