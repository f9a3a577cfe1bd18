"""The training store as the console shows it (``/store…``, issue #13): counts, search as the
assistant would, a filtered and paged list, one document, deletion (administrators only) and
a JSON Lines export.

The store is the one step 4 loads (``VECTOR_DATABASE_URL``, else the pipeline database), opened
once per app. The question of a search is embedded as a search query by the configured
embedder, as the search command does; a store holding another embedder's vectors is refused
(409) naming the setting that selects it. No answer names where the store is.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import datetime

from flask import Blueprint, Response, current_app
from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import Conflict, Forbidden, NotFound, PipelineError
from core.secrets import mask_secrets
from data_pipeline.api import schemas
from data_pipeline.api.auth import current_caller
from data_pipeline.api.common import config, field_error, json_body, query_args, runtime
from data_pipeline.api.envelope import ok
from data_pipeline.tasks.models import TASK_ID_MAX_LENGTH, TASK_ID_PATTERN
from data_pipeline.training_load import browse
from data_pipeline.training_load.documents import COLLECTIONS
from data_pipeline.training_load.embedders import Embedder, embedder_name, get_embedder
from data_pipeline.training_load.search import mixed_store_message
from data_pipeline.training_load.vector_store import TrainingStore

logger = logging.getLogger(__name__)
bp = Blueprint("store", __name__)

# A stored row's id: ours and Vanna's are a uuid with -sql/-ddl/-doc, LangChain's a uuid;
# anything of these characters is looked up, anything else is refused before the database.
DOC_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
MAX_QUESTION = 2000
MAX_DELETE = 1000
_LOCK = threading.Lock()


class EmbedderUnavailable(PipelineError):
    http_status = 503
    error_type = "embedder_unavailable"


# Models --------------------------------------------------------------------------------
def _collection(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if value not in COLLECTIONS:
        raise ValueError(f"unknown collection {value[:40]!r}: one of {', '.join(COLLECTIONS)}")
    return value


def _task_id(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if len(value) > TASK_ID_MAX_LENGTH or not TASK_ID_PATTERN.fullmatch(value):
        raise ValueError("not a task id (task_YYYYMMDD_HHMMSS or manual_YYYYMMDD_HHMMSS)")
    return value


class _StoreFilters(schemas._Query):
    collection: str | None = Field(default=None, description="sql, ddl or documentation")
    task_id: str | None = Field(default=None, description="documents this task loaded")
    db_name: str | None = Field(default=None, max_length=100, description="source database")

    @field_validator("collection")
    @classmethod
    def _known_collection(cls, value: str | None) -> str | None:
        return _collection(value)

    @field_validator("task_id")
    @classmethod
    def _task_id_format(cls, value: str | None) -> str | None:
        return _task_id(value)

    @field_validator("db_name")
    @classmethod
    def _empty_db(cls, value: str | None) -> str | None:
        return value or None


class StoreSearchQuery(_StoreFilters):
    q: str = Field(min_length=1, max_length=MAX_QUESTION, description="the question")
    k: int = Field(default=10, ge=1, le=50, description="how many documents")


class StoreListQuery(_StoreFilters):
    q: str | None = Field(
        default=None, max_length=200, description="text the document contains (any case)"
    )
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=50, ge=1, le=200)

    def where(self) -> browse.DocFilter:
        return browse.DocFilter(self.collection, self.task_id, self.db_name, self.q or None)


class StoreExportQuery(_StoreFilters):
    q: str | None = Field(
        default=None, max_length=200, description="text the document contains (any case)"
    )

    def where(self) -> browse.DocFilter:
        return browse.DocFilter(self.collection, self.task_id, self.db_name, self.q or None)


class StoreDeleteRequest(schemas._Request):
    ids: list[str] = Field(min_length=1, max_length=MAX_DELETE)

    @field_validator("ids")
    @classmethod
    def _ids(cls, ids: list[str]) -> list[str]:
        bad = [i for i, value in enumerate(ids) if not DOC_ID.fullmatch(value)]
        if bad:
            raise ValueError(f"malformed document id at position(s) {bad[:10]}")
        return ids


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreDoc(_Out):
    id: str
    collection: str
    db_name: str | None = None
    task_ids: list[str]
    source_file: str | None = None
    embedder: str | None = Field(default=None, description="who made the vector")
    content: str = Field(description="the stored document (for sql: its JSON)")
    question: str | None = Field(default=None, description="sql collection only")
    sql: str | None = Field(default=None, description="sql collection only")


class StoreHit(StoreDoc):
    distance: float = Field(description="cosine distance (0 = same direction)")


class CollectionCount(_Out):
    collection: str
    count: int


class DatabaseCount(_Out):
    db_name: str | None
    count: int
    collections: dict[str, int]


class TaskCount(_Out):
    task_id: str
    count: int


class EmbedderCount(_Out):
    name: str | None = Field(description="null: loaded before embedders were recorded")
    count: int


class StoreStats(_Out):
    total: int
    embedder: str | None = Field(description="the embedder of the stored vectors (most rows)")
    configured_embedder: str = Field(description="the one searches and loads use")
    embedders: list[EmbedderCount]
    dimension: int | None = None
    collections: list[CollectionCount]
    databases: list[DatabaseCount]
    tasks: list[TaskCount]


class StoreSearchResult(_Out):
    query: str
    embedder: str
    hits: list[StoreHit]


class StorePage(_Out):
    documents: list[StoreDoc]
    total: int
    page: int
    page_size: int


class StoreDeleted(_Out):
    deleted: list[str]
    missing: list[str] = Field(default_factory=list)


# The store and the embedder of this app ------------------------------------------------
def training_store() -> TrainingStore:
    """The app's training store (opened once; closed with the runtime)."""
    found = current_app.extensions.get("data_pipeline_training_store")
    if found is None:
        with _LOCK:
            found = current_app.extensions.get("data_pipeline_training_store")
            if found is None:
                dsn = config().vector_database_url or runtime().pipeline_dsn
                found = TrainingStore(dsn, maxconn=4)
                runtime().closers.append(found.close)
                current_app.extensions["data_pipeline_training_store"] = found
    return found


