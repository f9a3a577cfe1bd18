"""What a step receives: :class:`StepContext`. Every step module exposes
``run(ctx: StepContext) -> dict`` returning a JSON-safe summary (stored in the execution row),
raising :class:`core.errors.StepFailed` (or a subclass) with a message saying why it failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app_config import Config
from core.errors import Cancelled
from data_pipeline.workflow.params import WorkflowParams

logger = logging.getLogger(__name__)


@dataclass
class StepContext:
    """Inputs and callbacks of one step of one run.

    Attributes:
        task_dir: the task's folder; inputs are read from and outputs written to it.
        config: service settings (defaults for step settings).
        params: the run's parameters.
        source_dsn: DSN of the business database (secret: never log it unmasked).
        db_name: the business database's name (file names, reports).
        tables: the table list, parsed (``schema.table``), for step 1.
        llm: the LLM provider (see ``data_pipeline.llm``).
        vector_dsn: DSN of the training-data store (step 4).
        task_id / execution_id: for reports and vector metadata; None when untracked.
        report_progress: called with the fraction (0-1) of the step done and a short note.
        is_cancelled: polled between units of work; a step stops with Cancelled when True.
    """

    task_dir: Path
    config: Config
    params: WorkflowParams
    source_dsn: str
    db_name: str
    llm: object
    tables: list[str] = field(default_factory=list)
    vector_dsn: str | None = None
    task_id: str | None = None
    execution_id: str | None = None
    report_progress: Callable[[float, str | None], None] = lambda fraction, note=None: None
    is_cancelled: Callable[[], bool] = lambda: False

    def progress(self, done: float, total: float, note: str | None = None) -> None:
        """Report ``done`` of ``total`` units of this step's work."""
        fraction = 1.0 if total <= 0 else max(0.0, min(1.0, done / total))
        try:
            self.report_progress(fraction, note)
        except Exception:  # progress must never fail a step
            logger.debug("progress report failed", exc_info=True)

    def check_cancelled(self) -> None:
        if self.is_cancelled():
            raise Cancelled("the run was cancelled")

    def setting(self, name: str):
        """A step setting: the run's parameter when given, else the configured default."""
        value = getattr(self.params, name, None)
        if value is not None:
            return value
        config_names = {
            "theme_count": "qa_theme_count",
            "questions_per_theme": "qa_questions_per_theme",
        }
        return getattr(self.config, config_names.get(name, name))
