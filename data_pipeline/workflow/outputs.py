"""Registration of a task folder's files in ``data_pipeline_task_outputs`` (SPEC §10).

After each step the whole folder is scanned: every file is upserted with its size, sha256 and
modification time; files that are new or changed since the last registration are credited to
the step (and execution) that just ran; rows of files that disappeared are removed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

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


def _mtime(st) -> datetime:
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
            modified = _mtime(st)
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
) -> dict:
    """Bring the task's output rows in line with its folder.

    Returns counts: ``added``, ``changed``, ``unchanged``, ``removed`` and the ``files``.
    """
    known = {row["file_path"]: row for row in store.list_outputs(task_id)}
    files = scan_outputs(task_dir, known)
    counts = {"added": 0, "changed": 0, "unchanged": 0, "removed": 0}
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
    present = {out.path for out in files}
    gone = [path for path in known if path not in present]
    if gone:
        counts["removed"] = store.delete_outputs(task_id, gone)
    logger.debug("outputs of %s registered: %s", task_id, counts)
    return {**counts, "files": files}