def embedder() -> Embedder:
    """The configured embedder, made once per app (the local model loads once)."""
    found = current_app.extensions.get("data_pipeline_embedder")
    if found is None:
        with _LOCK:
            found = current_app.extensions.get("data_pipeline_embedder")
            if found is None:
                try:
                    found = get_embedder(config())
                except PipelineError as exc:
                    raise EmbedderUnavailable(
                        f"the embedder cannot be used: {mask_secrets(exc.message)}"
                    ) from None
                current_app.extensions["data_pipeline_embedder"] = found
    return found


def _doc_id(doc_id: str) -> str:
    if not DOC_ID.fullmatch(doc_id):
        raise field_error(
            "doc_id", "malformed document id", "invalid document id: letters, digits, - _ . :"
        )
    return doc_id


def _require_admin(what: str) -> None:
    caller = current_caller()
    if not caller.is_admin:
        raise Forbidden(
            f"{caller.name} may not {what}: deleting from the training store needs an admin",
            details={"role": caller.role},
        )


# Routes --------------------------------------------------------------------------------
@bp.get("/store")
def store_stats():
    """Rows per collection, source database, task and embedder."""
    training = training_store()
    data = browse.stats(training)
    recorded = [e for e in data["embedders"] if e["name"]]
    data["embedder"] = recorded[0]["name"] if recorded else None
    data["configured_embedder"] = embedder_name(config())
    data["dimension"] = training.dimension() if data["total"] else None
    return ok(data)


@bp.get("/store/search")
def store_search():
    """The documents nearest to a question, as the assistant would retrieve them."""
    args = query_args(StoreSearchQuery)
    training = training_store()
    if not training.exists():  # nothing to find: the model need not be loaded
        return ok({"query": args.q, "embedder": embedder_name(config()), "hits": []})
    wanted = embedder_name(config())
    others = {n: c for n, c in browse.embedder_counts(training).items() if n and n != wanted}
    if others:
        raise Conflict(
            mixed_store_message(others, wanted),
            details={"embedders": others, "configured": wanted},
        )
    model = embedder()
    stored = training.dimension()
    if stored is not None and stored != model.dimension:
        raise Conflict(
            f"the training store holds {stored}-dimension vectors but {model.name} makes "
            f"{model.dimension}-dimension ones: set EMBEDDING_PROVIDER (and "
            "EMBEDDING_DIMENSION) to the embedder that loaded the store",
            details={"stored_dimension": stored, "dimension": model.dimension},
        )
    try:
        hits = training.search(
            args.q,
            model,
            collection=args.collection,
            k=args.k,
            task_id=args.task_id,
            db_name=args.db_name,
        )
    except PipelineError as exc:
        if exc.http_status < 500 or exc.http_status == 503:
            raise
        raise EmbedderUnavailable(
            f"the question could not be embedded: {mask_secrets(exc.message)}"
        ) from None
    data = {"query": args.q, "embedder": model.name, "hits": [browse.hit_doc(h) for h in hits]}
    return ok(data)


