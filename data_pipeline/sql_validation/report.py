"""Step 3's reports: ``sql_validation_<ts>_report.json`` and ``sql_validation_<ts>_summary.log``.

Per SQL the report gives: question, sql, status (``valid`` at the first check, ``repaired``
when a repair passed, ``invalid`` otherwise), error and error_kind of the first check,
repair_attempts (with each proposal and its verdict), repaired_sql, duration_ms, and whether
the entry was removed from the pair file. Totals: success_rate = (valid + repaired) / total.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

from core.files import write_text_atomic
from data_pipeline.sql_validation.repair import RepairOutcome
from data_pipeline.sql_validation.result import ValidationResult

REPORT_GLOB = "sql_validation_*_report.json"
SUMMARY_GLOB = "sql_validation_*_summary.log"
_STAMP = re.compile(r"^\d{8}_\d{6}(?:_\d+)?$")


def new_stamp(folder: Path) -> str:
    """``YYYYMMDD_HHMMSS`` not yet used by a report in ``folder`` (suffix ``_2``… if needed)."""
    base = datetime.now().strftime("%Y%m%d_%H%M%S")
    stamp, n = base, 1
    while (Path(folder) / f"sql_validation_{stamp}_report.json").exists() or (
        Path(folder) / f"file_modifications_{stamp}.log"
    ).exists():
        n += 1
        stamp = f"{base}_{n}"
    return stamp


def build_items(
    entries: list,
    results: list[ValidationResult],
    outcomes: dict[int, RepairOutcome],
) -> list[dict]:
    """One report item per pair entry (same order as the file)."""
    items = []
    for index, (entry, result) in enumerate(zip(entries, results, strict=True)):
        outcome = outcomes.get(index)
        if result.valid:
            status = "valid"
        elif outcome is not None and outcome.repaired_sql:
            status = "repaired"
        else:
            status = "invalid"
        question = entry.get("question") if isinstance(entry, dict) else None
        items.append(
            {
                "index": index,
                "question": question if isinstance(question, str) else "",
                "sql": result.sql if isinstance(result.sql, str) else "",
                "status": status,
                "error": result.error,
                "error_kind": result.error_kind,
                "sqlstate": result.sqlstate,
                "hint": result.hint,
                "stage": None if result.valid else result.stage,
                "duration_ms": result.duration_ms,
                "repair_attempts": len(outcome.attempts) if outcome else 0,
                "repaired_sql": outcome.repaired_sql if outcome else None,
                "attempts": [a.to_dict() for a in outcome.attempts] if outcome else [],
                "removed": False,
            }
        )
    return items


def totals(items: list[dict]) -> dict:
    counts = Counter(item["status"] for item in items)
    total = len(items)
    ok = counts["valid"] + counts["repaired"]
    return {
        "total": total,
        "valid": counts["valid"],
        "repaired": counts["repaired"],
        "invalid": counts["invalid"],
        "removed": sum(1 for item in items if item["removed"]),
        "success_rate": round(ok / total, 4) if total else 0.0,
        "by_error_kind": dict(
            Counter(i["error_kind"] for i in items if i["status"] != "valid").most_common()
        ),
    }


def write_reports(folder: Path, stamp: str, items: list[dict], meta: dict) -> tuple[Path, Path]:
    """Write the JSON report and the summary log; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    report_path = folder / f"sql_validation_{stamp}_report.json"
    summary_path = folder / f"sql_validation_{stamp}_summary.log"
    report = {"generated_at": datetime.now().isoformat(timespec="seconds"), **meta}
    report.update(totals(items))
    report["items"] = items
    write_text_atomic(report_path, json.dumps(report, ensure_ascii=False, indent=1))
    write_text_atomic(summary_path, summary_text(items, meta, report_path.name))
    return report_path, summary_path


def summary_text(items: list[dict], meta: dict, report_name: str) -> str:
    t = totals(items)
    total = t["total"] or 1
    duration = meta.get("duration_seconds") or 0.0
    rate = f"  ({len(items) / duration:.0f} SQL/s)" if duration > 0 else ""
    repair = meta.get("repair") or {}
    lines = [
        "SQL validation summary — step 3 (sql_validation)",
        f"Time:      {datetime.now().isoformat(timespec='seconds')}",
        f"Input:     {meta.get('input_file')}",
        f"Database:  {meta.get('db_name')}    Level: {meta.get('level')}",
        f"Settings:  concurrency {meta.get('max_concurrency')}, statement timeout "
        f"{meta.get('statement_timeout_ms')} ms, row limit {meta.get('row_limit')}",
        "LLM repair: "
        + (
            f"on ({repair.get('provider')}, at most {repair.get('max_attempts')} attempts)"
            if repair.get("enabled")
            else "off"
        ),
        f"Modify file: {'on' if meta.get('modify_original_file') else 'off'}",
        "",
        f"Total:     {t['total']}",
        f"Valid:     {t['valid']} ({100 * t['valid'] / total:.1f} %)",
        f"Repaired:  {t['repaired']}",
        f"Invalid:   {t['invalid']}",
        f"Removed:   {t['removed']} (from the pair file)",
        f"Success rate: {100 * t['success_rate']:.1f} % (valid + repaired)",
        f"Duration:  {duration:.2f} s{rate}",
        f"Report:    {report_name}",
    ]
    modification = meta.get("file_modification") or {}
    if modification.get("modified"):
        lines.append(
            f"File changes: {modification.get('modification_log')} "
            f"(backup {modification.get('backup_file')})"
        )
    if t["by_error_kind"]:
        lines += ["", "Failures by error kind (first check):"]
        lines += [f"  {kind or 'other':<20} {n}" for kind, n in t["by_error_kind"].items()]
    slowest = sorted(items, key=lambda i: i["duration_ms"], reverse=True)[:5]
    if slowest:
        lines += ["", "Slowest checks:"]
        lines += [
            f"  {i['duration_ms']:9.1f} ms  #{i['index'] + 1}  {_short(i['sql'])}" for i in slowest
        ]
    failures = [i for i in items if i["status"] != "valid"]
    if failures:
        lines += ["", "Failures:"]
    for item in failures:
        removed = ", removed from the file" if item["removed"] else ""
        lines.append(f"#{item['index'] + 1} [{item['error_kind']}] {item['status']}{removed}")
        lines.append(f"  question: {_one_line(item['question'])}")
        lines.append(f"  SQL:      {_one_line(item['sql'])}")
        lines.append(f"  error:    {_one_line(item['error'] or '')}")
        for attempt in item["attempts"]:
            verdict = "valid" if attempt["valid"] else (attempt["error"] or "invalid")
            proposal = _one_line(attempt["sql"]) if attempt["sql"] else "(none)"
            lines.append(f"  repair {attempt['attempt']}: {proposal}")
            lines.append(f"            -> {_one_line(verdict)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _one_line(text: str) -> str:
    return " ".join((text or "").split())


def _short(text: str, width: int = 100) -> str:
    one = _one_line(text)
    return one if len(one) <= width else one[: width - 1] + "…"
