"""The training-data store: pgvector tables in the layout Vanna's ``PG_VectorStore`` reads.

Layout (that of ``langchain_postgres.PGVector``, which ``vanna.pgvector.PG_VectorStore``
uses; the older ``langchain_community`` layout with ``uuid`` + ``custom_id`` columns is
refused with a clear message):

* ``langchain_pg_collection(uuid UUID PK, name VARCHAR UNIQUE, cmetadata JSON)`` holding the
  collections ``sql``, ``ddl`` and ``documentation``;
* ``langchain_pg_embedding(id VARCHAR PK, collection_id UUID FK ON DELETE CASCADE,
  embedding VECTOR(dim), document VARCHAR, cmetadata JSONB)``.

Ids come from the content (:mod:`data_pipeline.training_load.documents`), so inserts are
``ON CONFLICT (id)`` and a second load of the same data adds no row. ``cmetadata`` holds
``id`` (Vanna reads it), ``task_id``, ``task_ids`` (every task that loaded the row, so purging
one task keeps rows another task loaded too), ``source_file`` and ``db_name``.
The SQL lives in ``sql/vector/training_store.sql``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2 import sql as pgsql

from core.db import Database
from core.errors import StepFailed
from core.files import atomic_writer
from core.sql_queries import query
from data_pipeline.training_load.copy_format import encode_rows
from data_pipeline.training_load.documents import COLLECTIONS, TrainingDocument
from data_pipeline.training_load.store_schema import (
    COLLECTION_TABLE,
    EMBEDDING_TABLE,
    LOCK_KEY,
    check_layout,
    collection_uuid,
    embedding_columns,
    ensure_extension,
    row_metadata,
    task_filter,
    text_array,
    vector_literal,
)

logger = logging.getLogger(__name__)

BACKUP_DIR = "vector_bak"


@dataclass
class SearchHit:
    id: str
    collection: str
    document: str
    metadata: dict
    distance: float


class TrainingStore:
    """The training store in one database (usually the pipeline database).

    Args:
        dsn: DSN of a PostgreSQL database with (or allowed to create) the vector extension.
        maxconn: connections at most (the API's store, shared by its requests, has more).
    """

    def __init__(self, dsn: str, *, maxconn: int = 2):
        self.dsn = dsn
        self.db = Database(dsn, maxconn=maxconn, application_name="data_pipeline.training_load")
        self._collection_ids: dict[str, str] | None = None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> TrainingStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> str:
        """Where the store is, safe to show (database name and host, no password)."""
        try:
            params = psycopg2.extensions.parse_dsn(self.dsn)
        except psycopg2.ProgrammingError:
            return "the training store"
        host = params.get("host") or "localhost"
        host = "a local socket" if host.startswith("/") else host
        return f"database {params.get('dbname', '?')!r} on {host}"

    # Schema -------------------------------------------------------------------------------
    def exists(self) -> bool:
        with self.db.transaction(dict_rows=False) as cur:
            cur.execute(
                "SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL",
                (EMBEDDING_TABLE, COLLECTION_TABLE),
            )
            return bool(cur.fetchone()[0])

    def ensure(self, dimension: int) -> None:
        """Create the extension, tables, indexes and collections when missing (idempotent)."""
        with self.db.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            ensure_extension(cur, self.describe())
            columns = embedding_columns(cur)
            if columns:
                check_layout(columns)
            statement = pgsql.SQL(query("create_store")).format(dimension=pgsql.Literal(dimension))
            cur.execute(statement)
            for name in COLLECTIONS:
                cur.execute(
                    query("ensure_collection"),
                    {"uuid": collection_uuid(name), "name": name},
                )
        self._collection_ids = None

    def dimension(self) -> int | None:
        """The dimension of stored vectors: the column's, else a row's; None when unknown."""
        with self.db.transaction() as cur:
            columns = embedding_columns(cur)
            if "embedding" not in columns:
                return None
            if columns["embedding"]["typmod"] > 0:
                return int(columns["embedding"]["typmod"])
            cur.execute(query("sample_dimension"))
            row = cur.fetchone()
            return int(row["dims"]) if row else None

    def check_dimension(self, dimension: int, embedder_name: str = "the embedder") -> None:
        """Fail clearly when the store holds vectors of another size than the embedder's.
        An empty store of another size is simply re-typed."""
        stored = self.dimension()
        if stored is None or stored == dimension:
            return
        if self.total() == 0:
            self._retype(dimension)
            return
        raise StepFailed(
            f"the training store holds {stored}-dimension vectors but {embedder_name} makes "
            f"{dimension}-dimension ones: run with truncate_vector_tables (and "
            "backup_vector_tables to keep a copy), or configure an embedder of "
            f"{stored} dimensions"
        )

    def _retype(self, dimension: int) -> None:
        with self.db.transaction(dict_rows=False) as cur:
            cur.execute(
                pgsql.SQL("ALTER TABLE {} ALTER COLUMN embedding TYPE vector({})").format(
                    pgsql.Identifier(EMBEDDING_TABLE), pgsql.Literal(dimension)
                )
            )
        logger.info("training store re-typed to %d-dimension vectors", dimension)

    def collection_ids(self) -> dict[str, str]:
        if self._collection_ids is None:
            with self.db.transaction() as cur:
                cur.execute(query("collection_ids"))
                self._collection_ids = {r["name"]: r["uuid"] for r in cur.fetchall()}
        return self._collection_ids

    # Loading ------------------------------------------------------------------------------
    def encode_batch(
        self,
        documents: list[TrainingDocument],
        vectors,
        *,
        task_id: str | None = None,
        db_name: str | None = None,
        embedder: str | None = None,
    ) -> bytes:
        """The binary COPY payload of a batch (see :mod:`.copy_format`); ``embedder`` (its
        name) is recorded in each row."""
        ids = self.collection_ids()
        rows = [
            (
                doc.doc_id,
                ids[doc.collection],
                doc.content,
                row_metadata(doc, task_id, db_name, embedder),
            )
            for doc in documents
        ]
        return encode_rows(rows, vectors)

    def insert_encoded(self, payload: bytes) -> set[str]:
        """Insert an encoded batch in one transaction; return the ids inserted now.

        Ids already present get the new vector (and embedder), and this task joins their
        ``task_ids``.
        """
        with self.db.transaction(dict_rows=False) as cur:
            cur.execute(query("create_stage"))
            cur.copy_expert(query("copy_stage"), io.BytesIO(payload))
            cur.execute(query("insert_embeddings"))
            returned = cur.fetchall()
        return {row_id for row_id, inserted in returned if inserted}

    def insert_batch(
        self,
        documents: list[TrainingDocument],
        vectors,
        *,
        task_id: str | None = None,
        db_name: str | None = None,
        embedder: str | None = None,
    ) -> set[str]:
        """Insert documents with their vectors; return the ids inserted now."""
        if not documents:
            return set()
        return self.insert_encoded(
            self.encode_batch(
                documents, vectors, task_id=task_id, db_name=db_name, embedder=embedder
            )
        )

    # What a load finds in the store (see :mod:`.load_plan`) -------------------------------
    def _rows(self, name: str, params: dict) -> list[dict]:
        with self.db.transaction() as cur:
            cur.execute(query(name), params)
            return [dict(r) for r in cur.fetchall()]

    def is_empty(self) -> bool:
        """Whether the store holds no row at all."""
        return not self._rows("any_row", {})

    def present_rows(self, ids: list[str]) -> dict[str, str | None]:
        """The ``ids`` stored already, with the ``embedding_key`` of their vectors."""
        rows = self._rows("present_rows", {"ids": text_array(ids)})
        return {r["id"]: r["embedding_key"] for r in rows}

    def pair_rows(self, keys: list[str]) -> list[dict]:
        """Stored pairs with one of ``keys``, and every pair without a recorded key
        (``id``, ``pair_key``, ``document`` when the key is not recorded, ``ours``)."""
        return self._rows("pair_rows", {"keys": text_array(keys)})

    def file_rows(self, db_name: str, files: list[str]) -> list[dict]:
        """Stored DDL/documentation rows of ``files`` of database ``db_name``."""
        wanted = set(files)
        rows = self._rows("file_rows", {"db_name": db_name})
        return [r for r in rows if r["source_file"] in wanted]

    def other_embedders(self, embedder: str, exempt=()) -> dict[str, int]:
        """Rows made by another embedder than ``embedder`` (``exempt`` ids aside), by name."""
        counts: dict[str, int] = {}
        exempt = set(exempt)
        for row in self._rows("other_embedders", {"embedder": embedder}):
            if row["id"] not in exempt:
                counts[row["embedder"]] = counts.get(row["embedder"], 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def claim_rows(self, ids: list[str], task_id: str) -> None:
        """``task_id`` joins the ``task_ids`` of these rows (those this pipeline loaded)."""
        if ids:
            with self.db.transaction(dict_rows=False) as cur:
                cur.execute(query("claim_rows"), {"ids": list(ids), "task_id": task_id})

    def replace_rows(self, old_ids: list[str], new_ids: list[str], owners: list[str]) -> dict:
        """In one transaction: ``owners`` join the ``task_ids`` of ``new_ids``, and the rows
        ``old_ids`` (an earlier version of the same table's DDL or documentation) go.
        Returns the rows removed per collection."""
        removed = dict.fromkeys(COLLECTIONS, 0)
        with self.db.transaction(dict_rows=False) as cur:
            if owners and new_ids:
                cur.execute(
                    query("add_owners"), {"ids": list(new_ids), "owners": json.dumps(owners)}
                )
            cur.execute(query("delete_rows"), {"ids": list(old_ids)})
            for (name,) in cur.fetchall():
                removed[name] = removed.get(name, 0) + 1
        return removed

    # Reading and maintenance --------------------------------------------------------------
    def counts(self, task_id: str | None = None) -> dict[str, int]:
        """Rows per collection (of one task when given); every collection is listed."""
        result = dict.fromkeys(COLLECTIONS, 0)
        if not self.exists():
            return result
        with self.db.transaction() as cur:
            if task_id is None:
                cur.execute(query("counts"))
            else:
                cur.execute(
                    query("counts_for_task"),
                    {"task_id": task_id, "task_filter": task_filter(task_id)},
                )
            result.update({r["name"]: int(r["n"]) for r in cur.fetchall()})
        return result

    def total(self) -> int:
        return sum(self.counts().values())

    def purge_task(self, task_id: str) -> dict:
        """Remove the vectors a task loaded; rows another task loaded too are kept (without
        this task in their ``task_ids``).

        Returns:
            ``{"removed": {collection: n}, "kept_shared": m}``.
        """
        removed = dict.fromkeys(COLLECTIONS, 0)
        if not self.exists():
            return {"removed": removed, "kept_shared": 0}
        params = {"task_id": task_id, "task_filter": task_filter(task_id)}
        with self.db.transaction(dict_rows=False) as cur:
            cur.execute(query("purge_task_delete"), params)
            for (name,) in cur.fetchall():
                removed[name] = removed.get(name, 0) + 1
            cur.execute(query("purge_task_release"), params)
            kept = cur.rowcount
        logger.info(
            "purged the training data of %s: %s removed, %d kept (shared)", task_id, removed, kept
        )
        return {"removed": removed, "kept_shared": kept}

    def backup_vector_tables(self, out_dir: Path, task_id: str | None = None) -> list[Path]:
        """CSV copies of the collections and of the embedding rows in ``out_dir``, timestamped:
        only the rows ``task_id`` loaded when given (what a task may export), else all rows."""
        if not self.exists():
            logger.info("no training store tables yet: nothing to back up")
            return []
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d_%H%M%S")
        statements = {COLLECTION_TABLE: (query("backup_collections"), None)}
        if task_id:
            scope = {"task_id": task_id, "task_filter": task_filter(task_id)}
            statements[EMBEDDING_TABLE] = (query("backup_embeddings_for_task"), scope)
        else:
            statements[EMBEDDING_TABLE] = (query("backup_embeddings"), None)
        written = []
        with self.db.transaction(dict_rows=False) as cur:
            # One transaction: both files show the same moment (REPEATABLE READ snapshot).
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for table, (statement, params) in statements.items():
                path = _free_name(out_dir / f"{table}_{stamp}.csv")
                # COPY takes no bound parameters: the values are quoted into the text.
                text = cur.mogrify(statement, params).decode() if params else statement
                with atomic_writer(path, newline="") as fh:
                    cur.copy_expert(text, fh)
                written.append(path)
        logger.info("backed up the training store to %s", ", ".join(p.name for p in written))
        return written

    def truncate_vector_tables(
        self, dimension: int | None = None, task_id: str | None = None
    ) -> dict[str, int]:
        """Empty the store of ``task_id``'s rows (rows other tasks loaded too stay, without
        it), or of every row when no task is given (collections stay). When ``dimension``
        differs from the column's, re-type the column, which needs an empty store.

        Returns the rows removed per collection.
        """
        if not self.exists():
            return dict.fromkeys(COLLECTIONS, 0)
        if task_id:
            removed = self.purge_task(task_id)["removed"]
        else:
            removed = self.counts()
            with self.db.transaction(dict_rows=False) as cur:
                cur.execute(pgsql.SQL("TRUNCATE {}").format(pgsql.Identifier(EMBEDDING_TABLE)))
        current = self.dimension()
        if dimension is not None and current not in (None, dimension):
            if self.total():
                raise StepFailed(
                    f"the training store still holds other tasks' {current}-dimension vectors: "
                    f"a task cannot change it to {dimension} dimensions; point "
                    "VECTOR_DATABASE_URL at another store, or keep the embedding dimension"
                )
            self._retype(dimension)
        logger.info("emptied the training store of %s: %s rows removed", task_id or "all", removed)
        return removed

    def search(
        self,
        text: str,
        embedder,
        *,
        collection: str | None = None,
        k: int = 5,
        task_id: str | None = None,
        db_name: str | None = None,
    ) -> list[SearchHit]:
        """The ``k`` documents nearest to ``text`` (embedded as a search query) by cosine
        distance (``<=>``), of one collection, task or source database when given."""
        if collection is not None and collection not in COLLECTIONS:
            raise ValueError(f"collection must be one of {', '.join(COLLECTIONS)}")
        if not self.exists():
            return []
        vector = vector_literal(embedder.embed_query(text))
        params = {
            "vector": vector,
            "collection": collection,
            "task_id": task_id,
            "task_filter": task_filter(task_id) if task_id else "{}",
            "db_name": db_name,
            "k": max(1, int(k)),
        }
        with self.db.transaction() as cur:
            cur.execute(query("search"), params)
            rows = cur.fetchall()
        return [
            SearchHit(
                r["id"], r["collection"], r["document"], r["cmetadata"] or {}, float(r["distance"])
            )
            for r in rows
        ]


def _free_name(path: Path) -> Path:
    n = 1
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
        n += 1
    return candidate


def ensure_store(dsn: str, dimension: int) -> TrainingStore:
    """Open the store at ``dsn``, creating it when missing and checking the vector size."""
    store = TrainingStore(dsn)
    try:
        store.ensure(dimension)
        store.check_dimension(dimension)
    except BaseException:
        store.close()
        raise
    return store
