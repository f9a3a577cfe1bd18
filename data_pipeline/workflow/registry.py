"""The four steps, by name: where each lives and what it needs.

Each step module exposes:

* ``run(ctx: StepContext) -> dict`` — does the work, returns a JSON-safe summary;
* ``output_files(task_dir: Path) -> list[Path]`` — the files it wrote (removed by ``clean``);
* ``missing_inputs(task_dir: Path) -> str | None`` — why it cannot run yet (naming the step
  to run first), or None.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from data_pipeline.tasks.models import STEP_NAMES

STEP_MODULES = {
    "ddl_generation": "data_pipeline.ddl_generation.step",
    "qa_generation": "data_pipeline.qa_generation.step",
    "sql_validation": "data_pipeline.sql_validation.step",
    "training_load": "data_pipeline.training_load.step",
}
assert tuple(STEP_MODULES) == STEP_NAMES

STEP_TITLES = {
    "ddl_generation": "DDL and table documentation",
    "qa_generation": "Question-SQL generation",
    "sql_validation": "SQL validation",
    "training_load": "Training data load",
}


def step_module(name: str) -> ModuleType:
    """The module implementing step ``name``."""
    return importlib.import_module(STEP_MODULES[name])
