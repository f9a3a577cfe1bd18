"""Registration of a task folder's files in ``data_pipeline_task_outputs`` (SPEC §10).

After each step the whole folder is scanned: every file is upserted with its size, sha256 and
modification time; files that are new or changed since the last registration are credited to
the step (and execution) that just ran; rows of files that disappeared are removed.

With an output store (:mod:`data_pipeline.tasks.output_store`), every file the store does not
hold with the same sha256 is copied there *before* its row is written, and the copies of files
whose rows are removed are deleted after the rows. So a row never names content that no machine
can serve: another API node streams what its disk lacks from the store.

A file that cannot be copied keeps its earlier row (or gets none): the tables stay as they
were for it and are right for every other file. The registration then raises
:class:`~data_pipeline.tasks.output_store.OutputStoreError` naming the files, after logging
each at ERROR; the tracker fails the step that wrote them with that message, as a full disk
(:class:`core.files.StorageFull`) fails a step. A step whose files only one machine holds has
not done its work when runs and downloads may happen anywhere: failing it says so at once,
where a warning would let the run end "completed" and the next step (on another host) or a
download fail later, far from the cause. Every later registration copies what is missing
again (the store is compared with the folder, not with the rows), so the files are shared as
soon as the store is back. A copy that cannot be deleted is only logged: with its catalog row
gone it is never served or brought back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from data_pipeline.tasks.output_store import OutputStore, OutputStoreError

logger = logging.getLogger(__name__)

# Files that belong to the run as a whole rather than to the step that last touched them.
RUN_FILES = {"data_pipeline.log", "task_result.json", "table_list.txt"}
_TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".swp", ".lock", "~")
_TYPE_BY_SUFFIX = {
    ".ddl": "ddl",
    ".md": "md",
    ".json": "json",
    ".log": "log",
    ".txt": "txt",
    ".csv": "csv",
    ".sql": "txt",
}


@dataclass(frozen=True)
class OutputFile:
    """One file of a task folder, as registered."""

    path: str  # relative to the task folder, with "/" separators
    file_type: str
    size: int
    sha256: str
    modified_at: datetime
    is_primary: bool

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "type": self.file_type,
            "size": self.size,
            "sha256": self.sha256,
            "modified_at": self.modified_at.isoformat(),
            "is_primary": self.is_primary,
        }


def file_type_of(name: str) -> str:
    """The output type of a file name: ddl, md, json, log, txt, report, csv or other."""
    lower = Path(name).name.lower()
    if lower.endswith("_report.json"):
        return "report"
    if lower.endswith(".json.backup"):
        return "json"
    return _TYPE_BY_SUFFIX.get(Path(lower).suffix, "other")


def is_primary_output(name: str) -> bool:
    """The files a user most wants: the pairs, the theme metadata, the validation summary."""
    lower = Path(name).name.lower()
    return lower.endswith("_pair.json") or lower == "metadata.txt" or lower.endswith("_summary.log")


def is_temporary(name: str) -> bool:
    """Hidden files and files still being written (``*.tmp`` and the like) are not outputs."""
    base = Path(name).name
    return base.startswith((".", "~")) or base.lower().endswith(_TEMP_SUFFIXES)


def sha256_of(path: Path, chunk_size: int = 1024 * 1024) -> str:
    """Hex sha256 of a file's content, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def mtime_of(st) -> datetime:
    """A stat result's modification time, as the rows hold it."""
    # Microsecond precision, exactly as PostgreSQL stores it, so equality checks are reliable.
    seconds, nanos = divmod(st.st_mtime_ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=nanos // 1000)


def _walk(task_dir: Path):
    for path in sorted(task_dir.rglob("*")):
        rel = path.relative_to(task_dir)
        if any(is_temporary(part) for part in rel.parts):
            continue
        if path.is_symlink() or not path.is_file():
            continue  # a symlink could point outside the task folder
        yield path, rel.as_posix()


def scan_outputs(task_dir: Path, known: dict[str, dict] | None = None) -> list[OutputFile]:
    """Every output file of ``task_dir``; hashes are reused from ``known`` rows (by path)
    when size and modification time are unchanged."""
    task_dir = Path(task_dir)
    if not task_dir.is_dir():
        return []
    known = known or {}
    found = []
    for path, rel in _walk(task_dir):
        try:
            st = path.stat()
            modified = mtime_of(st)
            row = known.get(rel)
            if row and row["file_size"] == st.st_size and row["modified_at"] == modified:
                digest = row["content_hash"]
            else:
                digest = sha256_of(path)
        except OSError as exc:  # removed while scanning
            logger.debug("skipping %s: %s", rel, exc)
            continue
        found.append(
            OutputFile(
                path=rel,
                file_type=file_type_of(rel),
                size=st.st_size,
                sha256=digest,
                modified_at=modified,
                is_primary=is_primary_output(rel),
            )
        )
    return found


def register_outputs(
    store,
    task_id: str,
    task_dir: Path,
    *,
    execution_id: str | None = None,
    step_name: str | None = None,
    output_store: OutputStore | None = None,
) -> dict:
    """Bring the task's output rows (and the output store's copies, when given) in line with
    its folder.

    Returns counts: ``added``, ``changed``, ``unchanged``, ``removed``, ``published`` and the
    ``files``. Raises OutputStoreError, once everything else is recorded, when files could
    not be copied to the output store.
    """
    known = {row["file_path"]: row for row in store.list_outputs(task_id)}
    files = scan_outputs(task_dir, known)
    failed: dict[str, str] = {}
    published = 0
    if output_store is not None:
        files, failed, published = _publish(output_store, task_id, Path(task_dir), files)
    counts = {"added": 0, "changed": 0, "unchanged": 0, "removed": 0, "published": published}
    for out in files:
        row = known.get(out.path)
        if row is None:
            kind = "added"
        elif row["content_hash"] == out.sha256 and row["file_size"] == out.size:
            kind = "unchanged"
        else:
            kind = "changed"
        counts[kind] += 1
        if kind == "unchanged" and row["modified_at"] == out.modified_at:
            continue
        credit = kind != "unchanged" and Path(out.path).name not in RUN_FILES
        store.upsert_output(
            task_id,
            file_path=out.path,
            file_type=out.file_type,
            file_size=out.size,
            content_hash=out.sha256,
            modified_at=out.modified_at,
            # None keeps what the row had (the upsert coalesces): an untouched file stays
            # credited to the step that wrote it.
            execution_id=execution_id if credit else None,
            step_name=step_name if credit else None,
            is_primary=out.is_primary,
        )
    present = {out.path for out in files} | set(failed)
    gone = [path for path in known if path not in present]
    if gone:
        counts["removed"] = store.delete_outputs(task_id, gone)
        if output_store is not None:
            _unpublish(output_store, task_id, gone)
    logger.debug("outputs of %s registered: %s", task_id, counts)
    if failed:
        first = next(iter(failed.items()))
        raise OutputStoreError(
            f"{len(failed)} output file(s) could not be copied to the output store "
            f"({output_store.location}), first {first[0]}: {first[1]}",
            details={"files": sorted(failed), "location": output_store.location},
        )
    return {**counts, "files": files}


def _publish(
    output_store: OutputStore, task_id: str, task_dir: Path, files: list[OutputFile]
) -> tuple[list[OutputFile], dict[str, str], int]:
    """Copy the files the store lacks (or holds with other content); returns the files to
    register (with what was copied when a file changed since the scan), the files that could
    not be copied (path -> why) and how many were copied."""
    stored = output_store.list_files(task_id)
    kept, failed, published = [], {}, 0
    for out in files:
        have = stored.get(out.path)
        if have is not None and have.sha256 == out.sha256:
            kept.append(out)
            continue
        try:
            copy = output_store.publish(task_id, out.path, task_dir / out.path, out.sha256)
        except FileNotFoundError:
            continue  # removed since the scan: gone, as if the scan had not seen it
        except OutputStoreError as exc:
            logger.error("%s not copied to the output store: %s", out.path, exc.message)
            failed[out.path] = exc.message
            continue
        if copy is not None:
            published += 1
            if copy.sha256 != out.sha256:  # grew since the scan (the run's log): register the copy
                out = dataclasses.replace(
                    out, sha256=copy.sha256, size=copy.size, modified_at=copy.modified_at
                )
        kept.append(out)
    return kept, failed, published


def _unpublish(output_store: OutputStore, task_id: str, paths: list[str]) -> None:
    try:
        output_store.delete_paths(task_id, paths)
    except OutputStoreError as exc:
        logger.warning("stored copies of %d removed file(s) kept: %s", len(paths), exc.message)


def register_file(
    store, task_id: str, task_dir: Path, rel_path: str, *, output_store: OutputStore | None
) -> OutputFile:
    """Register one file the API wrote into the task folder (the uploaded table list): copied
    to the output store first (OutputStoreError leaves its row as it was), then its row."""
    path = Path(task_dir) / rel_path
    st = path.stat()
    out = OutputFile(
        path=rel_path,
        file_type=file_type_of(rel_path),
        size=st.st_size,
        sha256=sha256_of(path),
        modified_at=mtime_of(st),
        is_primary=is_primary_output(rel_path),
    )
    if output_store is not None:
        copy = output_store.publish(task_id, rel_path, path, out.sha256)
        if copy is not None and copy.sha256 != out.sha256:
            out = dataclasses.replace(
                out, sha256=copy.sha256, size=copy.size, modified_at=copy.modified_at
            )
    store.upsert_output(
        task_id,
        file_path=out.path,
        file_type=out.file_type,
        file_size=out.size,
        content_hash=out.sha256,
        modified_at=out.modified_at,
        is_primary=out.is_primary,
    )
    return out
