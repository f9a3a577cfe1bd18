"""Pieces of a workflow run that are not about running steps: progress arithmetic, the
per-step outcome, the final report (``task_result.json``) and small file helpers."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from core.files import write_text_atomic
from core.secrets import mask_value
from data_pipeline.schema.table_list import (
    DEFAULT_TABLE_LIST_FILE,
    TableListError,
    format_table_list,
    parse_table_list,
)
from data_pipeline.tasks.models import StepStatus, TaskStatus, step_number_of
from data_pipeline.workflow.outputs import RUN_FILES, scan_outputs
from data_pipeline.workflow.tracking import RunTracker, Untracked
from data_pipeline.workflow.warnings import run_warnings

logger = logging.getLogger(__name__)

RESULT_FILE = "task_result.json"
TABLE_LIST_FILE = DEFAULT_TABLE_LIST_FILE
PROGRESS_WRITE_INTERVAL = 0.25  # seconds: at most four progress writes per second


class ProgressTracker:
    """Maps a step's fraction done onto the run's 0-100 (an equal share per planned step).

    The value never goes backwards; the database is written at most every
    ``interval`` seconds (and on ``flush``); the display, if any, sees every report.
    100 is left to the end of the run (``finish_run`` sets it), so 100 always means done.
    """

    def __init__(
        self,
        total_steps: int,
        tracker: RunTracker | None = None,
        display: Callable[[int, str | None, str | None], None] | None = None,
        interval: float = PROGRESS_WRITE_INTERVAL,
    ):
        self.total = max(1, total_steps)
        self.tracker = tracker or Untracked()
        self.display = display
        self.interval = interval
        self.value = 0
        self.written: list[int] = []  # every value written to the database, in order
        self._last_step: str | None = None
        self._last_write = 0.0
        self._lock = threading.Lock()

    def percent(self, index: int, fraction: float) -> int:
        fraction = min(1.0, max(0.0, float(fraction)))
        return min(99, int((index + fraction) * 100 / self.total))

    def report(
        self, index: int, fraction: float, step: str | None, note: str | None = None, *,
        flush: bool = False,
    ) -> int:  # fmt: skip
        with self._lock:
            pct = self.value = max(self.value, self.percent(index, fraction))
            now = time.monotonic()
            changed = not self.written or pct != self.written[-1] or step != self._last_step
            write = (
                self.tracker.tracked
                and changed
                and (flush or now - self._last_write >= self.interval)
            )
            if write:
                self.written.append(pct)
                self._last_step, self._last_write = step, now
        if self.display is not None:
            try:
                self.display(pct, step, note)
            except Exception:  # a broken terminal must not stop the run
                logger.debug("progress display failed", exc_info=True)
        if write:
            try:
                self.tracker.update_progress(pct, step)
            except Exception as exc:  # progress is best effort; the next report retries
                logger.debug("progress not recorded: %s", exc)
        return pct


@dataclass
class StepOutcome:
    """What happened to one step in this run."""

    step: str
    status: StepStatus
    execution_id: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now().astimezone())
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    summary: dict | None = None
    error: str | None = None
    files_cleaned: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "step": self.step,
            "number": step_number_of(self.step),
            "status": self.status.value,
            "execution_id": self.execution_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": self.duration_seconds,
            "summary": self.summary,
            "error": self.error,
            "files_cleaned": self.files_cleaned,
        }


def json_safe(value):
    """A JSON-serialisable copy of ``value`` with passwords masked."""
    return json.loads(json.dumps(mask_value(value), default=str, ensure_ascii=False))


def write_json_atomic(path: Path, data) -> None:
    """Write JSON so that readers see the old file or the new one, never half of it."""
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2, default=str))


def save_table_list(params, task_dir: Path) -> Path | None:
    """Keep an inline table list as ``table_list.txt`` in the task folder (one per line)."""
    if not params.table_list or params.table_list_file:
        return None
    try:
        text = format_table_list(parse_table_list("\n".join(params.table_list)))
    except TableListError:
        return None  # step 1 reports the invalid entries with their positions
    path = Path(task_dir) / TABLE_LIST_FILE
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_text_atomic(path, text)
    return path


def clean_step_outputs(task_dir: Path, paths) -> list[str]:
    """Remove a step's earlier outputs (only inside the task folder); return what went."""
    root = Path(task_dir).resolve()
    removed = []
    for p in paths:
        path = Path(p)
        target = path if path.is_absolute() else root / path
        try:
            resolved = target.resolve()
        except OSError:
            continue
        if root not in resolved.parents:
            logger.warning("not removing %s: outside the task folder", p)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        elif target.exists() or target.is_symlink():
            target.unlink(missing_ok=True)
        else:
            continue
        removed.append(resolved.relative_to(root).as_posix())
    return removed


def summary_numbers(summary: dict | None) -> dict:
    """The numbers of a step summary, one level of nesting flattened (``totals.inserted``)."""
    numbers = {}
    for key, value in (summary or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            numbers[key] = value
        elif isinstance(value, dict):
            for sub, inner in value.items():
                if isinstance(inner, int | float) and not isinstance(inner, bool):
                    numbers[f"{key}.{sub}"] = inner
    return numbers


def _key_counts(outcomes) -> dict:
    """Numbers from the steps' summaries (``step.key``), for the report's totals."""
    return {
        f"{o.step}.{key}": value
        for o in outcomes
        for key, value in summary_numbers(o.summary).items()
    }


def build_report(orch, status: TaskStatus, error, error_step, started_at, duration) -> dict:
    """The run's final report, as stored in ``task_result.json`` and the task row."""
    known = orch.tracker.known_outputs()
    files = [f for f in scan_outputs(orch.task_dir, known) if Path(f.path).name not in RUN_FILES]
    outcomes = list(orch.outcomes.values())
    by_status = {s.value: 0 for s in StepStatus}
    for o in outcomes:
        by_status[o.status.value] += 1
    llm = orch.llm_description()
    return json_safe(
        {
            "task_id": orch.task_id,
            "status": status.value,
            "tracked": orch.tracker.tracked,
            "execution_mode": orch.params.execution_mode,
            "planned_steps": orch.plan.steps,
            "db_name": orch.db_name,
            "output_directory": str(orch.task_dir),
            "started_at": started_at.isoformat(),
            "finished_at": datetime.now(started_at.tzinfo).isoformat(),
            "duration_seconds": round(duration, 3),
            "error": {"step": error_step, "message": error} if error else None,
            "steps": {o.step: o.as_dict() for o in outcomes},
            "warnings": run_warnings(outcomes),
            "totals": {
                "steps_completed": by_status["completed"],
                "steps_skipped": by_status["skipped"],
                "steps_failed": by_status["failed"],
                "steps_cancelled": by_status["cancelled"],
                "output_files": len(files),
                "output_bytes": sum(f.size for f in files),
                **_key_counts(outcomes),
            },
            "outputs": [f.as_dict() for f in files],
            "llm": llm,
            "parameters": orch.params.model_dump(exclude_none=True),
        }
    )
