"""The validation state of each pair: ``valid``, ``repaired``, ``invalid`` or ``unchecked``.

A pair checked by curation (an edit, an added pair) carries its verdict in ``review``
(``state``, ``error``, ``original_sql``) together with ``checked_sql``, the SQL the verdict is
about. That verdict holds while the entry's SQL is still ``checked_sql``; otherwise (never
checked by curation, or the SQL changed since, e.g. step 3 ran again) the state comes from the
newest step-3 report (``sql_validation_*_report.json``):

* an item with the same (question, sql): ``valid`` → valid, ``invalid`` → invalid with its
  error; a ``repaired`` item whose original SQL is still in the file (step 3 ran with
  ``modify_original_file`` off) → invalid: the SQL in the file is the one that failed;
* an item whose (question, repaired_sql) is the entry → ``repaired``, with the SQL before the
  repair as ``original_sql``;
* nothing → ``unchecked``.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from data_pipeline.curation.pair_file import review_of, text_of
from data_pipeline.sql_validation.report import REPORT_GLOB

logger = logging.getLogger(__name__)

STATES = ("valid", "repaired", "invalid", "unchecked")
APPROVABLE = frozenset({"valid", "repaired"})


@dataclass(frozen=True)
class Verdict:
    state: str
    error: str | None = None
    original_sql: str | None = None


UNCHECKED = Verdict("unchecked")


@dataclass
class ReportIndex:
    """Step 3's verdicts by (question, sql) and by (question, repaired_sql)."""

    name: str | None = None
    by_pair: dict[tuple[str, str], Verdict] = field(default_factory=dict)
    by_repair: dict[tuple[str, str], Verdict] = field(default_factory=dict)

    @classmethod
    def from_items(cls, name: str | None, items: list) -> ReportIndex:
        index = cls(name)
        for item in items:
            if not isinstance(item, dict):
                continue
            question, sql = text_of(item, "question"), text_of(item, "sql")
            status, error = item.get("status"), item.get("error")
            error = error if isinstance(error, str) else None
            repaired = item.get("repaired_sql")
            if status == "valid":
                index.by_pair.setdefault((question, sql), Verdict("valid"))
            elif status in ("invalid", "repaired"):
                index.by_pair.setdefault((question, sql), Verdict("invalid", error or "invalid"))
            if status == "repaired" and isinstance(repaired, str) and repaired:
                index.by_repair.setdefault((question, repaired), Verdict("repaired", None, sql))
        return index

    def verdict(self, question: str, sql: str) -> Verdict:
        key = (question, sql)
        return self.by_repair.get(key) or self.by_pair.get(key) or UNCHECKED


def newest_report(folder: Path) -> Path | None:
    """The newest step-3 report of the folder (by the stamp in its name, then mtime)."""
    reports = [p for p in Path(folder).glob(REPORT_GLOB) if p.is_file()]
    if not reports:
        return None
    return max(reports, key=lambda p: (p.name, p.stat().st_mtime_ns))


_cache: dict[tuple[str, int, int], ReportIndex] = {}
_cache_lock = threading.Lock()


def load_report(folder: Path) -> ReportIndex:
    """The index of the newest report (read again only when that file changed); an empty
    index when there is none or it cannot be read."""
    path = newest_report(folder)
    if path is None:
        return ReportIndex()
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _cache_lock:
        found = _cache.get(key)
    if found is not None:
        return found
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data.get("items") if isinstance(data, dict) else None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        logger.warning("step 3's report %s cannot be read: %s", path.name, exc)
        items = None
    index = ReportIndex.from_items(path.name, items if isinstance(items, list) else [])
    with _cache_lock:
        if len(_cache) > 32:
            _cache.clear()
        _cache[key] = index
    return index


def verdict_of(entry, report: ReportIndex) -> Verdict:
    """The entry's state (see the module docstring)."""
    review = review_of(entry)
    sql = text_of(entry, "sql")
    state = review.get("state")
    if state in STATES and review.get("checked_sql") == sql:
        error = review.get("error")
        original = review.get("original_sql")
        return Verdict(
            state,
            error if isinstance(error, str) else None,
            original if isinstance(original, str) else None,
        )
    return report.verdict(text_of(entry, "question"), sql)


def record_verdict(entry: dict, verdict: Verdict) -> None:
    """Store ``verdict`` in the entry's ``review`` as the verdict on its current SQL."""
    review = dict(review_of(entry))
    review.update(
        state=verdict.state,
        error=verdict.error,
        original_sql=verdict.original_sql,
        checked_sql=text_of(entry, "sql"),
    )
    entry["review"] = review
