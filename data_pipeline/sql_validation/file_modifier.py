"""Applies the validation's verdicts to the pair file (``modify_original_file``).

* Entries are matched by **identity** — the exact (question, original SQL) pair — never by
  position: the file is re-read just before it is changed, so reordering or duplicates in the
  meantime do not make the wrong entry change. Duplicated entries get the same treatment.
* Repaired SQL replaces the original; SQL that stays invalid is removed; every other key of
  an entry is kept as it was.
* Backup: ``<pair>.json.backup`` is written the first time the file is changed and never
  overwritten afterwards, so it always holds what step 2 produced; later changes are recorded
  in their own change logs.
* Every change is written to ``file_modifications_<ts>.log`` (UTF-8, human-readable).
* The new file is written to a temporary file and renamed over the old one (atomic).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from core.files import write_text_atomic

logger = logging.getLogger(__name__)

BACKUP_SUFFIX = ".backup"


@dataclass(frozen=True)
class Decision:
    """What to do with every entry that has this (question, sql)."""

    action: str  # "replace" or "remove"
    new_sql: str | None = None
    reason: str | None = None  # the error that led here


@dataclass
class FileChange:
    action: str  # "replaced" or "removed"
    index: int  # position in the file as it was just before the change (0-based)
    question: str
    old_sql: str
    new_sql: str | None = None
    reason: str | None = None


@dataclass
class ModificationResult:
    modified: bool = False
    backup: Path | None = None
    backup_created: bool = False
    log: Path | None = None
    replaced: int = 0
    removed: int = 0
    entries_before: int = 0
    entries_after: int = 0
    changes: list[FileChange] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "modified": self.modified,
            "backup_file": self.backup.name if self.backup else None,
            "backup_created": self.backup_created,
            "modification_log": self.log.name if self.log else None,
            "replaced": self.replaced,
            "removed": self.removed,
            "entries_before": self.entries_before,
            "entries_after": self.entries_after,
        }


def identity(entry) -> tuple[str, str] | None:
    """The (question, sql) identity of a pair entry; None for malformed entries."""
    if not isinstance(entry, dict):
        return None
    question, sql = entry.get("question"), entry.get("sql")
    return (question if isinstance(question, str) else "", sql if isinstance(sql, str) else "")


def backup_path(pair_file: Path) -> Path:
    return pair_file.with_name(pair_file.name + BACKUP_SUFFIX)


def write_json_atomic(path: Path, data) -> None:
    """Write ``data`` as JSON via a temporary file in the same folder, then rename."""
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def modify_pair_file(
    pair_file: Path,
    decisions: dict[tuple[str, str], Decision],
    *,
    log_dir: Path,
    stamp: str,
) -> ModificationResult:
    """Apply ``decisions`` (keyed by identity) to ``pair_file``; see the module docstring."""
    pair_file = Path(pair_file)
    entries = json.loads(pair_file.read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        raise ValueError(f"{pair_file.name} is not a JSON array")
    result = ModificationResult(entries_before=len(entries))
    kept = []
    for index, entry in enumerate(entries):
        key = identity(entry)
        decision = decisions.get(key) if key is not None else None
        if decision is None:
            kept.append(entry)
        elif decision.action == "replace" and decision.new_sql:
            kept.append({**entry, "sql": decision.new_sql})
            result.changes.append(
                FileChange("replaced", index, key[0], key[1], decision.new_sql, decision.reason)
            )
        elif decision.action == "remove":
            result.changes.append(
                FileChange("removed", index, key[0], key[1], None, decision.reason)
            )
        else:
            kept.append(entry)
    result.entries_after = len(kept)
    result.replaced = sum(1 for c in result.changes if c.action == "replaced")
    result.removed = sum(1 for c in result.changes if c.action == "removed")
    if not result.changes:
        return result

    backup = backup_path(pair_file)
    if not backup.exists():
        shutil.copy2(pair_file, backup)
        result.backup_created = True
    result.backup = backup
    write_json_atomic(pair_file, kept)
    result.modified = True
    result.log = Path(log_dir) / f"file_modifications_{stamp}.log"
    write_text_atomic(result.log, _change_log(pair_file, result))
    logger.info(
        "%s: %d SQL replaced by repairs, %d invalid removed (%d -> %d entries); log %s",
        pair_file.name,
        result.replaced,
        result.removed,
        result.entries_before,
        result.entries_after,
        result.log.name,
    )
    return result


def _change_log(pair_file: Path, result: ModificationResult) -> str:
    backup_note = "created now" if result.backup_created else "already existed, kept unchanged"
    lines = [
        "File modifications by step 3 (sql_validation)",
        f"Time:     {datetime.now().isoformat(timespec='seconds')}",
        f"File:     {pair_file.name}",
        f"Backup:   {result.backup.name if result.backup else '-'} ({backup_note})",
        f"Replaced: {result.replaced}    Removed: {result.removed}    "
        f"Entries: {result.entries_before} -> {result.entries_after}",
        "Entries are matched by question + original SQL; #n is the position before the change.",
        "",
    ]
    for change in result.changes:
        lines.append(f"[{change.action.upper()}] entry #{change.index + 1}")
        lines.append(f"  question: {_one_line(change.question)}")
        if change.action == "replaced":
            lines.append(f"  old SQL:  {_one_line(change.old_sql)}")
            lines.append(f"  new SQL:  {_one_line(change.new_sql or '')}")
            if change.reason:
                lines.append(f"  was:      {_one_line(change.reason)}")
        else:
            lines.append(f"  SQL:      {_one_line(change.old_sql)}")
            lines.append(f"  error:    {_one_line(change.reason or 'invalid')}")
        lines.append("")
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join((text or "").split())
