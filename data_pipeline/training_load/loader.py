"""Loading documents into the training store: batched embedding and batched inserts of what
the store lacks (:mod:`.load_plan` decides what that is).

A background thread embeds batch *n + 1* while the calling thread inserts batch *n* (the
database works in its own process, so the two overlap even under the GIL). Each batch is
one ``INSERT ... VALUES (...), (...) ON CONFLICT (id)`` statement and one commit, so a
cancelled or failed load keeps what it committed and a re-run adds only the rest.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.errors import ProviderError, StepFailed
from data_pipeline.training_load.documents import COLLECTIONS, TrainingDocument
from data_pipeline.training_load.embedders import Embedder
from data_pipeline.training_load.load_plan import plan_load
from data_pipeline.training_load.vector_store import TrainingStore

logger = logging.getLogger(__name__)

_DONE = object()


@dataclass
class LoadReport:
    """What a load did, per collection: documents offered, rows inserted, already present."""

    collections: dict[str, dict[str, int]] = field(
        default_factory=lambda: {
            c: {"documents": 0, "inserted": 0, "already_present": 0} for c in COLLECTIONS
        }
    )
    duplicates_in_input: int = 0
    pairs_stored_under_other_ids: int = 0
    re_embedded: int = 0
    replaced: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLLECTIONS, 0))
    seconds: float = 0.0

    @property
    def documents(self) -> int:
        return sum(c["documents"] for c in self.collections.values())

    @property
    def inserted(self) -> int:
        return sum(c["inserted"] for c in self.collections.values())

    @property
    def already_present(self) -> int:
        return sum(c["already_present"] for c in self.collections.values())

    def to_dict(self) -> dict:
        rate = self.documents / self.seconds if self.seconds > 0 else None
        return {
            "collections": self.collections,
            "totals": {
                "documents": self.documents,
                "inserted": self.inserted,
                "already_present": self.already_present,
            },
            "duplicates_in_input": self.duplicates_in_input,
            "pairs_stored_under_other_ids": self.pairs_stored_under_other_ids,
            "re_embedded": self.re_embedded,
            "replaced": self.replaced,
            "seconds": round(self.seconds, 3),
            "documents_per_second": round(rate, 1) if rate else None,
        }


def unique_documents(documents: list[TrainingDocument]) -> tuple[list[TrainingDocument], int]:
    """Documents with distinct ids and distinct pair keys (first wins), and how many
    duplicates were dropped."""
    seen: set[str] = set()
    unique = []
    for doc in documents:
        keys = {doc.doc_id, "pair\x1f" + doc.extra.get("pair_key", doc.doc_id)}
        if not keys & seen:
            seen |= keys
            unique.append(doc)
    return unique, len(documents) - len(unique)


def load_documents(
    store: TrainingStore,
    documents: list[TrainingDocument],
    embedder: Embedder,
    *,
    batch_size: int | None = None,
    task_id: str | None = None,
    db_name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    check_cancelled: Callable[[], None] | None = None,
    overlap: bool = True,
) -> LoadReport:
    """Embed and insert ``documents`` into ``store`` (which must exist: ``store.ensure``),
    following :func:`~.load_plan.plan_load`: only what is missing or out of date is embedded.

    Args:
        batch_size: documents per embedding call and per INSERT/commit (default: the
            embedder's ``load_batch_size``).
        task_id / db_name: recorded in each row's ``cmetadata``.
        progress: called with (documents done, total) after each batch.
        check_cancelled: called between batches; raises to stop the load.
        overlap: embed the next batch in a thread while inserting (False: one after the other).

    Raises:
        StepFailed: the store holds vectors of another embedder.
    """
    started = time.perf_counter()
    docs, duplicates = unique_documents(documents)
    report = LoadReport(duplicates_in_input=duplicates)
    for doc in docs:
        report.collections[doc.collection]["documents"] += 1
    store.collection_ids()  # read once here, not first from the embedding thread
    plan = plan_load(store, docs, embedder.name, db_name)
    problem = plan.mixing_error(embedder.name)
    if problem:
        raise StepFailed(problem)
    if task_id:
        store.claim_rows(plan.claim_ids, task_id)
    for doc in plan.up_to_date + [d for d in docs if d.doc_id in plan.same_pair]:
        report.collections[doc.collection]["already_present"] += 1
    report.pairs_stored_under_other_ids = len(plan.same_pair)
    report.re_embedded = len(plan.stale_ids)
    done = len(docs) - len(plan.to_embed)
    if progress and done:
        progress(done, len(docs))
    size = max(1, batch_size or embedder.load_batch_size)
    batches = [plan.to_embed[i : i + size] for i in range(0, len(plan.to_embed), size)]

    def embed(batch: list[TrainingDocument]) -> bytes:
        vectors = _vectors(embedder, batch)
        return store.encode_batch(
            batch, vectors, task_id=task_id, db_name=db_name, embedder=embedder.name
        )

    for batch, payload in _embedded(batches, embed, overlap, check_cancelled):
        inserted = store.insert_encoded(payload)
        for doc in batch:
            counts = report.collections[doc.collection]
            counts["inserted" if doc.doc_id in inserted else "already_present"] += 1
        done += len(batch)
        if progress:
            progress(done, len(docs))
    for item in plan.replacements:
        removed = store.replace_rows(item.old_ids, item.new_ids, item.owners)
        for name, n in removed.items():
            report.replaced[name] = report.replaced.get(name, 0) + n
    report.seconds = time.perf_counter() - started
    logger.info(
        "loaded %d documents in %.2f s with %s: %d inserted, %d already present (%d embedded "
        "again, %d pairs stored under other ids), %d rows of earlier versions replaced (%d "
        "duplicates dropped)",
        report.documents,
        report.seconds,
        embedder.name,
        report.inserted,
        report.already_present,
        report.re_embedded,
        report.pairs_stored_under_other_ids,
        sum(report.replaced.values()),
        duplicates,
    )
    return report


def _vectors(embedder: Embedder, batch: list[TrainingDocument]) -> np.ndarray:
    """The batch's vectors in order: pair questions embedded as queries, the rest as
    passages (one call each)."""
    kinds = {d.as_query for d in batch}
    if len(kinds) == 1:  # the usual case: one call for the whole batch
        return _checked(embedder, embedder.embed_array(_texts(batch), query=kinds.pop()), batch)
    vectors = np.zeros((len(batch), embedder.dimension))
    for as_query in (False, True):
        index = [i for i, d in enumerate(batch) if d.as_query == as_query]
        if index:
            part = [batch[i] for i in index]
            vectors[index] = _checked(
                embedder, embedder.embed_array(_texts(part), query=as_query), part
            )
    return vectors


def _texts(batch: list[TrainingDocument]) -> list[str]:
    return [d.embedding_text for d in batch]


def _checked(embedder: Embedder, vectors, batch: list[TrainingDocument]) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.shape != (len(batch), embedder.dimension):
        raise ProviderError(
            f"{embedder.name} returned vectors of shape {vectors.shape} for "
            f"{len(batch)} texts of {embedder.dimension} dimensions"
        )
    return vectors


def _embedded(batches, embed, overlap: bool, check_cancelled):
    """Yield (batch, encoded rows), embedding ahead in a thread when ``overlap``."""
    if not overlap or len(batches) < 2:
        for batch in batches:
            if check_cancelled:
                check_cancelled()
            yield batch, embed(batch)
        return
    results: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if stop.is_set() or not put((batch, embed(batch))):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    worker = threading.Thread(target=produce, name="embed-ahead", daemon=True)
    worker.start()
    try:
        while True:
            if check_cancelled:
                check_cancelled()
            item = results.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()