@bp.get("/store/documents")
def store_documents():
    """A page of documents, filtered by collection, task, source database and text."""
    args = query_args(StoreListQuery)
    docs, total = browse.list_documents(
        training_store(), args.where(), page=args.page, page_size=args.page_size
    )
    data = {"documents": docs, "total": total, "page": args.page, "page_size": args.page_size}
    return ok(data)


@bp.get("/store/documents/<doc_id>")
def store_document(doc_id: str):
    """One document (404 when the store has no row of that id)."""
    doc = browse.get_document(training_store(), _doc_id(doc_id))
    if doc is None:
        raise NotFound(f"document {doc_id} not found in the training store")
    return ok(doc)


@bp.delete("/store/documents/<doc_id>")
def delete_store_document(doc_id: str):
    """Remove one document (admin)."""
    _require_admin("delete training documents")
    deleted, _ = browse.delete_documents(training_store(), [_doc_id(doc_id)])
    if not deleted:
        raise NotFound(f"document {doc_id} not found in the training store")
    logger.info("%s deleted training document %s", current_caller().name, doc_id)
    return ok({"deleted": deleted}, message="document deleted")


@bp.post("/store/documents/delete")
def delete_store_documents():
    """Remove documents by id (admin, at most 1,000): which were deleted, which not found."""
    _require_admin("delete training documents")
    body = json_body(StoreDeleteRequest)
    deleted, missing = browse.delete_documents(training_store(), body.ids)
    logger.info(
        "%s deleted %d training document(s) (%d not found)",
        current_caller().name,
        len(deleted),
        len(missing),
    )
    return ok({"deleted": deleted, "missing": missing}, message=f"{len(deleted)} deleted")


@bp.get("/store/export")
def export_store():
    """The documents the filters select as JSON Lines (one Doc a line, UTF-8), streamed."""
    args = query_args(StoreExportQuery)
    training = training_store()
    training.exists()  # unreachable: 503 now, before the answer has started
    rows = browse.export_documents(training, args.where())

    def lines():
        batch: list[str] = []
        try:
            for doc in rows:
                batch.append(json.dumps(doc, ensure_ascii=False))
                if len(batch) >= browse.EXPORT_BATCH:
                    yield ("\n".join(batch) + "\n").encode("utf-8")
                    batch = []
            if batch:
                yield ("\n".join(batch) + "\n").encode("utf-8")
        finally:
            rows.close()  # a client gone mid-way: the cursor and its connection go back now

    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    name = f"training_store_{args.collection or 'all'}_{stamp}.jsonl"
    response = Response(lines(), content_type="application/x-ndjson; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# OpenAPI entries of these routes, in the shape of ``openapi.ROUTES``.
OPENAPI_ROUTES: list[tuple] = [
    ("get", "/store", "Training store: rows per collection, source database, task, embedder",
     None, None, StoreStats, (503,)),
    ("get", "/store/search",
     "The documents nearest to a question (embedded as a query by the configured embedder)",
     None, StoreSearchQuery, StoreSearchResult, (400, 409, 503)),
    ("get", "/store/documents", "Documents of the training store, filtered and paged", None,
     StoreListQuery, StorePage, (400, 503)),
    ("get", "/store/documents/{doc_id}", "One document of the training store", None, None,
     StoreDoc, (400, 404)),
    ("delete", "/store/documents/{doc_id}", "Delete one document (admin)", None, None,
     StoreDeleted, (400, 403, 404)),
    ("post", "/store/documents/delete", "Delete documents by id (admin, at most 1,000)",
     StoreDeleteRequest, None, StoreDeleted, (400, 403, 413, 415)),
    ("get", "/store/export",
     "The documents as JSON Lines (application/x-ndjson attachment, one document a line)",
     None, StoreExportQuery, None, (400, 503)),
]  # fmt: skip
