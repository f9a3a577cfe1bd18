"""The output store's default backend: content in the pipeline database, in chunks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import IO

import psycopg2

from core.db import Database
from core.sql_queries import query
from data_pipeline.tasks.output_store.base import (
    CHUNK_SIZE,
    DATABASE,
    OutputStore,
    OutputStoreError,
    StoredFile,
    read_full,
)


class DatabaseOutputStore(OutputStore):
    """Content in ``data_pipeline_output_blobs``, in chunks of ``chunk_size`` bytes."""

    location = DATABASE

    def __init__(self, db: Database, *, chunk_size: int = CHUNK_SIZE):
        super().__init__(db)
        self.chunk_size = chunk_size

    def _write_content(self, cur, task_id: str, rel_path: str, fh: IO[bytes]) -> tuple:
        digest, size, count = hashlib.sha256(), 0, 0
        while chunk := read_full(fh, self.chunk_size):
            cur.execute(
                query("insert_output_chunk"),
                {"task_id": task_id, "file_path": rel_path, "chunk_no": count,
                 "data": psycopg2.Binary(chunk)},
            )  # fmt: skip
            digest.update(chunk)
            size += len(chunk)
            count += 1
        return digest.hexdigest(), size, count

    def _delete_content(self, task_id: str, paths: list[str]) -> None:
        return None  # the chunks went with their catalog rows (ON DELETE CASCADE)

    def _delete_all_content(self, task_id: str) -> None:
        return None

    def _read_content(self, task_id: str, stored: StoredFile) -> Iterator[bytes]:
        # One short statement per chunk: a slow client holds no connection between chunks.
        for chunk_no in range(stored.chunk_count):
            row = self.db.read_one(
                "read_output_chunk",
                {"task_id": task_id, "file_path": stored.path, "chunk_no": chunk_no,
                 "sha256": stored.sha256},
            )  # fmt: skip
            if row is None:
                raise OutputStoreError(f"{stored.path} was copied again while being read")
            yield bytes(row["data"])
