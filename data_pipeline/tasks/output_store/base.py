"""The output store's interface and catalog (``data_pipeline_output_files``), shared by the
backends; see the package's docstring."""

from __future__ import annotations

import hashlib
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import IO, NamedTuple

from core.db import Database
from core.errors import DatabaseUnavailable, PipelineError, error_summary
from core.files import atomic_writer
from core.sql_queries import query

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024  # database chunks, and the pieces a stream yields
DATABASE = "database"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class OutputStoreError(PipelineError):
    """The output store could not copy, read or delete a file (503 when a request did)."""

    http_status = 503
    error_type = "output_store_unavailable"


@dataclass(frozen=True)
class StoredFile:
    """One file as the catalog knows it."""

    path: str
    sha256: str
    size: int
    modified_at: datetime
    stored_at: datetime
    chunk_count: int = 0

    @classmethod
    def from_row(cls, row: dict) -> StoredFile:
        return cls(
            path=row["file_path"],
            sha256=row["sha256"],
            size=int(row["file_size"]),
            modified_at=row["modified_at"],
            stored_at=row["stored_at"],
            chunk_count=int(row["chunk_count"]),
        )


class OutputStream(NamedTuple):
    """An open stored file: its size and sha256, and its bytes as chunks (checked against the
    sha256 as they go; close ``chunks`` when not reading to the end)."""

    size: int
    sha256: str
    chunks: CheckedChunks
    modified_at: datetime


