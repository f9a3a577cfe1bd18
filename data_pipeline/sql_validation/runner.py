"""One validation of a pair file: check, repair, modify the file, write the reports.

Shared by the workflow step (:mod:`.step`) and the command line (:mod:`.__main__`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import InvalidInput
from data_pipeline.sql_validation.ddl_source import DDLSource
from data_pipeline.sql_validation.file_modifier import Decision, identity, modify_pair_file
from data_pipeline.sql_validation.repair import RepairOutcome, SQLRepairer
from data_pipeline.sql_validation.report import build_items, new_stamp, totals, write_reports
from data_pipeline.sql_validation.sql_validator import SQLValidator, ValidationResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationSettings:
    level: str = "explain"
    max_concurrency: int = 4
    statement_timeout_ms: int = 5000
    row_limit: int = 1000
    enable_repair: bool = False
    repair_max_attempts: int = 2
    repair_concurrency: int = 4
    modify_original_file: bool = False


def load_pairs(path: Path) -> list:
    """The entries of a pair file; InvalidInput with a clear message when unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"pair file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(data, list):
        raise InvalidInput(f'{path.name} must be a JSON array of {{"question", "sql"}} objects')
    return data


def _sql_of(entry) -> str | None:
    sql = entry.get("sql") if isinstance(entry, dict) else None
    return sql if isinstance(sql, str) and sql.strip() else None


def validate_pair_file(
    pair_file: Path,
    dsn: str,
    settings: ValidationSettings,
    *,
    llm=None,
    report_dir: Path | None = None,
    ddl_folder: Path | None = None,
    db_name: str = "",
    progress: Callable[[float, str | None], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> dict:
    """Validate every SQL of ``pair_file`` against ``dsn``; return the summary.

    Raises SourceUnavailable when the database cannot be reached, InvalidInput for an
    unreadable pair file, ProviderError when the LLM is down during repairs, Cancelled.
    """
    started = time.monotonic()
    pair_file = Path(pair_file)
    report_dir = Path(report_dir or pair_file.parent)
    entries = load_pairs(pair_file)
    report = progress or (lambda fraction, note=None: None)
    repairing = settings.enable_repair and llm is not None and settings.repair_max_attempts > 0
    check_share = 0.85 if repairing else 0.97

    validator = SQLValidator(
        dsn,
        max_concurrency=settings.max_concurrency,
        statement_timeout_ms=settings.statement_timeout_ms,
        level=settings.level,
        row_limit=settings.row_limit,
    )
    try:
        validator.check_connection()
        sqls = [_sql_of(e) for e in entries]
        to_check = [s for s in sqls if s is not None]
        logger.info(
            "validating %d SQL of %s (%s level, concurrency %d)",
            len(to_check), pair_file.name, settings.level, settings.max_concurrency,
        )  # fmt: skip
        checked = validator.validate_many(
            to_check,
            progress=lambda done, total: report(check_share * done / max(total, 1), "SQL checked"),
            is_cancelled=is_cancelled,
        )
        it = iter(checked)
        results = [
            next(it)
            if s is not None
            else ValidationResult("", False, "entry has no SQL", "syntax", stage="static")
            for s in sqls
        ]
        outcomes: dict[int, RepairOutcome] = {}
        ddl_origin = None
        if repairing:
            ddl = DDLSource(ddl_folder, dsn, db_name)
            repairer = SQLRepairer(llm, validator, ddl, max_attempts=settings.repair_max_attempts)
            outcomes = _repair(
                entries, results, repairer, settings.repair_concurrency,
                (check_share, report), is_cancelled,
            )  # fmt: skip
            ddl_origin = ddl.origin or "catalog"
    finally:
        validator.close()

    items = build_items(entries, results, outcomes)
    stamp = new_stamp(report_dir)
    modification = None
    if settings.modify_original_file:
        decisions = _decisions(entries, items)
        if decisions:
            modification = modify_pair_file(pair_file, decisions, log_dir=report_dir, stamp=stamp)
            removed_keys = {
                (c.question, c.old_sql) for c in modification.changes if c.action == "removed"
            }
            for item, entry in zip(items, entries, strict=True):
                item["removed"] = identity(entry) in removed_keys and item["status"] == "invalid"
    duration = time.monotonic() - started
    meta = {
        "input_file": pair_file.name,
        "db_name": db_name,
        "level": settings.level,
        "max_concurrency": settings.max_concurrency,
        "statement_timeout_ms": settings.statement_timeout_ms,
        "row_limit": settings.row_limit,
        "modify_original_file": settings.modify_original_file,
        "repair": {
            "enabled": repairing,
            "max_attempts": settings.repair_max_attempts,
            "provider": (llm.describe() or {}).get("provider") if repairing else None,
            "ddl_from": ddl_origin,
        },
        "duration_seconds": round(duration, 3),
        "file_modification": modification.to_dict() if modification else None,
    }
    report_path, summary_path = write_reports(report_dir, stamp, items, meta)
    summary = {"input_file": pair_file.name, "level": settings.level, **totals(items)}
    summary.update(
        {
            "report_file": report_path.name,
            "summary_file": summary_path.name,
            "modification_log": _name(modification.log if modification else None),
            "backup_file": _name(modification.backup if modification else None),
            "duration_seconds": round(duration, 3),
        }
    )
    logger.info(
        "validated %d SQL: %d valid, %d repaired, %d invalid, %d removed (%.1f s)",
        summary["total"], summary["valid"], summary["repaired"], summary["invalid"],
        summary["removed"], duration,
    )  # fmt: skip
    if summary["by_error_kind"]:
        logger.info("failures by kind: %s", summary["by_error_kind"])
    report(1.0, "reports written")
    return summary


def _repair(entries, results, repairer, concurrency, progress, is_cancelled):
    """Repair each distinct failing (question, sql) once; map entry index → outcome."""
    failing: dict[tuple[str, str], list[int]] = {}
    for index, (entry, result) in enumerate(zip(entries, results, strict=True)):
        if not result.valid and isinstance(entry, dict) and result.sql:
            failing.setdefault(identity(entry), []).append(index)
    if not failing:
        return {}
    keys = list(failing)
    logger.info(
        "repairing %d failing SQL with %s", len(keys), repairer.llm.describe().get("provider")
    )
    share, report = progress
    done = repairer.repair_many(
        [(q, s, results[failing[(q, s)][0]]) for q, s in keys],
        concurrency=concurrency,
        progress=lambda d, t: report(share + (0.97 - share) * d / max(t, 1), "SQL repaired"),
        is_cancelled=is_cancelled,
    )
    return {
        index: outcome for key, outcome in zip(keys, done, strict=True) for index in failing[key]
    }


def _name(path: Path | None) -> str | None:
    return path.name if path else None


def _decisions(entries: list, items: list[dict]) -> dict[tuple[str, str], Decision]:
    decisions: dict[tuple[str, str], Decision] = {}
    for entry, item in zip(entries, items, strict=True):
        key = identity(entry)
        if key is None:
            continue
        if item["status"] == "repaired":
            decisions[key] = Decision("replace", item["repaired_sql"], item["error"])
        elif item["status"] == "invalid":
            decisions[key] = Decision("remove", None, f"{item['error']} ({item['error_kind']})")
    return decisions
