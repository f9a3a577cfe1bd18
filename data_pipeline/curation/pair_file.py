"""The pair file as curation reads and writes it.

* **Ids**: every entry gets ``id`` = ``p_`` + 10 hex digits of the SHA-256 of its question and
  SQL at the time (a counter is mixed in for duplicates). An entry without a stored id gets the
  same computed id on every read, so a listing and a later write agree; the first write stores
  the ids of all entries, and from then on an entry keeps its id whatever is edited.
* **Writes** (:func:`locked`, :func:`write_entries`): one writer at a time per task folder (an
  ``flock`` on a hidden lock file), the previous version kept as ``<pair file>.curation.bak``
  (overwritten each change; step 3's ``.backup`` is left alone), the new version written to a
  temporary file and renamed over the old one.
* **Change log**: one JSON line per change in ``pair_curation.log`` (who, when, action, the
  pair before and after); :func:`read_history` gives it back newest first.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from core.errors import Conflict
from core.files import write_bytes_atomic, write_text_atomic

PAIR_ID = re.compile(r"^p_[0-9a-f]{10}$")
BACKUP_SUFFIX = ".curation.bak"
LOG_NAME = "pair_curation.log"
LOCK_NAME = ".pair_curation.lock"
MAX_HISTORY = 2000  # change-log lines an answer gives at most (newest first)


def now_iso() -> str:
    """The current time as the change log and ``review`` record it (UTC, seconds)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def backup_path(pair_file: Path) -> Path:
    return pair_file.with_name(pair_file.name + BACKUP_SUFFIX)


def parse_entries(raw: bytes, name: str) -> list:
    """The entries of a pair file's bytes; Conflict (409) naming the problem when it cannot be
    curated (not UTF-8 JSON, not an array)."""
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise Conflict(f"{name} is not UTF-8 text: it cannot be curated") from None
    except json.JSONDecodeError as exc:
        raise Conflict(
            f"{name} is not valid JSON ({exc.msg} at line {exc.lineno}): it cannot be curated"
        ) from None
    if not isinstance(data, list):
        raise Conflict(f"{name} is not a JSON array of pairs: it cannot be curated")
    return data


def text_of(entry, key: str) -> str:
    value = entry.get(key) if isinstance(entry, dict) else None
    return value if isinstance(value, str) else ""


def review_of(entry) -> dict:
    review = entry.get("review") if isinstance(entry, dict) else None
    return review if isinstance(review, dict) else {}


def new_id(question: str, sql: str, used: set[str]) -> str:
    """An id from the content, not in ``used`` (a counter is mixed in for duplicates)."""
    n = 0
    while True:
        text = f"{question}\x1f{sql}" + (f"\x1f{n}" if n else "")
        pid = "p_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
        if pid not in used:
            return pid
        n += 1


def assign_ids(entries: list) -> list[str | None]:
    """The id of each entry (None for entries that are not objects): the stored one when it is
    well-formed and not taken by an earlier entry, else one computed from the content."""
    ids: list[str | None] = []
    used: set[str] = set()
    stored = {e.get("id") for e in entries if isinstance(e, dict)}
    for entry in entries:
        if not isinstance(entry, dict):
            ids.append(None)
            continue
        pid = entry.get("id")
        if not (isinstance(pid, str) and PAIR_ID.match(pid) and pid not in used):
            # Not colliding with a stored id of a later entry either.
            pid = new_id(text_of(entry, "question"), text_of(entry, "sql"), used | stored)
        used.add(pid)
        ids.append(pid)
    return ids


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """One curation writer at a time in ``folder`` (an exclusive ``flock``; waits)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def dump_entries(entries: list) -> bytes:
    return (json.dumps(entries, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_entries(pair_file: Path, entries: list, previous: bytes) -> Path:
    """Keep ``previous`` (the file's bytes before the change) as the curation backup, then
    replace the file atomically. Returns the backup's path."""
    backup = backup_path(pair_file)
    write_bytes_atomic(backup, previous)
    write_bytes_atomic(pair_file, dump_entries(entries))
    return backup


def change_record(by: str, action: str, pair_id: str, before, after, at: str) -> dict:
    return {"at": at, "by": by, "action": action, "pair_id": pair_id, "before": before,
            "after": after}  # fmt: skip


def log_text(folder: Path, records: list[dict]) -> tuple[str, str | None]:
    """(the change log with ``records`` appended, its text before) — written by the caller."""
    path = folder / LOG_NAME
    before = path.read_text(encoding="utf-8") if path.is_file() else None
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    text = before or ""
    if text and not text.endswith("\n"):
        text += "\n"
    return text + lines, before


def write_log(folder: Path, text: str) -> Path:
    return write_text_atomic(folder / LOG_NAME, text, newline="\n")


def read_history(folder: Path, limit: int = MAX_HISTORY) -> list[dict]:
    """The change log's records, newest first (lines that are not JSON objects skipped)."""
    path = folder / LOG_NAME
    if not path.is_file():
        return []
    records = []
    for line in reversed(path.read_text(encoding="utf-8", errors="replace").splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
            if len(records) >= limit:
                break
    return records