class CheckedChunks:
    """A stored file's chunks, hashed on the way: OutputStoreError instead of the end when the
    bytes are not the catalog's (a copy replaced while read, or damaged). ``close`` releases
    what the backend holds (an S3 response), read or not."""

    def __init__(self, chunks: Iterator[bytes], stored: StoredFile, store: OutputStore):
        self._chunks = chunks
        self._stored = stored
        self._store = store
        self._digest = hashlib.sha256()
        self._size = 0

    def __iter__(self) -> CheckedChunks:
        return self

    def __next__(self) -> bytes:
        stored = self._stored
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self.close()
            if self._size != stored.size or self._digest.hexdigest() != stored.sha256:
                logger.error(
                    "stored copy of %s in %s does not match its sha256 (%d bytes read, %d "
                    "expected); the read was stopped", stored.path, self._store.location,
                    self._size, stored.size,
                )  # fmt: skip
                raise OutputStoreError(
                    f"the stored copy of {stored.path} does not match its sha256 "
                    "(copied again meanwhile, or damaged)"
                ) from None
            raise
        except OutputStoreError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise self._store._error(f"could not read {stored.path}", exc) from exc
        self._digest.update(chunk)
        self._size += len(chunk)
        return chunk

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def read_full(fh: IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of the file."""
    parts, left = [], size
    while left > 0 and (part := fh.read(left)):
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _mtime(st: os.stat_result) -> datetime:
    seconds, nanos = divmod(st.st_mtime_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=nanos // 1000)


def _inside(folder: Path, rel_path: str) -> Path:
    """``folder/rel_path``, refusing what could lead outside the folder."""
    parts = PurePosixPath(rel_path).parts
    if not parts or rel_path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise OutputStoreError(f"stored path {rel_path!r} is not a plain relative path")
    return folder.joinpath(*parts)


class OutputStore(ABC):
    """The catalog (in the pipeline database) and a backend holding the content.

    Args:
        db: the pipeline database (the catalog; the content too for the database backend).
    """

    #: where the content lies: "database" or "s3://bucket/prefix" (never credentials)
    location: str = DATABASE

    def __init__(self, db: Database):
        self.db = db

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    # What the backends do -----------------------------------------------------------------
    @abstractmethod
    def _write_content(self, cur, task_id: str, rel_path: str, fh: IO[bytes]) -> tuple:
        """Store the bytes of ``fh`` (inside the catalog's transaction ``cur``, whose old row
        for the file is already deleted); return ``(sha256, size, chunk_count)`` of them."""

    @abstractmethod
    def _read_content(self, task_id: str, stored: StoredFile) -> Iterator[bytes] | None:
        """The stored bytes as chunks; None when the content is missing."""

    @abstractmethod
    def _delete_content(self, task_id: str, paths: list[str]) -> None:
        """Remove the content of ``paths``, whose catalog rows are deleted."""

    @abstractmethod
    def _delete_all_content(self, task_id: str) -> None:
        """Remove every piece of content of the task."""

    # The catalog ----------------------------------------------------------------------------
    def _params(self, task_id: str, rel_path: str | None = None) -> dict:
        return {"task_id": task_id, "file_path": rel_path, "location": self.location}

    def info(self, task_id: str, rel_path: str) -> StoredFile | None:
        """The stored copy of ``rel_path`` (a path relative to the task folder), if any."""
        row = self.db.read_one("get_stored_output", self._params(task_id, rel_path))
        return StoredFile.from_row(row) if row else None

    def exists(self, task_id: str, rel_path: str) -> bool:
        return self.info(task_id, rel_path) is not None

    def list_files(self, task_id: str) -> dict[str, StoredFile]:
        """Every stored file of the task, by path."""
        rows = self.db.fetch_all("list_stored_outputs", self._params(task_id))
        return {r["file_path"]: StoredFile.from_row(r) for r in rows}

    # Writing --------------------------------------------------------------------------------
    def publish(
        self, task_id: str, rel_path: str, local_path: Path, sha256: str | None = None
    ) -> StoredFile | None:
        """Copy ``local_path`` as the task's ``rel_path``; None when the store already holds
        content with ``sha256`` (nothing is written then).

        Returns the new copy: its sha256 and size are those of the bytes copied, which differ
        from ``sha256`` only when the file changed since it was hashed.
        Raises OutputStoreError (DatabaseUnavailable on a pipeline-database outage).
        FileNotFoundError when ``local_path`` is gone.
        """
        try:
            with self.db.transaction() as cur:
                params = self._params(task_id, rel_path)
                cur.execute(query("lock_stored_output"), params)
                cur.execute(query("get_stored_output"), params)
                row = cur.fetchone()
                if row is not None and sha256 is not None and row["sha256"] == sha256:
                    return None
                with open(local_path, "rb") as fh:
                    cur.execute(
                        query("delete_stored_outputs"), {"task_id": task_id, "paths": [rel_path]}
                    )
                    digest, size, chunks = self._write_content(cur, task_id, rel_path, fh)
                    modified = _mtime(os.fstat(fh.fileno()))
                cur.execute(
                    query("insert_stored_output"),
                    {**params, "sha256": digest, "file_size": size, "chunk_count": chunks,
                     "modified_at": modified},
                )  # fmt: skip
                stored = StoredFile.from_row(cur.fetchone())
        except (DatabaseUnavailable, OutputStoreError, FileNotFoundError):
            raise
        except Exception as exc:
            raise self._error(f"could not copy {rel_path}", exc) from exc
        logger.debug("%s of %s copied to %s (%d bytes)", rel_path, task_id, self.location, size)
        return stored

    def delete_paths(self, task_id: str, paths: Iterable[str]) -> int:
        """Remove the stored copies of ``paths``; returns how many the catalog listed."""
        paths = list(paths)
        if not paths:
            return 0
        rows = self.db.fetch_all("delete_stored_outputs", {"task_id": task_id, "paths": paths})
        try:
            self._delete_content(task_id, paths)
        except OutputStoreError:
            raise
        except Exception as exc:
            raise self._error(f"could not delete {len(paths)} stored file(s)", exc) from exc
        return len(rows)

    def delete_task(self, task_id: str) -> int:
        """Remove every stored copy of the task's files; returns how many the catalog listed."""
        rows = self.db.fetch_all("delete_task_stored_outputs", {"task_id": task_id})
        try:
            self._delete_all_content(task_id)
        except OutputStoreError:
            raise
        except Exception as exc:
            raise self._error(f"could not delete the stored files of {task_id}", exc) from exc
        return len(rows)

    # Reading --------------------------------------------------------------------------------
    def open_stream(self, task_id: str, rel_path: str) -> OutputStream | None:
        """The stored ``rel_path`` as a checked stream; None when it is not stored."""
        stored = self.info(task_id, rel_path)
        if stored is None:
            return None
        try:
            chunks = self._read_content(task_id, stored)
        except Exception as exc:
            raise self._error(f"could not read {rel_path}", exc) from exc
        if chunks is None:
            logger.warning(
                "%s of %s is in the catalog but its content is missing from %s",
                rel_path, task_id, self.location,
            )  # fmt: skip
            return None
        checked = CheckedChunks(chunks, stored, self)
        return OutputStream(stored.size, stored.sha256, checked, stored.modified_at)

    def materialize(self, task_id: str, folder: Path, *, prune: bool = False) -> list[str]:
        """Write into ``folder`` every stored file it lacks or holds with other content
        (atomically, with the stored modification time); return the paths written.

        With ``prune``, also remove the folder's regular files the store does not hold
        (files deleted on another machine). Raises OutputStoreError when a stored file
        cannot be read, or is damaged (the local file is then left as it was).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        stored_files = self.list_files(task_id)
        written = []
        for rel_path, stored in stored_files.items():
            target = _inside(folder, rel_path)
            if _same_file(target, stored):
                continue
            stream = self.open_stream(task_id, rel_path)
            if stream is None or stream.sha256 != stored.sha256:
                raise OutputStoreError(
                    f"{rel_path} of {task_id} is listed in the output store ({self.location}) "
                    "but its content could not be read"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_writer(target, binary=True) as fh:
                for chunk in stream.chunks:
                    fh.write(chunk)
            stamp = (stored.modified_at - _EPOCH) // timedelta(microseconds=1) * 1000
            os.utime(target, ns=(stamp, stamp))
            written.append(rel_path)
        if prune:
            _prune(folder, set(stored_files))
        if written:
            logger.info("%d file(s) of %s brought from %s", len(written), task_id, self.location)
        return written

    def _error(self, what: str, exc: BaseException) -> OutputStoreError:
        message = f"output store ({self.location}): {what}: {error_summary(exc)}"
        return OutputStoreError(message, details={"location": self.location})


def _prune(folder: Path, keep: set[str]) -> None:
    """Remove the visible regular files of ``folder`` whose paths are not in ``keep``."""
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or rel.as_posix() in keep:
            continue
        if path.is_file() and not path.is_symlink():
            path.unlink()
            logger.info("removed %s: not in the output store", rel.as_posix())


def _same_file(target: Path, stored: StoredFile) -> bool:
    """Whether ``target`` holds the stored content (same size and modification time are
    trusted, as the registration trusts them; otherwise the file is hashed)."""
    if target.is_symlink() or not target.is_file():
        return False
    st = target.stat()
    if st.st_size != stored.size:
        return False
    return _mtime(st) == stored.modified_at or file_sha256(target) == stored.sha256
