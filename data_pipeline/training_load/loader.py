"""Loading documents into the training store: batched embedding and batched inserts.

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

from data_pipeline.training_load.documents import COLLECTIONS, TrainingDocument
from data_pipeline.training_load.embedders import Embedder
from data_pipeline.training_load.vector_store import TrainingStore

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
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
            "seconds": round(self.seconds, 3),
            "documents_per_second": round(rate, 1) if rate else None,
        }


def unique_documents(documents: list[TrainingDocument]) -> tuple[list[TrainingDocument], int]:
    """Documents with distinct ids (first wins) and how many duplicates were dropped."""
    seen: set[str] = set()
    unique = []
    for doc in documents:
        if doc.doc_id not in seen:
            seen.add(doc.doc_id)
            unique.append(doc)
    return unique, len(documents) - len(unique)


def load_documents(
    store: TrainingStore,
    documents: list[TrainingDocument],
    embedder: Embedder,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    task_id: str | None = None,
    db_name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    check_cancelled: Callable[[], None] | None = None,
    overlap: bool = True,
) -> LoadReport:
    """Embed and insert ``documents`` into ``store`` (which must exist: ``store.ensure``).

    Args:
        batch_size: documents per embedding call and per INSERT/commit.
        task_id / db_name: recorded in each row's ``cmetadata``.
        progress: called with (documents done, total) after each batch.
        check_cancelled: called between batches; raises to stop the load.
        overlap: embed the next batch in a thread while inserting (False: one after the other).
    """
    started = time.perf_counter()
    docs, duplicates = unique_documents(documents)
    report = LoadReport(duplicates_in_input=duplicates)
    for doc in docs:
        report.collections[doc.collection]["documents"] += 1
    batches = [docs[i : i + batch_size] for i in range(0, len(docs), max(1, batch_size))]
    store.collection_ids()  # read once here, not first from the embedding thread
    done = 0

    def embed(batch: list[TrainingDocument]) -> bytes:
        texts = [d.embedding_text for d in batch]
        vectors = embedder.embed_array(texts) if hasattr(embedder, "embed_array") else None
        if vectors is None:
            vectors = embedder.embed(texts)
        if len(vectors) != len(batch):
            raise RuntimeError(f"embedder returned {len(vectors)} vectors for {len(batch)} texts")
        return store.encode_batch(batch, vectors, task_id=task_id, db_name=db_name)

    for batch, payload in _embedded(batches, embed, overlap, check_cancelled):
        inserted = store.insert_encoded(payload)
        for doc in batch:
            counts = report.collections[doc.collection]
            counts["inserted" if doc.doc_id in inserted else "already_present"] += 1
        done += len(batch)
        if progress:
            progress(done, len(docs))
    report.seconds = time.perf_counter() - started
    logger.info(
        "loaded %d documents in %.2f s: %d inserted, %d already present (%d duplicates dropped)",
        report.documents,
        report.seconds,
        report.inserted,
        report.already_present,
        duplicates,
    )
    return report


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
